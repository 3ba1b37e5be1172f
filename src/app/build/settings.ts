import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { BUILDERS } from '../../image/builders';
import type { RegistryAuth } from '../../registry/client';
import { tlsVerifyOf } from '../registry-access';
import {
  copySettings,
  type CopiedOptions,
  type SettingNames,
  type SettingTable,
  type SettingValues,
} from '../settings';

export const KINDS = ['node', 'static'] as const;
export const NETWORKS = ['host', 'none', 'private'] as const;

/**
 * The build settings (B1–B3), keyed by build-image's action.yml input names, in the order
 * `rollgate build --help` lists them.
 */
export const BUILD_SETTINGS = {
  context: {
    shape: 'text',
    default: '.',
    cli: [{ flags: '--context <dir>', help: 'the application directory (build context)' }],
  },
  image: {
    shape: 'text',
    required: 'registry/repository to push to',
    cli: [
      {
        flags: '--image <ref>',
        help: 'registry/repository to push to (a :tag here is the first tag)',
      },
    ],
  },
  tags: {
    shape: 'list',
    cli: [{ flags: '--tag <tag...>', help: 'tags to push (default: the commit, 12 hex)' }],
  },
  kind: {
    shape: 'text',
    cli: [
      {
        flags: '--kind <kind>',
        help: 'standard Containerfile (default: static with --binary, else node)',
        choices: KINDS,
      },
    ],
  },
  containerfile: {
    shape: 'text',
    cli: [
      {
        flags: '--containerfile <file>',
        help: "the app's own Containerfile instead (relative to --context)",
      },
    ],
  },
  'base-image': {
    shape: 'text',
    cli: [
      {
        flags: '--base-image <ref>',
        help: 'final stage base image, pinned: registry/repo@sha256:…',
      },
    ],
  },
  'build-stage-image': {
    shape: 'text',
    cli: [
      {
        flags: '--build-stage-image <ref>',
        help: 'build stage base image (default: --base-image)',
      },
    ],
  },
  entry: {
    shape: 'text',
    cli: [{ flags: '--entry <file>', help: 'node: the script node runs (default server.js)' }],
  },
  binary: {
    shape: 'text',
    cli: [
      {
        flags: '--binary <path>',
        help: 'static: the built binary in the app directory, e.g. bin/app',
      },
    ],
  },
  'build-command': {
    shape: 'text',
    cli: [{ flags: '--build-command <cmd>', help: 'static: shell command that builds the binary' }],
  },
  port: {
    shape: 'text',
    cli: [{ flags: '--port <port>', help: 'port the app listens on (EXPOSE)' }],
  },
  'platform-options': {
    shape: 'list',
    cli: [
      {
        flags: '--platform-option <name...>',
        help: 'platform options by name (tz-shanghai, npm-mirror=URL, …)',
      },
    ],
  },
  builder: {
    shape: 'text',
    cli: [
      {
        flags: '--builder <name>',
        help: 'builder (default: the first of buildah, podman, docker on PATH)',
        choices: BUILDERS,
      },
    ],
  },
  'cache-dir': {
    shape: 'text',
    cli: [
      {
        flags: '--cache-dir <dir>',
        help: 'dependency cache kept across builds (default ~/.cache/rollgate/build)',
      },
    ],
  },
  cache: {
    shape: 'switch',
    cli: [{ flags: '--no-cache', help: 'no dependency cache directory' }],
  },
  'layer-cache': {
    shape: 'text',
    cli: [
      {
        flags: '--layer-cache <repo>',
        help: 'registry repository holding layer cache (fresh CI machines)',
      },
    ],
  },
  push: {
    shape: 'switch',
    cli: [
      {
        flags: '--push',
        help: 'push the image and check its digest in the registry',
        default: true,
      },
      { flags: '--no-push', help: 'build only: no push, no digest' },
    ],
  },
  'tls-verify': {
    shape: 'text',
    default: 'true',
    cli: [{ flags: '--tls-verify <bool>', help: 'false for a plain-HTTP registry (loopback)' }],
  },
  network: {
    shape: 'text',
    cli: [{ flags: '--network <mode>', help: 'network for RUN steps', choices: NETWORKS }],
  },
  commit: {
    shape: 'text',
    cli: [
      {
        flags: '--commit <sha>',
        help: 'commit for the labels (default: git rev-parse HEAD in --context)',
      },
    ],
  },
  source: {
    shape: 'text',
    cli: [
      {
        flags: '--source <url>',
        help: 'repository URL for the labels (default: git remote origin, or the CI; none: no source label)',
      },
    ],
  },
  'run-url': {
    shape: 'text',
    cli: [
      {
        flags: '--run-url <url>',
        help: 'CI run URL for the labels (default: from GitHub Actions or Jenkins)',
      },
    ],
  },
  'run-id': {
    shape: 'text',
    cli: [{ flags: '--run-id <id>', help: 'CI run id for the labels' }],
  },
  version: {
    shape: 'text',
    cli: [{ flags: '--version <version>', help: 'version label (default: the first tag)' }],
  },
  title: {
    shape: 'text',
    cli: [
      {
        flags: '--title <title>',
        help: "title label (default: the repository's last name, e.g. shop)",
      },
    ],
  },
  'registry-username': {
    shape: 'text',
    cli: [
      {
        flags: '--registry-user <name>',
        help: 'registry user for the digest check (the builder logs in its own way)',
      },
    ],
  },
  // The action takes the password; the CLI the variable that holds it.
  'registry-password': {
    shape: 'text',
    cli: [
      {
        flags: '--registry-password-env <NAME>',
        help: 'variable holding the registry password',
        default: 'ROLLGATE_REGISTRY_PASSWORD',
      },
    ],
  },
  verbose: {
    shape: 'switch',
    cli: [{ flags: '--verbose', help: "stream the builder's whole output" }],
  },
} as const satisfies SettingTable;

export type BuildSettings = typeof BUILD_SETTINGS;
export type BuildSettingValues = SettingValues<BuildSettings>;

/** Settings that make one option together, or that the caller reads itself: not copied. */
const READ_APART = [
  'cache',
  'cache-dir',
  'tls-verify',
  'registry-username',
  'registry-password',
  'verbose',
] as const;
type ReadApart = (typeof READ_APART)[number];

/** What a build is asked for, from the flags or the inputs (see buildRequest). */
export type BuildOptions = CopiedOptions<BuildSettings, ReadApart> & {
  /** Dependency cache directory; null: none. */
  cacheDir: string | null;
  tlsVerify: boolean;
  registryAuth?: RegistryAuth;
};

/** Each setting by how the user names it: a flag, or `input <name>` in the action. */
export type BuildNames = SettingNames<BuildSettings>;
export type BuildField = keyof BuildNames;

/** The build options from the settings (the registry credentials are the caller's). */
export function buildOptionsOf(
  v: BuildSettingValues,
  names: BuildNames,
  env: Record<string, string | undefined>,
): BuildOptions {
  const o = copySettings(BUILD_SETTINGS, v, READ_APART);
  // The action's default; the CLI offers only the builders themselves.
  if (o.builder === 'auto') delete o.builder;
  o.cacheDir = v.cache ? resolve(v['cache-dir'] ?? defaultCacheDir(env)) : null;
  o.tlsVerify = tlsVerifyOf(v['tls-verify'], names.tlsVerify);
  return o as BuildOptions;
}

/** `$XDG_CACHE_HOME/rollgate/build`, else `~/.cache/rollgate/build`. */
export function defaultCacheDir(env: Record<string, string | undefined>): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'rollgate', 'build');
}
