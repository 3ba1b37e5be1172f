import { InputError } from '../model/errors';
import { DEPENDENCY_CACHE_DIR, type DependencyCacheMode } from './containerfile';
import { PLATFORM_CONTEXT } from './platform-options';

/**
 * Pure argument builders for the real builders: buildah (default), podman and docker (BuildKit
 * through `docker buildx build`). No shell is involved: every value is one argv element.
 *
 * Settings that work on machines like the CI runners and this one (platform notes, section 6):
 * chroot isolation (crun fails on hybrid cgroups), `--layers` for the layer cache, `--force-rm`,
 * `--tls-verify=false` only for a loopback registry.
 */

export type BuilderName = 'buildah' | 'podman' | 'docker';
export const BUILDERS: readonly BuilderName[] = ['buildah', 'podman', 'docker'];

export interface Command {
  command: string;
  args: string[];
}

export interface BuildInvocation {
  contextDir: string;
  containerfile: string;
  /** Ignore file (buildah/podman `--ignorefile`; docker reads `<containerfile>.dockerignore`). */
  ignoreFile?: string;
  tags: string[];
  labels: Record<string, string>;
  buildArgs?: Record<string, string>;
  /** Directory holding the platform options' files (the `rollgate-platform` build context). */
  platformContext?: string;
  /** Host directory for dependency caches (npm…), reused across builds. buildah/podman only. */
  dependencyCacheDir?: string;
  /** Reuse cached layers (default true). */
  layers?: boolean;
  /** Registry repository holding layer cache, for fresh CI machines (buildah/podman/docker). */
  layerCacheRepo?: string;
  iidFile: string;
  /** buildah/podman `--isolation` (default chroot). */
  isolation?: 'chroot' | 'oci' | 'rootless';
  /** buildah/podman OCI runtime, e.g. /usr/sbin/runc (with isolation oci). */
  runtime?: string;
  /** Network for RUN steps. */
  network?: 'host' | 'none' | 'private';
  pull?: 'missing' | 'always' | 'never' | 'newer';
  /** false only for a plain-HTTP (loopback) registry. */
  tlsVerify?: boolean;
  /** Docker metadata file (`--metadata-file`), which holds the image digest. */
  metadataFile?: string;
  timestamp?: number;
}

export interface PushInvocation {
  /** Local image name or id. */
  source: string;
  /** `registry/repo:tag` */
  destination: string;
  /** buildah/podman write the pushed manifest's digest here. */
  digestFile?: string;
  tlsVerify?: boolean;
}

/** How dependency caches reach RUN steps with this builder. */
export function dependencyCacheMode(builder: BuilderName, cacheDir?: string): DependencyCacheMode {
  if (builder === 'docker') return 'cache-mount';
  return cacheDir ? 'volume' : 'none';
}

function kv(flag: string, entries: Record<string, string> | undefined): string[] {
  return Object.entries(entries ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([k, v]) => {
      if (k === '' || k.includes('=')) throw new InputError(flag, `bad key "${k}"`);
      return [flag, `${k}=${v}`];
    });
}

function absolute(field: string, path: string | undefined): void {
  if (path !== undefined && !path.startsWith('/')) {
    throw new InputError(field, `"${path}" must be an absolute path`);
  }
}

export function buildCommand(builder: BuilderName, inv: BuildInvocation): Command {
  absolute('contextDir', inv.contextDir);
  absolute('containerfile', inv.containerfile);
  absolute('platformContext', inv.platformContext);
  absolute('dependencyCacheDir', inv.dependencyCacheDir);
  if (inv.tags.length === 0) throw new InputError('tags', 'at least one tag is needed');
  const layers = inv.layers ?? true;
  const common = [
    '--file',
    inv.containerfile,
    ...inv.tags.flatMap((t) => ['--tag', t]),
    ...kv('--label', inv.labels),
    ...kv('--build-arg', inv.buildArgs),
    '--iidfile',
    inv.iidFile,
  ];
  if (inv.platformContext) {
    common.push('--build-context', `${PLATFORM_CONTEXT}=${inv.platformContext}`);
  }
  if (inv.network) common.push('--network', inv.network);

  if (builder === 'docker') {
    const args = ['buildx', 'build', ...common, '--load', '--progress', 'plain'];
    if (!layers) args.push('--no-cache');
    if (inv.pull === 'always' || inv.pull === 'newer') args.push('--pull');
    if (inv.layerCacheRepo) {
      args.push('--cache-from', `type=registry,ref=${inv.layerCacheRepo}`);
      args.push('--cache-to', `type=registry,ref=${inv.layerCacheRepo},mode=max`);
    }
    if (inv.metadataFile) args.push('--metadata-file', inv.metadataFile);
    // BuildKit's reproducible-builds variable: the image config's and history's times.
    if (inv.timestamp !== undefined) {
      args.push('--build-arg', `SOURCE_DATE_EPOCH=${Math.floor(inv.timestamp)}`);
    }
    args.push(inv.contextDir);
    return { command: 'docker', args };
  }

  const args = ['build', ...common];
  args.push(`--layers=${layers}`, '--force-rm', '--isolation', inv.isolation ?? 'chroot');
  if (inv.runtime) args.push('--runtime', inv.runtime);
  if (inv.ignoreFile) args.push('--ignorefile', inv.ignoreFile);
  if (inv.pull) args.push(`--pull=${inv.pull}`);
  if (inv.tlsVerify === false) args.push('--tls-verify=false');
  if (inv.dependencyCacheDir) {
    args.push('--volume', `${inv.dependencyCacheDir}:${DEPENDENCY_CACHE_DIR}:rw`);
  }
  if (inv.layerCacheRepo && layers) {
    args.push('--cache-from', inv.layerCacheRepo, '--cache-to', inv.layerCacheRepo);
  }
  if (inv.timestamp !== undefined) args.push('--timestamp', String(Math.floor(inv.timestamp)));
  args.push(inv.contextDir);
  return { command: builder, args };
}

export function pushCommand(builder: BuilderName, inv: PushInvocation): Command {
  if (builder === 'docker') {
    if (inv.source !== inv.destination) {
      throw new InputError(
        'push',
        'docker pushes a tag it built: source and destination must match',
      );
    }
    return { command: 'docker', args: ['push', inv.destination] };
  }
  const args = ['push'];
  if (inv.digestFile) args.push('--digestfile', inv.digestFile);
  if (inv.tlsVerify === false) args.push('--tls-verify=false');
  args.push(inv.source, `docker://${inv.destination}`);
  return { command: builder, args };
}

export function removeImageCommand(builder: BuilderName, image: string): Command {
  return { command: builder, args: builder === 'docker' ? ['image', 'rm', image] : ['rmi', image] };
}

export function versionCommand(builder: BuilderName): Command {
  return builder === 'docker'
    ? { command: 'docker', args: ['buildx', 'version'] }
    : { command: builder, args: ['--version'] };
}

/** The digest `docker push` prints: `<tag>: digest: sha256:… size: 1234`. */
export function parseDockerPushDigest(output: string): string | null {
  const m = /digest: (sha256:[a-f0-9]{64})/.exec(output);
  return m ? m[1]! : null;
}

/** Counts the steps a build reused from the layer cache, from the builder's output. */
export function countCacheHits(builder: BuilderName, output: string): number {
  const re = builder === 'docker' ? /^#\d+ CACHED$/gm : /^--> Using cache /gm;
  return output.match(re)?.length ?? 0;
}
