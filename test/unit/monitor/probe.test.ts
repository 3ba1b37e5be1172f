import { describe, expect, it } from 'vitest';
import { MonitorQueryError, type MetricSource } from '../../../src/monitor/ports';
import { HttpProbe, quantile, summarize } from '../../../src/monitor/probe';

describe('summarize — worked example', () => {
  // 200, 200, 500, refused; answered in 10, 20, 30 ms.
  const results = [
    { status: 200, seconds: 0.01 },
    { status: 200, seconds: 0.02 },
    { status: 500, seconds: 0.03 },
    { status: 0, seconds: 5 },
  ];
  it.each([
    ['success_ratio', 0.5],
    ['error_ratio', 0.5],
    ['requests', 4],
    ['latency_mean', 0.02],
    ['latency_p50', 0.02],
    ['latency_p99', 0.03],
    ['latency_max', 0.03],
  ] as const)('%s → %d', (measure, want) => {
    expect(summarize(results, measure)).toBeCloseTo(want, 12);
  });

  it('nobody answered: no latency, 100% errors', () => {
    const refused = [{ status: 0, seconds: 1 }];
    expect(summarize(refused, 'latency_p99')).toBeNaN();
    expect(summarize(refused, 'error_ratio')).toBe(1);
    expect(summarize([], 'error_ratio')).toBeNaN();
  });
});

describe('quantile (nearest rank)', () => {
  it.each([
    { values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], q: 0.9, want: 9 },
    { values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], q: 0.99, want: 10 },
    { values: [1, 2, 3, 4], q: 0.5, want: 2 },
    { values: [7], q: 0.01, want: 7 },
  ])('$q of $values → $want', ({ values, q, want }) => {
    expect(quantile(values, q)).toBe(want);
  });
});

describe('HttpProbe', () => {
  function setup(statusOf: (url: string, i: number) => number | Error) {
    let t = 0;
    const timer = { now: () => t };
    const seen: string[] = [];
    const fetchFn = (async (input: string | URL | Request) => {
      const url = String(input);
      const status = statusOf(url, seen.length);
      seen.push(url);
      t += url.includes('slow') ? 200 : 10; // ms per request
      if (status instanceof Error) throw status;
      return new Response('hello', { status });
    }) as typeof fetch;
    return { timer, fetchFn, seen };
  }

  it('one round per poll, shared by the checks read at that poll; one sample per label set', async () => {
    const { timer, fetchFn, seen } = setup((url) => (url.includes('new') ? 500 : 200));
    const probe = new HttpProbe({
      targets: [
        { url: 'http://127.0.10.10:19100/old', labels: { version: '1.0.0' } },
        { url: 'http://127.0.10.11:19101/new', labels: { version: '1.1.0' } },
        { url: 'http://127.0.10.12:19102/old', labels: { version: '1.0.0' } },
      ],
      requests: 4,
      timer,
      fetch: fetchFn,
    });
    const errors = await probe.instant('error_ratio', 1000);
    const p99 = await probe.instant('latency_p99', 1000);
    expect(seen).toHaveLength(12); // 3 targets × 4, once for both measures
    expect(errors).toEqual([
      { labels: { version: '1.0.0' }, value: 0 },
      { labels: { version: '1.1.0' }, value: 1 },
    ]);
    expect(p99.every((s) => s.value > 0)).toBe(true);
    await probe.instant('error_ratio', 2000); // the next poll: a new round
    expect(seen).toHaveLength(24);
    expect(probe.name).toBe('probe http://127.0.10.10:19100/old +2');
    expect((probe as MetricSource).range).toBeUndefined(); // no history
  });

  it('a refused connection is a failed request, not a failed query', async () => {
    const { timer, fetchFn } = setup(() => new TypeError('fetch failed'));
    const probe = new HttpProbe({
      targets: [{ url: 'http://x/' }],
      requests: 2,
      timer,
      fetch: fetchFn,
    });
    expect(await probe.instant('success_ratio', 0)).toEqual([{ labels: {}, value: 0 }]);
  });

  it('an unknown measure is a rejected query', async () => {
    const { timer, fetchFn } = setup(() => 200);
    const probe = new HttpProbe({ targets: [{ url: 'http://x/' }], timer, fetch: fetchFn });
    const err = (await probe.instant('rate(x[1m])', 0).catch((e) => e)) as MonitorQueryError;
    expect(err).toBeInstanceOf(MonitorQueryError);
    expect(err.retryable).toBe(false);
  });
});
