import { describe, expect, it } from 'vitest';
import type {
  BaselineRule,
  BudgetRule,
  CanaryRule,
  SlopeRule,
  ThresholdRule,
} from '../../../src/monitor/checks';
import {
  finalVerdict,
  judgeBudget,
  judgeRelative,
  judgeRule,
  judgeSlope,
  judgeThreshold,
  nextStreak,
  relativeBound,
  type CheckTally,
  type RuleContext,
} from '../../../src/monitor/judge';

const MIN = 60_000;

describe('threshold — worked examples', () => {
  const above5: ThresholdRule = { type: 'threshold', when: 'above', value: 0.05 };
  const below99: ThresholdRule = { type: 'threshold', when: 'below', value: 0.99 };
  it.each([
    { rule: above5, value: 0.041, state: 'ok', text: '4.1% ≤ 5%' },
    { rule: above5, value: 0.05, state: 'ok', text: '5% ≤ 5%' }, // equal is fine
    { rule: above5, value: 0.062, state: 'breach', text: '6.2% > 5%' },
    { rule: below99, value: 0.985, state: 'breach', text: '98.5% < 99%' },
    { rule: below99, value: 0.999, state: 'ok', text: '99.9% ≥ 99%' },
    { rule: above5, value: NaN, state: 'nodata', text: 'no value' },
    { rule: above5, value: Infinity, state: 'breach', text: '+Inf > 5%' },
  ])('$value vs $rule.when $rule.value → $state', ({ rule, value, state, text }) => {
    expect(judgeThreshold(rule, value, 'ratio')).toEqual({ state, text });
  });

  it('latency in seconds prints in ms', () => {
    const rule: ThresholdRule = { type: 'threshold', when: 'above', value: 0.3 };
    expect(judgeThreshold(rule, 0.4125, 'seconds').text).toBe('412.5ms > 300ms');
  });
});

describe('relativeBound — the line is passed by the factor and by the tolerance', () => {
  it.each([
    // when, reference, factor, tolerance → bound, by
    { when: 'above', ref: 0.008, f: 3, tol: 0.01, bound: 0.024, by: 'factor' }, // max(2.4%, 1.8%)
    { when: 'above', ref: 0, f: 3, tol: 0.01, bound: 0.01, by: 'tolerance' }, // no errors before
    { when: 'above', ref: 0.002, f: 3, tol: 0.01, bound: 0.012, by: 'tolerance' }, // max(0.6%, 1.2%)
    { when: 'below', ref: 120, f: 0.8, tol: 10, bound: 96, by: 'factor' }, // min(96, 110)
    { when: 'below', ref: 20, f: 0.8, tol: 10, bound: 10, by: 'tolerance' }, // min(16, 10)
  ] as const)('$when ref $ref × $f ± $tol → $bound ($by)', ({ when, ref, f, tol, bound, by }) => {
    const got = relativeBound(when, ref, f, tol);
    expect(got.bound).toBeCloseTo(bound, 10);
    expect(got.by).toBe(by);
  });
});

describe('baseline and canary — worked examples', () => {
  const base3: BaselineRule = {
    type: 'baseline',
    when: 'above',
    factor: 3,
    tolerance: 0.005,
    against: { before: 10 * MIN },
  };
  const canary2: CanaryRule = { type: 'canary', when: 'above', factor: 2, tolerance: 0.01 };
  const orders: BaselineRule = {
    type: 'baseline',
    when: 'below',
    factor: 0.8,
    tolerance: 0,
    against: { query: 'sum(rate(orders_total[5m] offset 1w)) * 60' },
  };

  it.each([
    // The example line.
    { rule: base3, value: 0.041, ref: 0.008, state: 'breach', text: '4.1% > baseline 0.8% × 3' },
    { rule: base3, value: 0.02, ref: 0.008, state: 'ok', text: '2% ≤ baseline 0.8% × 3' },
    // A clean baseline: the tolerance draws the line.
    { rule: base3, value: 0.004, ref: 0, state: 'ok', text: '0.4% ≤ baseline 0% + 0.5%' },
    { rule: base3, value: 0.007, ref: 0, state: 'breach', text: '0.7% > baseline 0% + 0.5%' },
    { rule: base3, value: 0.01, ref: undefined, state: 'nodata', text: 'no baseline yet' },
    // Business: orders per minute against last week's line.
    { rule: orders, value: 90, ref: 120, state: 'breach', text: '90 < baseline 120 × 0.8' },
    { rule: orders, value: 100, ref: 120, state: 'ok', text: '100 ≥ baseline 120 × 0.8' },
    // Canary: the new version against the old one.
    { rule: canary2, value: 0.12, ref: 0.01, state: 'breach', text: 'new 12% > old 1% × 2' },
    { rule: canary2, value: 0.012, ref: 0.004, state: 'ok', text: 'new 1.2% ≤ old 0.4% + 1%' },
    {
      rule: canary2,
      value: 0.015,
      ref: NaN,
      state: 'nodata',
      text: 'no old version to compare with',
    },
  ])('$rule.type $value vs $ref → $state', ({ rule, value, ref, state, text }) => {
    const unit = rule === orders ? 'count' : 'ratio';
    expect(judgeRelative(rule, value, ref, unit)).toEqual({ state, text });
  });
});

function ctx(values: number[], stepMs = MIN, extra: Partial<RuleContext> = {}): RuleContext {
  const history = values.map((value, i) => ({ t: i * stepMs, value }));
  return {
    unit: 'ratio',
    at: (values.length - 1) * stepMs,
    history,
    startedAt: 0,
    windowMs: 30 * MIN,
    ...extra,
  };
}

describe('slope — worked examples (O3: a slow decline no threshold sees)', () => {
  const falling: SlopeRule = {
    type: 'slope',
    when: 'below',
    perMinute: -0.0005,
    overMs: 10 * MIN,
    minPoints: 5,
    minR2: 0.5,
  };

  it('99.9% → 99.5% in 4 minutes, never below a 99% threshold: falling 0.1 point a minute', () => {
    const j = judgeSlope(falling, ctx([0.999, 0.998, 0.997, 0.996, 0.995]));
    expect(j).toEqual({
      state: 'breach',
      text: 'falling -0.1%/min < -0.05%/min over 4m (r² 1.00)',
    });
  });

  it('flat with noise: ok', () => {
    const j = judgeSlope(falling, ctx([0.999, 0.998, 0.999, 0.998, 0.999, 0.998]));
    expect(j.state).toBe('ok');
  });

  it('one sudden drop at the end fits badly: left to thresholds, not called a trend', () => {
    const j = judgeSlope(falling, ctx([0.999, 0.999, 0.999, 0.999, 0.999, 0.999, 0.99]));
    expect(j.state).toBe('ok');
    expect(j.text).toMatch(/noise/);
  });

  it('fewer points than asked for: no data yet', () => {
    expect(judgeSlope(falling, ctx([0.999, 0.99]))).toEqual({
      state: 'nodata',
      text: 'trend: 2 of 5 points',
    });
  });

  it('only the trailing window counts: an old decline that stopped is ok', () => {
    // 20 minutes: a fall during the first 10, flat for the last 10.
    const values = [
      ...Array.from({ length: 10 }, (_, i) => 0.999 - i * 0.001),
      ...Array(11).fill(0.99),
    ];
    expect(judgeSlope(falling, ctx(values)).state).toBe('ok');
  });

  it('rising latency (seconds): +20ms/min above +10ms/min', () => {
    const rising: SlopeRule = { ...falling, when: 'above', perMinute: 0.01 };
    const j = judgeSlope(rising, ctx([0.1, 0.12, 0.14, 0.16, 0.18], MIN, { unit: 'seconds' }));
    expect(j).toEqual({ state: 'breach', text: 'rising +20ms/min > +10ms/min over 4m (r² 1.00)' });
  });
});

describe('budget — worked examples (O3: cumulative effect)', () => {
  const errors1: BudgetRule = { type: 'budget', when: 'above', objective: 0.01, limit: 1 };
  const success99: BudgetRule = { type: 'budget', when: 'below', objective: 0.99, limit: 1 };

  it('3% errors (under a 5% alert line) for 10 of 30 minutes spends all of a 1% budget', () => {
    const j = judgeBudget(errors1, ctx(Array(11).fill(0.03)));
    expect(j).toEqual({
      state: 'breach',
      text: 'budget 100% spent ≥ 100% (mean 3% bad vs 1% allowed over 30m)',
    });
  });

  it('after 5 minutes of it: half spent, ok', () => {
    expect(judgeBudget(errors1, ctx(Array(6).fill(0.03)))).toEqual({
      state: 'ok',
      text: 'budget 50% spent',
    });
  });

  it('a success ratio of 98% against a 99% objective: 1 − value is the bad share', () => {
    // 2% bad × 15 min / (1% × 30 min) = 100%
    expect(judgeBudget(success99, ctx(Array(16).fill(0.98))).state).toBe('breach');
    expect(judgeBudget(success99, ctx(Array(15).fill(0.98))).state).toBe('ok');
  });

  it('the first reading covers no time yet', () => {
    expect(judgeBudget(errors1, ctx([0.5]))).toEqual({ state: 'ok', text: 'budget 0% spent' });
  });
});

describe('judgeRule dispatches with the reading', () => {
  it('canary takes the old version from the reading, baseline from the context', () => {
    const canary: CanaryRule = { type: 'canary', when: 'above', factor: 2, tolerance: 0 };
    expect(judgeRule(canary, { value: 0.1, old: 0.01 }, ctx([0.1])).state).toBe('breach');
    const base: BaselineRule = {
      type: 'baseline',
      when: 'above',
      factor: 2,
      tolerance: 0,
      against: { value: 0.01 },
    };
    expect(judgeRule(base, { value: 0.1 }, ctx([0.1], MIN, { baseline: 0.2 })).state).toBe('ok');
  });
});

describe('nextStreak', () => {
  it.each([
    { from: 0, state: 'breach', to: 1 },
    { from: 2, state: 'breach', to: 3 },
    { from: 2, state: 'ok', to: 0 },
    { from: 2, state: 'nodata', to: 2 }, // a missed poll neither confirms nor clears
  ] as const)('$from + $state → $to', ({ from, state, to }) => {
    expect(nextStreak(from, state)).toBe(to);
  });
});

describe('finalVerdict — worked examples', () => {
  const tally = (over: Partial<CheckTally> = {}): CheckTally => ({
    name: 'error-ratio',
    optional: false,
    reads: 31,
    withData: 31,
    lastHadData: true,
    neverJudged: [],
    ...over,
  });
  const opts = { minCoverage: 0.8, polls: 31, windowMs: 30 * MIN };

  it.each([
    {
      name: 'every read had data, nothing breached → healthy',
      tallies: [tally(), tally({ name: 'p99' })],
      want: { verdict: 'healthy', decidedBy: null, message: '2 checks held for 31 polls over 30m' },
    },
    {
      name: 'a breach held → degraded, the rule named',
      tallies: [
        tally({ name: 'p99' }),
        tally({
          degraded: {
            rule: 'baseline',
            at: 5,
            message: 'error-ratio 4.1% > baseline 0.8% × 3 for 3 polls',
          },
        }),
      ],
      want: {
        verdict: 'degraded',
        decidedBy: 'error-ratio/baseline',
        message: 'error-ratio 4.1% > baseline 0.8% × 3 for 3 polls',
      },
    },
    {
      name: 'Prometheus down the whole window → unknown, never healthy',
      tallies: [
        tally({ withData: 0, lastHadData: false, lastProblem: 'unreachable: ECONNREFUSED' }),
      ],
      want: {
        verdict: 'unknown',
        decidedBy: 'error-ratio',
        message: 'error-ratio had a value in 0 of 31 reads (needs 80%): unreachable: ECONNREFUSED',
      },
    },
    {
      name: 'down for the last 3 polls only (90% coverage) → unknown: it is down now',
      tallies: [tally({ withData: 28, lastHadData: false, lastProblem: 'timed out' })],
      want: {
        verdict: 'unknown',
        decidedBy: 'error-ratio',
        message: 'error-ratio had no value at the last read: timed out',
      },
    },
    {
      name: 'a few missed polls in the middle → still healthy',
      tallies: [tally({ withData: 27 })],
      want: { verdict: 'healthy', decidedBy: null, message: '1 check held for 31 polls over 30m' },
    },
    {
      name: 'a baseline that never existed → unknown',
      tallies: [tally({ neverJudged: ['baseline'] })],
      want: {
        verdict: 'unknown',
        decidedBy: 'error-ratio',
        message: 'error-ratio: rule baseline never had what it compares with',
      },
    },
    {
      name: 'an optional check without data does not matter',
      tallies: [tally(), tally({ name: 'cpu', optional: true, withData: 0, lastHadData: false })],
      want: { verdict: 'healthy', decidedBy: null, message: '1 check held for 31 polls over 30m' },
    },
  ])('$name', ({ tallies, want }) => {
    expect(finalVerdict(tallies, opts)).toEqual(want);
  });

  it('the earliest breach decides when two checks degraded', () => {
    const v = finalVerdict(
      [
        tally({ name: 'late', degraded: { rule: 'threshold', at: 9, message: 'late' } }),
        tally({ name: 'early', degraded: { rule: 'slope', at: 4, message: 'early' } }),
      ],
      opts,
    );
    expect(v.decidedBy).toBe('early/slope');
  });

  it('stopped early → unknown unless already degraded', () => {
    expect(
      finalVerdict([tally()], { ...opts, stoppedEarly: 'stopped after 3 of 31 polls' }),
    ).toEqual({ verdict: 'unknown', decidedBy: null, message: 'stopped after 3 of 31 polls' });
  });
});
