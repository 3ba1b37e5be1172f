import type { DeploymentConfig } from '../model/types';
import type { PlannedBatch } from './batches';

/** The wait before batch `index` (S5): none before the first, tail acceleration from batch 3 on. */
export function waitBefore(
  index: number,
  config: Pick<DeploymentConfig, 'waitBetweenBatchesMs' | 'waitFromBatch3Ms'>,
): number {
  if (index === 0) return 0;
  if (index >= 2 && config.waitFromBatch3Ms !== undefined) return config.waitFromBatch3Ms;
  return config.waitBetweenBatchesMs;
}

/**
 * Expected duration: the waits, plus each batch at `perBatchMs` (from the last release's
 * average when there is one). Manual mode and the bake are waits for a person: not counted.
 */
export function estimateMs(
  batches: readonly PlannedBatch[],
  config: Pick<DeploymentConfig, 'waitBetweenBatchesMs' | 'waitFromBatch3Ms'>,
  perBatchMs: number,
): number {
  const rollout = batches.filter((b) => !b.bastion);
  const waits = rollout.reduce((sum, _b, i) => sum + waitBefore(i, config), 0);
  return waits + batches.length * perBatchMs;
}
