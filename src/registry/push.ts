import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { RegistryError } from './client';
import type { OciSource } from '../model/package-store';

/**
 * `rollgate pack --push` (issue 17): the package tarball as an OCI artifact — one layer, the
 * tarball as it is, so the layer's digest is the package's sha256 — put into a registry once per
 * release; the hosts then fetch the layer by digest from their site's registry.
 */

export const PACKAGE_ARTIFACT_TYPE = 'application/vnd.rollgate.package.v1';
export const PACKAGE_LAYER_TYPE = 'application/vnd.rollgate.package.v1.tar+gzip';
const EMPTY_CONFIG_TYPE = 'application/vnd.oci.empty.v1+json';
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

export interface PushResult {
  reference: string;
  /** `sha256:<hex>` of the manifest. */
  manifest: string;
  /** `sha256:<hex>` of the layer: the package's sha256. */
  layer: string;
  bytes: number;
  /** false: the registry had the layer already, nothing was uploaded. */
  uploaded: boolean;
}

function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export async function pushPackageArtifact(o: {
  target: OciSource;
  file: string;
  version: string;
  /** The Authorization header's value, if the registry needs one. */
  authorization?: string;
  fetch?: typeof fetch;
}): Promise<PushResult> {
  const fetchImpl = o.fetch ?? fetch;
  const { target } = o;
  const base = `${target.plainHttp ? 'http' : 'https'}://${target.registry}/v2/${target.repository}`;
  const where = `oci://${target.registry}/${target.repository}:${target.tag}`;
  const headers = (extra: Record<string, string> = {}) => ({
    ...extra,
    ...(o.authorization ? { Authorization: o.authorization } : {}),
  });
  const call = async (url: string, init: RequestInit): Promise<Response> => {
    try {
      return await fetchImpl(url, { ...init, signal: AbortSignal.timeout(600_000) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      throw new RegistryError(
        `push to ${where}: cannot reach ${target.registry}: ${cause?.code ?? (error as Error).message}`,
      );
    }
  };
  const putBlob = async (data: Buffer, digest: string): Promise<boolean> => {
    const head = await call(`${base}/blobs/${digest}`, { method: 'HEAD', headers: headers() });
    if (head.status === 200) return false;
    const start = await call(`${base}/blobs/uploads/`, { method: 'POST', headers: headers() });
    const location = start.headers.get('location');
    if (start.status !== 202 || !location) {
      throw new RegistryError(
        `push to ${where}: starting an upload: HTTP ${start.status}`,
        start.status,
      );
    }
    const url = new URL(location, `${base}/`);
    url.searchParams.set('digest', digest);
    const put = await call(url.toString(), {
      method: 'PUT',
      headers: headers({ 'Content-Type': 'application/octet-stream' }),
      body: data,
    });
    if (put.status !== 201) {
      throw new RegistryError(
        `push to ${where}: uploading ${digest}: HTTP ${put.status}`,
        put.status,
      );
    }
    return true;
  };

  const tarball = await readFile(o.file);
  const layer = digestOf(tarball);
  // F6: a release is never replaced, in the store either.
  const existing = await call(`${base}/manifests/${target.tag}`, {
    headers: headers({ Accept: MANIFEST_TYPE }),
  });
  if (existing.status === 200) {
    const have = (await existing.json().catch(() => ({}))) as {
      layers?: Array<{ digest?: string }>;
    };
    const digest = have.layers?.[0]?.digest;
    if (digest === layer) {
      return {
        reference: where,
        manifest: existing.headers.get('docker-content-digest') ?? '',
        layer,
        bytes: tarball.length,
        uploaded: false,
      };
    }
    throw new RegistryError(
      `push to ${where}: the tag already holds another package (layer ${digest ?? 'unknown'}, this one is ${layer}): a release is never replaced (F6); publish it under a new version`,
    );
  }
  await existing.body?.cancel().catch(() => undefined);
  const config = Buffer.from('{}');
  const uploaded = await putBlob(tarball, layer);
  await putBlob(config, digestOf(config));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      artifactType: PACKAGE_ARTIFACT_TYPE,
      config: { mediaType: EMPTY_CONFIG_TYPE, digest: digestOf(config), size: config.length },
      layers: [
        {
          mediaType: PACKAGE_LAYER_TYPE,
          digest: layer,
          size: tarball.length,
          annotations: { 'org.opencontainers.image.title': basename(o.file) },
        },
      ],
      annotations: { 'org.opencontainers.image.version': o.version },
    }),
  );
  const res = await call(`${base}/manifests/${target.tag}`, {
    method: 'PUT',
    headers: headers({ 'Content-Type': MANIFEST_TYPE }),
    body: manifest,
  });
  if (res.status !== 201) {
    const body = (await res.text().catch(() => '')).slice(0, 300);
    throw new RegistryError(
      `push to ${where}: the manifest: HTTP ${res.status} ${body}`,
      res.status,
    );
  }
  return { reference: where, manifest: digestOf(manifest), layer, bytes: tarball.length, uploaded };
}
