/**
 * The 30-minute watch (O2) on a simulated clock: minutes of polling in milliseconds, against
 * scripted sources that behave like the sample app seen through Prometheus.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../../src/engine/clock';
import { InputError } from '../../../src/model/errors';
import type { Check } from '../../../src/monitor/checks';
import { MonitorQueryError, type Sample } from '../../../src/monitor/ports';
import { PrometheusClient } from '../../../src/monitor/prometheus/client';
import { preflight } from '../../../src/monitor/preflight';
import { watch, type PollReport, type WatchOptions } from '../../../src/monitor/watch';
import { MemoryLogger, ScriptedSource, sample } from '../../support/prometheus-fakes';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1);
const OLD = '1.0.0';
const NEW = '1.1.0';

const ERRORS = 'sum by (version) (rate(http_requests_total{code=~"5.."}[1m]))';
const TOTAL = 'sum by (version) (rate(http_requests_total[1m]))';
const P99 =
  'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))';
const CPU = 'avg(rate(process_cpu_seconds_total[1m]))';

/** Error ratio per version over time (ms since T0); traffic 100 req/s per version. */
type Profile = Record<string, (minutes: number) => number>;

/** Answers the queries above the way Prometheus would: no 5xx series for a version without errors. */
function appSource(
  profile: Profile,
  opts: { downFrom?: number; downUntil?: number; clock?: SimulatedClock } = {},
) {
  return new ScriptedSource((query, at): Sample[] | MonitorQueryError => {
    const minutes = (at - T0) / MIN;
    // An outage is in real (clock) time: a retry a second later asks about the same instant.
    const now = ((opts.clock?.now() ?? at) - T0) / MIN;
    if (now >= (opts.downFrom ?? Infinity) && now < (opts.downUntil ?? Infinity)) {
      return new MonitorQueryError(
        'prometheus unreachable: connect ECONNREFUSED 127.0.10.1:19090',
        true,
      );
    }
    const versions = Object.keys(profile);
    switch (query) {
      case ERRORS:
        return versions
          .map((v) => sample(100 * profile[v]!(minutes), { version: v }))
          .filter((s) => s.value > 0);
      case TOTAL:
        return versions.map((v) => sample(100, { version: v }));
      case P99:
        return [sample(0.12)];
      case CPU:
        return [sample(0.35)];
      default:
        return new MonitorQueryError(`bad_data: unknown query ${query}`, false);
    }
  });
}

const errorRatio = (rules: Check['rules'], over: Partial<Check> = {}): Check => ({
  name: 'error-ratio',
  kind: 'application',
  source: 'prometheus',
  ratio: { numerator: ERRORS, denominator: TOTAL },
  unit: 'ratio',
  rules,
  forPolls: 2,
  optional: false,
  ...over,
});

const p99: Check = {
  name: 'p99',
  kind: 'user',
  source: 'prometheus',
  query: P99,
  unit: 'seconds',
  rules: [{ type: 'threshold', when: 'above', value: 0.5 }],
  forPolls: 2,
  optional: false,
};

const steady = (ratio: number) => () => ratio;

async function run(
  checks: Check[],
  source: ScriptedSource | PrometheusClient,
  over: Partial<WatchOptions> = {},
) {
  const clock = (over.clock as SimulatedClock | undefined) ?? new SimulatedClock(T0);
  const logger = new MemoryLogger();
  const polls: PollReport[] = [];
  const wall = performance.now();
  const result = await watch({
    checks,
    sources: { prometheus: source },
    clock,
    logger,
    windowMs: 30 * MIN,
    intervalMs: MIN,
    version: NEW,
    previousVersion: OLD,
    onPoll: (p) => polls.push(p),
    ...over,
  });
  return { result, logger, polls, clock, wallMs: performance.now() - wall };
}

describe('watch — 30 minutes on a simulated clock', () => {
  it('a healthy release stays healthy: 31 polls, one line per poll per check', async () => {
    const source = appSource({ [OLD]: steady(0.004), [NEW]: steady(0.005) });
    const checks = [
      errorRatio([
        { type: 'threshold', when: 'above', value: 0.05 },
        { type: 'canary', when: 'above', factor: 3, tolerance: 0.01 },
        { type: 'budget', when: 'above', objective: 0.01, limit: 1 },
      ]),
      p99,
    ];
    const { result, logger, polls, clock, wallMs } = await run(checks, source);
    expect(result).toMatchObject({
      verdict: 'healthy',
      decidedBy: null,
      message: '2 checks held for 31 polls over 30m',
      polls: 31,
      plannedPolls: 31,
      startedAt: T0,
      endedAt: T0 + 30 * MIN,
    });
    expect(clock.now() - T0).toBe(30 * MIN);
    expect(wallMs).toBeLessThan(2000);
    expect(polls).toHaveLength(31);
    expect(polls.every((p) => p.lines.length === 2)).toBe(true);
    const lines = logger.lines.map((l) => l.line);
    expect(lines[0]).toBe(
      'monitor: 2 checks every 1m for 30m (31 polls) on scripted; version 1.1.0 vs 1.0.0',
    );
    expect(lines).toContain(
      'poll 2/31 +1m error-ratio [application] 0.5% (old 0.4%) ok · 0.5% ≤ 5% · ' +
        'new 0.5% ≤ old 0.4% + 1% · budget 1.7% spent',
    );
    expect(lines).toContain('poll 31/31 +30m p99 [user] 120ms ok · 120ms ≤ 500ms');
    expect(lines.at(-1)).toBe('monitor: healthy — 2 checks held for 31 polls over 30m');
    expect(result.checks[0]).toMatchObject({ name: 'error-ratio', reads: 31, withData: 31 });
    expect(result.checks[0]!.points).toHaveLength(31);
  });

  it('an error spike on the new version is degraded within 2 polls, and the watch stops', async () => {
    // From minute 12 the new version answers 30% errors; the old one stays at 0.4%.
    const source = appSource({ [OLD]: steady(0.004), [NEW]: (m) => (m >= 12 ? 0.3 : 0.004) });
    const checks = [
      errorRatio([{ type: 'canary', when: 'above', factor: 3, tolerance: 0.01 }]),
      p99,
    ];
    const { result, logger } = await run(checks, source);
    expect(result).toMatchObject({
      verdict: 'degraded',
      decidedBy: 'error-ratio/canary',
      // 0.4% × 3 = 1.2% is below 0.4% + 1%: the tolerance draws the line.
      message: 'error-ratio new 30% > old 0.4% + 1% for 2 polls',
      polls: 14, // polls at +0 … +13m: the spike is seen at +12m and confirmed at +13m
      decidedAt: T0 + 13 * MIN,
    });
    const text = logger.text();
    expect(text).toContain(
      'poll 13/31 +12m error-ratio [application] 30% (old 0.4%) BREACH · new 30% > old 0.4% + 1% (1/2)',
    );
    expect(text).toContain(
      'poll 14/31 +13m error-ratio [application] 30% (old 0.4%) DEGRADED · new 30% > old 0.4% + 1% (2/2)',
    );
    expect(logger.lines.at(-1)).toEqual({
      level: 'error',
      line: 'monitor: degraded — error-ratio new 30% > old 0.4% + 1% for 2 polls',
    });
  });

  it('the baseline rule: "error ratio 4.1% > baseline 0.8% × 3 for 3 polls"', async () => {
    // Before the release (T0) the group ran at 0.8% errors; at +5m it jumps to 4.1%.
    const profile = { [OLD]: (m: number) => (m >= 5 ? 0.041 : 0.008) };
    const source = appSource(profile);
    const check = errorRatio(
      [
        {
          type: 'baseline',
          when: 'above',
          factor: 3,
          tolerance: 0.005,
          against: { before: 10 * MIN },
        },
      ],
      { name: 'error ratio', forPolls: 3, ratio: { numerator: ERRORS, denominator: TOTAL } },
    );
    const { result } = await run([{ ...check, name: 'error-ratio' }], source, {
      version: undefined,
      previousVersion: undefined,
    });
    expect(result).toMatchObject({
      verdict: 'degraded',
      decidedBy: 'error-ratio/baseline',
      message: 'error-ratio 4.1% > baseline 0.8% × 3 for 3 polls',
      decidedAt: T0 + 7 * MIN,
    });
    // The baseline came from one range query over the 10 minutes before the release.
    const ranges = source.calls.filter((c) => c.kind === 'range');
    expect(ranges.map((c) => c.at)).toEqual([T0, T0]); // numerator and denominator, once
  });

  it('a slow decline that crosses no threshold is caught by its slope', async () => {
    // Success ratio (1 − error ratio): 99.9% falling 0.02 points a minute from +5m. At +30m it
    // would be 99.4%: the 99% threshold is never crossed.
    const profile = { [OLD]: (m: number) => 0.001 + Math.max(0, m - 5) * 0.0002 };
    const success: Check = {
      name: 'success-ratio',
      kind: 'user',
      source: 'prometheus',
      ratio: { numerator: TOTAL.replace('[1m]', '[1m]'), denominator: TOTAL },
      query: undefined,
      unit: 'ratio',
      rules: [
        { type: 'threshold', when: 'below', value: 0.99 },
        {
          type: 'slope',
          when: 'below',
          perMinute: -0.0001,
          overMs: 10 * MIN,
          minPoints: 5,
          minR2: 0.5,
        },
      ],
      forPolls: 2,
      optional: false,
    };
    // success = 1 − errors/total, read through a source that answers the success ratio directly.
    const source = new ScriptedSource((query, at) => {
      const m = (at - T0) / MIN;
      return query === 'success' ? [sample(1 - profile[OLD](m))] : [];
    });
    const { result, logger } = await run(
      [{ ...success, ratio: undefined, query: 'success' }],
      source,
      {
        version: undefined,
      },
    );
    expect(result.verdict).toBe('degraded');
    expect(result.decidedBy).toBe('success-ratio/slope');
    expect(result.message).toMatch(
      /^success-ratio falling -0\.0\d+%\/min < -0\.01%\/min over \d+m \(r² \d\.\d\d\)$/,
    );
    // Caught well before the end, and never by the threshold.
    expect(result.decidedAt! - T0).toBeLessThanOrEqual(12 * MIN);
    expect(logger.text()).not.toMatch(/threshold [\d.]+% < 99%/);
  });

  it('a steady error ratio under every alert line is caught by the budget it burns', async () => {
    // 0.8% errors from the start: below the 2% threshold and within 3× of the old version,
    // but a 99.5% objective allows 0.5%: the 30-minute budget is gone after 18.75 minutes.
    const source = appSource({ [OLD]: steady(0.004), [NEW]: steady(0.008) });
    const check = errorRatio([
      { type: 'threshold', when: 'above', value: 0.02 },
      { type: 'canary', when: 'above', factor: 3, tolerance: 0.01 },
      { type: 'budget', when: 'above', objective: 0.005, limit: 1 },
    ]);
    const { result } = await run([check], source);
    expect(result).toMatchObject({
      verdict: 'degraded',
      decidedBy: 'error-ratio/budget',
      message: 'error-ratio budget 101.3% spent ≥ 100% (mean 0.8% bad vs 0.5% allowed over 30m)',
      decidedAt: T0 + 19 * MIN,
    });
  });

  it('Prometheus down for the whole window is unknown, never healthy; failed queries are retried and reported', async () => {
    const source = appSource({ [OLD]: steady(0) }, { downFrom: 0 });
    const check = errorRatio([{ type: 'threshold', when: 'above', value: 0.05 }]);
    const { result, logger } = await run([check], source, { version: undefined });
    expect(result).toMatchObject({
      verdict: 'unknown',
      decidedBy: 'error-ratio',
      message:
        'error-ratio had a value in 0 of 31 reads (needs 80%): ' +
        'prometheus unreachable: connect ECONNREFUSED 127.0.10.1:19090',
      polls: 31,
    });
    const text = logger.text();
    expect(text).toContain(
      '  error-ratio: numerator query failed (prometheus unreachable: connect ECONNREFUSED 127.0.10.1:19090); retry 1/2 in 1s',
    );
    expect(text).toContain(
      'poll 1/31 +0s error-ratio [application] — NO DATA · prometheus unreachable: connect ECONNREFUSED 127.0.10.1:19090',
    );
    // 3 tries per query per poll (1 + 2 retries), numerator and denominator.
    expect(source.calls.filter((c) => c.kind === 'instant')).toHaveLength(31 * 2 * 3);
  });

  it('Prometheus gone from the middle of the window to its end is unknown', async () => {
    const source = appSource({ [OLD]: steady(0.001), [NEW]: steady(0.001) }, { downFrom: 14.5 });
    const check = errorRatio([{ type: 'canary', when: 'above', factor: 3, tolerance: 0.01 }]);
    const { result } = await run([check, p99], source);
    expect(result.verdict).toBe('unknown');
    expect(result.message).toMatch(/^error-ratio had a value in 15 of 31 reads/);
  });

  it('a short outage in the middle is bridged: retried, then healthy', async () => {
    // Down for 1.5 s at +10m: the first try fails, the retry a second later fails, the next works.
    const clock = new SimulatedClock(T0);
    const source = appSource(
      { [OLD]: steady(0.001), [NEW]: steady(0.001) },
      { downFrom: 10, downUntil: 10 + 1.5 / 60, clock },
    );
    const check = errorRatio([{ type: 'canary', when: 'above', factor: 3, tolerance: 0.01 }]);
    const { result, logger } = await run([check], source, { clock });
    expect(result.verdict).toBe('healthy');
    expect(result.checks[0]).toMatchObject({ reads: 31, withData: 31 });
    expect(logger.lines.filter((l) => l.line.includes('retry'))).toHaveLength(4); // 2 queries × 2
  });

  it('a rejected query is reported once, not asked again, and leaves the verdict unknown', async () => {
    const source = appSource({ [OLD]: steady(0) });
    const bad: Check = { ...p99, name: 'bad', query: 'sum(rate(x[1m]' };
    const { result, logger } = await run([bad], source, { version: undefined });
    expect(result.verdict).toBe('unknown');
    expect(source.calls.filter((c) => c.query === bad.query)).toHaveLength(1);
    expect(logger.lines.filter((l) => l.level === 'error')[0]!.line).toBe(
      '  bad: query rejected: bad_data: unknown query sum(rate(x[1m] (not asked again)',
    );
  });

  it('a system check read every 5 minutes (O1: at most every 5 minutes)', async () => {
    const source = appSource({ [OLD]: steady(0) });
    const cpu: Check = {
      name: 'cpu',
      kind: 'system',
      source: 'prometheus',
      query: CPU,
      unit: 'ratio',
      rules: [{ type: 'threshold', when: 'above', value: 0.8 }],
      forPolls: 2,
      everyMs: 5 * MIN,
      optional: false,
    };
    const { result, polls } = await run([p99, cpu], source, { version: undefined });
    expect(result.verdict).toBe('healthy');
    expect(result.checks.find((c) => c.name === 'cpu')!.reads).toBe(7); // +0, +5, … +30m
    expect(polls.filter((p) => p.lines.some((l) => l.check === 'cpu'))).toHaveLength(7);
  });

  it('without failFast the watch runs to the end and still reports degraded', async () => {
    const source = appSource({ [OLD]: steady(0.004), [NEW]: (m) => (m >= 3 ? 0.3 : 0.004) });
    const check = errorRatio([{ type: 'canary', when: 'above', factor: 3, tolerance: 0.01 }]);
    const { result } = await run([check], source, { failFast: false });
    expect(result).toMatchObject({ verdict: 'degraded', polls: 31, decidedAt: T0 + 4 * MIN });
  });

  it('aborting ends the watch at once with unknown', async () => {
    const source = appSource({ [OLD]: steady(0) });
    const controller = new AbortController();
    const { result } = await run([p99], source, {
      version: undefined,
      signal: controller.signal,
      onPoll: (p) => {
        if (p.poll === 3) controller.abort();
      },
    });
    expect(result).toMatchObject({
      verdict: 'unknown',
      message: 'stopped after 3 of 31 polls',
      polls: 3,
    });
  });

  it('the Prometheus adapter itself, unreachable for the whole window: unknown', async () => {
    const refused = () => {
      throw new TypeError('fetch failed', {
        cause: new Error('connect ECONNREFUSED 127.0.10.1:19090'),
      });
    };
    const client = new PrometheusClient({
      url: 'http://127.0.10.1:19090',
      fetch: refused as unknown as typeof fetch,
    });
    const { result } = await run([p99], client, { version: undefined, windowMs: 5 * MIN });
    expect(result).toMatchObject({
      verdict: 'unknown',
      decidedBy: 'p99',
      message:
        'p99 had a value in 0 of 6 reads (needs 80%): ' +
        'prometheus http://127.0.10.1:19090 unreachable: connect ECONNREFUSED 127.0.10.1:19090',
    });
  });
});

describe('watch — refuses what cannot work', () => {
  const source = appSource({ [OLD]: steady(0) });
  const base = {
    sources: { prometheus: source },
    clock: new SimulatedClock(T0),
    logger: new MemoryLogger(),
    windowMs: 30 * MIN,
    intervalMs: MIN,
  };

  it.each([
    {
      name: 'a canary without the released version',
      opts: { checks: [errorRatio([{ type: 'canary', when: 'above', factor: 2, tolerance: 0 }])] },
      field: 'monitor.checks[0]',
    },
    {
      name: 'a source that is not configured',
      opts: { checks: [{ ...p99, source: 'datadog' }] },
      field: 'monitor.checks[0].source',
    },
    {
      name: 'a pre-release baseline from a source without history',
      opts: {
        checks: [
          {
            ...p99,
            rules: [
              {
                type: 'baseline' as const,
                when: 'above' as const,
                factor: 2,
                tolerance: 0,
                against: { before: MIN },
              },
            ],
          },
        ],
        sources: { prometheus: new ScriptedSource(() => [], 'probe', false) },
      },
      field: 'monitor.checks[0].rules[0].baseline.before',
    },
    {
      name: 'an interval longer than the window',
      opts: { checks: [p99], intervalMs: 31 * MIN },
      field: 'monitor.interval',
    },
  ])('$name', async ({ opts, field }) => {
    const err = await watch({ ...base, ...opts }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).field).toBe(field);
  });
});

describe('preflight', () => {
  it('reads each check once and names what is wrong before the release', async () => {
    const source = appSource({ [OLD]: steady(0.01), [NEW]: steady(0.02) });
    const results = await preflight({
      checks: [
        errorRatio([{ type: 'canary', when: 'above', factor: 2, tolerance: 0 }]),
        { ...p99, name: 'bad', query: 'nope' },
      ],
      sources: { prometheus: source },
      clock: new SimulatedClock(T0),
      version: NEW,
      previousVersion: OLD,
    });
    expect(results).toEqual([
      { check: 'error-ratio', ok: true, text: '2% (old 1%)' },
      { check: 'bad', ok: false, text: 'bad_data: unknown query nope' },
    ]);
  });
});
