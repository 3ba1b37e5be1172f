import { InputError } from './errors';

/** Timers above this fire at once in Node (setTimeout takes a signed 32-bit delay). */
export const MAX_DURATION_MS = 2_147_483_647;

const UNITS = [
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
] as const;

const NUMBER = '(\\d+(?:\\.\\d+)?)';
// Units in descending order, each at most once; `m(?!s)` keeps "5ms" from reading as minutes.
const DURATION = new RegExp(`^(?:${NUMBER}h)?(?:${NUMBER}m(?!s))?(?:${NUMBER}s)?(?:${NUMBER}ms)?$`);
const SECONDS = /^\d+(?:\.\d+)?$/;

const HINT = 'use a number of seconds or e.g. 250ms, 30s, 5m, 1h, 1m30s';

/** Parses `250ms`, `30s`, `5m`, `1h`, `1m30s`, or a bare number of seconds, into milliseconds. */
export function parseDuration(value: string | number, field: string): number {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new InputError(field, `${value} is not a duration: ${HINT}`);
    }
    ms = value * 1000;
  } else {
    const text = value.trim();
    const match = DURATION.exec(text);
    if (SECONDS.test(text)) {
      ms = Number(text) * 1000;
    } else if (text !== '' && match) {
      ms = UNITS.reduce((sum, [, unitMs], i) => {
        const amount = match[i + 1];
        return amount === undefined ? sum : sum + Number(amount) * unitMs;
      }, 0);
    } else {
      throw new InputError(field, `"${value}" is not a duration: ${HINT}`);
    }
  }
  ms = Math.round(ms);
  if (ms > MAX_DURATION_MS) {
    throw new InputError(field, `${JSON.stringify(value)} is too long: at most 24 days`);
  }
  return ms;
}

/** The shortest spelling that parseDuration reads back to the same value: `1m30s`, `250ms`, `0s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, unitMs] of UNITS) {
    const amount = Math.floor(rest / unitMs);
    if (amount > 0) out += `${amount}${unit}`;
    rest -= amount * unitMs;
  }
  return out;
}
