import {
  circuitBreaker,
  ConsecutiveBreaker,
  handleAll,
  isBrokenCircuitError,
  timeout,
  TimeoutStrategy,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { formatMs } from '../model/text';
import { formatAge } from './age';
import type { InventoryCache } from './cache';
import { decideInventory } from './decision';
import { askSource, SourceFailedError } from './fetch';
import { describeSource, sourceKey, type CachePolicy, type InventorySource } from './source';

/** Where the inventory a group was loaded with came from (shown by status and plan, recorded). */
export interface InventoryOrigin {
  kind: 'command' | 'url';
  /** The command line or URL (never a header). */
  source: string;
  /** When the source gave the answer used (ISO 8601). */
  fetchedAt: string;
  from: 'source' | 'cache';
  /** The answer's age when the group was loaded. */
  ageMs: number;
  /** F5: the source was down and the cached answer stands in; why the source failed. */
  down?: string;
  /** The answer could not be cached (it was used all the same). */
  cacheError?: string;
}

/** Throws when an answer is no inventory (not JSON, not Ansible's --list format). */
export type AnswerCheck = (answer: string) => void;

/** The source is down and no cached answer can stand for it. */
export class InventoryUnavailableError extends Error {}

export interface InventorySourcesOptions {
  now: () => number;
  /** Consecutive failures of one source that open its circuit (default 3). */
  failures?: number;
  /** Open circuit: time before the source is tried again (default 30 s). */
  halfOpenAfterMs?: number;
}

/**
 * Inventory sources of one process: each behind its own circuit breaker and timeout, concurrent
 * refreshes of one source merged into one call (single flight), answers cached (F5, F8).
 */
export class InventorySources {
  private readonly flights = new Map<string, Promise<string>>();
  private readonly breakers = new Map<string, CircuitBreakerPolicy>();
  private readonly lastFailure = new Map<string, string>();

  constructor(private readonly o: InventorySourcesOptions) {}

  /** The answer to use for `source`, and where it came from; throws InventoryUnavailableError. */
  async load(
    source: InventorySource,
    policy: CachePolicy,
    cache: InventoryCache,
    check: AnswerCheck,
  ): Promise<{ text: string; origin: InventoryOrigin }> {
    const key = sourceKey(source);
    const shown = describeSource(source);
    let cacheError: string | undefined;
    const cached = await cache.get(key).catch((err: unknown) => {
      cacheError = `could not read the cache in ${cache.location}: ${messageOf(err)}`;
      return null;
    });
    const state = cached ? { fetchedAt: Date.parse(cached.fetchedAt) } : null;
    const fromCache = (ageMs: number, down?: string) => ({
      text: cached!.answer,
      origin: {
        kind: source.kind,
        source: shown,
        fetchedAt: cached!.fetchedAt,
        from: 'cache' as const,
        ageMs,
        ...(down !== undefined ? { down } : {}),
        ...(cacheError !== undefined ? { cacheError } : {}),
      },
    });
    const before = decideInventory({ cached: state, now: this.o.now(), policy });
    if (before.action === 'use-cache') return fromCache(before.ageMs);

    let text: string;
    try {
      text = await this.refresh(key, source, check);
    } catch (err) {
      const after = decideInventory({
        cached: state,
        now: this.o.now(),
        policy,
        sourceError: messageOf(err),
      });
      if (after.action === 'use-cache') {
        return fromCache(
          after.ageMs,
          after.because === 'source-down' ? after.reason : messageOf(err),
        );
      }
      throw new InventoryUnavailableError(after.action === 'fail' ? after.reason : messageOf(err));
    }
    const fetchedAt = new Date(this.o.now()).toISOString();
    try {
      await cache.put({ key, kind: source.kind, source: shown, fetchedAt, answer: text });
    } catch (err) {
      cacheError = `could not keep a copy in ${cache.location}: ${messageOf(err)}`;
    }
    return {
      text,
      origin: {
        kind: source.kind,
        source: shown,
        fetchedAt,
        from: 'source',
        ageMs: 0,
        ...(cacheError !== undefined ? { cacheError } : {}),
      },
    };
  }

  /** One call per source at a time: a refresh already in flight is joined, not repeated. */
  private refresh(key: string, source: InventorySource, check: AnswerCheck): Promise<string> {
    const running = this.flights.get(key);
    if (running) return running;
    const flight = this.call(key, source, check).finally(() => this.flights.delete(key));
    this.flights.set(key, flight);
    return flight;
  }

  private async call(key: string, source: InventorySource, check: AnswerCheck): Promise<string> {
    const breaker = this.breakerOf(key);
    const limit = timeout(source.timeoutMs, TimeoutStrategy.Cooperative);
    try {
      return await breaker.execute(() =>
        limit.execute(async ({ signal }) => {
          let text: string;
          try {
            text = await askSource(source, signal);
          } catch (err) {
            this.lastFailure.set(key, messageOf(err));
            throw err;
          }
          try {
            // A bad answer is the source failing too: counted by the breaker, never cached.
            check(text);
            return text;
          } catch (err) {
            const reason = `answered, but not an inventory: ${messageOf(err)}`;
            this.lastFailure.set(key, reason);
            throw new SourceFailedError(reason);
          }
        }),
      );
    } catch (err) {
      if (isBrokenCircuitError(err)) {
        throw new SourceFailedError(
          `not asked: its circuit is open after ${this.o.failures ?? 3} failures in a row ` +
            `(last: ${this.lastFailure.get(key) ?? 'unknown'}); tried again ` +
            `${formatMs(this.o.halfOpenAfterMs ?? 30_000)} after it opened`,
        );
      }
      throw err;
    }
  }

  private breakerOf(key: string): CircuitBreakerPolicy {
    let breaker = this.breakers.get(key);
    if (!breaker) {
      breaker = circuitBreaker(handleAll, {
        halfOpenAfter: this.o.halfOpenAfterMs ?? 30_000,
        breaker: new ConsecutiveBreaker(this.o.failures ?? 3),
      });
      this.breakers.set(key, breaker);
    }
    return breaker;
  }
}

/** "inventory from cache, 2h old: <why>" — the line status and plan show. */
export function inventoryLine(origin: InventoryOrigin): string {
  const age = formatAge(origin.ageMs);
  const line =
    origin.from === 'source'
      ? `inventory from ${origin.source}, fetched ${origin.fetchedAt.slice(0, 19).replace('T', ' ')} UTC`
      : origin.down !== undefined
        ? `inventory from cache, ${age} old: ${origin.source} is down (${origin.down})`
        : `inventory from cache, ${age} old (fresh: younger than inventory.cache.fresh; source ${origin.source})`;
  return origin.cacheError ? `${line}; ${origin.cacheError}` : line;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The sources of this process (the CLI, an action step, `rollgate serve`). */
export const processInventorySources = new InventorySources({ now: () => Date.now() });
