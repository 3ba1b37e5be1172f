import { InputError } from '../model/errors';

/**
 * An image reference, `registry/repository[:tag][@digest]`, parsed the way Docker and the OCI
 * distribution spec read it: the first path component is a registry when it has a `.` or a `:`,
 * or is `localhost`; otherwise the registry is Docker Hub (`docker.io`, `library/` for one name).
 */
export interface ImageReference {
  /** `127.0.11.1:15000`, `ghcr.io`, `docker.io` */
  registry: string;
  /** `acme/app` */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>` */
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const REGISTRY =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function parseImageReference(value: string, field = 'image'): ImageReference {
  const bad = (why: string) =>
    new InputError(field, `"${value}" is not an image reference: ${why}`);
  if (value.length === 0 || value.length > 512 || /[\s"'`$\\]/.test(value)) {
    throw bad('use registry/repository:tag or registry/repository@sha256:…');
  }
  let rest = value;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`digest "${digest}" is not sha256:<64 hex>`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`tag "${tag}" is not valid`);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    parts.shift();
    if (!REGISTRY.test(registry)) throw bad(`registry "${registry}" is not a host[:port]`);
  }
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    throw bad('repository components are lower-case letters, digits and . _ -');
  }
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  const ref: ImageReference = { registry, repository: parts.join('/') };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

export function formatImageReference(ref: ImageReference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag) out += `:${ref.tag}`;
  if (ref.digest) out += `@${ref.digest}`;
  return out;
}

/** `registry/repository` without tag or digest. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** `registry/repository@digest`: the reference a release should deploy. */
export function pinnedReference(ref: ImageReference, digest: string): string {
  if (!DIGEST.test(digest)) throw new InputError('digest', `"${digest}" is not sha256:<64 hex>`);
  return `${repositoryName(ref)}@${digest}`;
}

/** The tag or digest the registry API is asked for (digest wins). */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** Pattern match for allow-lists: `registry/repo`, `registry/ns/*` (one level), `registry/ns/**`. */
export function matchesRepositoryPattern(ref: ImageReference, pattern: string): boolean {
  const name = repositoryName(ref);
  const p = pattern.trim().replace(/@.*$/, '');
  if (p.endsWith('/**')) return name.startsWith(p.slice(0, -2));
  if (p.endsWith('/*')) {
    const prefix = p.slice(0, -1);
    return name.startsWith(prefix) && !name.slice(prefix.length).includes('/');
  }
  return name === p;
}
