import type { Clock } from '../../model/clock';
import type { Logger } from '../../model/logger';
import { RollgateError } from '../../model/errors';
import type { Descriptor } from '../../registry/client';
import { signPskToken, type PskConfig } from './jwt';
import {
  INDEX_ERROR,
  INDEX_FINISHED,
  type ClairLayer,
  type ClairManifest,
  type IndexReport,
  type VulnerabilityReport,
} from './types';

/**
 * Clair v4 client (B4): submit a manifest for indexing, wait for the index report, fetch the
 * vulnerability report.
 *
 * Where the server differs from its OpenAPI description (see specs/clair/SOURCE.md):
 *  - the vulnerability report comes with 200 (the spec says 201): both are accepted;
 *  - 202 with an empty body while the matcher warms up: retried until the deadline;
 *  - POST index_report is synchronous on the server, but a report may still be in progress
 *    (another client indexing the same manifest): the index report is polled until
 *    IndexFinished or IndexError.
 * Network errors, 429 and 5xx are retried with backoff; every wait goes through the Clock port.
 */

export interface ClairClientOptions {
  /** Base URL of the indexer (or of Clair in combo mode), e.g. http://clair:6060. */
  indexerUrl: string;
  /** Base URL of the matcher (default: indexerUrl). */
  matcherUrl?: string;
  psk?: PskConfig;
  clock: Clock;
  logger?: Logger;
  fetch?: typeof fetch;
  /** Poll interval for index progress and matcher warm-up (default 1 s). */
  pollIntervalMs?: number;
  /** Per request (default 30 s). */
  requestTimeoutMs?: number;
  /** Attempts for a request that fails on the network, 429 or 5xx (default 4). */
  attempts?: number;
}

export class ClairError extends RollgateError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const JSON_TYPES = ['application/json', 'application/vnd.clair.'];

export class ClairClient {
  private readonly indexer: string;
  private readonly matcher: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: ClairClientOptions) {
    this.indexer = options.indexerUrl.replace(/\/+$/, '');
    this.matcher = (options.matcherUrl ?? options.indexerUrl).replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** POST /indexer/api/v1/index_report. */
  async submit(manifest: ClairManifest): Promise<IndexReport> {
    const res = await this.send('POST', `${this.indexer}/indexer/api/v1/index_report`, manifest);
    if (res.status !== 200 && res.status !== 201) throw await this.failure('index', res);
    return this.json<IndexReport>(res, 'index report');
  }

  /** GET /indexer/api/v1/index_report/{digest}; null when Clair has none. */
  async indexReport(digest: string): Promise<IndexReport | null> {
    const res = await this.send('GET', `${this.indexer}/indexer/api/v1/index_report/${digest}`);
    if (res.status === 404) {
      await res.arrayBuffer().catch(() => undefined);
      return null;
    }
    if (res.status !== 200) throw await this.failure('index report', res);
    return this.json<IndexReport>(res, 'index report');
  }

  /** Submits the manifest and waits until its index report is finished (or failed). */
  async index(manifest: ClairManifest, timeoutMs = 10 * 60_000): Promise<IndexReport> {
    const { clock } = this.options;
    const deadline = clock.now() + timeoutMs;
    let report = await this.submit(manifest);
    for (;;) {
      if (report.manifest_hash !== manifest.hash) {
        throw new ClairError(`index report is for ${report.manifest_hash}, not ${manifest.hash}`);
      }
      if (report.state === INDEX_ERROR || (report.state === INDEX_FINISHED && !report.success)) {
        throw new ClairError(
          `Clair could not index ${manifest.hash}: ${report.err ?? report.state}`,
        );
      }
      if (report.state === INDEX_FINISHED) return report;
      if (clock.now() >= deadline) {
        throw new ClairError(
          `index of ${manifest.hash} still ${report.state} after ${timeoutMs} ms`,
        );
      }
      this.options.logger?.info(`clair: ${manifest.hash.slice(0, 19)} is ${report.state}`);
      await clock.sleep(this.options.pollIntervalMs ?? 1000);
      report = (await this.indexReport(manifest.hash)) ?? report;
    }
  }

  /**
   * GET /matcher/api/v1/vulnerability_report/{digest}: 200 or 201 is the report; 202 (matcher
   * warming up) is retried until the deadline; 404 means Clair has no finished index for it.
   */
  async vulnerabilityReport(digest: string, timeoutMs = 5 * 60_000): Promise<VulnerabilityReport> {
    const { clock } = this.options;
    const deadline = clock.now() + timeoutMs;
    for (let tries = 1; ; tries += 1) {
      const res = await this.send(
        'GET',
        `${this.matcher}/matcher/api/v1/vulnerability_report/${digest}`,
      );
      if (res.status === 200 || res.status === 201) {
        const report = await this.json<VulnerabilityReport>(res, 'vulnerability report');
        if (report.manifest_hash !== digest) {
          throw new ClairError(
            `vulnerability report is for ${report.manifest_hash}, not ${digest}`,
          );
        }
        return report;
      }
      if (res.status !== 202) throw await this.failure('vulnerability report', res);
      await res.arrayBuffer().catch(() => undefined);
      if (clock.now() >= deadline) {
        throw new ClairError(
          `the matcher was still starting (202) after ${tries} tries in ${timeoutMs} ms`,
          202,
        );
      }
      this.options.logger?.info('clair: matcher is starting (202), waiting');
      await clock.sleep(this.options.pollIntervalMs ?? 1000);
    }
  }

  /** Index, then the vulnerability report. */
  async scan(
    manifest: ClairManifest,
    timeoutMs = 10 * 60_000,
  ): Promise<{ index: IndexReport; report: VulnerabilityReport }> {
    const start = this.options.clock.now();
    const index = await this.index(manifest, timeoutMs);
    const left = Math.max(1, timeoutMs - (this.options.clock.now() - start));
    const report = await this.vulnerabilityReport(manifest.hash, left);
    return { index, report };
  }

  private async send(method: string, url: string, body?: unknown): Promise<Response> {
    const { clock } = this.options;
    const attempts = this.options.attempts ?? 4;
    let lastError = '';
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      const headers: Record<string, string> = {
        Accept:
          'application/json, application/vnd.clair.index_report.v1+json, application/vnd.clair.vulnerability_report.v1+json',
      };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (this.options.psk) {
        headers.Authorization = `Bearer ${signPskToken(this.options.psk, clock.now())}`;
      }
      try {
        const res = await this.fetchImpl(url, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000),
        });
        if (res.status === 429 || (res.status >= 500 && attempt < attempts)) {
          lastError = `HTTP ${res.status}`;
          await res.arrayBuffer().catch(() => undefined);
        } else {
          return res;
        }
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (attempt < attempts) {
        this.options.logger?.warn(`clair: ${method} ${url}: ${lastError}; retrying`);
        await clock.sleep(Math.min(8000, 250 * 2 ** (attempt - 1)));
      }
    }
    throw new ClairError(`${method} ${url} failed after ${attempts} attempts: ${lastError}`);
  }

  private async json<T>(res: Response, what: string): Promise<T> {
    const type = res.headers.get('content-type') ?? '';
    if (!JSON_TYPES.some((t) => type.includes(t))) {
      throw new ClairError(`${what}: unexpected content type "${type}"`, res.status);
    }
    try {
      return (await res.json()) as T;
    } catch {
      throw new ClairError(`${what}: the body is not JSON`, res.status);
    }
  }

  private async failure(what: string, res: Response): Promise<ClairError> {
    let detail = '';
    try {
      const text = await res.text();
      detail = text ? ((JSON.parse(text) as { message?: string }).message ?? text) : '';
    } catch {
      // no body or not JSON
    }
    if (res.status === 401) {
      detail = detail || 'unauthorized: check the PSK and that the issuer is on Clair’s allow-list';
    }
    return new ClairError(
      `Clair ${what}: HTTP ${res.status}${detail ? `: ${detail.slice(0, 300)}` : ''}`,
      res.status,
    );
  }
}

const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

/** The layer media type Clair accepts (OCI), or undefined to leave it to Clair. */
export function clairMediaType(mediaType: string): string | undefined {
  switch (mediaType) {
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip':
    case 'application/vnd.oci.image.layer.v1.tar+gzip':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
      return `${OCI_LAYER}+gzip`;
    case 'application/vnd.oci.image.layer.v1.tar+zstd':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return `${OCI_LAYER}+zstd`;
    case 'application/vnd.oci.image.layer.v1.tar':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return OCI_LAYER;
    default:
      return undefined;
  }
}

/** The Clair manifest for an image: its digest and where each layer blob can be fetched. */
export function clairManifest(
  manifestDigest: string,
  layers: readonly Descriptor[],
  blobUrl: (digest: string) => string,
  headers: Record<string, string[]> = {},
): ClairManifest {
  return {
    hash: manifestDigest,
    layers: layers.map((d) => {
      const layer: ClairLayer = { hash: d.digest, uri: blobUrl(d.digest) };
      if (Object.keys(headers).length > 0) layer.headers = headers;
      const media = clairMediaType(d.mediaType);
      if (media) layer.media_type = media;
      return layer;
    }),
  };
}
