import type { DeploymentConfig, Slot, Target } from './types';

/** S7: the strategy a release runs with; records from before strategies were in-place. */
export function isSideBySide(config: Pick<DeploymentConfig, 'strategy'>): boolean {
  return config.strategy === 'side-by-side';
}

export function otherSlot(slot: Slot): Slot {
  return slot === 'a' ? 'b' : 'a';
}

/** The default keep-warm window of side-by-side: long enough to roll back after a look. */
export const DEFAULT_KEEP_WARM_MS = 5 * 60_000;

/** Slot `b`'s load-balancer server: `altLbName`, else `<lbName or id>-b`. */
export function altLbNameOf(target: Pick<Target, 'id' | 'lbName' | 'altLbName'>): string {
  return target.altLbName ?? `${target.lbName ?? target.id}-b`;
}

/**
 * One slot of a side-by-side target, as a target of its own: its port, its load-balancer server
 * and `slot` set, so health checks, the traffic drivers and the host scripts act on that slot.
 */
export function slotTarget(target: Target, slot: Slot): Target {
  const base = { ...target };
  delete base.slot;
  if (slot === 'a') return { ...base, slot };
  if (target.altPort === undefined) {
    throw new Error(`target ${target.id} has no altPort: it cannot run side-by-side`);
  }
  return { ...base, slot, port: target.altPort, lbName: altLbNameOf(target) };
}
