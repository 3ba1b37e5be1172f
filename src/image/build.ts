import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../model/clock';
import type { Logger } from '../model/logger';
import { InputError, RollgateError } from '../model/errors';
import { RegistryClient, type RegistryClientOptions } from '../registry/client';
import {
  BUILDERS,
  buildCommand,
  countCacheHits,
  dependencyCacheMode,
  parseDockerPushDigest,
  pushCommand,
  type BuilderName,
  type Command,
} from './builders';
import { findOnPath, type CommandResult, type CommandRunner } from './command';
import {
  finalBaseImage,
  renderContainerfile,
  renderIgnoreFile,
  type HookDigests,
  type NodeKindSettings,
  type StaticKindSettings,
} from './containerfile';
import { defaultTitle, ociLabels, setsTitle, type ImageProvenance } from './labels';
import {
  DEFAULT_PLATFORM_HOST,
  resolvePlatformOptions,
  type AppKind,
  type PlatformHost,
} from './platform-options';
import {
  DIGEST,
  parseImageReference,
  pinnedReference,
  repositoryName,
} from '../registry/reference';

/**
 * build-image: renders the standard Containerfile for the app's kind (or takes the app's own),
 * builds it with a real builder, pushes it and returns the pushed reference and digest.
 */

export interface BuildImageRequest {
  /** `auto` (default): the first of buildah, podman, docker found on PATH. */
  builder?: BuilderName | 'auto';
  /** The application directory (the build context). */
  appDir: string;
  /** `custom` uses the app's own Containerfile (`containerfile`). */
  kind: AppKind | 'custom';
  /** For kind custom: the Containerfile, relative to appDir or absolute. */
  containerfile?: string;
  node?: NodeKindSettings;
  static?: StaticKindSettings;
  port?: number;
  /** Final stage base image, pinned by digest (`registry/repo@sha256:…`). */
  baseImage?: string;
  /** Build stage base image (default: baseImage). */
  buildImage?: string;
  /** Platform options by name (`tz-shanghai`, `ca-certificates`, `npm-mirror=…`). */
  options?: string[];
  /** Destination with a tag: `registry/repo:version`. */
  image: string;
  /** More tags to push (same repository or not). */
  extraTags?: string[];
  provenance: ImageProvenance;
  cache?: {
    /** Reuse layers (default true). */
    layers?: boolean;
    /** Host directory for dependency caches, kept across builds (B1). */
    dependencyDir?: string;
    /** Registry repository for layer cache, for fresh CI machines. */
    layerCacheRepo?: string;
  };
  /** Push after building (default true). */
  push?: boolean;
  /** Registry access for push and digest check; `insecure` for a plain-HTTP loopback registry. */
  registry?: Pick<RegistryClientOptions, 'insecure' | 'auth'>;
  isolation?: 'chroot' | 'oci' | 'rootless';
  runtime?: string;
  /** Network for RUN steps (default: the builder's; `host` reaches a loopback mirror). */
  network?: 'host' | 'none' | 'private';
  /** Scratch directory for generated files; removed afterwards unless keepWorkDir. */
  workDir: string;
  keepWorkDir?: boolean;
  timeoutMs?: number;
}

export interface BuildImageDeps {
  runner: CommandRunner;
  /** Environment of the builder processes (PATH, CONTAINERS_*, …). */
  env: Record<string, string>;
  clock: Clock;
  logger: Logger;
  platformHost?: PlatformHost;
  /** Streams the builder's output lines (default: none; the log gets a summary). */
  onOutput?: (line: string) => void;
  fetch?: typeof fetch;
}

export interface BuildImageResult {
  builder: BuilderName;
  /** `registry/repo:tag` as requested. */
  image: string;
  /** Digest of the pushed manifest; null when not pushed. */
  digest: string | null;
  /** `registry/repo@sha256:…`, what a release deploys; null when not pushed. */
  reference: string | null;
  imageId: string;
  labels: Record<string, string>;
  /** The Containerfile used (rendered or the app's). */
  containerfile: string;
  hooks: { buildEnv: boolean; imageEnv: boolean };
  /** Build steps reused from the layer cache. */
  cacheHits: number;
  timings: { buildMs: number; pushMs: number };
}

export class BuildError extends RollgateError {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

async function fileSha256(p: string): Promise<string | undefined> {
  try {
    return createHash('sha256')
      .update(await fs.readFile(p))
      .digest('hex');
  } catch {
    return undefined;
  }
}

/** The builder to use: the requested one (it must be on PATH) or the first found. */
export function chooseBuilder(requested: BuilderName | 'auto' | undefined, pathValue: string) {
  const wanted = requested ?? 'auto';
  if (wanted !== 'auto') {
    if (!BUILDERS.includes(wanted)) {
      throw new InputError('builder', `"${String(wanted)}" is not one of ${BUILDERS.join(', ')}`);
    }
    if (!findOnPath(wanted, pathValue)) {
      throw new InputError('builder', `${wanted} is not on PATH`);
    }
    return wanted;
  }
  const found = BUILDERS.find((b) => findOnPath(b, pathValue));
  if (!found) throw new InputError('builder', `none of ${BUILDERS.join(', ')} is on PATH`);
  return found;
}

function tail(result: CommandResult, lines = 30): string {
  return (result.stdout + '\n' + result.stderr).trim().split('\n').slice(-lines).join('\n');
}

export async function buildImage(
  req: BuildImageRequest,
  deps: BuildImageDeps,
): Promise<BuildImageResult> {
  const { logger, clock } = deps;
  const builder = chooseBuilder(req.builder, deps.env.PATH ?? '');
  const target = parseImageReference(req.image, 'image');
  if (!target.tag || target.digest) {
    throw new InputError('image', `"${req.image}" needs a tag and no digest (registry/repo:tag)`);
  }
  const extraTags = (req.extraTags ?? []).map((t) => {
    parseImageReference(t, 'extraTags');
    return t;
  });
  const appDir = path.resolve(req.appDir);
  if (!(await exists(appDir))) throw new InputError('appDir', `${appDir} does not exist`);
  const workDir = path.resolve(req.workDir);
  await fs.mkdir(workDir, { recursive: true });
  const hooks: HookDigests = {
    buildEnv: await fileSha256(path.join(appDir, '.paas', 'build-env.sh')),
    imageEnv: await fileSha256(path.join(appDir, '.paas', 'image-env.sh')),
  };
  const push = req.push ?? true;
  const cacheDir = req.cache?.dependencyDir ? path.resolve(req.cache.dependencyDir) : undefined;
  if (cacheDir) await fs.mkdir(cacheDir, { recursive: true });

  try {
    const customText =
      req.kind === 'custom' && req.containerfile
        ? await fs.readFile(path.resolve(appDir, req.containerfile), 'utf8').catch(() => undefined)
        : undefined;
    const customBase = customText === undefined ? undefined : finalBaseImage(customText);
    // The title is the image's own, never the base image's (a LABEL is inherited).
    const title =
      req.provenance.title ??
      (customText !== undefined && setsTitle(customText)
        ? undefined
        : defaultTitle(repositoryName(target)));
    const labels = ociLabels({
      ...req.provenance,
      ...(title !== undefined ? { title } : {}),
      baseImage: req.provenance.baseImage ?? (req.kind === 'custom' ? customBase : req.baseImage),
      kind: req.provenance.kind ?? req.kind,
      platformOptions: req.provenance.platformOptions ?? req.options,
    });
    let containerfilePath: string;
    let containerfile: string;
    let platformContext: string | undefined;
    if (req.kind === 'custom') {
      if (!req.containerfile) {
        throw new InputError('containerfile', 'kind custom needs the app’s Containerfile');
      }
      containerfilePath = path.resolve(appDir, req.containerfile);
      containerfile = await fs.readFile(containerfilePath, 'utf8').catch(() => {
        throw new InputError('containerfile', `cannot read ${containerfilePath}`);
      });
      if ((req.options ?? []).length > 0) {
        throw new InputError('options', 'platform options apply to the standard Containerfiles');
      }
    } else {
      if (!req.baseImage) throw new InputError('baseImage', `kind ${req.kind} needs a base image`);
      const options = resolvePlatformOptions(
        req.options ?? [],
        req.kind,
        deps.platformHost ?? DEFAULT_PLATFORM_HOST,
      );
      platformContext = path.join(workDir, 'platform');
      await fs.mkdir(platformContext, { recursive: true });
      for (const option of options) {
        for (const file of option.files) {
          for (const stage of file.stages) {
            const dest = path.join(platformContext, stage, file.dest);
            await fs.mkdir(path.dirname(dest), { recursive: true });
            await fs.copyFile(file.hostPath, dest).catch((err: Error) => {
              throw new InputError(
                'options',
                `platform option ${option.name} needs ${file.hostPath}: ${err.message}`,
              );
            });
          }
        }
      }
      containerfile = renderContainerfile({
        kind: req.kind,
        baseImage: req.baseImage,
        buildImage: req.buildImage,
        hooks,
        options,
        dependencyCache: dependencyCacheMode(builder, cacheDir),
        port: req.port,
        node: req.node,
        static: req.static,
        labels,
      });
      containerfilePath = path.join(workDir, 'Containerfile');
      await fs.writeFile(containerfilePath, containerfile);
    }

    const appIgnore =
      (await fs.readFile(path.join(appDir, '.containerignore'), 'utf8').catch(() => null)) ??
      (await fs.readFile(path.join(appDir, '.dockerignore'), 'utf8').catch(() => undefined));
    const ignoreFile = path.join(workDir, 'Containerfile.dockerignore');
    await fs.writeFile(ignoreFile, renderIgnoreFile(req.kind, appIgnore));

    const tlsVerify = req.registry?.insecure ? false : undefined;
    const iidFile = path.join(workDir, 'iid');
    const metadataFile = path.join(workDir, 'metadata.json');
    const build = buildCommand(builder, {
      contextDir: appDir,
      containerfile: containerfilePath,
      ignoreFile: builder === 'docker' ? undefined : ignoreFile,
      tags: [req.image, ...extraTags],
      // The standard Containerfiles carry the labels in one LABEL step; builders add one
      // step per --label.
      labels: req.kind === 'custom' ? labels : {},
      platformContext,
      dependencyCacheDir: builder === 'docker' ? undefined : cacheDir,
      layers: req.cache?.layers ?? true,
      layerCacheRepo: req.cache?.layerCacheRepo,
      iidFile,
      isolation: req.isolation,
      runtime: req.runtime,
      network: req.network,
      pull: 'missing',
      tlsVerify,
      metadataFile: builder === 'docker' ? metadataFile : undefined,
      // The image's times are the created label's: the same source gives the same digest.
      timestamp: Math.floor(req.provenance.created / 1000),
    });
    logger.info(`build-image: ${builder} building ${req.image} (${req.kind})`);
    const t0 = clock.now();
    const built = await run(deps, build, req.timeoutMs);
    const buildMs = clock.now() - t0;
    if (built.code !== 0) {
      throw new BuildError(
        `${builder} build of ${req.image} failed (exit ${built.code}):\n${tail(built)}`,
        built.stdout + built.stderr,
      );
    }
    const imageId = (await fs.readFile(iidFile, 'utf8')).trim();
    const cacheHits = countCacheHits(builder, built.stdout + '\n' + built.stderr);
    logger.info(
      `build-image: built ${imageId.slice(0, 19)} in ${buildMs} ms, ${cacheHits} cached steps`,
    );

    let digest: string | null = null;
    let pushMs = 0;
    if (push) {
      const t1 = clock.now();
      for (const tag of [req.image, ...extraTags]) {
        const digestFile = path.join(workDir, 'digest');
        await fs.rm(digestFile, { force: true });
        const pushed = await run(
          deps,
          pushCommand(builder, {
            source: builder === 'docker' ? tag : imageId,
            destination: tag,
            digestFile: builder === 'docker' ? undefined : digestFile,
            tlsVerify,
          }),
          req.timeoutMs,
        );
        if (pushed.code !== 0) {
          throw new BuildError(
            `${builder} push of ${tag} failed (exit ${pushed.code}):\n${tail(pushed)}`,
            pushed.stdout + pushed.stderr,
          );
        }
        const tagDigest =
          builder === 'docker'
            ? parseDockerPushDigest(pushed.stdout + pushed.stderr)
            : (await fs.readFile(digestFile, 'utf8').catch(() => '')).trim();
        if (!tagDigest || !DIGEST.test(tagDigest)) {
          throw new BuildError(`${builder} push of ${tag} reported no digest`, pushed.stdout);
        }
        if (tag === req.image) digest = tagDigest;
      }
      pushMs = clock.now() - t1;
      // The registry is the truth: the tag must now point at the digest the builder reported.
      const client = new RegistryClient(target.registry, { ...req.registry, fetch: deps.fetch });
      const remote = await client.resolveDigest(target.repository, target.tag);
      if (remote !== digest) {
        throw new BuildError(
          `${req.image} points at ${remote} in the registry, not at the pushed ${digest}`,
          '',
        );
      }
      logger.info(`build-image: pushed ${repositoryName(target)}@${digest} in ${pushMs} ms`);
    }
    return {
      builder,
      image: req.image,
      digest,
      reference: digest ? pinnedReference(target, digest) : null,
      imageId,
      labels,
      containerfile,
      hooks: { buildEnv: hooks.buildEnv !== undefined, imageEnv: hooks.imageEnv !== undefined },
      cacheHits,
      timings: { buildMs, pushMs },
    };
  } finally {
    if (!req.keepWorkDir) await fs.rm(workDir, { recursive: true, force: true });
  }
}

function run(deps: BuildImageDeps, command: Command, timeoutMs?: number) {
  return deps.runner.run(command, {
    env: deps.env,
    timeoutMs: timeoutMs ?? 30 * 60_000,
    onLine: deps.onOutput ? (line) => deps.onOutput!(line) : undefined,
  });
}
