/**
 * From query results to the number a check judges. Pure.
 *
 * - A one-expression check must give one series (aggregate it: `sum(…)`), or one per version.
 *   More series than that is an error, not a guess: `rate(a) / rate(b)` unaggregated divides
 *   each series by itself (platform notes §3) and would look fine while being wrong.
 * - A ratio check reads its two expressions separately and sums each side (per version when
 *   read by version): a numerator with no series (no 5xx yet) counts as 0; a denominator of 0
 *   (no traffic) gives no value.
 */
import type { Reading } from './judge';
import { MonitorQueryError, type Sample, type Series } from './ports';
import { formatLabels } from './prometheus/parse';

export interface VersionSelect {
  /** The label naming the version, e.g. `version`. */
  label: string;
  /** The released version: its series is the value. */
  version: string;
  /** The old version: its series is the reference. Default: every other version together. */
  previous?: string;
}

/** A one-expression check's reading. `what` names the expression in errors. */
export function readPlain(
  samples: readonly Sample[],
  by: VersionSelect | undefined,
  what: string,
): Reading {
  if (!by) {
    if (samples.length === 0) return { value: NaN };
    if (samples.length > 1) {
      throw new MonitorQueryError(
        `${what} returns ${samples.length} series (${examples(samples)}): aggregate it to one, ` +
          'e.g. sum(…) — on both sides of a ratio',
        false,
      );
    }
    return { value: samples[0]!.value };
  }
  const values = new Map<string, number>();
  for (const s of samples) {
    const key = versionOf(s, by.label, what);
    if (values.has(key)) {
      throw new MonitorQueryError(
        `${what} returns two series for ${by.label}="${key}": aggregate by (${by.label})`,
        false,
      );
    }
    values.set(key, s.value);
  }
  const value = values.get(by.version) ?? NaN;
  let old: number;
  if (by.previous !== undefined) old = values.get(by.previous) ?? NaN;
  else {
    const others = [...values].filter(([k, v]) => k !== by.version && !Number.isNaN(v));
    old = others.length === 0 ? NaN : others.reduce((sum, [, v]) => sum + v, 0) / others.length;
  }
  return { value, old };
}

/** A ratio check's reading: Σ numerator / Σ denominator, per version when read by version. */
export function readRatio(
  numerator: readonly Sample[],
  denominator: readonly Sample[],
  by: VersionSelect | undefined,
  what: string,
): Reading {
  if (!by) return { value: divide(total(numerator), total(denominator)) };
  const num = sumBy(numerator, by.label, `${what}.numerator`);
  const den = sumBy(denominator, by.label, `${what}.denominator`);
  const value = divide(num.get(by.version) ?? 0, den.get(by.version));
  const oldKeys =
    by.previous !== undefined ? [by.previous] : [...den.keys()].filter((k) => k !== by.version);
  const oldDen = oldKeys.filter((k) => den.has(k));
  const old =
    oldDen.length === 0
      ? NaN
      : divide(
          oldDen.reduce((s, k) => s + (num.get(k) ?? 0), 0),
          oldDen.reduce((s, k) => s + den.get(k)!, 0),
        );
  return { value, old };
}

/**
 * A baseline from a range: the reading at each time, then the mean of the finite ones. For a
 * check read by version the reference is the old version's (before the release only it ran).
 */
export function meanOverTime(readings: readonly Reading[], byVersion: boolean): number | undefined {
  const values = readings
    .map((r) => (byVersion ? (r.old ?? NaN) : r.value))
    .filter((v) => Number.isFinite(v));
  if (values.length === 0) return undefined;
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Range series → the samples at each time, in time order (for the per-time readers above). */
export function samplesByTime(series: readonly Series[]): Map<number, Sample[]> {
  const out = new Map<number, Sample[]>();
  for (const s of series) {
    for (const p of s.points) {
      let list = out.get(p.t);
      if (!list) {
        list = [];
        out.set(p.t, list);
      }
      list.push({ labels: s.labels, value: p.value });
    }
  }
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

function versionOf(sample: Sample, label: string, what: string): string {
  const key = sample.labels[label];
  if (key === undefined) {
    throw new MonitorQueryError(
      `${what} returns a series without a ${label} label (${formatLabels(sample.labels)}): ` +
        `aggregate by (${label})`,
      false,
    );
  }
  return key;
}

function sumBy(samples: readonly Sample[], label: string, what: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    const key = versionOf(s, label, what);
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

function total(samples: readonly Sample[]): number | undefined {
  if (samples.length === 0) return undefined;
  return samples.reduce((sum, s) => sum + s.value, 0);
}

/** No denominator, or a zero one: no traffic, no value. */
function divide(num: number | undefined, den: number | undefined): number {
  if (den === undefined || den === 0 || Number.isNaN(den)) return NaN;
  return (num ?? 0) / den;
}

function examples(samples: readonly Sample[]): string {
  const shown = samples.slice(0, 2).map((s) => formatLabels(s.labels));
  return samples.length > 2 ? `${shown.join(', ')}, …` : shown.join(', ');
}
