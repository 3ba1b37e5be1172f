/**
 * The Actions cache service v2 that @actions/cache (v4+) talks to when ACTIONS_CACHE_SERVICE_V2
 * is set: Twirp JSON under /twirp/github.actions.results.api.v1.CacheService/, archives in
 * azurite (uploaded and downloaded with the Azure SDK through SAS URLs, as on GitHub). Like the
 * artifact service, requests and responses are checked against the protobuf message types
 * generated into @actions/cache itself (strict JSON reading: unknown fields fail).
 *
 * Entries belong to the repository: a later run restores what an earlier one saved. A lookup is
 * the exact key first, then each restore key as a prefix, newest entry first, always with the
 * same version (the hash of the paths and the compression the client computes).
 */
import type { AzuriteContainer } from './azurite';
import type { Violation } from './openapi';
import { resultsScope, serveTwirp, TwirpError, type Generated, type TwirpReply } from './twirp';
import type { GitHubState, RunRecord } from './state';

export const CACHE_TWIRP_PREFIX = '/twirp/github.actions.results.api.v1.CacheService/';

let generated: Promise<Generated> | undefined;

function protobufTypes(): Promise<Generated> {
  // Not exported by the package: the generated messages are its description of the service.
  generated ??=
    import('../../../node_modules/@actions/cache/lib/generated/results/api/v1/cache.js') as unknown as Promise<Generated>;
  return generated;
}

export interface CacheEntryRecord {
  id: number;
  key: string;
  version: string;
  blobName: string;
  sizeBytes: number;
  finalized: boolean;
  /** Run that created it. */
  runId: number;
  createdAt: number;
}

export type CacheReply = TwirpReply;

export class CacheService {
  readonly entries: CacheEntryRecord[] = [];
  private nextId = 1;
  /** An HTTP status every call answers with (a cache service outage); null: working. */
  outage: number | null = null;

  constructor(
    private readonly state: GitHubState,
    private readonly storage: () => Promise<AzuriteContainer>,
    private readonly report: (v: Violation) => void,
  ) {}

  async handle(
    method: string,
    authorization: string | undefined,
    rawBody: string,
  ): Promise<CacheReply> {
    if (this.outage !== null) {
      const code =
        this.outage === 501 ? 'unimplemented' : this.outage === 503 ? 'unavailable' : 'internal';
      return { status: this.outage, body: { code, msg: 'cache service outage (test)' } };
    }
    return serveTwirp({
      service: 'CacheService',
      prefix: CACHE_TWIRP_PREFIX,
      method,
      rawBody,
      types: protobufTypes,
      report: this.report,
      authenticate: () => this.authenticate(authorization),
      dispatch: (run, message) => this.dispatch(method, run, message),
    });
  }

  private authenticate(authorization: string | undefined): RunRecord {
    const runBackendId = resultsScope(authorization)?.[1];
    const run = runBackendId ? this.state.runByBackendId(runBackendId) : undefined;
    if (!run) {
      throw new TwirpError(
        'permission_denied',
        'the runtime token names no known run (build the env with runnerEnv)',
        true,
      );
    }
    return run;
  }

  private async dispatch(
    method: string,
    run: RunRecord,
    msg: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const key = String(msg.key ?? '');
    const version = String(msg.version ?? '');
    if (!key || !version)
      throw new TwirpError('invalid_argument', 'key and version are required', true);
    const storage = await this.storage();
    switch (method) {
      case 'GetCacheEntryDownloadURL': {
        const done = this.entries.filter((e) => e.finalized && e.version === version).reverse();
        const restoreKeys = (msg.restoreKeys as string[] | undefined) ?? [];
        const hit =
          done.find((e) => e.key === key) ??
          restoreKeys
            .map((p) => done.find((e) => e.key.startsWith(p)))
            .find((e) => e !== undefined);
        if (!hit) return { ok: false, signed_download_url: '', matched_key: '' };
        return {
          ok: true,
          signed_download_url: storage.downloadUrl(hit.blobName, hit.blobName.split('/').at(-1)!),
          matched_key: hit.key,
        };
      }
      case 'CreateCacheEntry': {
        if (this.entries.some((e) => e.key === key && e.version === version)) {
          throw new TwirpError(
            'already_exists',
            'cache entry with the same key, version, and scope already exists',
            false,
          );
        }
        const id = this.nextId++;
        const entry: CacheEntryRecord = {
          id,
          key,
          version,
          blobName: `caches/${id}/${key.replace(/[^A-Za-z0-9._-]/g, '_')}.tzst`,
          sizeBytes: 0,
          finalized: false,
          runId: run.id,
          createdAt: this.state.now().getTime(),
        };
        this.entries.push(entry);
        return { ok: true, signed_upload_url: storage.uploadUrl(entry.blobName), message: '' };
      }
      case 'FinalizeCacheEntryUpload': {
        const entry = this.entries.find(
          (e) => e.key === key && e.version === version && !e.finalized,
        );
        if (!entry)
          throw new TwirpError('not_found', `no cache entry ${key} is being uploaded`, true);
        const size = Number(msg.sizeBytes ?? 0);
        const blob = await storage.info(entry.blobName);
        if (!blob)
          throw new TwirpError('failed_precondition', `nothing was uploaded for ${key}`, true);
        if (blob.size !== size) {
          throw new TwirpError(
            'invalid_argument',
            `size ${size} does not match the ${blob.size} bytes uploaded`,
            true,
          );
        }
        entry.sizeBytes = size;
        entry.finalized = true;
        return { ok: true, entry_id: String(entry.id), message: '' };
      }
      default:
        throw new TwirpError('bad_route', `no method ${method}`, true);
    }
  }
}
