import { isFailure } from '../model/states';
import { type BrakeInput, type BrakeVerdict, judgeBrake } from '../plan/brake';
import { batchCounts, batchLabel, type Deployment } from './ledger';

/**
 * The brake's input for a release about to run batch `index` (F2, F7). Counted: every failed
 * target of the release (a retry resets those it takes, so a pass counts its own failures);
 * the denominator of the global ratio is every target of the release, skipped ones included.
 *
 * `batch` is the batch the per-batch budget looks at: with `ended`, the one that ran just before
 * `index` — unless it is the bastion (a failed bastion stops the release itself, S4) or belongs
 * to an earlier pass (its failures were taken into this retry); else batch `index` itself, the
 * one running or next (for `status`). Its denominator is its planned hosts: a skipped one serves
 * the version (F3), and a not-started one exists only after a stop, which ends the release
 * ABORTED before any brake is judged.
 */
export function brakeInput(d: Deployment, index: number, ended: boolean): BrakeInput {
  const here = ended ? d.batches[index - 1] : d.batches[index];
  const sameRun = !ended || (here?.pass ?? 0) === (d.batches[index]?.pass ?? 0);
  const judged = here && !here.bastion && sameRun ? here : null;
  return {
    failed: Object.values(d.targets).filter((t) => isFailure(t.state)).length,
    accepted: d.brakeAccepted,
    total: Object.keys(d.targets).length,
    maxUnavailable: d.config.sizing.maxUnavailable,
    ...(d.config.failureBudget ? { budget: d.config.failureBudget } : {}),
    batch: judged
      ? {
          label: batchLabel(d, judged.index, true),
          size: judged.targets.length,
          failed: batchCounts(d, judged).failed,
        }
      : null,
  };
}

/** The verdict before batch `index`: each rule reached, and why (see plan/brake.ts). */
export function judgeBefore(d: Deployment, index: number): BrakeVerdict {
  return judgeBrake(brakeInput(d, index, true));
}
