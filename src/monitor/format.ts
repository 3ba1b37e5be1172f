/** How the monitor prints values: pure, shared by the judge, the watch lines and the report. */

/** `ratio` prints as a percentage; `seconds` as ms or s; `count` and `bytes` as plain numbers. */
export type Unit = 'ratio' | 'seconds' | 'bytes' | 'count';

export const UNITS: readonly Unit[] = ['ratio', 'seconds', 'bytes', 'count'];

/** `0.041` → `4.1%`, `0.000101` → `0.0101%`, `0.2504` (seconds) → `250.4ms`, `1234567` (bytes) → `1.18MiB`. */
export function formatValue(value: number, unit: Unit): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  switch (unit) {
    case 'ratio':
      return `${significant(value * 100)}%`;
    case 'seconds':
      return Math.abs(value) < 1 ? `${trim(value * 1000, 1)}ms` : `${trim(value, 2)}s`;
    case 'bytes': {
      const steps = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let v = value;
      let i = 0;
      while (Math.abs(v) >= 1024 && i < steps.length - 1) {
        v /= 1024;
        i += 1;
      }
      return `${trim(v, 2)}${steps[i]}`;
    }
    case 'count':
      return Math.abs(value) >= 100 ? trim(value, 1) : significant(value);
  }
}

/** A change per minute: `-0.05%/min` for a ratio, `+12/min` for a count. */
export function formatRate(perMinute: number, unit: Unit): string {
  const sign = perMinute > 0 ? '+' : '';
  return `${sign}${formatValue(perMinute, unit)}/min`;
}

/** A factor: `3`, `1.5`, `0.8`. */
export function formatFactor(factor: number): string {
  return trim(factor, 3);
}

/** `0.5` → `50%` (a share of something: budget spent, coverage). */
export function formatShare(share: number): string {
  return `${trim(share * 100, 1)}%`;
}

/** Two decimals from 1 up, one from 10 up; three significant digits below 1: 0.0101, 0.812. */
function significant(value: number): string {
  const abs = Math.abs(value);
  if (abs === 0) return '0';
  if (abs >= 10) return trim(value, 1);
  if (abs >= 1) return trim(value, 2);
  return trim(value, Math.min(12, 2 - Math.floor(Math.log10(abs))));
}

function trim(value: number, decimals: number): string {
  const fixed = value.toFixed(decimals);
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}
