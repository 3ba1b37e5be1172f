/**
 * The HTTP probe adapter of the monitor port: user-side numbers (O1) measured by sending N GETs
 * to each target at each poll, for when there is no Prometheus or to see what a user sees.
 *
 * Queries are measure names; the answer has one sample per distinct label set of the targets
 * (give each target `{ version: … }` and a canary rule compares them):
 *
 *   success_ratio  error_ratio  requests
 *   latency_mean   latency_max  latency_p50  latency_p90  latency_p95  latency_p99   (seconds)
 *
 * A refused or timed-out GET is a failed request, not a failed query: the probe measures the
 * app, so an unreachable app reads as 100% errors. Checks read in the same poll (same `atMs`)
 * share one round of requests. No history: baselines must be a query or a fixed value.
 */
import { MonitorQueryError, type Labels, type MetricSource, type Sample } from './ports';

export const PROBE_MEASURES = [
  'success_ratio',
  'error_ratio',
  'requests',
  'latency_mean',
  'latency_max',
  'latency_p50',
  'latency_p90',
  'latency_p95',
  'latency_p99',
] as const;
export type ProbeMeasure = (typeof PROBE_MEASURES)[number];

export interface ProbeTarget {
  url: string;
  labels?: Labels;
}

export interface HttpProbeOptions {
  targets: readonly ProbeTarget[];
  /** GETs per target per poll, one after another. Default 10. */
  requests?: number;
  /** Per GET. Default 5 s. */
  timeoutMs?: number;
  /** Which statuses count as success. Default: below 500 (a 404 is the app answering). */
  ok?: (status: number) => boolean;
  headers?: Record<string, string>;
  /** Times each GET: pass `performance` for sub-millisecond latency. */
  timer: { now(): number };
  fetch?: typeof fetch;
}

/** One GET: its status (0 = no answer) and seconds to the end of the body. */
export interface ProbeResult {
  status: number;
  seconds: number;
}

export class HttpProbe implements MetricSource {
  readonly name: string;
  private readonly requests: number;
  private readonly timeoutMs: number;
  private readonly ok: (status: number) => boolean;
  private readonly fetchFn: typeof fetch;
  private round: { at: number; results: Promise<Map<string, ProbeGroup>> } | undefined;

  constructor(private readonly opts: HttpProbeOptions) {
    if (opts.targets.length === 0) throw new MonitorQueryError('probe: no targets', false);
    this.requests = Math.max(1, opts.requests ?? 10);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.ok = opts.ok ?? ((status) => status > 0 && status < 500);
    this.fetchFn = opts.fetch ?? fetch;
    const first = opts.targets[0]!.url;
    this.name = `probe ${first}${opts.targets.length > 1 ? ` +${opts.targets.length - 1}` : ''}`;
  }

  async instant(query: string, atMs: number): Promise<Sample[]> {
    const measure = query.trim() as ProbeMeasure;
    if (!PROBE_MEASURES.includes(measure)) {
      throw new MonitorQueryError(
        `bad_data: the probe measures ${PROBE_MEASURES.join(', ')}, not "${query}"`,
        false,
      );
    }
    if (!this.round || this.round.at !== atMs) {
      this.round = { at: atMs, results: this.measure() };
    }
    const groups = await this.round.results;
    return [...groups.values()].map((g) => ({
      labels: g.labels,
      value: summarize(g.results, measure, this.ok),
    }));
  }

  private async measure(): Promise<Map<string, ProbeGroup>> {
    const perTarget = await Promise.all(
      this.opts.targets.map(async (target) => {
        const results: ProbeResult[] = [];
        for (let i = 0; i < this.requests; i++) results.push(await this.get(target.url));
        return { labels: target.labels ?? {}, results };
      }),
    );
    const groups = new Map<string, ProbeGroup>();
    for (const t of perTarget) {
      const key = JSON.stringify(Object.entries(t.labels).sort());
      const group = groups.get(key) ?? { labels: t.labels, results: [] };
      group.results.push(...t.results);
      groups.set(key, group);
    }
    return groups;
  }

  private async get(url: string): Promise<ProbeResult> {
    const started = this.opts.timer.now();
    try {
      const res = await this.fetchFn(url, {
        headers: this.opts.headers ?? {},
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await res.arrayBuffer();
      return { status: res.status, seconds: (this.opts.timer.now() - started) / 1000 };
    } catch {
      return { status: 0, seconds: (this.opts.timer.now() - started) / 1000 };
    }
  }
}

interface ProbeGroup {
  labels: Labels;
  results: ProbeResult[];
}

/**
 * One measure over one round of GETs. Latency counts answered requests only (a refused
 * connection's "latency" says nothing); NaN when none answered.
 *
 * Worked example: statuses 200, 200, 500, 0 (refused) → success_ratio 0.5, error_ratio 0.5;
 * answered in 10, 20, 30 ms → latency_mean 0.02, latency_p50 0.02, latency_max 0.03.
 */
export function summarize(
  results: readonly ProbeResult[],
  measure: ProbeMeasure,
  ok: (status: number) => boolean = (s) => s > 0 && s < 500,
): number {
  if (results.length === 0) return NaN;
  const good = results.filter((r) => ok(r.status)).length;
  const answered = results
    .filter((r) => r.status > 0)
    .map((r) => r.seconds)
    .sort((a, b) => a - b);
  switch (measure) {
    case 'requests':
      return results.length;
    case 'success_ratio':
      return good / results.length;
    case 'error_ratio':
      return 1 - good / results.length;
    case 'latency_mean':
      return answered.length ? answered.reduce((a, b) => a + b, 0) / answered.length : NaN;
    case 'latency_max':
      return answered.length ? answered[answered.length - 1]! : NaN;
    default:
      return quantile(answered, Number(measure.slice('latency_p'.length)) / 100);
  }
}

/** Nearest rank: the smallest value with at least q of the values at or below it. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}
