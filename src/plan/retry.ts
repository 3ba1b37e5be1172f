import type { BatchSizing, Target } from '../model/types';
import { planSubset, type PlannedBatch } from './batches';

/** A batch of a retry pass: indexes go on after the release's batches. */
export interface RetryBatch extends PlannedBatch {
  pass: number;
}

export interface RetryPass {
  /** 1 for the first retry, then 2, … */
  pass: number;
  batches: RetryBatch[];
  /** Each retried target's batch index in the pass. */
  moveTo: Map<string, number>;
}

/**
 * F3: a retry is a pass of its own over the failed targets. The batches they failed in keep
 * their outcome; the pass is cut with the release's own sizing, no bastion, in group order, and
 * its batches are numbered after the release's. Worked example: a release of batches 0–3 (pass
 * 0) whose web-02 and web-07 failed, 50% sizing → pass 1 with batch 4 [web-02] and batch 5
 * [web-07]; a second retry of web-07 → pass 2, batch 6 [web-07].
 */
export function planRetryPass(
  earlier: readonly { pass?: number }[],
  targets: readonly Target[],
  failed: ReadonlySet<string>,
  sizing: BatchSizing,
): RetryPass {
  const pass = 1 + Math.max(0, ...earlier.map((b) => b.pass ?? 0));
  const first = earlier.length;
  const batches = planSubset(targets, failed, sizing).map((b) => ({
    index: first + b.index,
    bastion: false,
    targets: b.targets,
    pass,
  }));
  const moveTo = new Map(batches.flatMap((b) => b.targets.map((id) => [id, b.index] as const)));
  return { pass, batches, moveTo };
}
