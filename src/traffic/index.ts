import type { TrafficSpec } from '../config/specs';
import type { Clock } from '../model/clock';
import type { Logger } from '../model/logger';
import type { Traffic } from '../engine/ports';
import { withBreaker, type BreakerOptions } from './breaker';
import { CommandTraffic } from './command';
import { HaproxyTraffic } from './haproxy/haproxy-traffic';
import { NoneTraffic } from './none';

export interface TrafficDeps {
  clock: Clock;
  logger: Logger;
  /** F5: a step skipped because the LB is down and the group runs degraded. */
  onDegraded?: (reason: string) => void | Promise<void>;
  /** Environment for `command` scripts (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Breaker and retry tuning (tests). */
  breaker?: Pick<BreakerOptions, 'failures' | 'halfOpenAfterMs' | 'attempts' | 'retryDelayMs'>;
  /** What an outage error advises instead of `--degrade lb` (see BreakerOptions). */
  outageAdvice?: string;
  /** Per HAProxy runtime API command. */
  commandTimeoutMs?: number;
}

export function createTraffic(spec: TrafficSpec, deps: TrafficDeps): Traffic {
  if (spec.kind === 'none') return new NoneTraffic();
  const inner =
    spec.kind === 'haproxy'
      ? new HaproxyTraffic(spec, {
          clock: deps.clock,
          logger: deps.logger,
          commandTimeoutMs: deps.commandTimeoutMs,
        })
      : new CommandTraffic(spec, { logger: deps.logger, env: deps.env });
  return withBreaker(inner, {
    ...deps.breaker,
    logger: deps.logger,
    degraded: spec.degraded ?? false,
    onDegraded: deps.onDegraded,
    ...(deps.outageAdvice ? { outageAdvice: deps.outageAdvice } : {}),
  });
}

export { withBreaker, DEGRADE_HINT, isLbOutage, type BreakerOptions } from './breaker';
export { CommandTraffic } from './command';
export { NoneTraffic } from './none';
export { HaproxyTraffic } from './haproxy/haproxy-traffic';
export {
  RuntimeClient,
  RuntimeApiError,
  RuntimeUnreachableError,
  parseEndpoint,
} from './haproxy/runtime-client';
export { TrafficRejectedError, TrafficUnavailableError } from './errors';
