/**
 * The per-poll step of the watch (O2), table-driven: a sequence of readings of one check in,
 * the line states, streaks and the deciding breach out. No sources, no clock.
 */
import { describe, expect, it } from 'vitest';
import type { Check } from '../../../src/monitor/checks';
import type { Reading } from '../../../src/monitor/judge';
import {
  pollStep,
  startProgress,
  type BaselineRead,
  type CheckProgress,
  type LineState,
} from '../../../src/monitor/poll-step';

const MIN = 60_000;
const WATCH = { startedAt: 0, windowMs: 30 * MIN };

const errorRatio: Check = {
  name: 'error-ratio',
  kind: 'application',
  source: 'prometheus',
  query: 'errors',
  unit: 'ratio',
  rules: [{ type: 'threshold', when: 'above', value: 0.05 }],
  forPolls: 2,
  optional: false,
};

const baselined: Check = {
  ...errorRatio,
  rules: [
    { type: 'baseline', when: 'above', against: { query: 'forecast' }, factor: 2, tolerance: 0 },
  ],
};

const NONE = NaN;

interface Row {
  name: string;
  check: Check;
  values: number[];
  baselines?: BaselineRead[];
  states: LineState[];
  streaks: number[];
  /** Poll (0-based) whose reading decided `degraded`. */
  decidedAt?: number;
  withData: number;
  judged: boolean;
}

const rows: Row[] = [
  {
    name: 'healthy readings stay ok',
    check: errorRatio,
    values: [0.01, 0.02, 0.01],
    states: ['ok', 'ok', 'ok'],
    streaks: [0, 0, 0],
    withData: 3,
    judged: true,
  },
  {
    name: 'one breach is not enough with forPolls 2; an ok clears it',
    check: errorRatio,
    values: [0.09, 0.01, 0.09],
    states: ['breach', 'ok', 'breach'],
    streaks: [1, 0, 1],
    withData: 3,
    judged: true,
  },
  {
    name: 'two breaches in a row decide, and the check stays degraded while it holds',
    check: errorRatio,
    values: [0.09, 0.09, 0.09],
    states: ['breach', 'degraded', 'degraded'],
    streaks: [1, 2, 3],
    decidedAt: 1,
    withData: 3,
    judged: true,
  },
  {
    name: 'a poll without data neither confirms nor clears a breach',
    check: errorRatio,
    values: [0.09, NONE, 0.09],
    states: ['breach', 'nodata', 'degraded'],
    streaks: [1, 1, 2],
    decidedAt: 2,
    withData: 2,
    judged: true,
  },
  {
    name: 'never any data: never judged',
    check: errorRatio,
    values: [NONE, NONE],
    states: ['nodata', 'nodata'],
    streaks: [0, 0],
    withData: 0,
    judged: false,
  },
  {
    name: 'a baseline rule without its reference is not judged, though the check has data',
    check: baselined,
    values: [0.09, 0.09],
    baselines: [{ problem: 'baseline: the baseline query has no value' }],
    states: ['ok', 'ok'],
    streaks: [0, 0],
    withData: 2,
    judged: false,
  },
  {
    name: 'a baseline rule breaches above reference × factor',
    check: baselined,
    values: [0.03, 0.05],
    baselines: [{ value: 0.02 }],
    states: ['ok', 'breach'],
    streaks: [0, 1],
    withData: 2,
    judged: true,
  },
];

function run(row: Row) {
  let progress: CheckProgress = startProgress(
    row.check,
    row.check.rules.map((r) => r.type),
  );
  const lines = row.values.map((value, k) => {
    const reading: Reading = { value };
    const { after, line } = pollStep(
      row.check,
      progress,
      {
        at: k * MIN,
        reading,
        ...(Number.isNaN(value) ? { problem: 'no value (no series, or no traffic)' } : {}),
        baselines: row.baselines ?? [],
      },
      WATCH,
    );
    progress = after;
    return { line, streak: after.rules[0]!.streak };
  });
  return { lines, progress };
}

describe('pollStep: one check through a sequence of polls', () => {
  it.each(rows)('$name', (row) => {
    const { lines, progress } = run(row);
    expect(lines.map((l) => l.line.state)).toEqual(row.states);
    expect(lines.map((l) => l.streak)).toEqual(row.streaks);
    expect(progress.degraded?.at).toBe(
      row.decidedAt === undefined ? undefined : row.decidedAt * MIN,
    );
    expect(progress.withData).toBe(row.withData);
    expect(progress.history).toHaveLength(row.values.length);
    expect(progress.rules[0]!.judged).toBe(row.judged);
  });

  it('names the deciding rule and how long the breach held', () => {
    const { progress } = run(rows[2]!);
    expect(progress.degraded).toEqual({
      rule: 'threshold',
      message: expect.stringMatching(/^error-ratio .* for 2 polls$/),
      at: MIN,
    });
  });

  it('a poll without data keeps the reason and the last old-version value', () => {
    const start = startProgress(errorRatio, ['threshold']);
    const first = pollStep(
      errorRatio,
      start,
      { at: 0, reading: { value: 0.01, old: 0.02 }, baselines: [] },
      WATCH,
    );
    const second = pollStep(
      errorRatio,
      first.after,
      { at: MIN, reading: { value: NaN }, problem: 'prometheus unreachable', baselines: [] },
      WATCH,
    );
    expect(second.after.lastProblem).toBe('prometheus unreachable');
    expect(second.after.lastOld).toBe(0.02);
    expect(second.after.lastHadData).toBe(false);
    expect(second.line.line).toContain('prometheus unreachable');
  });

  it('does not change the progress it was given', () => {
    const start = startProgress(errorRatio, ['threshold']);
    const copy = structuredClone(start);
    pollStep(errorRatio, start, { at: 0, reading: { value: 0.09 }, baselines: [] }, WATCH);
    expect(start).toEqual(copy);
  });
});
