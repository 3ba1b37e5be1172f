#!/usr/bin/env node
/**
 * The page's entry: `rollgate-serve [--store <dir>]... [-g <group file>]... [--github <owner/repo>]...
 * [--listen <host>] [--port <n>] [--allow-operations] [--who <name>] [--token <t>]`.
 */
import { parseArgs } from 'node:util';
import { FleetSource } from '../app/fleet-source';
import { defaultWho } from '../app/runtime';
import { describeError } from '../report/error';
import type { Logger } from '../model/logger';
import { startPage } from './server';
import { writeExport } from './export';
import { webUrlOf } from '../github/records';
import { InputError } from '../model/errors';

/** How often the page reads a GitHub repository again, by default (seconds). */
export const GITHUB_POLL_S = 10;

export const SERVE_HELP = `Usage: rollgate-serve [--store <dir>]... [-g <group file>]... [--github <owner/repo>]... [options]

The live page over every group of a file store (and of the group files and GitHub repositories given).
  --store [<env>=]<dir>  a record directory (store.dir of the group files): every group in it;
                       production=<dir> puts its groups in the home page's production column
  -g, --group [<env>=]<file>  a group file: its store, its hosts; the buttons act only on these
  --listen <host>      address to listen on (default 127.0.0.1; any other needs --token)
  --port <n>           port (default 8080; 0 picks a free one)
  --allow-operations   draw the buttons and run them (default: read-only)
  --who <name>         who the buttons' operations are recorded as (default: user@host)
  --token <t>          access token: open the page once with ?token=<t> (or Authorization: Bearer)
  --github <owner/repo>  a repository's groups, read-only from its deployments and rollgate's
                       record artifacts (repeat, or a comma list); token from ROLLGATE_GITHUB_TOKEN
                       or GITHUB_TOKEN; its buttons are links to GitHub
  --github-api-url <u> the REST API (default GITHUB_API_URL or https://api.github.com; GHES:
                       https://<host>/api/v3)
  --github-poll <s>    read each repository again every <s> seconds (default ${GITHUB_POLL_S}; unchanged
                       answers are 304s, which do not count against GitHub's rate limit)
  --github-workflow <file>  the operate workflow the links open (default operate.yml)`;

export const PAGE_HELP = `Usage: rollgate page --out <dir> (--store <dir>... | -g <group file>...)

Writes the page \`rollgate serve\` shows as static files: index.html (every group), one page per
group under g/, and assets/. Read-only: no buttons, no live updates; relative links, so it works
from an unzipped artifact or any static host (GitHub Pages).
  --out <dir>          where to write (a new or empty directory, or an earlier export)
  --store [<env>=]<dir>  a record directory (store.dir of the group files): every group in it,
                       in the environment's column when labelled (production=<dir>)
  -g, --group [<env>=]<file>  a group file: its store, with its hosts and settings`;

/** `rollgate page`: the static export. */
export async function pageMain(
  argv: string[],
  env: Record<string, string | undefined>,
  now: () => Date = () => new Date(),
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv[0] === 'page' ? argv.slice(1) : argv,
      options: {
        out: { type: 'string' },
        store: { type: 'string', multiple: true },
        group: { type: 'string', short: 'g', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    const why = (err as Error).message.replace(/\. To specify a positional.*$/s, '');
    throw new InputError('page', `${why} (rollgate page --help lists the options)`);
  }
  if (values.help) {
    console.log(PAGE_HELP);
    return 0;
  }
  if (!values.out) throw new InputError('--out', 'give the directory to write the page into');
  const logger: Logger = {
    debug: () => undefined,
    info: (l) => console.error(l),
    warn: (l) => console.error(l),
    error: (l) => console.error(l),
  };
  const source = await FleetSource.open({
    storeDirs: values.store ?? [],
    groupFiles: values.group ?? [],
    env,
    logger,
    readOnly: true,
  });
  try {
    const files = await writeExport(source, values.out, now().toISOString());
    const pages = files.filter((f) => f.endsWith('.html')).length;
    console.log(
      `rollgate: wrote the page (${pages} pages) to ${values.out}: open ${values.out}/index.html`,
    );
    return 0;
  } finally {
    await source.close();
  }
}

export async function serveMain(
  argv: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const { values } = parseArgs({
    args: argv[0] === 'serve' ? argv.slice(1) : argv,
    options: {
      store: { type: 'string', multiple: true },
      group: { type: 'string', short: 'g', multiple: true },
      listen: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      'allow-operations': { type: 'boolean', default: false },
      who: { type: 'string' },
      token: { type: 'string' },
      github: { type: 'string', multiple: true },
      'github-api-url': { type: 'string' },
      'github-poll': { type: 'string', default: String(GITHUB_POLL_S) },
      'github-workflow': { type: 'string', default: 'operate.yml' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const logger: Logger = {
    debug: () => undefined,
    info: (l) => console.error(l),
    warn: (l) => console.error(l),
    error: (l) => console.error(l),
  };
  const repos = (values.github ?? []).flatMap((g) =>
    g
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean),
  );
  const pollS = Number(values['github-poll']);
  if (!Number.isFinite(pollS) || pollS < 1) {
    throw new InputError(
      '--github-poll',
      `${values['github-poll']} is not a number of seconds ≥ 1`,
    );
  }
  const apiUrl = values['github-api-url'] ?? env.GITHUB_API_URL ?? 'https://api.github.com';
  if (!/^https?:\/\/[^/]/.test(apiUrl)) {
    throw new InputError('--github-api-url', `${apiUrl} is not an http(s) URL`);
  }
  const githubToken = env.ROLLGATE_GITHUB_TOKEN || env.GITHUB_TOKEN || undefined;
  if (repos.length && !githubToken) {
    logger.warn(
      'rollgate: no ROLLGATE_GITHUB_TOKEN or GITHUB_TOKEN: reading GitHub without a token (public repositories only, 60 requests an hour)',
    );
  }
  const source = await FleetSource.open({
    storeDirs: values.store ?? [],
    groupFiles: values.group ?? [],
    ...(repos.length
      ? {
          github: {
            repos,
            apiUrl,
            webUrl: env.GITHUB_SERVER_URL ?? webUrlOf(apiUrl),
            token: githubToken,
            operateWorkflow: values['github-workflow'],
            pollMs: pollS * 1000,
          },
        }
      : {}),
    env,
    logger,
    readOnly: !values['allow-operations'],
  });
  const page = await startPage({
    source,
    logger,
    who: values.who ?? defaultWho(env),
    host: values.listen,
    port: Number(values.port),
    allowOperations: values['allow-operations'],
    ...(values.token ? { token: values.token } : {}),
  });
  console.log(
    `rollgate: the page is at ${page.url}${values['allow-operations'] ? '' : ' (read-only)'}`,
  );
  const stop = () => void page.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise(() => undefined);
}

if (process.argv[1] && /web[\\/](bin\.ts|index\.js)$/.test(process.argv[1])) {
  const argv = process.argv.slice(2);
  const run = argv[0] === 'page' ? pageMain : serveMain;
  run(argv, process.env)
    .then((code) => process.stdout.write('', () => process.exit(code)))
    .catch((err: unknown) => {
      const { lines, exitCode } = describeError(err, { debug: env().ROLLGATE_DEBUG === '1' });
      for (const line of lines) console.error(line);
      process.exit(exitCode);
    });
}

function env(): Record<string, string | undefined> {
  return process.env;
}
