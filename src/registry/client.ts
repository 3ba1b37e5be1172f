import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { RollgateError } from '../model/errors';
import {
  formatImageReference,
  manifestReference,
  parseImageReference,
  type ImageReference,
} from './reference';

/**
 * A small client for the registry HTTP API (Docker Registry v2 / OCI distribution spec): reads
 * manifests (resolving an image index to one platform), the image config and layer blobs, and
 * checks every digest it is given. Anonymous, basic or bearer-token auth (the `WWW-Authenticate:
 * Bearer realm=…` flow of Docker Hub, GHCR, Harbor…).
 */

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

const ACCEPT = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(
  ', ',
);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  empty_layer?: boolean;
  comment?: string;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  config?: {
    User?: string;
    Env?: string[];
    Labels?: Record<string, string> | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    ExposedPorts?: Record<string, unknown>;
  };
  rootfs?: { type: string; diff_ids: string[] };
  history?: HistoryEntry[];
}

export interface ManifestResult {
  /** Digest of the image manifest (for an index: of the chosen platform's manifest). */
  digest: string;
  /** Digest of the index the reference pointed at, when it was one. */
  indexDigest?: string;
  mediaType: string;
  manifest: ImageManifest;
}

export type RegistryAuth = { username: string; password: string } | { token: string };

export interface RegistryClientOptions {
  /** Registries spoken to over plain HTTP (loopback test registries). */
  insecure?: boolean;
  auth?: RegistryAuth;
  timeoutMs?: number;
  /** Platform picked from an image index (default linux/amd64). */
  platform?: { os: string; architecture: string };
  fetch?: typeof fetch;
}

export class RegistryError extends RollgateError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** `Bearer realm="…",service="…",scope="…"` → its parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)="([^"]*)"/g;
  for (let m = re.exec(header); m; m = re.exec(header)) params[m[1]!.toLowerCase()] = m[2]!;
  return { scheme, params };
}

export class RegistryClient {
  readonly baseUrl: string;
  private readonly tokens = new Map<string, string>();
  private readonly fetchImpl: typeof fetch;

  constructor(
    readonly registry: string,
    private readonly options: RegistryClientOptions = {},
  ) {
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    this.baseUrl = `${options.insecure ? 'http' : 'https'}://${host}`;
    this.fetchImpl = options.fetch ?? fetch;
  }

  blobUrl(repository: string, digest: string): string {
    return `${this.baseUrl}/v2/${repository}/blobs/${digest}`;
  }

  /** Headers a third party (Clair) needs to fetch this repository's blobs. */
  async authHeaders(repository: string): Promise<Record<string, string[]>> {
    const token = this.tokens.get(this.scope(repository));
    if (token) return { Authorization: [`Bearer ${token}`] };
    const auth = this.options.auth;
    if (auth && 'token' in auth) return { Authorization: [`Bearer ${auth.token}`] };
    if (auth) return { Authorization: [`Basic ${basic(auth.username, auth.password)}`] };
    return {};
  }

  async manifest(repository: string, reference: string): Promise<ManifestResult> {
    const first = await this.getManifest(repository, reference);
    if (first.mediaType === MEDIA.ociIndex || first.mediaType === MEDIA.dockerList) {
      const index = first.json as { manifests?: Descriptor[] };
      const want = this.options.platform ?? { os: 'linux', architecture: 'amd64' };
      const pick = (index.manifests ?? []).find(
        (d) => d.platform?.os === want.os && d.platform?.architecture === want.architecture,
      );
      if (!pick) {
        throw new RegistryError(
          `${repository}@${first.digest} has no ${want.os}/${want.architecture} image`,
        );
      }
      const inner = await this.getManifest(repository, pick.digest);
      return {
        digest: inner.digest,
        indexDigest: first.digest,
        mediaType: inner.mediaType,
        manifest: checkManifest(inner.json, repository, inner.digest),
      };
    }
    return {
      digest: first.digest,
      mediaType: first.mediaType,
      manifest: checkManifest(first.json, repository, first.digest),
    };
  }

  /** The digest a tag points at now (HEAD, no body). */
  async resolveDigest(repository: string, reference: string): Promise<string> {
    const res = await this.request('HEAD', `/v2/${repository}/manifests/${reference}`, repository, {
      Accept: ACCEPT,
    });
    const digest = res.headers.get('docker-content-digest');
    if (!res.ok || !digest) {
      throw new RegistryError(
        `HEAD ${this.registry}/${repository}:${reference}: HTTP ${res.status}`,
        res.status,
      );
    }
    return digest;
  }

  async config(repository: string, descriptor: Descriptor): Promise<ImageConfig> {
    const data = await this.blob(repository, descriptor.digest);
    try {
      return JSON.parse(data.toString('utf8')) as ImageConfig;
    } catch {
      throw new RegistryError(`config ${descriptor.digest} of ${repository} is not JSON`);
    }
  }

  /** A whole blob in memory, digest checked. For configs and small layers. */
  async blob(repository: string, digest: string): Promise<Buffer> {
    const res = await this.request('GET', `/v2/${repository}/blobs/${digest}`, repository);
    if (!res.ok) {
      throw new RegistryError(`blob ${digest} of ${repository}: HTTP ${res.status}`, res.status);
    }
    const data = Buffer.from(await res.arrayBuffer());
    if (sha256(data) !== digest) {
      throw new RegistryError(`blob ${digest} of ${repository} does not match its digest`);
    }
    return data;
  }

  /**
   * A blob as a stream of chunks; the digest is checked when the stream ends (a mismatch makes
   * the iteration throw), so a layer is never trusted without being verified.
   */
  async *blobChunks(repository: string, digest: string): AsyncGenerator<Buffer> {
    const res = await this.request(
      'GET',
      `/v2/${repository}/blobs/${digest}`,
      repository,
      {},
      true,
    );
    if (!res.ok || !res.body) {
      throw new RegistryError(`blob ${digest} of ${repository}: HTTP ${res.status}`, res.status);
    }
    const hash = createHash('sha256');
    for await (const chunk of Readable.fromWeb(res.body as never)) {
      const buf = chunk as Buffer;
      hash.update(buf);
      yield buf;
    }
    if (`sha256:${hash.digest('hex')}` !== digest) {
      throw new RegistryError(`blob ${digest} of ${repository} does not match its digest`);
    }
  }

  private async getManifest(repository: string, reference: string) {
    const res = await this.request('GET', `/v2/${repository}/manifests/${reference}`, repository, {
      Accept: ACCEPT,
    });
    if (!res.ok) {
      throw new RegistryError(
        `manifest ${this.registry}/${repository}:${reference}: HTTP ${res.status}`,
        res.status,
      );
    }
    const raw = Buffer.from(await res.arrayBuffer());
    const digest = sha256(raw);
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new RegistryError(`manifest ${repository}@${reference} does not match its digest`);
    }
    const header = res.headers.get('docker-content-digest');
    if (header && header !== digest) {
      throw new RegistryError(
        `manifest ${repository}:${reference}: Docker-Content-Digest ${header} is not the sha256 of the body`,
      );
    }
    let json: { mediaType?: string };
    try {
      json = JSON.parse(raw.toString('utf8')) as { mediaType?: string };
    } catch {
      throw new RegistryError(`manifest ${repository}:${reference} is not JSON`);
    }
    const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    return { digest, json, mediaType: json.mediaType ?? contentType };
  }

  private scope(repository: string): string {
    return `repository:${repository}:pull`;
  }

  private async request(
    method: string,
    path: string,
    repository: string,
    headers: Record<string, string> = {},
    stream = false,
  ): Promise<Response> {
    const send = async () => {
      const h: Record<string, string> = { ...headers };
      const token = this.tokens.get(this.scope(repository));
      const auth = this.options.auth;
      if (token) h.Authorization = `Bearer ${token}`;
      else if (auth && 'token' in auth) h.Authorization = `Bearer ${auth.token}`;
      else if (auth) h.Authorization = `Basic ${basic(auth.username, auth.password)}`;
      const timeout = this.options.timeoutMs ?? 30_000;
      return this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers: h,
        redirect: 'follow',
        signal: AbortSignal.timeout(stream ? timeout * 20 : timeout),
      });
    };
    let res = await send().catch((err: unknown) => {
      throw new RegistryError(`${method} ${this.baseUrl}${path}: ${(err as Error).message}`);
    });
    if (res.status === 401 && !this.tokens.has(this.scope(repository))) {
      const challenge = res.headers.get('www-authenticate');
      if (challenge && parseChallenge(challenge).scheme === 'bearer') {
        await res.arrayBuffer().catch(() => undefined);
        await this.fetchToken(parseChallenge(challenge).params, repository);
        res = await send();
      }
    }
    return res;
  }

  private async fetchToken(params: Record<string, string>, repository: string): Promise<void> {
    if (!params.realm) throw new RegistryError(`${this.registry}: bearer challenge without realm`);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', this.scope(repository));
    const headers: Record<string, string> = {};
    const auth = this.options.auth;
    if (auth && 'username' in auth) {
      headers.Authorization = `Basic ${basic(auth.username, auth.password)}`;
    }
    const res = await this.fetchImpl(url, {
      headers,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
    });
    if (!res.ok) {
      throw new RegistryError(`token for ${repository} from ${url.origin}: HTTP ${res.status}`);
    }
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`token for ${repository}: the answer has no token`);
    this.tokens.set(this.scope(repository), token);
  }
}

function basic(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`).toString('base64');
}

function checkManifest(json: unknown, repository: string, digest: string): ImageManifest {
  const m = json as Partial<ImageManifest>;
  if (
    m.schemaVersion !== 2 ||
    !m.config ||
    typeof m.config.digest !== 'string' ||
    !Array.isArray(m.layers)
  ) {
    throw new RegistryError(`${repository}@${digest} is not an image manifest (schema 2)`);
  }
  return m as ImageManifest;
}

/** Everything the compliance rules read about one image. */
export interface RegistryImage {
  ref: ImageReference;
  /** `registry/repo@sha256:…` */
  pinned: string;
  manifest: ManifestResult;
  config: ImageConfig;
}

export async function readImage(client: RegistryClient, image: string): Promise<RegistryImage> {
  const ref = parseImageReference(image);
  const manifest = await client.manifest(ref.repository, manifestReference(ref));
  const config = await client.config(ref.repository, manifest.manifest.config);
  return {
    ref,
    pinned: formatImageReference({
      registry: ref.registry,
      repository: ref.repository,
      digest: manifest.digest,
    }),
    manifest,
    config,
  };
}
