/**
 * The Prometheus adapter of the monitor port: instant and range queries over the HTTP API
 * (`POST /api/v1/query`, `POST /api/v1/query_range`, form-encoded so long PromQL fits).
 * Global fetch (Node 20), or the one passed in. No clock: the caller says when to evaluate.
 */
import { MonitorQueryError, type MetricSource, type Sample, type Series } from '../ports';
import { parseApiResponse, toSamples, toSeries } from './parse';

/** Prometheus refuses a range query of more than 11,000 points per series. */
export const MAX_RANGE_POINTS = 11_000;

export interface PrometheusOptions {
  /** Base URL: `http://127.0.10.1:19090`, or with a path prefix (`…/prometheus`). */
  url: string;
  /** Per request, also sent as the query's own `timeout`. Default 10 s. */
  timeoutMs?: number;
  /** Sent with every request, e.g. `{ authorization: 'Bearer …' }`. */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

export class PrometheusClient implements MetricSource {
  readonly name: string;
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly fetchFn: typeof fetch;

  constructor(opts: PrometheusOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.name = `prometheus ${this.base}`;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.headers = opts.headers ?? {};
    this.fetchFn = opts.fetch ?? fetch;
  }

  async instant(query: string, atMs: number): Promise<Sample[]> {
    const data = await this.post('/api/v1/query', { query, time: seconds(atMs) });
    return toSamples(data);
  }

  async range(query: string, startMs: number, endMs: number, stepMs: number): Promise<Series[]> {
    const step = rangeStepMs(startMs, endMs, stepMs);
    const data = await this.post('/api/v1/query_range', {
      query,
      start: seconds(startMs),
      end: seconds(Math.max(startMs, endMs)),
      step: seconds(step),
    });
    return toSeries(data);
  }

  /** `/-/ready` answers 200: the server is up (it may still have no samples, see notes §3). */
  async ready(): Promise<boolean> {
    try {
      const res = await this.fetchFn(`${this.base}/-/ready`, {
        headers: this.headers,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }

  private async post(path: string, params: Record<string, string>) {
    const body = new URLSearchParams({
      ...params,
      timeout: `${Math.max(1, Math.floor(this.timeoutMs * 0.9))}ms`,
    });
    let res: Response;
    try {
      res = await this.fetchFn(`${this.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.headers },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new MonitorQueryError(`${this.name} unreachable: ${describeFetchError(err)}`, true, {
        cause: err,
      });
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (err) {
      // Not JSON: a proxy's error page, or the connection dropped mid-answer.
      json = undefined;
      if (res.ok) {
        throw new MonitorQueryError(`${this.name}: answer is not JSON (wrong URL?)`, false, {
          cause: err,
        });
      }
    }
    return parseApiResponse(json, res.status);
  }
}

/** The step actually used: at least `stepMs` (and 1 ms), widened to stay under 11,000 points. */
export function rangeStepMs(startMs: number, endMs: number, stepMs: number): number {
  const span = Math.max(0, endMs - startMs);
  return Math.max(1, Math.round(stepMs), Math.ceil(span / (MAX_RANGE_POINTS - 1)));
}

function seconds(ms: number): string {
  return String(ms / 1000);
}

/** `fetch failed` hides the reason in `cause`: `connect ECONNREFUSED 127.0.10.1:19090`, … */
export function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    if (cause.message) return cause.message;
    if (typeof code === 'string') return code;
  }
  return err.message;
}
