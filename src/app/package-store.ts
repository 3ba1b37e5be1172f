import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { InputError } from '../model/errors';
import type { PackageRef, PackageStoreRef, Target } from '../model/types';
import type { PackageStoreSpec } from '../config/specs';
import {
  DEFAULT_SITE,
  fillSource,
  ociBlobUrl,
  parseOciSource,
  siteKeys,
  sourceForSite,
} from '../config/package-store';
import { RegistryClient, type RegistryAuth } from '../registry/client';
import { assertHeaderValue } from '../host/store-fetch';

/**
 * Issue 17, the runner's side of a package store: the URL each site's hosts fetch from, and the
 * sha256 they must match — an OCI artifact's layer digest from its manifest, or the sha256 of the
 * store's copy read once here. The package never passes through rollgate on its way to a host.
 */
export async function resolveStorePackage(
  spec: PackageStoreSpec,
  targets: ReadonlyArray<Pick<Target, 'site'>>,
  version: string,
  env: Record<string, string | undefined>,
  fetchImpl: typeof fetch = fetch,
): Promise<PackageRef> {
  const sites = siteKeys(targets);
  const templates: Record<string, string> = {};
  for (const site of sites) {
    const chosen = sourceForSite(spec.sources, site === DEFAULT_SITE ? undefined : site);
    if (!chosen) {
      throw new InputError(
        'package.sources',
        `no store for site ${site}: add package.sources.${site}`,
      );
    }
    templates[site] = fillSource(chosen.template, version, site);
  }
  // The checksum is taken from one store: `default` when a target uses it, else the first site's.
  const reference = sites.includes(DEFAULT_SITE) ? DEFAULT_SITE : sites[0]!;
  const field =
    Object.keys(spec.sources).length > 1 ? `package.sources.${reference}` : 'package.source';
  const header = authHeader(spec, env);
  const store: PackageStoreRef = { kind: spec.kind, urls: {}, checksumFrom: '' };
  if (spec.authEnv !== undefined) store.authEnv = spec.authEnv;
  let sha256: string;
  if (spec.kind === 'oci') {
    const ref = parseOciSource(templates[reference]!, field);
    const digest = await artifactLayer(ref, header, field, fetchImpl);
    sha256 = digest.layer.slice('sha256:'.length);
    store.checksumFrom = `the layer of oci://${ref.registry}/${ref.repository}:${ref.tag} (manifest ${digest.manifest})`;
    for (const site of sites) {
      store.urls[site] = ociBlobUrl(parseOciSource(templates[site]!, field), digest.layer);
    }
  } else {
    const url = templates[reference]!;
    sha256 = await hashUrl(url, header, field, fetchImpl);
    store.checksumFrom = `the copy at ${url}, read once by rollgate`;
    for (const site of sites) store.urls[site] = templates[site]!;
  }
  return { version, sha256, store };
}

function authHeader(
  spec: PackageStoreSpec,
  env: Record<string, string | undefined>,
): string | undefined {
  if (spec.authEnv === undefined) return undefined;
  const value = env[spec.authEnv];
  if (value === undefined || value === '') {
    throw new InputError(
      'package.auth',
      `${spec.authEnv} is not set: export it with the store's Authorization header (Bearer <token>) before the release`,
    );
  }
  return assertHeaderValue(value, spec.authEnv);
}

function registryAuth(header: string | undefined): RegistryAuth | undefined {
  if (header === undefined) return undefined;
  const [scheme, rest = ''] = header.split(/ (.*)/s);
  if (scheme?.toLowerCase() === 'bearer') return { token: rest.trim() };
  if (scheme?.toLowerCase() === 'basic') {
    const plain = Buffer.from(rest.trim(), 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
  }
  throw new InputError(
    'package.auth',
    'an OCI registry takes "Bearer <token>" or "Basic <base64>"',
  );
}

/** The digest of an artifact's single layer (the tarball) and of its manifest. */
async function artifactLayer(
  ref: ReturnType<typeof parseOciSource>,
  header: string | undefined,
  field: string,
  fetchImpl: typeof fetch,
): Promise<{ layer: string; manifest: string }> {
  const auth = registryAuth(header);
  const client = new RegistryClient(ref.registry, {
    insecure: ref.plainHttp,
    fetch: fetchImpl,
    ...(auth ? { auth } : {}),
  });
  const where = `oci://${ref.registry}/${ref.repository}:${ref.tag}`;
  let result;
  try {
    result = await client.manifest(ref.repository, ref.tag);
  } catch (error) {
    throw new InputError(
      field,
      `cannot read the package artifact ${where}: ${(error as Error).message}`,
    );
  }
  const layers = result.manifest.layers;
  if (layers.length !== 1) {
    throw new InputError(
      field,
      `${where} has ${layers.length} layers; a package artifact has exactly one, the tarball (push it with rollgate pack --push)`,
    );
  }
  return { layer: layers[0]!.digest, manifest: result.digest };
}

/** sha256 of the store's copy, streamed (never kept). */
async function hashUrl(
  url: string,
  header: string | undefined,
  field: string,
  fetchImpl: typeof fetch,
): Promise<string> {
  let res: Response;
  try {
    res = await fetchImpl(url, {
      headers: header ? { Authorization: header } : {},
      redirect: 'follow',
      signal: AbortSignal.timeout(600_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new InputError(
      field,
      `cannot reach the package store at ${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    );
  }
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw new InputError(
      field,
      `the package store answered HTTP ${res.status} for ${url}: publish the package there first`,
    );
  }
  const hash = createHash('sha256');
  for await (const chunk of Readable.fromWeb(res.body as never)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
