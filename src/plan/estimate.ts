import type { DeploymentConfig } from '../model/types';
import type { PlannedBatch } from './batches';

type Waits = Pick<DeploymentConfig, 'waitBetweenBatchesMs' | 'waitFromBatch3Ms'>;

/**
 * S5: the wait before the batch at `index` in the release (0-based, so batch 3 is index 2; the
 * bastion, when there is one, is batch 1). The first batch an operation rolls out starts when a
 * person (the bake, continue) or the command says so: no wait. From the release's 3rd batch on,
 * `waitFromBatch3` (tail acceleration) replaces `waitBetweenBatches` when set.
 *
 * Bastion + 5 batches, 60 s between, 0 s from batch 3: batch 2 → 0 (after the bake),
 * batch 3 → 0, batch 4 → 0 … — and with 10 s from batch 3: 0, 10 s, 10 s, …
 * No bastion (rollback): batch 1 → 0, batch 2 → 60 s, batch 3 on → the short wait.
 */
export function waitBefore(index: number, firstIndex: number, config: Waits): number {
  if (index <= firstIndex) return 0;
  if (index >= 2 && config.waitFromBatch3Ms !== undefined) return config.waitFromBatch3Ms;
  return config.waitBetweenBatchesMs;
}

/**
 * Expected duration: the waits, plus each batch at `perBatchMs` (from the last release's
 * average when there is one). Manual mode and the bake are waits for a person: not counted.
 */
export function estimateMs(
  batches: readonly PlannedBatch[],
  config: Waits,
  perBatchMs: number,
): number {
  const first = batches.find((b) => !b.bastion)?.index ?? 0;
  const waits = batches
    .filter((b) => !b.bastion)
    .reduce((sum, b) => sum + waitBefore(b.index, first, config), 0);
  return waits + batches.length * perBatchMs;
}
