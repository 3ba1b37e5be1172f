#!/usr/bin/env node
/**
 * The page's entry: `rollgate-serve [--store <dir>]... [-g <group file>]... [--listen <host>]
 * [--port <n>] [--allow-operations] [--who <name>] [--token <t>]`.
 */
import { parseArgs } from 'node:util';
import { FleetSource } from '../app/fleet-source';
import { defaultWho } from '../app/runtime';
import { describeError } from '../report/error';
import type { Logger } from '../model/logger';
import { startPage } from './server';

export const SERVE_HELP = `Usage: rollgate-serve [--store <dir>]... [-g <group file>]... [options]

The live page over every group of a file store (and of the group files given).
  --store <dir>        a record directory (store.dir of the group files): every group in it
  -g, --group <file>   a group file: its store, its hosts; the buttons act only on these
  --listen <host>      address to listen on (default 127.0.0.1; any other needs --token)
  --port <n>           port (default 8080; 0 picks a free one)
  --allow-operations   draw the buttons and run them (default: read-only)
  --who <name>         who the buttons' operations are recorded as (default: user@host)
  --token <t>          access token: open the page once with ?token=<t> (or Authorization: Bearer)`;

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
  const source = await FleetSource.open({
    storeDirs: values.store ?? [],
    groupFiles: values.group ?? [],
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
  serveMain(process.argv.slice(2), process.env).catch((err: unknown) => {
    const { lines, exitCode } = describeError(err, { debug: env().ROLLGATE_DEBUG === '1' });
    for (const line of lines) console.error(line);
    process.exit(exitCode);
  });
}

function env(): Record<string, string | undefined> {
  return process.env;
}
