/**
 * Reads one repository for the page, read-only: its deployments, their statuses and rollgate's
 * record artifacts, through @octokit/rest. Every GET is conditional (If-None-Match with the
 * ETag of the last answer): an unchanged answer is a 304, which GitHub does not count against
 * the rate limit, so a poll of an idle repository costs one free request per group and one for
 * the deployment list. A failed read becomes a named problem; the last good figures stay.
 */
import { Octokit } from '@octokit/rest';
import { unzipSync } from 'fflate';
import type { Ledger, ReleaseEvent } from '../engine/ledger';
import { prefix } from './ledger-artifacts';
import { describeFailure, type RepoProblem } from './problems';
import type { DeploymentFact } from './rebuild';
import {
  factOf,
  groupsOf,
  ledgerOf,
  recordKnows,
  runUrlOf,
  type ArtifactRecord,
  type DeploymentJson,
  type RepoGroup,
  type StatusJson,
} from './records';

/** Newest rollgate deployments per group whose statuses a record rebuilt without its artifact reads. */
const REBUILD_DEPLOYMENTS = 30;
/** After a 401, 403 or 404, the next read of the repository (the poll interval, if longer). */
export const REFUSED_RETRY_MS = 60_000;
/** A read GitHub has not answered in this long is given up (the next poll tries again). */
const REQUEST_TIMEOUT_MS = 30_000;

export interface RepoReaderOptions {
  /** owner/repo */
  repo: string;
  token: string | undefined;
  apiUrl: string;
  webUrl: string;
  /** The operate workflow's file name (examples/workflows/operate.yml). */
  operateWorkflow: string;
  now: () => number;
  /** For tests: a client of one's own (default: @octokit/rest at apiUrl with the token). */
  octokit?: Octokit;
}

export interface GroupSnapshot {
  group: RepoGroup;
  ledger: Ledger | null;
  events: ReleaseEvent[];
  /** The run a person reviews (its "Review deployments" page), when known. */
  runUrl: string | null;
  operateUrl: string;
  /** Where the ledger came from: `artifact <name>` or `deployments`. */
  source: string;
}

export interface RepoSnapshot {
  repo: string;
  groups: GroupSnapshot[];
  problem: RepoProblem | null;
  /** Requests of the last poll, and how many of them were answered 304. */
  requests: number;
  notModified: number;
}

interface Cached {
  etag: string;
  data: unknown;
}

function failure(err: unknown): {
  status?: number;
  headers?: Record<string, string | number | undefined>;
  message: string;
} {
  const e = err as { status?: unknown; response?: { headers?: Record<string, string> } };
  const message = err instanceof Error ? err.message : String(err);
  // Octokit wraps "no answer" (ECONNREFUSED, DNS) as status 500 with no response.
  if (typeof e.status !== 'number' || (e.status === 500 && !e.response)) return { message };
  return { status: e.status, headers: e.response?.headers ?? {}, message };
}

function parseRecord(name: string, zip: Uint8Array): ArtifactRecord {
  const files = unzipSync(zip);
  const text = (f: string): string | null => {
    const hit = Object.entries(files).find(([k]) => k === f || k.endsWith(`/${f}`));
    return hit ? new TextDecoder().decode(hit[1]) : null;
  };
  const state = text('state.json');
  const events: ReleaseEvent[] = [];
  for (const line of (text('events.ndjson') ?? '').split('\n')) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as ReleaseEvent);
    } catch {
      // A torn last line (the record cut mid-write): the lines before it stand.
    }
  }
  return { name, ledger: state ? (JSON.parse(state) as Ledger) : null, events };
}

export class GitHubRepoReader {
  private readonly octokit: Octokit;
  private readonly owner: string;
  private readonly name: string;
  private readonly cache = new Map<string, Cached>();
  /** By GitHub deployment id: its statuses as of its updated_at. */
  private readonly statuses = new Map<number, { updatedAt: string; list: StatusJson[] }>();
  /** By artifact id (an artifact never changes). */
  private readonly records = new Map<number, ArtifactRecord>();
  private requests = 0;
  private notModified = 0;
  /** The last good snapshot (kept through a failed poll). */
  snapshot: RepoSnapshot;
  /** No read before this time (ms): GitHub said the rate limit is spent until then. */
  retryAt = 0;

  constructor(private readonly o: RepoReaderOptions) {
    const [owner, name] = o.repo.split('/');
    this.owner = owner!;
    this.name = name!;
    this.octokit =
      o.octokit ??
      new Octokit({
        ...(o.token ? { auth: o.token } : {}),
        baseUrl: o.apiUrl.replace(/\/$/, ''),
        userAgent: 'rollgate-serve',
        log: {
          debug: () => undefined,
          info: () => undefined,
          warn: () => undefined,
          error: () => undefined,
        },
      });
    this.snapshot = { repo: o.repo, groups: [], problem: null, requests: 0, notModified: 0 };
  }

  /** A conditional GET: the cached answer when GitHub says 304. */
  private async get<T>(route: string, params: Record<string, unknown>): Promise<T> {
    const key = `${route} ${JSON.stringify(params)}`;
    const cached = this.cache.get(key);
    this.requests++;
    try {
      const res = await this.octokit.request(route, {
        owner: this.owner,
        repo: this.name,
        ...params,
        headers: cached ? { 'if-none-match': cached.etag } : {},
        request: { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
      });
      const etag = res.headers.etag;
      if (etag) this.cache.set(key, { etag, data: res.data });
      return res.data as T;
    } catch (err) {
      if ((err as { status?: number }).status === 304 && cached) {
        this.notModified++;
        return cached.data as T;
      }
      throw err;
    }
  }

  private async statusesOf(d: DeploymentJson): Promise<StatusJson[]> {
    const known = this.statuses.get(d.id);
    if (known && known.updatedAt === d.updated_at) return known.list;
    const list = await this.get<StatusJson[]>(
      'GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
      { deployment_id: d.id, per_page: 100 },
    );
    this.statuses.set(d.id, { updatedAt: d.updated_at, list });
    return list;
  }

  /** The group's newest record artifact in the run of its newest release, if one is left. */
  private async recordOf(g: RepoGroup): Promise<ArtifactRecord | null> {
    const runId = g.deployments[0]?.payload.runId;
    if (!Number.isInteger(runId) || runId! <= 0) return null;
    const list = await this.get<{
      artifacts: { id: number; name: string; created_at: string | null; expired: boolean }[];
    }>('GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts', {
      run_id: runId,
      per_page: 100,
    });
    const newest = list.artifacts
      .filter((a) => a.name.startsWith(prefix(g.group)) && !a.expired)
      .sort(
        (a, b) => Date.parse(b.created_at ?? '') - Date.parse(a.created_at ?? '') || b.id - a.id,
      )[0];
    if (!newest) return null;
    const known = this.records.get(newest.id);
    if (known) return known;
    this.requests++;
    const res = await this.octokit.request(
      'GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}',
      {
        owner: this.owner,
        repo: this.name,
        artifact_id: newest.id,
        archive_format: 'zip',
        request: { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
      },
    );
    const record = parseRecord(newest.name, new Uint8Array(res.data as ArrayBuffer));
    this.records.set(newest.id, record);
    return record;
  }

  private async readGroup(g: RepoGroup): Promise<GroupSnapshot> {
    const newest = g.deployments[0]!;
    const [newestStatuses, record] = await Promise.all([
      this.statusesOf(newest.json),
      this.recordOf(g),
    ]);
    const facts: DeploymentFact[] = [factOf(newest, newestStatuses)];
    if (!record || !recordKnows(record.ledger, newest.payload.deployment)) {
      for (const d of g.deployments.slice(1, REBUILD_DEPLOYMENTS)) {
        facts.push(factOf(d, await this.statusesOf(d.json)));
      }
    }
    const read = ledgerOf(g, facts, record, this.o.now());
    return {
      group: g,
      ledger: read.ledger,
      events: read.events,
      runUrl: runUrlOf(newestStatuses, newest.payload, {
        webUrl: this.o.webUrl,
        repo: this.o.repo,
      }),
      operateUrl: `${this.o.webUrl}/${this.o.repo}/actions/workflows/${encodeURIComponent(this.o.operateWorkflow)}`,
      source: read.source,
    };
  }

  /**
   * Reads the repository once. Returns the keys of the groups whose view may have changed (all
   * of the repository's when its problem changed).
   */
  async poll(): Promise<Set<string>> {
    this.requests = 0;
    this.notModified = 0;
    const before = this.snapshot;
    let next: RepoSnapshot;
    try {
      const list = await this.get<DeploymentJson[]>('GET /repos/{owner}/{repo}/deployments', {
        per_page: 100,
      });
      const groups = await Promise.all(groupsOf(this.o.repo, list).map((g) => this.readGroup(g)));
      next = { repo: this.o.repo, groups, problem: null, requests: 0, notModified: 0 };
      this.retryAt = 0;
    } catch (err) {
      const problem = describeFailure(this.o.repo, failure(err), {
        now: this.o.now(),
        tokenGiven: this.o.token !== undefined,
        apiUrl: this.o.apiUrl,
      });
      if (['bad-token', 'no-token', 'forbidden', 'not-found'].includes(problem.kind)) {
        // Asking again at once with a refused token only brings GitHub's lockout nearer.
        this.retryAt = this.o.now() + REFUSED_RETRY_MS;
      } else if (problem.kind === 'rate-limited') {
        const f = failure(err);
        const reset = Number(f.headers?.['x-ratelimit-reset']) * 1000;
        const after = Number(f.headers?.['retry-after']) * 1000;
        this.retryAt = after > 0 ? this.o.now() + after : reset > 0 ? reset : this.o.now() + 60_000;
      }
      next = { ...before, problem };
    }
    next.requests = this.requests;
    next.notModified = this.notModified;
    this.snapshot = next;
    return changedKeys(before, next);
  }
}

function fingerprint(g: GroupSnapshot): string {
  return JSON.stringify([g.ledger, g.events.length, g.events.at(-1)?.at, g.runUrl, g.source]);
}

function changedKeys(a: RepoSnapshot, b: RepoSnapshot): Set<string> {
  const out = new Set<string>();
  const prev = new Map(a.groups.map((g) => [g.group.key, fingerprint(g)]));
  const next = new Map(b.groups.map((g) => [g.group.key, fingerprint(g)]));
  for (const [k, f] of next) if (prev.get(k) !== f) out.add(k);
  for (const k of prev.keys()) if (!next.has(k)) out.add(k);
  if (a.problem?.message !== b.problem?.message)
    for (const k of new Set([...prev.keys(), ...next.keys()])) out.add(k);
  // The home page lists the problems: a change there with no group still needs a redraw.
  if (a.problem?.message !== b.problem?.message) out.add(`${b.repo}:`);
  return out;
}
