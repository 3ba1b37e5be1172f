import { describe, expect, it } from 'vitest';
import { budgetSpent, fitLine, trailing } from '../../../src/monitor/trend';

const MIN = 60_000;
const pts = (...values: number[]) => values.map((value, i) => ({ t: i * MIN, value }));

describe('fitLine — worked examples', () => {
  it('a success ratio losing 0.1 point a minute: −0.001/min, r² 1', () => {
    const fit = fitLine(pts(0.999, 0.998, 0.997, 0.996))!;
    expect(fit.perMinute).toBeCloseTo(-0.001, 10);
    expect(fit.r2).toBeCloseTo(1, 10);
    expect(fit.n).toBe(4);
    expect(fit.spanMs).toBe(3 * MIN);
  });

  it('flat: slope 0, r² 1 (every value equal is a perfect fit)', () => {
    expect(fitLine(pts(0.5, 0.5, 0.5))).toMatchObject({ perMinute: 0, r2: 1 });
  });

  it('noise around a level: small slope, poor fit', () => {
    // 1, 3, 1, 3, 1, 3: Σdx² = 17.5, Σdx·dy = 3, Σdy² = 6 → slope 3/17.5, r² = 9/105 ≈ 0.086
    const fit = fitLine(pts(1, 3, 1, 3, 1, 3))!;
    expect(fit.perMinute).toBeCloseTo(3 / 17.5, 10);
    expect(fit.r2).toBeCloseTo(9 / 105, 10);
  });

  it('one late jump fits badly: 0, 0, 0, 0, 1 → slope 0.2/min, r² 0.5', () => {
    // Σdx² = 10, Σdx·dy = 2 (x̄ = 2, dy of the jump 0.8), Σdy² = 0.8 → r² = 4 / 8 = 0.5
    const fit = fitLine(pts(0, 0, 0, 0, 1))!;
    expect(fit.perMinute).toBeCloseTo(0.2, 10);
    expect(fit.r2).toBeCloseTo(0.5, 10);
  });

  it('seconds apart work the same (per minute)', () => {
    const fit = fitLine([
      { t: 0, value: 1 },
      { t: 30_000, value: 2 },
    ])!;
    expect(fit.perMinute).toBeCloseTo(2, 10);
  });

  it('non-finite points are left out; fewer than two points or one instant: null', () => {
    expect(fitLine(pts(NaN, 1, NaN, 3))!.perMinute).toBeCloseTo(1, 10);
    expect(fitLine(pts(1))).toBeNull();
    expect(fitLine(pts(NaN, NaN, 2))).toBeNull();
    expect(
      fitLine([
        { t: 5, value: 1 },
        { t: 5, value: 2 },
      ]),
    ).toBeNull();
  });
});

describe('trailing', () => {
  it('keeps points at or after the start', () => {
    expect(trailing(pts(1, 2, 3, 4), 2 * MIN).map((p) => p.value)).toEqual([3, 4]);
  });
});

describe('budgetSpent — worked examples', () => {
  const errorRatio = (v: number) => v;

  it('3% errors against 1% allowed for 10 of 30 minutes: the whole window’s budget is spent', () => {
    // Readings at 0, 1, …, 10 min; the one at 0 covers no time.
    const use = budgetSpent(pts(...Array(11).fill(0.03)), {
      startMs: 0,
      windowMs: 30 * MIN,
      allowed: 0.01,
      bad: errorRatio,
    });
    expect(use.spent).toBeCloseTo(1, 10); // 0.03 × 10 / (0.01 × 30)
    expect(use.meanBad).toBeCloseTo(0.03, 10);
    expect(use.coveredMs).toBe(10 * MIN);
  });

  it('a success ratio: bad = 1 − value', () => {
    const use = budgetSpent(pts(0.99, 0.99, 0.99), {
      startMs: 0,
      windowMs: 2 * MIN,
      allowed: 0.01,
      bad: (v) => 1 - v,
    });
    expect(use.spent).toBeCloseTo(1, 10); // 1% bad for all of the 2-minute window
  });

  it('a missed reading: the next one covers the gap', () => {
    const use = budgetSpent(
      [
        { t: 0, value: 0 },
        { t: MIN, value: NaN },
        { t: 2 * MIN, value: 0.02 },
      ],
      { startMs: 0, windowMs: 10 * MIN, allowed: 0.01, bad: errorRatio },
    );
    expect(use.spent).toBeCloseTo((0.02 * 2) / (0.01 * 10), 10);
  });

  it('readings before the start do not count; bad values are clamped to 0…1', () => {
    const use = budgetSpent(
      [
        { t: -MIN, value: 1 },
        { t: MIN, value: 2 },
      ],
      { startMs: 0, windowMs: MIN, allowed: 0.5, bad: errorRatio },
    );
    expect(use.spent).toBeCloseTo(2, 10); // 1 × 1 min / (0.5 × 1 min)
  });
});
