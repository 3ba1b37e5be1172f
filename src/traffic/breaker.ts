import {
  ConsecutiveBreaker,
  ConstantBackoff,
  circuitBreaker,
  handleWhen,
  isBrokenCircuitError,
  retry,
  wrap,
} from 'cockatiel';
import type { Logger } from '../model/logger';
import type { Traffic, TrafficSkipped, TrafficStatus } from '../engine/ports';
import { abortReason } from '../model/abort';
import { DependencyDownError, RollgateError } from '../model/errors';
import type { Target } from '../model/types';
import { TrafficUnavailableError } from './errors';

export interface BreakerOptions {
  logger: Logger;
  /** F5: go on without the LB, skipping what fails (explicit, recorded). */
  degraded?: boolean;
  /** Called once per skipped markdown/markup and target; the engine records it (event log, status). */
  onDegraded?: (reason: string) => void | Promise<void>;
  /**
   * What an outage error advises instead of going on degraded (side-by-side cannot: it switches
   * hosts only through the LB). Default: how to go on with `--degrade lb`.
   */
  outageAdvice?: string;
  /** Consecutive failed calls that open the circuit (default 3). */
  failures?: number;
  /** Open circuit: time before one call may test the LB again (default 10 s). */
  halfOpenAfterMs?: number;
  /** Tries per call for a transient failure (default 2). */
  attempts?: number;
  retryDelayMs?: number;
}

/** How to go on without the LB; the engine adds the exact command for the release's phase. */
export const DEGRADE_HINT =
  'go on with `--degrade lb` (CLI; `traffic.degraded: true` in the group file, input `degrade-lb` in the actions)';

type Op = 'status' | 'markdown' | 'markup';

/**
 * An outage, as opposed to an LB that answered "no" or bad input: only outages are retried,
 * counted by the breaker and skipped when degraded.
 */
export function isLbOutage(err: unknown): boolean {
  if (isBrokenCircuitError(err)) return true;
  if (err instanceof TrafficUnavailableError) return true;
  return !(err instanceof RollgateError);
}

/** Every call through a circuit breaker with a small retry; F5 degradation when asked for. */
export function withBreaker(traffic: Traffic, options: BreakerOptions): Traffic {
  return new BreakerTraffic(traffic, options);
}

class BreakerTraffic implements Traffic {
  readonly name: string;
  private readonly policy;
  private readonly failures: number;
  private lastFailure = '';
  private readonly warned = new Set<string>();
  private readonly recorded = new Set<string>();

  constructor(
    private readonly inner: Traffic,
    private readonly options: BreakerOptions,
  ) {
    this.name = inner.name;
    this.failures = options.failures ?? 3;
    const halfOpenAfter = options.halfOpenAfterMs ?? 10_000;
    const breaker = circuitBreaker(handleWhen(isLbOutage), {
      halfOpenAfter,
      breaker: new ConsecutiveBreaker(this.failures),
    });
    const retries = retry(
      handleWhen((e) => isLbOutage(e) && !isBrokenCircuitError(e)),
      {
        maxAttempts: Math.max(0, (options.attempts ?? 2) - 1),
        backoff: new ConstantBackoff(options.retryDelayMs ?? 200),
      },
    );
    this.policy = wrap(retries, breaker);
    const { logger } = options;
    breaker.onBreak(() =>
      logger.warn(
        `traffic ${this.name}: circuit open after ${this.failures} consecutive failures ` +
          `(${this.lastFailure}); calls fail fast for ${halfOpenAfter / 1000} s`,
      ),
    );
    breaker.onHalfOpen(() => logger.info(`traffic ${this.name}: trying the load balancer again`));
    breaker.onReset(() => logger.info(`traffic ${this.name}: load balancer answers again`));
  }

  status(target: Target): Promise<TrafficStatus> {
    return this.call('status', target, () => this.inner.status(target), 'unknown' as const);
  }

  markdown(target: Target, signal?: AbortSignal): Promise<TrafficSkipped | void> {
    return this.change('markdown', target, () => this.inner.markdown(target, signal), signal);
  }

  markup(target: Target, signal?: AbortSignal): Promise<TrafficSkipped | void> {
    return this.change('markup', target, () => this.inner.markup(target, signal), signal);
  }

  /** A markdown or markup: skipped (degraded) says so in its result, never passes for done. */
  private async change(
    op: 'markdown' | 'markup',
    target: Target,
    fn: () => Promise<TrafficSkipped | void>,
    signal?: AbortSignal,
  ): Promise<TrafficSkipped | void> {
    let skipped: string | null = null;
    const result = await this.call(op, target, fn, undefined, signal, (reason) => {
      skipped = reason;
    });
    return skipped === null ? result : { skipped };
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async call<T>(
    op: Op,
    target: Target,
    fn: () => Promise<T>,
    skipped: T,
    signal?: AbortSignal,
    onSkip?: (reason: string) => void,
  ): Promise<T> {
    try {
      return await this.policy.execute(async () => {
        try {
          return await fn();
        } catch (err) {
          if (isLbOutage(err)) this.lastFailure = messageOf(err);
          throw err;
        }
      });
    } catch (err) {
      // A hard stop cut the call: not an outage, nothing to skip.
      if (signal?.aborted) throw abortReason(signal);
      if (!isLbOutage(err)) throw err;
      const detail = isBrokenCircuitError(err)
        ? `circuit open after ${this.failures} consecutive failures, last: ${this.lastFailure}`
        : messageOf(err);
      if (!this.options.degraded) {
        throw new DependencyDownError(
          `load balancer (${this.name}) is unavailable: ${op} of ${target.id} failed: ${detail}. ` +
            (this.options.outageAdvice ??
              `To release without it, ${DEGRADE_HINT}; skipped LB steps are then recorded.`),
          { cause: err },
        );
      }
      onSkip?.(await this.skip(op, target, detail));
      return skipped;
    }
  }

  private async skip(op: Op, target: Target, detail: string): Promise<string> {
    const reason = `load balancer (${this.name}) unavailable: ${op} of ${target.id} skipped (${detail})`;
    if (!this.warned.has(target.id)) {
      this.warned.add(target.id);
      this.options.logger.warn(`degraded: ${reason}`);
    }
    // A status the LB could not give is just 'unknown'; the record is about skipped steps.
    const key = `${op} ${target.id}`;
    if (op === 'status' || this.recorded.has(key) || !this.options.onDegraded) return reason;
    this.recorded.add(key);
    try {
      await this.options.onDegraded(reason);
    } catch (err) {
      this.options.logger.error(`could not record degradation: ${messageOf(err)}`);
    }
    return reason;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
