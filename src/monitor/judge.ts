/**
 * Verdicts, pure: one rule on one reading (`judgeRule`), breaches in a row (`nextStreak`), and
 * the verdict of a whole watch (`finalVerdict`). No I/O, no clock: the watch loop (watch.ts)
 * feeds them. Worked examples in test/unit/monitor/judge.test.ts.
 */
import type {
  BaselineRule,
  BudgetRule,
  CanaryRule,
  Check,
  Direction,
  Rule,
  SlopeRule,
  ThresholdRule,
} from './checks';
import { formatMs } from '../model/text';
import { formatFactor, formatRate, formatShare, formatValue, type Unit } from './format';
import type { Point } from './ports';
import { budgetSpent, fitLine, trailing } from './trend';

export type RuleState = 'ok' | 'breach' | 'nodata';

export interface Judgement {
  state: RuleState;
  /** `4.1% > baseline 0.8% × 3`, `4.1% ≤ 5%`, `no baseline yet`. */
  text: string;
}

/** What one poll read for a check. NaN = no value (no traffic, no series). */
export interface Reading {
  /** The check's value: the only series, or the released version's. */
  value: number;
  /** The old version's value (checks read by version). */
  old?: number;
}

/** What the rules may look at besides the reading. */
export interface RuleContext {
  unit: Unit;
  /** Time of this reading, epoch ms. */
  at: number;
  /** The check's values so far, this one included (for slope and budget). */
  history: readonly Point[];
  /** The watch: budget is spent over the whole window from its start. */
  startedAt: number;
  windowMs: number;
  /** The baseline rule's reference, when known (pre-release mean, forecast, fixed value). */
  baseline?: number;
}

const BAD: Record<Direction, string> = { above: '>', below: '<' };
const GOOD: Record<Direction, string> = { above: '≤', below: '≥' };

/** True when `value` is on the bad side of `bound`. Equal is fine. */
export function passes(when: Direction, value: number, bound: number): boolean {
  return when === 'above' ? value > bound : value < bound;
}

/**
 * The line a relative rule draws: it must be passed by the factor *and* by the tolerance.
 * above: max(ref × factor, ref + tolerance); below: min(ref × factor, ref − tolerance).
 *
 * Worked example: baseline 0.8%, × 3, tolerance 1% → max(2.4%, 1.8%) = 2.4%. Baseline 0%,
 * × 3, tolerance 1% → max(0%, 1%) = 1%: without the tolerance, any first error would breach.
 */
export function relativeBound(
  when: Direction,
  reference: number,
  factor: number,
  tolerance: number,
): { bound: number; by: 'factor' | 'tolerance' } {
  const scaled = reference * factor;
  const slack = when === 'above' ? reference + tolerance : reference - tolerance;
  if (when === 'above')
    return scaled >= slack ? { bound: scaled, by: 'factor' } : { bound: slack, by: 'tolerance' };
  return scaled <= slack ? { bound: scaled, by: 'factor' } : { bound: slack, by: 'tolerance' };
}

export function judgeThreshold(rule: ThresholdRule, value: number, unit: Unit): Judgement {
  if (Number.isNaN(value)) return { state: 'nodata', text: 'no value' };
  const bad = passes(rule.when, value, rule.value);
  const op = bad ? BAD[rule.when] : GOOD[rule.when];
  return {
    state: bad ? 'breach' : 'ok',
    text: `${formatValue(value, unit)} ${op} ${formatValue(rule.value, unit)}`,
  };
}

/** Baseline (`reference` = the baseline) and canary (`reference` = the old version). */
export function judgeRelative(
  rule: BaselineRule | CanaryRule,
  value: number,
  reference: number | undefined,
  unit: Unit,
): Judgement {
  const refName = rule.type === 'canary' ? 'old' : 'baseline';
  if (Number.isNaN(value)) return { state: 'nodata', text: 'no value' };
  if (reference === undefined || !Number.isFinite(reference)) {
    return {
      state: 'nodata',
      text: rule.type === 'canary' ? 'no old version to compare with' : 'no baseline yet',
    };
  }
  const { bound, by } = relativeBound(rule.when, reference, rule.factor, rule.tolerance);
  const bad = passes(rule.when, value, bound);
  const ref = `${refName} ${formatValue(reference, unit)}`;
  const sign = rule.when === 'above' ? '+' : '−';
  const line =
    by === 'factor'
      ? `${ref} × ${formatFactor(rule.factor)}`
      : `${ref} ${sign} ${formatValue(rule.tolerance, unit)}`;
  const who = rule.type === 'canary' ? 'new ' : '';
  return {
    state: bad ? 'breach' : 'ok',
    text: `${who}${formatValue(value, unit)} ${bad ? BAD[rule.when] : GOOD[rule.when]} ${line}`,
  };
}

/**
 * The slope of the trailing `overMs` of the history.
 *
 * Worked example: a success ratio read every minute: 99.9%, 99.8%, 99.7%, 99.6%, 99.5% — never
 * below a 99% threshold — fits −0.1%/min with r² 1; rule `below: -0.05%` (per minute) → breach.
 */
export function judgeSlope(rule: SlopeRule, ctx: RuleContext): Judgement {
  const window = trailing(ctx.history, ctx.at - rule.overMs).filter((p) =>
    Number.isFinite(p.value),
  );
  if (window.length < rule.minPoints) {
    return { state: 'nodata', text: `trend: ${window.length} of ${rule.minPoints} points` };
  }
  const fit = fitLine(window);
  if (!fit) return { state: 'nodata', text: 'trend: no time span' };
  const slope = formatRate(fit.perMinute, ctx.unit);
  const limit = formatRate(rule.perMinute, ctx.unit);
  const r2 = `r² ${fit.r2.toFixed(2)}`;
  const span = formatMs(fit.spanMs);
  if (passes(rule.when, fit.perMinute, rule.perMinute) && fit.r2 >= rule.minR2) {
    const verb = rule.when === 'below' ? 'falling' : 'rising';
    return {
      state: 'breach',
      text: `${verb} ${slope} ${BAD[rule.when]} ${limit} over ${span} (${r2})`,
    };
  }
  const noise = passes(rule.when, fit.perMinute, rule.perMinute)
    ? `, below r² ${rule.minR2}: noise`
    : '';
  return { state: 'ok', text: `trend ${slope} (${r2}${noise})` };
}

/**
 * Error budget since the watch began, as a share of the whole window's budget.
 *
 * Worked example: `above: 1%` on an error ratio, window 30m, readings every minute at 3% →
 * after 10 minutes 0.03 × 10 / (0.01 × 30) = 100% spent → breach (limit 100%).
 */
export function judgeBudget(rule: BudgetRule, ctx: RuleContext): Judgement {
  const allowed = rule.when === 'above' ? rule.objective : 1 - rule.objective;
  const bad = rule.when === 'above' ? (v: number) => v : (v: number) => 1 - v;
  const use = budgetSpent(ctx.history, {
    startMs: ctx.startedAt,
    windowMs: ctx.windowMs,
    allowed,
    bad,
  });
  if (use.coveredMs === 0) {
    const first = ctx.history.some((p) => Number.isFinite(p.value));
    return first
      ? { state: 'ok', text: 'budget 0% spent' }
      : { state: 'nodata', text: 'budget: no value' };
  }
  const spent = `budget ${formatShare(use.spent)} spent`;
  const detail = `mean ${formatValue(use.meanBad, 'ratio')} bad vs ${formatValue(allowed, 'ratio')} allowed over ${formatMs(ctx.windowMs)}`;
  if (use.spent >= rule.limit) {
    return { state: 'breach', text: `${spent} ≥ ${formatShare(rule.limit)} (${detail})` };
  }
  return { state: 'ok', text: spent };
}

/** One rule on one reading. */
export function judgeRule(rule: Rule, reading: Reading, ctx: RuleContext): Judgement {
  switch (rule.type) {
    case 'threshold':
      return judgeThreshold(rule, reading.value, ctx.unit);
    case 'baseline':
      return judgeRelative(rule, reading.value, ctx.baseline, ctx.unit);
    case 'canary':
      return judgeRelative(rule, reading.value, reading.old, ctx.unit);
    case 'slope':
      return judgeSlope(rule, ctx);
    case 'budget':
      return judgeBudget(rule, ctx);
  }
}

/**
 * Breaches in a row. A poll with no data neither confirms nor clears a breach (a flapping
 * Prometheus must not reset a real one); an ok reading clears it.
 */
export function nextStreak(streak: number, state: RuleState): number {
  if (state === 'breach') return streak + 1;
  if (state === 'ok') return 0;
  return streak;
}

// ---------------------------------------------------------------------------------------------
// The verdict of a watch.
// ---------------------------------------------------------------------------------------------

export type Verdict = 'healthy' | 'degraded' | 'unknown';

/** What the watch knows about one check at the end. */
export interface CheckTally {
  name: string;
  optional: boolean;
  /** Reads attempted (polls at which the check was due). */
  reads: number;
  /** Reads that gave a value. */
  withData: number;
  /** Whether the last read gave a value. */
  lastHadData: boolean;
  /** Why the last read without a value had none (error, no series, no traffic). */
  lastProblem?: string;
  /** Rules that never judged (no baseline, no old version, too few points): `baseline`, … */
  neverJudged: string[];
  /** Set when a rule decided: its message and the rule's type. */
  degraded?: { rule: Rule['type']; message: string; at: number };
}

export interface FinalVerdict {
  verdict: Verdict;
  /** `error-ratio/baseline` for a degraded verdict; the check that left it unknown; else null. */
  decidedBy: string | null;
  message: string;
}

/**
 * - degraded: a rule's breach held for its polls (the earliest one decides);
 * - unknown: stopped early, or a required check had a value in fewer than `minCoverage` of its
 *   reads, none at its last read (the source is down now), or a rule that never judged;
 * - healthy: otherwise. Never healthy without data: Prometheus down for the whole window, or
 *   from the middle of it to the end, is unknown.
 */
export function finalVerdict(
  tallies: readonly CheckTally[],
  opts: { minCoverage: number; stoppedEarly?: string; polls: number; windowMs: number },
): FinalVerdict {
  const degraded = tallies
    .filter((t) => t.degraded)
    .sort((a, b) => a.degraded!.at - b.degraded!.at)[0];
  if (degraded) {
    return {
      verdict: 'degraded',
      decidedBy: `${degraded.name}/${degraded.degraded!.rule}`,
      message: degraded.degraded!.message,
    };
  }
  if (opts.stoppedEarly) {
    return { verdict: 'unknown', decidedBy: null, message: opts.stoppedEarly };
  }
  for (const t of tallies) {
    if (t.optional) continue;
    const why = t.lastProblem ? `: ${t.lastProblem}` : '';
    if (t.reads === 0 || t.withData / t.reads < opts.minCoverage) {
      return {
        verdict: 'unknown',
        decidedBy: t.name,
        message: `${t.name} had a value in ${t.withData} of ${t.reads} reads (needs ${formatShare(opts.minCoverage)})${why}`,
      };
    }
    if (!t.lastHadData) {
      return {
        verdict: 'unknown',
        decidedBy: t.name,
        message: `${t.name} had no value at the last read${why}`,
      };
    }
    if (t.neverJudged.length > 0) {
      return {
        verdict: 'unknown',
        decidedBy: t.name,
        message: `${t.name}: rule ${t.neverJudged.join(', ')} never had what it compares with`,
      };
    }
  }
  const required = tallies.filter((t) => !t.optional).length;
  return {
    verdict: 'healthy',
    decidedBy: null,
    message: `${required} check${required === 1 ? '' : 's'} held for ${opts.polls} polls over ${formatMs(opts.windowMs)}`,
  };
}

/** For `Check`-typed callers that want the rule's label in lines: `threshold`, `canary`, … */
export function ruleLabel(check: Check, index: number): string {
  const rule = check.rules[index]!;
  const same = check.rules.filter((r) => r.type === rule.type).length > 1;
  return same
    ? `${rule.type}#${check.rules.slice(0, index + 1).filter((r) => r.type === rule.type).length}`
    : rule.type;
}
