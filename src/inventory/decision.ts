import { formatAge } from './age';
import type { CachePolicy } from './source';

/** What the cache holds for a source: when its answer was fetched (ms since the epoch). */
export interface CacheState {
  fetchedAt: number;
}

export type InventoryDecision =
  /** The cached answer is fresh: the source is not asked. */
  | { action: 'use-cache'; because: 'fresh'; ageMs: number }
  /** No cache, or a stale one: ask the source. */
  | { action: 'fetch'; because: 'no-cache' | 'stale' }
  /** F5: the source is down; the release goes on with the cached answer (recorded). */
  | { action: 'use-cache'; because: 'source-down'; ageMs: number; reason: string }
  /** The source is down and no cached answer can stand for it: nothing starts. */
  | { action: 'fail'; reason: string };

/**
 * The cache decision, pure: before asking the source (`sourceError` undefined) and after it
 * failed (`sourceError` says how).
 */
export function decideInventory(input: {
  cached: CacheState | null;
  now: number;
  policy: CachePolicy;
  sourceError?: string;
}): InventoryDecision {
  const { cached, now, policy, sourceError } = input;
  const ageMs = cached ? Math.max(0, now - cached.fetchedAt) : 0;
  if (sourceError === undefined) {
    if (!cached) return { action: 'fetch', because: 'no-cache' };
    if (ageMs < policy.freshMs) return { action: 'use-cache', because: 'fresh', ageMs };
    return { action: 'fetch', because: 'stale' };
  }
  if (!cached) return { action: 'fail', reason: `${sourceError}; no cached copy to go on with` };
  if (policy.maxAgeMs !== null && ageMs > policy.maxAgeMs) {
    return {
      action: 'fail',
      reason:
        `${sourceError}; the cached copy is ${formatAge(ageMs)} old, older than ` +
        `inventory.cache.maxAge (${formatAge(policy.maxAgeMs)})`,
    };
  }
  return { action: 'use-cache', because: 'source-down', ageMs, reason: sourceError };
}
