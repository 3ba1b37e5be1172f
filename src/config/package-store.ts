import { InputError } from '../model/errors';
import type { Target } from '../model/types';
import { DEFAULT_SITE, type OciSource } from '../model/package-store';
import type { PackageStoreSpec } from './specs';

/**
 * Package stores (issue 17): `package.source` or `package.sources` as http(s) URLs or OCI
 * artifacts that each host fetches itself, the target's site choosing its store. Pure: parsing,
 * checking and choosing; the fetching is in app/package-store.ts and host/store-fetch.ts.
 */

export { DEFAULT_SITE, storeUrlFor, type OciSource } from '../model/package-store';

const SITE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const STORE_SCHEME = /^(https?|oci|oci\+http):\/\//i;
const AUTH = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;

/** True when a package source is a store (URL or OCI artifact), not a local path. */
export function isStoreSource(source: string): boolean {
  return STORE_SCHEME.test(source);
}

/** `oci://registry/repository:tag` (`oci+http://` for plain HTTP) → its parts. */
export function parseOciSource(url: string, field = 'package.source'): OciSource {
  const m = /^(oci|oci\+http):\/\/([^/]+)\/([^:@]+):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/i.exec(
    url,
  );
  if (!m) {
    throw new InputError(
      field,
      `"${url}" is not an OCI artifact: write oci://registry/repository:tag (oci+http:// for a registry without TLS)`,
    );
  }
  const repository = m[3]!;
  if (
    !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(
      repository,
    )
  ) {
    throw new InputError(
      field,
      `"${url}": repository "${repository}" must be lower-case path components`,
    );
  }
  return {
    registry: m[2]!,
    repository,
    tag: m[4]!,
    plainHttp: m[1]!.toLowerCase() === 'oci+http',
  };
}

/** The URL a host fetches an artifact's layer from: the registry's blob endpoint, by digest. */
export function ociBlobUrl(source: OciSource, digest: string): string {
  const scheme = source.plainHttp ? 'http' : 'https';
  return `${scheme}://${source.registry}/v2/${source.repository}/blobs/${digest}`;
}

function checkUrl(template: string, field: string): 'http' | 'oci' {
  const unknown = /\{([^}]*)\}/g;
  for (let m = unknown.exec(template); m; m = unknown.exec(template)) {
    if (m[1] !== 'version' && m[1] !== 'site') {
      throw new InputError(
        field,
        `"${template}": {${m[1]}} is not known; use {version} and {site}`,
      );
    }
  }
  if (!template.includes('{version}')) {
    throw new InputError(
      field,
      `"${template}" has no {version}: each release needs its own file in the store (…-{version}.tar.gz, or the tag :{version})`,
    );
  }
  const sample = template.replaceAll('{version}', '1.0.0').replaceAll('{site}', 'dc1');
  if (/^oci(\+http)?:\/\//i.test(sample)) {
    parseOciSource(sample, field);
    return 'oci';
  }
  let url: URL;
  try {
    url = new URL(sample);
  } catch {
    throw new InputError(field, `"${template}" is not a URL`);
  }
  if (url.username || url.password) {
    throw new InputError(
      field,
      `"${template}" has a user or password in it, which would land in logs and records: put the credential in an environment variable and name it in package.auth: env:NAME`,
    );
  }
  return 'http';
}

/**
 * The store a group file's package section names, or undefined for a local tarball. Problems are
 * thrown as InputErrors naming the field.
 */
export function parsePackageStore(raw: {
  source?: string;
  sources?: Record<string, string>;
  auth?: string;
}): PackageStoreSpec | undefined {
  if (raw.sources !== undefined && raw.source !== undefined) {
    throw new InputError(
      'package.sources',
      'give package.source (one store, or a local file) or package.sources (a store per site), not both',
    );
  }
  let sources: Record<string, string>;
  if (raw.sources !== undefined) {
    sources = { ...raw.sources };
  } else if (raw.source !== undefined && isStoreSource(raw.source)) {
    sources = { [DEFAULT_SITE]: raw.source };
  } else {
    if (raw.auth !== undefined) {
      throw new InputError(
        'package.auth',
        'a credential is only for a package store: package.source is a local file here',
      );
    }
    return undefined;
  }
  const kinds = new Set<'http' | 'oci'>();
  for (const [site, template] of Object.entries(sources)) {
    const field = raw.sources !== undefined ? `package.sources.${site}` : 'package.source';
    if (!SITE.test(site)) {
      throw new InputError(field, `"${site}" is not a site name: use letters, digits and . _ -`);
    }
    if (!isStoreSource(template)) {
      throw new InputError(
        field,
        `"${template}" is not a store: per-site sources are http(s):// URLs or oci:// artifacts (a local file goes in package.source)`,
      );
    }
    kinds.add(checkUrl(template, field));
  }
  if (kinds.size > 1) {
    throw new InputError(
      'package.sources',
      'the stores mix http(s) URLs and oci:// artifacts: use one kind, so every host verifies the same checksum the same way',
    );
  }
  const spec: PackageStoreSpec = { kind: [...kinds][0]!, sources };
  if (raw.auth !== undefined) {
    const m = AUTH.exec(raw.auth);
    if (!m) {
      throw new InputError(
        'package.auth',
        `"${raw.auth}" must be env:NAME, the environment variable holding the Authorization header (never the credential itself)`,
      );
    }
    spec.authEnv = m[1]!;
  }
  return spec;
}

/** The source template a site fetches from: its own, else `default`; null when there is none. */
export function sourceForSite(
  sources: Record<string, string>,
  site: string | undefined,
): { template: string; from: string } | null {
  if (site !== undefined && sources[site] !== undefined) {
    return { template: sources[site], from: site };
  }
  const fallback = sources[DEFAULT_SITE];
  if (fallback === undefined) return null;
  if (fallback.includes('{site}') && site === undefined) return null;
  return { template: fallback, from: DEFAULT_SITE };
}

/** Why a target cannot fetch from the stores (no store for its site), or null. */
export function targetStoreProblem(
  spec: PackageStoreSpec,
  target: Pick<Target, 'id' | 'site'>,
): string | null {
  if (sourceForSite(spec.sources, target.site) !== null) return null;
  const field = spec.sources[DEFAULT_SITE] !== undefined ? 'package.source' : 'package.sources';
  if (target.site === undefined) {
    return spec.sources[DEFAULT_SITE] !== undefined
      ? `target ${target.id} has no site, and ${field} needs one ({site}): give the target a site`
      : `target ${target.id} has no site, and package.sources has no default: give the target a site, or add package.sources.default`;
  }
  return `no package store for site "${target.site}" of target ${target.id}: add package.sources.${target.site}, or package.sources.default`;
}

/** Every site the targets are in, and `default` for those without: the keys of a PackageStoreRef's urls. */
export function siteKeys(targets: ReadonlyArray<Pick<Target, 'site'>>): string[] {
  return [...new Set(targets.map((t) => t.site ?? DEFAULT_SITE))].sort();
}

/** A site's template with {version} and {site} filled in. */
export function fillSource(template: string, version: string, site: string): string {
  return template.replaceAll('{version}', version).replaceAll('{site}', site);
}
