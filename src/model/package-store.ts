import type { PackageStoreRef } from './types';

/** The store key of targets whose site has no store of its own, and of targets without a site. */
export const DEFAULT_SITE = 'default';

/** An OCI artifact in a registry: `oci://registry/repository:tag` (`oci+http://` without TLS). */
export interface OciSource {
  registry: string;
  repository: string;
  tag: string;
  /** oci+http://: a registry without TLS (loopback, an in-DC mirror). */
  plainHttp: boolean;
}

/** The URL a target fetches its package from (issue 17). */
export function storeUrlFor(ref: PackageStoreRef, site: string | undefined): string | undefined {
  return ref.urls[site ?? DEFAULT_SITE] ?? ref.urls[DEFAULT_SITE];
}
