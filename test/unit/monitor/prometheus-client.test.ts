import { describe, expect, it } from 'vitest';
import { MonitorQueryError } from '../../../src/monitor/ports';
import {
  PrometheusClient,
  rangeStepMs,
  describeFetchError,
} from '../../../src/monitor/prometheus/client';
import { fixture } from '../../support/prometheus-fakes';

interface Seen {
  url: string;
  method: string;
  params: Record<string, string>;
  headers: Record<string, string>;
}

/** A fetch that answers with a fixture and records the request. */
function fakeFetch(answer: () => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const fn = (async (input: string | URL | Request, init?: RequestInit) => {
    const body = init?.body instanceof URLSearchParams ? init.body : new URLSearchParams();
    seen.push({
      url: String(input),
      method: init?.method ?? 'GET',
      params: Object.fromEntries(body),
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
    });
    return answer();
  }) as typeof fetch;
  return { fn, seen };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('PrometheusClient', () => {
  it('instant: POSTs the query form-encoded with the time in seconds and its own timeout', async () => {
    const f = fakeFetch(() => json(fixture('vector-error-ratio')));
    const client = new PrometheusClient({
      url: 'http://127.0.10.1:19090/',
      fetch: f.fn,
      timeoutMs: 2000,
      headers: { authorization: 'Bearer x' },
    });
    const samples = await client.instant('sum(rate(x[1m]))', 1_795_470_550_150);
    expect(samples).toEqual([{ labels: {}, value: 0.06008766379439275 }]);
    expect(f.seen[0]).toEqual({
      url: 'http://127.0.10.1:19090/api/v1/query',
      method: 'POST',
      params: { query: 'sum(rate(x[1m]))', time: '1795470550.15', timeout: '1800ms' },
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'Bearer x',
      },
    });
    expect(client.name).toBe('prometheus http://127.0.10.1:19090');
  });

  it('range: start, end, step in seconds; the step widened to stay under 11,000 points', async () => {
    const f = fakeFetch(() => json(fixture('matrix-error-ratio-by-version')));
    const client = new PrometheusClient({ url: 'http://p:9090', fetch: f.fn });
    const series = await client.range('q', 0, 3_600_000, 100);
    expect(series[0]!.points).toHaveLength(2);
    expect(f.seen[0]!.url).toBe('http://p:9090/api/v1/query_range');
    expect(f.seen[0]!.params).toMatchObject({ start: '0', end: '3600', step: '0.328' });
  });

  it('a rejected query is a permanent error with Prometheus’s words', async () => {
    const f = fakeFetch(() => json(fixture('error-bad-data'), 400));
    const client = new PrometheusClient({ url: 'http://p:9090', fetch: f.fn });
    const err = await client.instant('sum(', 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MonitorQueryError);
    expect((err as MonitorQueryError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/unclosed left parenthesis/);
  });

  it('an unreachable server is a retryable error naming the reason', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.10.1:19090'), {
      code: 'ECONNREFUSED',
    });
    const f = fakeFetch(() => {
      throw new TypeError('fetch failed', { cause: refused });
    });
    const client = new PrometheusClient({ url: 'http://127.0.10.1:19090', fetch: f.fn });
    const err = (await client.instant('up', 0).catch((e: unknown) => e)) as MonitorQueryError;
    expect(err.retryable).toBe(true);
    expect(err.message).toBe(
      'prometheus http://127.0.10.1:19090 unreachable: connect ECONNREFUSED 127.0.10.1:19090',
    );
  });

  it('an HTML error page from a proxy (502) is retryable; HTML with 200 is a wrong URL', async () => {
    const page = (status: number) => () =>
      new Response('<html>Bad Gateway</html>', {
        status,
        headers: { 'content-type': 'text/html' },
      });
    const down = new PrometheusClient({ url: 'http://p', fetch: fakeFetch(page(502)).fn });
    expect(((await down.instant('up', 0).catch((e) => e)) as MonitorQueryError).retryable).toBe(
      true,
    );
    const wrong = new PrometheusClient({ url: 'http://p', fetch: fakeFetch(page(200)).fn });
    const err = (await wrong.instant('up', 0).catch((e) => e)) as MonitorQueryError;
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/not JSON/);
  });

  it('ready() is false when the server does not answer', async () => {
    const f = fakeFetch(() => {
      throw new TypeError('fetch failed');
    });
    expect(await new PrometheusClient({ url: 'http://p', fetch: f.fn }).ready()).toBe(false);
    const ok = fakeFetch(() => new Response('Prometheus Server is Ready.\n'));
    expect(await new PrometheusClient({ url: 'http://p', fetch: ok.fn }).ready()).toBe(true);
  });
});

describe('rangeStepMs', () => {
  it.each([
    { start: 0, end: 600_000, step: 60_000, want: 60_000 },
    { start: 0, end: 600_000, step: 10, want: 55 }, // 600 s / 10,999 points
    { start: 0, end: 1000, step: 0.2, want: 1 },
    { start: 5000, end: 1000, step: 2000, want: 2000 },
  ])('$start..$end every $step ms → $want ms', ({ start, end, step, want }) => {
    expect(rangeStepMs(start, end, step)).toBe(want);
  });
});

describe('describeFetchError', () => {
  it('a timeout says so', () => {
    expect(describeFetchError(new DOMException('The operation was aborted', 'TimeoutError'))).toBe(
      'timed out',
    );
  });
});
