import { describe, expect, it } from 'vitest';
import { formatDuration, MAX_DURATION_MS, parseDuration } from '../../../src/model/duration';
import { InputError } from '../../../src/model/errors';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5s', 1_500],
    ['0s', 0],
    [' 10s ', 10_000],
    ['45', 45_000],
    ['0.25', 250],
    [0, 0],
    [10, 10_000],
    [0.2, 200],
  ] as const)('M2: reads %j as %i ms', (value, ms) => {
    expect(parseDuration(value, 'deployment.waitBetweenBatches')).toBe(ms);
  });

  it.each([
    ['-5s'],
    [-1],
    ['5 m'],
    ['5min'],
    ['30s5m'],
    ['1m1m'],
    [''],
    ['s'],
    ['abc'],
    ['10s;rm -rf /'],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    ['30d'],
  ] as const)('refuses %j with an InputError naming the field', (value) => {
    const call = () => parseDuration(value, 'deployment.startTimeout');
    expect(call).toThrow(InputError);
    expect(call).toThrow(/^deployment\.startTimeout: /);
  });

  it('refuses durations that Node timers cannot wait for (over 24 days)', () => {
    expect(parseDuration(`${MAX_DURATION_MS}ms`, 'f')).toBe(MAX_DURATION_MS);
    expect(() => parseDuration('600h', 'f')).toThrow(/at most 24 days/);
  });

  it.each([0, 250, 1_000, 90_000, 3_723_004, 3_600_000])(
    'formats %i ms so that it reads back',
    (ms) => {
      expect(parseDuration(formatDuration(ms), 'f')).toBe(ms);
    },
  );

  it('formats with the largest units', () => {
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(0)).toBe('0s');
  });
});
