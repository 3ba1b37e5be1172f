import { InputError } from '../model/errors';

/**
 * OCI labels on every image rollgate builds: which commit, which CI run and which source it
 * came from, so that a running container leads back to its build (and a release to its run).
 * Keys from the OCI image spec (annotations.md) where one exists; `dev.rollgate.*` otherwise.
 */
export interface ImageProvenance {
  /** Commit SHA (7–64 hex). */
  commit: string;
  /** Source repository URL, e.g. https://github.com/acme/shop; absent: no source label. */
  source?: string;
  /** URL of the CI run that built the image. */
  runUrl?: string;
  /** CI run id (GitHub: run id, or `<run id>/<attempt>`). */
  runId?: string;
  /** The release version (tag). */
  version?: string;
  /**
   * Build time, epoch ms: the commit's time or SOURCE_DATE_EPOCH, so the same source builds the
   * same image (the clock's time only when neither is known).
   */
  created: number;
  /** The image's own title: set so that the base image's title is not inherited. */
  title?: string;
  /** Base image reference, pinned (`registry/repo@sha256:…`). */
  baseImage?: string;
  kind?: string;
  platformOptions?: string[];
}

export const LABEL = {
  revision: 'org.opencontainers.image.revision',
  source: 'org.opencontainers.image.source',
  created: 'org.opencontainers.image.created',
  version: 'org.opencontainers.image.version',
  title: 'org.opencontainers.image.title',
  baseName: 'org.opencontainers.image.base.name',
  baseDigest: 'org.opencontainers.image.base.digest',
  runUrl: 'dev.rollgate.run.url',
  runId: 'dev.rollgate.run.id',
  kind: 'dev.rollgate.kind',
  options: 'dev.rollgate.platform-options',
} as const;

const COMMIT = /^[a-f0-9]{7,64}$/i;
const URL_LIKE = /^(?:https?|git|ssh):\/\/[^\s]+$|^[\w.-]+@[\w.-]+:[^\s]+$/;

function clean(field: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value) || value.length > 1024) {
    throw new InputError(field, 'must be one line of at most 1024 characters');
  }
  return value;
}

export function ociLabels(p: ImageProvenance): Record<string, string> {
  if (!COMMIT.test(p.commit)) {
    throw new InputError('commit', `"${p.commit}" is not a commit SHA (7–64 hex digits)`);
  }
  if (p.source !== undefined && !URL_LIKE.test(p.source)) {
    throw new InputError('source', `"${p.source}" is not a repository URL`);
  }
  if (!Number.isFinite(p.created)) throw new InputError('created', 'is not a time');
  const labels: Record<string, string> = {
    [LABEL.revision]: p.commit.toLowerCase(),
    [LABEL.created]: new Date(p.created).toISOString(),
  };
  if (p.source !== undefined) labels[LABEL.source] = clean('source', p.source);
  if (p.runUrl) {
    if (!/^https?:\/\/\S+$/.test(p.runUrl)) {
      throw new InputError('runUrl', `"${p.runUrl}" is not a URL`);
    }
    labels[LABEL.runUrl] = clean('runUrl', p.runUrl);
  }
  if (p.runId) labels[LABEL.runId] = clean('runId', p.runId);
  if (p.version) labels[LABEL.version] = clean('version', p.version);
  if (p.title) labels[LABEL.title] = clean('title', p.title);
  if (p.baseImage) {
    const at = p.baseImage.indexOf('@');
    labels[LABEL.baseName] = clean('baseImage', at >= 0 ? p.baseImage.slice(0, at) : p.baseImage);
    if (at >= 0) labels[LABEL.baseDigest] = p.baseImage.slice(at + 1);
  }
  if (p.kind) labels[LABEL.kind] = clean('kind', p.kind);
  if (p.platformOptions && p.platformOptions.length > 0) {
    labels[LABEL.options] = clean('platformOptions', p.platformOptions.join(','));
  }
  return labels;
}

/** The repository's last name (`registry/acme/shop:1.0` → `shop`), the default title. */
export function defaultTitle(repository: string): string {
  return repository.slice(repository.lastIndexOf('/') + 1);
}

/** Whether an app's own Containerfile sets the title itself (then rollgate leaves it alone). */
export function setsTitle(containerfile: string): boolean {
  return /^(?!\s*#).*\borg\.opencontainers\.image\.title\b/m.test(containerfile);
}
