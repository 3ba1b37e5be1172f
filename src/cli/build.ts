import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { realClock } from '../clock/real';
import type { Logger } from '../model/logger';
import { buildImage, type BuildImageRequest, type BuildImageResult } from '../image/build';
import { BUILDERS, type BuilderName } from '../image/builders';
import { spawnRunner, type CommandRunner } from '../image/command';
import { LABEL, type ImageProvenance } from '../image/labels';
import {
  DEFAULT_PLATFORM_HOST,
  listPlatformOptions,
  resolvePlatformOptions,
  type AppKind,
} from '../image/platform-options';
import { parseImageReference, repositoryName } from '../registry/reference';
import { InputError } from '../model/errors';
import type { RegistryAuth } from '../registry/client';

/**
 * `rollgate build` (B1–B3), and the settings the build-image action shares with it: what the
 * user gives (flags or inputs) → a BuildImageRequest, with the image's provenance read from
 * the flags, git, or the CI's environment.
 */

export interface BuildOptions {
  /** The application directory (build context). */
  context: string;
  /** `registry/repo`, or `registry/repo:tag` (the tag is the first tag). */
  image: string;
  tags: string[];
  kind?: string;
  containerfile?: string;
  baseImage?: string;
  buildStageImage?: string;
  entry?: string;
  binary?: string;
  buildCommand?: string;
  port?: string;
  platformOptions: string[];
  builder?: string;
  /** Dependency cache directory; null: none. */
  cacheDir: string | null;
  layerCacheRepo?: string;
  push: boolean;
  tlsVerify: boolean;
  network?: string;
  commit?: string;
  source?: string;
  runUrl?: string;
  runId?: string;
  version?: string;
  /** org.opencontainers.image.title (default: the repository's last name). */
  title?: string;
  registryAuth?: RegistryAuth;
}

export type BuildField =
  | 'context'
  | 'image'
  | 'tags'
  | 'kind'
  | 'containerfile'
  | 'baseImage'
  | 'buildStageImage'
  | 'entry'
  | 'binary'
  | 'buildCommand'
  | 'port'
  | 'platformOptions'
  | 'builder'
  | 'cacheDir'
  | 'network'
  | 'commit'
  | 'source'
  | 'runUrl'
  | 'runId'
  | 'version'
  | 'title';

/** How the user names each setting in errors: a flag here, `input <name>` in the action. */
export type BuildNames = Record<BuildField, string>;

export const BUILD_FLAGS: BuildNames = {
  context: '--context',
  image: '--image',
  tags: '--tag',
  kind: '--kind',
  containerfile: '--containerfile',
  baseImage: '--base-image',
  buildStageImage: '--build-stage-image',
  entry: '--entry',
  binary: '--binary',
  buildCommand: '--build-command',
  port: '--port',
  platformOptions: '--platform-option',
  builder: '--builder',
  cacheDir: '--cache-dir',
  network: '--network',
  commit: '--commit',
  source: '--source',
  runUrl: '--run-url',
  runId: '--run-id',
  version: '--version',
  title: '--title',
};

/** Fields of the image library's errors → the setting the user gave. */
const LIBRARY_FIELDS: Record<string, BuildField> = {
  image: 'image',
  extraTags: 'tags',
  tags: 'tags',
  appDir: 'context',
  contextDir: 'context',
  containerfile: 'containerfile',
  options: 'platformOptions',
  platformOptions: 'platformOptions',
  baseImage: 'baseImage',
  builder: 'builder',
  commit: 'commit',
  source: 'source',
  runUrl: 'runUrl',
  runId: 'runId',
  version: 'version',
  title: 'title',
  dependencyCacheDir: 'cacheDir',
};

/** Renames an InputError of the image library after the flag or input the user gave. */
export function renameInputError(err: unknown, names: BuildNames): unknown {
  if (!(err instanceof InputError)) return err;
  const field = LIBRARY_FIELDS[err.field];
  if (!field) return err;
  return new InputError(names[field], err.message.slice(err.field.length + 2));
}

const KINDS: readonly AppKind[] = ['node', 'static'];
const NETWORKS = ['host', 'none', 'private'] as const;

/** Standard Containerfile kinds, or the app's own Containerfile (custom). */
export function resolveKind(o: BuildOptions, names: BuildNames): AppKind | 'custom' {
  if (o.containerfile) {
    if (o.kind) {
      throw new InputError(
        names.kind,
        `leave it out with ${names.containerfile}: the app's own Containerfile decides`,
      );
    }
    return 'custom';
  }
  if (o.kind === undefined) return o.binary ? 'static' : 'node';
  if (!KINDS.includes(o.kind as AppKind)) {
    throw new InputError(names.kind, `"${o.kind}" is not one of ${KINDS.join(', ')}`);
  }
  return o.kind as AppKind;
}

/** `registry/repo:first-tag` and the other tags; the default tag is the commit's first 12 hex. */
export function imageTags(
  o: BuildOptions,
  commit: string,
  names: BuildNames,
): { image: string; extraTags: string[]; tags: string[] } {
  const ref = parseImageReference(o.image, names.image);
  if (ref.digest) {
    throw new InputError(names.image, `"${o.image}" has a digest: give registry/repo (and tags)`);
  }
  const repo = repositoryName(ref);
  const tags = [...new Set([...(ref.tag ? [ref.tag] : []), ...o.tags.filter(Boolean)])];
  if (tags.length === 0) tags.push(commit.slice(0, 12).toLowerCase());
  for (const t of tags) parseImageReference(`${repo}:${t}`, names.tags);
  const [first, ...rest] = tags.map((t) => `${repo}:${t}`);
  return { image: first!, extraTags: rest, tags };
}

/** A repository URL fit for a label: no credentials, no `.git`, scp-style made https. */
export function cleanSourceUrl(url: string): string {
  let u = url.trim();
  const scp = /^[\w.-]+@([\w.-]+):(?!\/\/)(.+)$/.exec(u);
  if (scp) u = `https://${scp[1]}/${scp[2]}`;
  try {
    const parsed = new URL(u);
    parsed.username = '';
    parsed.password = '';
    u = parsed.toString();
  } catch {
    // not a URL: ociLabels says so, naming the setting
  }
  return u.replace(/\.git\/?$/, '').replace(/\/$/, '');
}

/** Runs git in a directory; null when git is missing or says no (not a checkout, no remote). */
export type GitReader = (dir: string, args: string[]) => Promise<string | null>;

export function gitReader(runner: CommandRunner, env: Record<string, string>): GitReader {
  return async (dir, args) => {
    try {
      const r = await runner.run(
        { command: 'git', args: ['-C', dir, ...args] },
        { env, timeoutMs: 10_000 },
      );
      return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
    } catch {
      return null;
    }
  };
}

/** Where the image's created time came from: only `now` makes every build a new image. */
export type CreatedFrom = 'SOURCE_DATE_EPOCH' | 'commit' | 'now';

/**
 * Commit, source and run for the OCI labels: the flags first, then the context's git checkout,
 * then what the CI says (GitHub Actions, then Jenkins). Without any source (a checkout with no
 * remote, no CI) the source label is left out. The created time is SOURCE_DATE_EPOCH, else the
 * commit's time, so building the same commit again gives the same image.
 */
export async function resolveProvenance(
  o: BuildOptions,
  env: Record<string, string | undefined>,
  git: GitReader,
  names: BuildNames,
  now: number,
): Promise<ImageProvenance & { createdFrom: CreatedFrom }> {
  const dir = resolve(o.context);
  const github =
    env.GITHUB_REPOSITORY && env.GITHUB_SERVER_URL
      ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}`
      : undefined;
  const commit =
    o.commit ?? (await git(dir, ['rev-parse', 'HEAD'])) ?? env.GITHUB_SHA ?? env.GIT_COMMIT;
  if (!commit) {
    throw new InputError(
      names.commit,
      `${dir} is not a git checkout: give the commit it was built from`,
    );
  }
  const remote = await git(dir, ['remote', 'get-url', 'origin']);
  const source = o.source ?? remote ?? github ?? env.GIT_URL;
  const { created, from } = await createdTime(env, () =>
    /^[0-9a-f]{7,64}$/i.test(commit) ? git(dir, ['show', '-s', '--format=%ct', commit]) : null,
  );
  const p: ImageProvenance & { createdFrom: CreatedFrom } = {
    commit,
    created: created ?? now,
    createdFrom: created === null ? 'now' : from,
    ...(source ? { source: cleanSourceUrl(source) } : {}),
  };
  if (env.GITHUB_RUN_ID && github) {
    const attempt = env.GITHUB_RUN_ATTEMPT ?? '1';
    p.runUrl = `${github}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${attempt}`;
    p.runId = `${env.GITHUB_RUN_ID}/${attempt}`;
  } else if (env.BUILD_URL) {
    p.runUrl = env.BUILD_URL;
    if (env.BUILD_TAG) p.runId = env.BUILD_TAG;
  }
  if (o.runUrl) p.runUrl = o.runUrl;
  if (o.runId) p.runId = o.runId;
  return p;
}

/** SOURCE_DATE_EPOCH (reproducible-builds.org), else the commit's time; epoch ms, or null. */
async function createdTime(
  env: Record<string, string | undefined>,
  commitTime: () => Promise<string | null> | null,
): Promise<{ created: number | null; from: Exclude<CreatedFrom, 'now'> }> {
  const epoch = env.SOURCE_DATE_EPOCH?.trim();
  if (epoch) {
    if (!/^\d{1,12}$/.test(epoch)) {
      throw new InputError('SOURCE_DATE_EPOCH', `"${epoch}" is not a number of seconds since 1970`);
    }
    return { created: Number(epoch) * 1000, from: 'SOURCE_DATE_EPOCH' };
  }
  const text = await commitTime();
  const seconds = text && /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
  return { created: seconds === null ? null : seconds * 1000, from: 'commit' };
}

/** `$XDG_CACHE_HOME/rollgate/build`, else `~/.cache/rollgate/build`. */
export function defaultCacheDir(env: Record<string, string | undefined>): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'rollgate', 'build');
}

/** The whole request, checked up front so that each error names what the user typed. */
export function buildRequest(
  o: BuildOptions,
  provenance: ImageProvenance,
  names: BuildNames,
  workDir: string,
): BuildImageRequest & { tags: string[] } {
  const kind = resolveKind(o, names);
  const { image, extraTags, tags } = imageTags(o, provenance.commit, names);
  const builder = (o.builder ?? 'auto') as BuilderName | 'auto';
  if (builder !== 'auto' && !BUILDERS.includes(builder)) {
    throw new InputError(names.builder, `"${builder}" is not one of auto, ${BUILDERS.join(', ')}`);
  }
  const pinned = (field: 'baseImage' | 'buildStageImage', value: string) => {
    if (!parseImageReference(value, names[field]).digest) {
      throw new InputError(names[field], `"${value}" must be pinned: registry/repo@sha256:…`);
    }
    return value;
  };
  const req: BuildImageRequest & { tags: string[] } = {
    builder,
    appDir: resolve(o.context),
    kind,
    image,
    extraTags,
    tags,
    provenance: {
      ...provenance,
      version: o.version ?? tags[0]!,
      ...(o.title !== undefined ? { title: o.title } : {}),
    },
    push: o.push,
    registry: { insecure: !o.tlsVerify, ...(o.registryAuth ? { auth: o.registryAuth } : {}) },
    cache: {
      ...(o.cacheDir ? { dependencyDir: resolve(o.cacheDir) } : {}),
      ...(o.layerCacheRepo ? { layerCacheRepo: o.layerCacheRepo } : {}),
    },
    workDir,
  };
  if (o.port !== undefined) {
    const port = Number(o.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InputError(names.port, `"${o.port}" is not a port (1–65535)`);
    }
    req.port = port;
  }
  if (o.network !== undefined) {
    if (!(NETWORKS as readonly string[]).includes(o.network)) {
      throw new InputError(names.network, `"${o.network}" is not one of ${NETWORKS.join(', ')}`);
    }
    req.network = o.network as (typeof NETWORKS)[number];
  }
  if (kind === 'custom') {
    for (const f of ['baseImage', 'buildStageImage', 'entry', 'binary', 'buildCommand'] as const) {
      if (o[f] !== undefined) {
        throw new InputError(names[f], `does not apply to the app's own Containerfile`);
      }
    }
    if (o.platformOptions.length > 0) {
      throw new InputError(
        names.platformOptions,
        'platform options apply to the standard Containerfiles',
      );
    }
    req.containerfile = o.containerfile;
    return req;
  }
  if (!o.baseImage) {
    throw new InputError(
      names.baseImage,
      `kind ${kind} needs the base image, pinned: registry/repo@sha256:…`,
    );
  }
  req.baseImage = pinned('baseImage', o.baseImage);
  if (o.buildStageImage) req.buildImage = pinned('buildStageImage', o.buildStageImage);
  resolvePlatformOptions(o.platformOptions, kind, DEFAULT_PLATFORM_HOST, names.platformOptions);
  req.options = o.platformOptions;
  if (kind === 'static') {
    if (!o.binary)
      throw new InputError(names.binary, 'kind static needs the built binary, e.g. bin/app');
    if (o.entry) throw new InputError(names.entry, 'is for node apps');
    req.static = { binary: o.binary, ...(o.buildCommand ? { buildCommand: o.buildCommand } : {}) };
  } else {
    for (const f of ['binary', 'buildCommand'] as const) {
      if (o[f] !== undefined) throw new InputError(names[f], 'is for static apps (--kind static)');
    }
    if (o.entry) req.node = { entry: o.entry };
  }
  return req;
}

export interface BuildRun {
  request: BuildImageRequest & { tags: string[] };
  result: BuildImageResult;
}

/** Provenance, request, build and push: what both the CLI and the action do. */
export async function runBuild(
  o: BuildOptions,
  env: Record<string, string | undefined>,
  names: BuildNames,
  logger: Logger,
  onOutput?: (line: string) => void,
): Promise<BuildRun> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const runner = spawnRunner();
  try {
    const { createdFrom, ...provenance } = await resolveProvenance(
      o,
      env,
      gitReader(runner, childEnv),
      names,
      realClock.now(),
    );
    if (createdFrom === 'now') {
      logger.warn(
        `build-image: no commit time for ${provenance.commit} (and no SOURCE_DATE_EPOCH): the image is stamped with the current time, so building it again gives a new digest`,
      );
    }
    if (!provenance.source) {
      logger.warn(
        `build-image: ${resolve(o.context)} has no git remote origin and no ${names.source} was given: the image gets no ${LABEL.source} label`,
      );
    }
    const workDir = await mkdtemp(join(env.RUNNER_TEMP ?? tmpdir(), 'rollgate-build-'));
    try {
      const request = buildRequest(o, provenance, names, workDir);
      const result = await buildImage(request, {
        runner,
        env: childEnv,
        clock: realClock,
        logger,
        ...(onOutput ? { onOutput } : {}),
      });
      return { request, result };
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  } catch (err) {
    throw renameInputError(err, names);
  }
}

/** The builder's lines worth showing without --verbose: one per build step and the push. */
export function isProgressLine(line: string): boolean {
  return /^(STEP \d+\/\d+:|#\d+ \[|COMMIT |Writing manifest|Copying (blob|config))/.test(line);
}

interface BuildFlags {
  context: string;
  image?: string;
  tag?: string[];
  kind?: string;
  containerfile?: string;
  baseImage?: string;
  buildStageImage?: string;
  entry?: string;
  binary?: string;
  buildCommand?: string;
  port?: string;
  platformOption?: string[];
  listOptions?: boolean;
  builder?: string;
  cacheDir?: string;
  cache: boolean;
  layerCache?: string;
  push: boolean;
  tlsVerify: string;
  network?: string;
  commit?: string;
  source?: string;
  runUrl?: string;
  runId?: string;
  version?: string;
  title?: string;
  registryUser?: string;
  registryPasswordEnv: string;
  json?: boolean;
  verbose?: boolean;
}

/** Registry credentials for the digest check: a user and the variable holding the password. */
export function registryAuthFrom(
  user: string | undefined,
  passwordEnv: string,
  env: Record<string, string | undefined>,
  field: string,
): RegistryAuth | undefined {
  if (!user) return undefined;
  const password = env[passwordEnv];
  if (!password)
    throw new InputError(field, `$${passwordEnv} (the registry password) is empty or unset`);
  return { username: user, password };
}

export function tlsVerifyOf(value: string, field: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InputError(field, `"${value}" is not true or false`);
}

export function buildOptionsFromFlags(
  f: BuildFlags,
  env: Record<string, string | undefined>,
): BuildOptions {
  if (!f.image) throw new InputError('--image', 'is required: registry/repository to push to');
  const o: BuildOptions = {
    context: f.context,
    image: f.image,
    tags: f.tag ?? [],
    platformOptions: f.platformOption ?? [],
    cacheDir: f.cache ? (f.cacheDir ?? defaultCacheDir(env)) : null,
    push: f.push,
    tlsVerify: tlsVerifyOf(f.tlsVerify, '--tls-verify'),
  };
  const copy = [
    'kind',
    'containerfile',
    'baseImage',
    'buildStageImage',
    'entry',
    'binary',
    'buildCommand',
    'port',
    'builder',
    'network',
    'commit',
    'source',
    'runUrl',
    'runId',
    'version',
    'title',
  ] as const;
  for (const k of copy) if (f[k] !== undefined) o[k] = f[k];
  if (f.layerCache) o.layerCacheRepo = f.layerCache;
  const auth = registryAuthFrom(
    f.registryUser,
    f.registryPasswordEnv,
    env,
    '--registry-password-env',
  );
  if (auth) o.registryAuth = auth;
  return o;
}

function printOptions(): void {
  for (const o of listPlatformOptions()) {
    console.log(`${o.takesValue ? `${o.name}=…` : o.name}  (${o.kinds.join(', ')})  ${o.summary}`);
  }
}

export function registerBuild(
  cli: Command,
  env: Record<string, string | undefined>,
  exitHelp: string,
): void {
  cli
    .command('build')
    .description(
      'build the app into an image (standard Containerfile per kind, or its own), push it; prints the pinned reference and digest',
    )
    .option('--context <dir>', 'the application directory (build context)', '.')
    .option('--image <ref>', 'registry/repository to push to (a :tag here is the first tag)')
    .option('--tag <tag...>', 'tags to push (default: the commit, 12 hex)')
    .addOption(
      new Option(
        '--kind <kind>',
        'standard Containerfile (default: static with --binary, else node)',
      ).choices(['node', 'static']),
    )
    .option('--containerfile <file>', "the app's own Containerfile instead (relative to --context)")
    .option('--base-image <ref>', 'final stage base image, pinned: registry/repo@sha256:…')
    .option('--build-stage-image <ref>', 'build stage base image (default: --base-image)')
    .option('--entry <file>', 'node: the script node runs (default server.js)')
    .option('--binary <path>', 'static: the built binary in the app directory, e.g. bin/app')
    .option('--build-command <cmd>', 'static: shell command that builds the binary')
    .option('--port <port>', 'port the app listens on (EXPOSE)')
    .option(
      '--platform-option <name...>',
      'platform options by name (tz-shanghai, npm-mirror=URL, …)',
    )
    .option('--list-options', 'print the platform options and exit')
    .addOption(
      new Option(
        '--builder <name>',
        'builder (default: the first of buildah, podman, docker on PATH)',
      ).choices([...BUILDERS]),
    )
    .option(
      '--cache-dir <dir>',
      'dependency cache kept across builds (default ~/.cache/rollgate/build)',
    )
    .option('--no-cache', 'no dependency cache directory')
    .option('--layer-cache <repo>', 'registry repository holding layer cache (fresh CI machines)')
    .option('--push', 'push the image and check its digest in the registry', true)
    .option('--no-push', 'build only: no push, no digest')
    .option('--tls-verify <bool>', 'false for a plain-HTTP registry (loopback)', 'true')
    .addOption(new Option('--network <mode>', 'network for RUN steps').choices([...NETWORKS]))
    .option('--commit <sha>', 'commit for the labels (default: git rev-parse HEAD in --context)')
    .option(
      '--source <url>',
      'repository URL for the labels (default: git remote origin, or the CI; none: no source label)',
    )
    .option(
      '--run-url <url>',
      'CI run URL for the labels (default: from GitHub Actions or Jenkins)',
    )
    .option('--run-id <id>', 'CI run id for the labels')
    .option('--version <version>', 'version label (default: the first tag)')
    .option('--title <title>', "title label (default: the repository's last name, e.g. shop)")
    .option(
      '--registry-user <name>',
      'registry user for the digest check (the builder logs in its own way)',
    )
    .option(
      '--registry-password-env <NAME>',
      'variable holding the registry password',
      'ROLLGATE_REGISTRY_PASSWORD',
    )
    .option('--json', 'print the result as JSON (progress goes to stderr)')
    .option('--verbose', "stream the builder's whole output")
    .addHelpText('after', exitHelp)
    .action(async (f: BuildFlags) => {
      if (f.listOptions) return printOptions();
      const o = buildOptionsFromFlags(f, env);
      const say = (l: string) => (f.json ? console.error(l) : console.log(l));
      const logger: Logger = {
        info: say,
        warn: (l) => console.error(l),
        error: (l) => console.error(l),
      };
      const { request, result } = await runBuild(o, env, BUILD_FLAGS, logger, (line) => {
        if (f.verbose || isProgressLine(line)) say(`  ${line}`);
      });
      const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      if (f.json) {
        console.log(
          JSON.stringify(
            {
              image: result.image,
              tags: request.tags,
              reference: result.reference,
              digest: result.digest,
              builder: result.builder,
              imageId: result.imageId,
              labels: result.labels,
              cacheHits: result.cacheHits,
              timings: result.timings,
            },
            null,
            2,
          ),
        );
        return;
      }
      console.log(
        `built ${result.image} with ${result.builder} in ${seconds(result.timings.buildMs)} (${result.cacheHits} cached steps)`,
      );
      if (!result.reference) {
        console.log(`not pushed (--no-push): image ${result.imageId}`);
        return;
      }
      console.log(
        `pushed ${[result.image, ...(request.extraTags ?? [])].join(', ')} in ${seconds(result.timings.pushMs)}`,
      );
      console.log(`reference: ${result.reference}`);
      console.log(`digest: ${result.digest}`);
    });
}
