import type { FailureBudget } from '../model/types';

/**
 * The rules that brake a release (F2, F7), in the order a verdict names them: the narrowest
 * first. `perBatch`: the batch that just ended lost its share; `maxFailures`: the absolute count;
 * `maxUnavailable`: the global ratio of the group.
 */
export const BRAKE_RULES = ['perBatch', 'maxFailures', 'maxUnavailable'] as const;
export type BrakeRule = (typeof BRAKE_RULES)[number];

/** How the log and `status` name each rule: "braked by <name>". */
export const BRAKE_RULE_NAMES: Record<BrakeRule, string> = {
  perBatch: 'the per-batch budget',
  maxFailures: 'max failures',
  maxUnavailable: 'the global ratio (max unavailable)',
};

/** One batch's own counts: its planned hosts (skipped ones included) and its failed ones. */
export interface BatchFailures {
  /** As the log names it: "batch 3", "retry 1, batch 2". */
  label: string;
  size: number;
  failed: number;
}

export interface BrakeInput {
  /** Failed targets of the release now (a retry resets the ones it takes: they count anew). */
  failed: number;
  /** Failures accepted by a `continue` after a brake: every failure there was at that moment. */
  accepted: number;
  total: number;
  maxUnavailable: number;
  budget?: FailureBudget;
  /**
   * For the per-batch budget: in `judgeBrake`, the batch that just ended (of the same pass, not
   * the bastion); in `budgetLeft`, the batch running or next. Absent or null: no batch to judge.
   */
  batch?: BatchFailures | null;
}

export interface BrakeVerdict {
  brake: boolean;
  /** Counted failures ÷ all targets. */
  rate: number;
  /** The rule that braked (the first of `rules`); null when none did. */
  rule: BrakeRule | null;
  /** Every rule that is reached, in BRAKE_RULES order. */
  rules: BrakeRule[];
  /** When braked: why, each rule reached in plain words; else the global ratio's line. */
  reason: string;
}

const pct = (x: number) => `${(x * 100).toFixed(1).replace(/\.0$/, '')}%`;
// A tiny epsilon: 5/20 must equal 0.25 exactly, whatever the float rounding.
const EPS = 1e-9;

/**
 * The failures of one batch a `continue` has not accepted. A continue accepts every failure
 * there is at that moment, and within a pass a failure never leaves its batch and batches run in
 * order, so the accepted ones are the oldest: the batch's share of them is what lies beyond the
 * failures of the other batches. 9 failed, 5 accepted, 4 of them in the batch → the batch ran
 * after the continue: 4 counted; 5 failed, 5 accepted, 2 in the batch → 0 counted.
 */
export function countedInBatch(failed: number, accepted: number, batchFailed: number): number {
  const acceptedHere = Math.min(batchFailed, Math.max(0, accepted - (failed - batchFailed)));
  return Math.max(0, batchFailed - acceptedHere);
}

/**
 * F2 and F7, judged before each batch: the release brakes (BRAKED) when any rule is reached.
 * Failures accepted by a `continue` after a brake no longer count, so it brakes again only on
 * new failures.
 *
 * - global ratio (F2): 20 targets at 25%: 4 failures → 20% → go on; 5 failures → 25% → brake.
 * - per-batch budget (F7): at 50%, batch 2 of 4 hosts with 2 failed → 50% → brake before
 *   batch 3, though 2 of 20 (10%) is far from the global 25%. A batch of 1 brakes on its failure.
 * - max failures (F7): at 3, the third counted failure brakes, whatever the group's size.
 */
export function judgeBrake(input: BrakeInput): BrakeVerdict {
  const { failed, accepted, total, maxUnavailable, budget, batch } = input;
  const counted = Math.max(0, failed - accepted);
  const rate = total === 0 ? 0 : counted / total;
  const ratioReached = counted > 0 && rate + EPS >= maxUnavailable;
  const ratioLine = `${counted} of ${total} targets failed (${pct(rate)}) ${ratioReached ? '≥' : '<'} max unavailable ${pct(maxUnavailable)}`;
  const reasons: Partial<Record<BrakeRule, string>> = {};
  if (budget?.perBatch !== undefined && batch && batch.size > 0) {
    const here = countedInBatch(failed, accepted, batch.failed);
    const share = here / batch.size;
    if (here > 0 && share + EPS >= budget.perBatch) {
      reasons.perBatch = `${batch.label} lost ${here} of ${batch.size} hosts (${pct(share)}) ≥ per-batch budget ${pct(budget.perBatch)}`;
    }
  }
  if (budget?.maxFailures !== undefined && counted > 0 && counted >= budget.maxFailures) {
    reasons.maxFailures = `${counted} failures counted ≥ max failures ${budget.maxFailures}`;
  }
  if (ratioReached) reasons.maxUnavailable = ratioLine;
  const rules = BRAKE_RULES.filter((r) => reasons[r] !== undefined);
  return {
    brake: rules.length > 0,
    rate,
    rule: rules[0] ?? null,
    rules,
    reason: rules.length > 0 ? rules.map((r) => reasons[r]).join('; ') : ratioLine,
  };
}

export interface BudgetLeft {
  /** How many more failures brake: 0 once a rule is reached. */
  left: number;
  /** The rule those failures reach first (the global ratio on a tie). */
  rule: BrakeRule;
}

/**
 * How many more failures brake (F2, F7), counting only failures a `continue` has not accepted,
 * and which rule they reach first. 20 targets at 25% brake at 5 counted failures: with 3 so far,
 * 2 more brake; after a continue accepted 5, the next 5 brake again. With max failures 3 and 2
 * counted: 1 more (max failures). With a per-batch budget of 50% and the batch running (or next)
 * of 4 hosts, 1 of them failed: 1 more failure in it brakes (per-batch budget).
 */
export function budgetLeft(input: BrakeInput): BudgetLeft {
  const { failed, accepted, total, maxUnavailable, budget, batch } = input;
  if (total === 0) return { left: 0, rule: 'maxUnavailable' };
  const counted = Math.max(0, failed - accepted);
  const threshold = failuresToReach(maxUnavailable, total);
  let best: BudgetLeft = { left: Math.max(0, threshold - counted), rule: 'maxUnavailable' };
  const consider = (left: number, rule: BrakeRule) => {
    if (left < best.left) best = { left: Math.max(0, left), rule };
  };
  if (budget?.maxFailures !== undefined) consider(budget.maxFailures - counted, 'maxFailures');
  if (budget?.perBatch !== undefined && batch && batch.size > 0) {
    const at = failuresToReach(budget.perBatch, batch.size);
    consider(at - countedInBatch(failed, accepted, batch.failed), 'perBatch');
  }
  return best;
}

/** How many more failures trip the brake (F2, F7): `budgetLeft(input).left`. */
export function failuresBeforeBrake(input: BrakeInput): number {
  return budgetLeft(input).left;
}

/** The failures among `size` that reach `share` (at least 1): 25% of 20 → 5; 50% of 3 → 2. */
export function failuresToReach(share: number, size: number): number {
  return Math.max(1, Math.ceil(share * size - EPS));
}

/**
 * The rules in words, as `plan` shows them: "brakes at 3 failures, or when a batch loses 50% of
 * its hosts, or at 25% of the group (5 of 20 targets)".
 */
export function brakeRulesInWords(
  maxUnavailable: number,
  total: number,
  budget: FailureBudget = {},
): string {
  const parts: string[] = [];
  if (budget.maxFailures !== undefined) {
    parts.push(`at ${budget.maxFailures} failure${budget.maxFailures === 1 ? '' : 's'}`);
  }
  if (budget.perBatch !== undefined) {
    parts.push(`when a batch loses ${pct(budget.perBatch)} of its hosts`);
  }
  const atRatio = failuresToReach(maxUnavailable, total);
  parts.push(`at ${pct(maxUnavailable)} of the group (${atRatio} of ${total} targets)`);
  return `brakes ${parts.join(', or ')}`;
}
