import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/model/duration';
import { formatMs } from '../../../src/model/text';

describe('formatMs: one spelling of a duration for the log, status, plan and monitor', () => {
  it.each([
    [0, '0s'],
    [0.4, '0ms'],
    [250, '250ms'],
    [999, '999ms'],
    [1000, '1s'],
    [2500, '2.5s'],
    [5000, '5s'], // a wait between batches: "waiting 5s before batch 3"
    [30_000, '30s'], // a start timeout: "not healthy within 30s"
    [59_949, '59.9s'],
    [60_000, '1m'],
    [90_000, '1m30s'],
    [160_000, '2m40s'], // the plan's expected time
    [30 * 60_000, '30m'],
    [3_600_000 + 60_000, '1h1m'],
    [3_600_000 + 1_000, '1h1s'],
  ])('%d ms → %s', (ms, s) => {
    expect(formatMs(ms)).toBe(s);
  });

  it.each([250, 2500, 5000, 90_000, 160_000, 3_600_000 + 60_000])(
    '%d ms reads back as the group file reads it',
    (ms) => {
      expect(parseDuration(formatMs(ms), 'wait')).toBe(ms);
    },
  );
});
