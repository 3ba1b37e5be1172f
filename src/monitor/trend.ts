/**
 * Trends over the polls so far (O3: slow declines and cumulative effects). Pure.
 *
 * - `fitLine`: least-squares line through (t, value) points; slope per minute and r².
 * - `budgetSpent`: the share of a whole window's error budget the bad ratio has used so far.
 */
import type { Point } from './ports';

export interface LineFit {
  /** Change per minute. */
  perMinute: number;
  /** Share of the variance the line explains, 0…1 (1 when every value is equal). */
  r2: number;
  /** Points used (finite values only). */
  n: number;
  /** Time span covered, ms. */
  spanMs: number;
}

/**
 * Least squares through the finite points; null with fewer than 2 of them or all at one time.
 *
 * Worked example: values 0.999, 0.998, 0.997, 0.996 one minute apart → −0.001 per minute, r² 1.
 */
export function fitLine(points: readonly Point[]): LineFit | null {
  const pts = points.filter((p) => Number.isFinite(p.value) && Number.isFinite(p.t));
  const n = pts.length;
  if (n < 2) return null;
  const t0 = pts[0]!.t;
  // Minutes from the first point keeps the sums small and exact enough.
  const xs = pts.map((p) => (p.t - t0) / 60_000);
  const ys = pts.map((p) => p.value);
  const mx = mean(xs);
  const my = mean(ys);
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (sxx === 0) return null;
  const perMinute = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  const ts = pts.map((p) => p.t);
  return { perMinute, r2, n, spanMs: Math.max(...ts) - Math.min(...ts) };
}

/** The points with t ≥ `fromMs`. */
export function trailing(points: readonly Point[], fromMs: number): Point[] {
  return points.filter((p) => p.t >= fromMs);
}

export interface BudgetUse {
  /** Share of the window's budget spent so far (1 = all of it). */
  spent: number;
  /** Time-weighted mean bad ratio so far. */
  meanBad: number;
  /** Time covered by the points, ms. */
  coveredMs: number;
}

/**
 * The error budget used since `startMs`, as a share of the budget of the whole window:
 *
 *   spent = Σ bad(vᵢ) × (tᵢ − tᵢ₋₁)  /  (allowed × windowMs),   t₀ = startMs
 *
 * Each reading of a rate stands for the time since the reading before it (a gap of missed polls
 * is covered by the next reading). `bad` turns a value into a bad ratio (1 − v for a success
 * ratio); non-finite values are skipped, their time going to the next reading.
 *
 * Worked example: allowed 1%, window 30m, an error ratio steady at 3% (never above a 5% alert
 * line) read every minute from the release: after 10 readings spent = 0.03 × 10m / (0.01 × 30m)
 * = 1.0 — the whole window's budget is gone a third of the way in.
 */
export function budgetSpent(
  points: readonly Point[],
  opts: { startMs: number; windowMs: number; allowed: number; bad: (value: number) => number },
): BudgetUse {
  let prev = opts.startMs;
  let area = 0;
  let covered = 0;
  for (const p of [...points].sort((a, b) => a.t - b.t)) {
    if (!Number.isFinite(p.value) || p.t < opts.startMs) continue;
    const dt = p.t - prev;
    const bad = Math.min(1, Math.max(0, opts.bad(p.value)));
    area += bad * dt;
    covered += dt;
    prev = p.t;
  }
  const budget = opts.allowed * opts.windowMs;
  return {
    spent: budget > 0 ? area / budget : area > 0 ? Infinity : 0,
    meanBad: covered > 0 ? area / covered : 0,
    coveredMs: covered,
  };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
