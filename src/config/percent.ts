import { InputError } from '../model/errors';
import type { BatchSizing, Ratio } from '../model/types';

export const MAX_PATTERN_PARTS = 100;

const PERCENT = /^(\d+(?:\.\d+)?)\s*%$/;
const NUMBER = /^\d+(?:\.\d+)?$/;
/** Pattern parts may be written with two decimals each, so the sum gets this much slack. */
const PATTERN_TOLERANCE = 0.01;

/**
 * Reads a share of the group: `25%`, `0.25` or `25` all give 0.25.
 * A number above 1 is a percentage; 1 itself is the whole group.
 */
export function parseRatio(value: string | number, field: string): Ratio {
  const hint = 'use a percentage such as 25% (or a fraction such as 0.25)';
  let ratio: number;
  if (typeof value === 'number') {
    ratio = value > 1 ? value / 100 : value;
  } else {
    const text = value.trim();
    const percent = PERCENT.exec(text);
    if (percent) ratio = Number(percent[1]) / 100;
    else if (NUMBER.test(text)) return parseRatio(Number(text), field);
    else throw new InputError(field, `"${value}" is not a percentage: ${hint}`);
  }
  if (!Number.isFinite(ratio) || ratio <= 0 || ratio > 1) {
    throw new InputError(field, `${JSON.stringify(value)} must be more than 0% and at most 100%`);
  }
  return ratio;
}

/** `0.25` → `25%`; at most two decimals. */
export function formatRatio(ratio: Ratio): string {
  return `${Math.round(ratio * 10_000) / 100}%`;
}

/**
 * M2/M4: the max-unavailable ratio, and optionally an explicit pattern of batch shares such as
 * `10%+20%+70%` (Tars-style). The pattern must add up to 100%; maxUnavailable still sets the brake (F2).
 */
export function parseBatchSizing(
  maxUnavailable: string | number,
  batchPattern?: string | ReadonlyArray<string | number>,
): BatchSizing {
  const ratio = parseRatio(maxUnavailable, 'deployment.maxUnavailable');
  if (batchPattern === undefined) return { kind: 'ratio', maxUnavailable: ratio };
  return { kind: 'pattern', parts: parsePattern(batchPattern), maxUnavailable: ratio };
}

function parsePattern(pattern: string | ReadonlyArray<string | number>): Ratio[] {
  const field = 'deployment.batchPattern';
  const raw = typeof pattern === 'string' ? pattern.split('+').map((p) => p.trim()) : [...pattern];
  if (raw.length === 0 || (raw.length === 1 && raw[0] === '')) {
    throw new InputError(field, 'is empty: write the batch shares like 10%+20%+70%');
  }
  if (raw.length > MAX_PATTERN_PARTS) {
    throw new InputError(field, `has ${raw.length} parts: at most ${MAX_PATTERN_PARTS}`);
  }
  const parts = raw.map((part, i) => {
    if (typeof pattern === 'string' && !PERCENT.test(String(part))) {
      throw new InputError(field, `part ${i + 1} "${part}" is not a percentage like 20%`);
    }
    try {
      return parseRatio(part, field);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      throw new InputError(field, `part ${i + 1}: ${error.message.slice(field.length + 2)}`);
    }
  });
  const percentSum = parts.reduce((sum, p) => sum + p * 100, 0);
  if (Math.abs(percentSum - 100) > PATTERN_TOLERANCE + 1e-9) {
    const shown = Math.round(percentSum * 1000) / 1000;
    throw new InputError(field, `the parts add up to ${shown}%, not 100%`);
  }
  return parts;
}
