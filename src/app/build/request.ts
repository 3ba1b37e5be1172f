import { resolve } from 'node:path';
import type { BuildImageRequest } from '../../image/build';
import { BUILDERS, type BuilderName } from '../../image/builders';
import type { ImageProvenance } from '../../image/labels';
import {
  DEFAULT_PLATFORM_HOST,
  resolvePlatformOptions,
  type AppKind,
} from '../../image/platform-options';
import { parseImageReference, repositoryName } from '../../registry/reference';
import { InputError } from '../../model/errors';
import { KINDS, NETWORKS, type BuildField, type BuildNames, type BuildOptions } from './settings';

/**
 * What the user gave (flags or inputs) → a BuildImageRequest, checked up front so that each
 * error names the flag or input; the image's provenance read from the settings, git, or the
 * CI's environment. Pure but for the git reader it is given.
 */

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
  if (!(KINDS as readonly string[]).includes(o.kind)) {
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
      ...(o.layerCache ? { layerCacheRepo: o.layerCache } : {}),
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
