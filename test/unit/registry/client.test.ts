import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  MEDIA,
  parseChallenge,
  readImage,
  RegistryClient,
  RegistryError,
} from '../../../src/registry/client';

/** The registry client on scripted answers: auth flows, image indexes, digest checks. */

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const config = Buffer.from(
  JSON.stringify({ config: { User: '10001' }, rootfs: { type: 'layers', diff_ids: [] } }),
);
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha(config),
      size: config.length,
    },
    layers: [],
  }),
);
const index = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [
      {
        mediaType: MEDIA.ociManifest,
        digest: sha('arm'),
        size: 3,
        platform: { os: 'linux', architecture: 'arm64' },
      },
      {
        mediaType: MEDIA.ociManifest,
        digest: sha(manifest),
        size: manifest.length,
        platform: { os: 'linux', architecture: 'amd64' },
      },
    ],
  }),
);

type Route = (req: { url: string; headers: Record<string, string>; method: string }) => Response;

function server(route: Route) {
  const log: { url: string; headers: Record<string, string>; method: string }[] = [];
  const f = (async (url: string | URL | Request, init?: RequestInit) => {
    const req = {
      url: String(url),
      headers: (init?.headers ?? {}) as Record<string, string>,
      method: init?.method ?? 'GET',
    };
    log.push(req);
    return route(req);
  }) as typeof fetch;
  return { log, f };
}

const blobs: Record<string, Buffer> = { [sha(config)]: config, [sha(manifest)]: manifest };

function registryRoutes(req: { url: string }): Response {
  const u = new URL(req.url);
  if (u.pathname === '/v2/acme/app/manifests/1.0') {
    return new Response(index, {
      headers: { 'Content-Type': MEDIA.ociIndex, 'Docker-Content-Digest': sha(index) },
    });
  }
  if (u.pathname === `/v2/acme/app/manifests/${sha(manifest)}`) {
    return new Response(manifest, { headers: { 'Content-Type': MEDIA.ociManifest } });
  }
  const blob = /\/blobs\/(.+)$/.exec(u.pathname);
  if (blob && blobs[blob[1]!]) return new Response(blobs[blob[1]!]);
  return new Response('{}', { status: 404 });
}

describe('RegistryClient', () => {
  it('resolves an image index to linux/amd64 and reads the config', async () => {
    const { f } = server(registryRoutes);
    const client = new RegistryClient('reg.example', { fetch: f });
    const image = await readImage(client, 'reg.example/acme/app:1.0');
    expect(image.manifest.digest).toBe(sha(manifest));
    expect(image.manifest.indexDigest).toBe(sha(index));
    expect(image.pinned).toBe(`reg.example/acme/app@${sha(manifest)}`);
    expect(image.config.config?.User).toBe('10001');
  });

  it('bearer token flow: 401 challenge → token endpoint with basic auth → retry', async () => {
    const { log, f } = server((req) => {
      const u = new URL(req.url);
      if (u.host === 'auth.example') {
        expect(u.searchParams.get('scope')).toBe('repository:acme/app:pull');
        expect(u.searchParams.get('service')).toBe('reg.example');
        expect(req.headers.Authorization).toBe(`Basic ${Buffer.from('bot:pw').toString('base64')}`);
        return Response.json({ token: 'T0K3N' });
      }
      if (req.headers.Authorization !== 'Bearer T0K3N') {
        return new Response('', {
          status: 401,
          headers: {
            'WWW-Authenticate':
              'Bearer realm="https://auth.example/token",service="reg.example",scope="repository:acme/app:pull"',
          },
        });
      }
      return registryRoutes(req);
    });
    const client = new RegistryClient('reg.example', {
      fetch: f,
      auth: { username: 'bot', password: 'pw' },
    });
    await readImage(client, 'reg.example/acme/app:1.0');
    expect(log.filter((r) => r.url.startsWith('https://auth.example'))).toHaveLength(1);
    expect(await client.authHeaders('acme/app')).toEqual({ Authorization: ['Bearer T0K3N'] });
  });

  it('checks digests: a manifest or blob that does not match is refused', async () => {
    const { f } = server((req) => {
      if (req.url.includes('/manifests/')) {
        return new Response(manifest, {
          headers: { 'Docker-Content-Digest': sha('something else') },
        });
      }
      return new Response('tampered');
    });
    const client = new RegistryClient('r', { insecure: true, fetch: f });
    await expect(client.manifest('acme/app', '1.0')).rejects.toThrow(
      /Docker-Content-Digest .* is not the sha256/,
    );
    await expect(client.blob('acme/app', sha(config))).rejects.toThrow(/does not match its digest/);
    const chunks: Buffer[] = [];
    await expect(async () => {
      for await (const c of client.blobChunks('acme/app', sha(config))) chunks.push(c);
    }).rejects.toThrow(RegistryError);
  });

  it('plain HTTP for insecure registries; docker.io maps to registry-1.docker.io', () => {
    expect(new RegistryClient('127.0.11.1:15000', { insecure: true }).baseUrl).toBe(
      'http://127.0.11.1:15000',
    );
    expect(new RegistryClient('docker.io').baseUrl).toBe('https://registry-1.docker.io');
    expect(new RegistryClient('r').blobUrl('a/b', 'sha256:1')).toBe(
      'https://r/v2/a/b/blobs/sha256:1',
    );
  });

  it('no image for the platform, not a manifest, HTTP errors', async () => {
    const onlyArm = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [] }),
    );
    const { f } = server((req) =>
      req.url.endsWith('/1.0')
        ? new Response(onlyArm)
        : new Response('{"schemaVersion":1}', { status: req.url.endsWith('/v1') ? 200 : 404 }),
    );
    const client = new RegistryClient('r', { fetch: f });
    await expect(client.manifest('a', '1.0')).rejects.toThrow(/no linux\/amd64 image/);
    await expect(client.manifest('a', 'v1')).rejects.toThrow(/not an image manifest/);
    await expect(client.manifest('a', 'nope')).rejects.toMatchObject({ status: 404 });
  });

  it('parses challenges', () => {
    expect(
      parseChallenge('Bearer realm="https://a/token",service="r",scope="repository:x:pull"'),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://a/token', service: 'r', scope: 'repository:x:pull' },
    });
    expect(parseChallenge('Basic realm="Registry"').scheme).toBe('basic');
  });
});
