/**
 * One poll of one check, judged: from what the check had seen so far and this poll's reading,
 * its rules' streaks, the line printed and whether the check is now degraded. Pure: the reader
 * (watch.ts) asks the sources, this decides.
 */
import { rulePolls, type Check, type Rule } from './checks';
import { formatValue } from './format';
import { judgeRule, nextStreak, type Reading, type RuleState } from './judge';
import type { Point } from './ports';

export type LineState = 'ok' | 'breach' | 'degraded' | 'nodata';

export interface PollLine {
  check: string;
  state: LineState;
  /** NaN when the read gave none. */
  value: number;
  old?: number;
  /** Rule results: `threshold 4.1% ≤ 5%`, `baseline 4.1% > baseline 0.8% × 3 (1/2)`. */
  rules: string[];
  /** The printed line. */
  line: string;
}

export interface RuleProgress {
  rule: Rule;
  label: string;
  /** Breaches in a row. */
  streak: number;
  /** Judged at least once (not only `nodata`). */
  judged: boolean;
}

/** What a check has seen so far; the step returns the next one. */
export interface CheckProgress {
  rules: readonly RuleProgress[];
  history: readonly Point[];
  withData: number;
  lastHadData: boolean;
  lastProblem?: string;
  lastOld?: number;
  /** The state at its last read. */
  state: LineState;
  degraded?: { rule: Rule['type']; message: string; at: number };
}

/** A baseline rule's reference, as the reader found it (by rule index). */
export interface BaselineRead {
  value?: number;
  problem?: string;
}

export interface PollInput {
  at: number;
  reading: Reading;
  /** Why there is no value (the reading's value is NaN). */
  problem?: string;
  baselines: readonly BaselineRead[];
}

export function startProgress(check: Check, labels: readonly string[]): CheckProgress {
  return {
    rules: check.rules.map((rule, i) => ({
      rule,
      label: labels[i]!,
      streak: 0,
      judged: false,
    })),
    history: [],
    withData: 0,
    lastHadData: false,
    state: 'nodata',
  };
}

/** Judges one poll of `check`: the next progress and the line to print. */
export function pollStep(
  check: Check,
  before: CheckProgress,
  poll: PollInput,
  watch: { startedAt: number; windowMs: number },
): { after: CheckProgress; line: PollLine } {
  const { at, reading, problem } = poll;
  const history = [...before.history, { t: at, value: reading.value }];
  const hasValue = !Number.isNaN(reading.value);
  let degraded = before.degraded;

  const results = before.rules.map((progress, i) => {
    const baseline = poll.baselines[i] ?? {};
    const j = hasValue
      ? judgeRule(progress.rule, reading, {
          unit: check.unit,
          at,
          history,
          startedAt: watch.startedAt,
          windowMs: watch.windowMs,
          ...(baseline.value !== undefined ? { baseline: baseline.value } : {}),
        })
      : { state: 'nodata' as RuleState, text: 'no value' };
    if (j.state === 'nodata' && baseline.problem && hasValue) j.text = baseline.problem;
    const streak = nextStreak(progress.streak, j.state);
    const need = rulePolls(check, progress.rule);
    const decided = j.state === 'breach' && streak >= need;
    if (decided && !degraded) {
      const held = need > 1 ? ` for ${streak} polls` : '';
      degraded = { rule: progress.rule.type, message: `${check.name} ${j.text}${held}`, at };
    }
    const mark = j.state === 'breach' ? ` (${Math.min(streak, need)}/${need})` : '';
    return {
      progress: { ...progress, streak, judged: progress.judged || j.state !== 'nodata' },
      state: j.state,
      decided,
      text: `${j.text}${mark}`,
    };
  });

  let state: LineState;
  // DEGRADED on the poll that decided (and the ones after it, without failFast, while it holds).
  if (results.some((r) => r.decided)) state = 'degraded';
  else if (results.some((r) => r.state === 'breach')) state = 'breach';
  else if (!hasValue) state = 'nodata';
  else state = 'ok';

  const hasOld = reading.old !== undefined && !Number.isNaN(reading.old);
  const after: CheckProgress = {
    rules: results.map((r) => r.progress),
    history,
    withData: before.withData + (hasValue ? 1 : 0),
    lastHadData: hasValue,
    state,
  };
  const lastProblem = hasValue ? undefined : problem;
  if (lastProblem !== undefined) after.lastProblem = lastProblem;
  const lastOld = hasOld ? reading.old : before.lastOld;
  if (lastOld !== undefined) after.lastOld = lastOld;
  if (degraded) after.degraded = degraded;

  const value = hasValue ? formatValue(reading.value, check.unit) : '—';
  const old = hasOld ? ` (old ${formatValue(reading.old!, check.unit)})` : '';
  const tag = { ok: 'ok', breach: 'BREACH', degraded: 'DEGRADED', nodata: 'NO DATA' }[state];
  const detail = hasValue ? results.map((r) => r.text).join(' · ') : (problem ?? 'no value');
  return {
    after,
    line: {
      check: check.name,
      state,
      value: reading.value,
      ...(reading.old !== undefined ? { old: reading.old } : {}),
      rules: results.map((r) => r.text),
      line: `${check.name} [${check.kind}] ${value}${old} ${tag} · ${detail}`,
    },
  };
}
