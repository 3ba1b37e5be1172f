import { describe, expect, it } from 'vitest';
import { decideInventory, type InventoryDecision } from '../../../src/inventory/decision';
import { formatAge } from '../../../src/inventory/age';

const NOW = Date.parse('2026-12-05T12:00:00Z');
const S = 1000;
const H = 3600 * S;
const at = (ageMs: number) => ({ fetchedAt: NOW - ageMs });

describe('the inventory cache decision', () => {
  it.each<[string, Parameters<typeof decideInventory>[0], InventoryDecision]>([
    [
      'no cache: ask the source',
      { cached: null, now: NOW, policy: { freshMs: 10 * S, maxAgeMs: null } },
      { action: 'fetch', because: 'no-cache' },
    ],
    [
      'fresh: younger than cache.fresh, the source is not asked',
      { cached: at(4 * S), now: NOW, policy: { freshMs: 10 * S, maxAgeMs: null } },
      { action: 'use-cache', because: 'fresh', ageMs: 4 * S },
    ],
    [
      'stale: exactly cache.fresh old, ask the source',
      { cached: at(10 * S), now: NOW, policy: { freshMs: 10 * S, maxAgeMs: null } },
      { action: 'fetch', because: 'stale' },
    ],
    [
      'cache.fresh 0s: always ask',
      { cached: at(0), now: NOW, policy: { freshMs: 0, maxAgeMs: null } },
      { action: 'fetch', because: 'stale' },
    ],
    [
      'source down, a cache of any age: use it, saying why',
      {
        cached: at(2 * H),
        now: NOW,
        policy: { freshMs: 10 * S, maxAgeMs: null },
        sourceError: 'HTTP 500',
      },
      { action: 'use-cache', because: 'source-down', ageMs: 2 * H, reason: 'HTTP 500' },
    ],
    [
      'source down, cache within maxAge: use it',
      {
        cached: at(2 * H),
        now: NOW,
        policy: { freshMs: 10 * S, maxAgeMs: 2 * H },
        sourceError: 'exited with 3',
      },
      { action: 'use-cache', because: 'source-down', ageMs: 2 * H, reason: 'exited with 3' },
    ],
    [
      'source down, cache older than maxAge: fail',
      {
        cached: at(3 * 24 * H),
        now: NOW,
        policy: { freshMs: 10 * S, maxAgeMs: 24 * H },
        sourceError: 'HTTP 503',
      },
      {
        action: 'fail',
        reason: 'HTTP 503; the cached copy is 3d old, older than inventory.cache.maxAge (24h)',
      },
    ],
    [
      'source down, no cache: fail',
      {
        cached: null,
        now: NOW,
        policy: { freshMs: 10 * S, maxAgeMs: null },
        sourceError: 'no answer within 2s (inventory.timeout)',
      },
      {
        action: 'fail',
        reason: 'no answer within 2s (inventory.timeout); no cached copy to go on with',
      },
    ],
    [
      'a cache from the future (clock skew) counts as 0 old',
      { cached: at(-5 * S), now: NOW, policy: { freshMs: 10 * S, maxAgeMs: null } },
      { action: 'use-cache', because: 'fresh', ageMs: 0 },
    ],
  ])('%s', (_name, input, expected) => {
    expect(decideInventory(input)).toEqual(expected);
  });

  it.each([
    [0, '0s'],
    [59_999, '59s'],
    [60_000, '1m'],
    [2 * H + 59 * 60 * S, '2h'],
    [47 * H, '47h'],
    [48 * H, '2d'],
  ])('formats an age of %i ms as %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });
});
