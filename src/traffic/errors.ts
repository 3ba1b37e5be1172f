import { RollgateError } from '../model/errors';

/**
 * The load balancer could not be reached, did not answer in time, or the user's LB command
 * failed. Retried, counted by the circuit breaker, skipped when degraded.
 */
export class TrafficUnavailableError extends RollgateError {}

/**
 * The load balancer answered and refused (no such server, bad state). It is up, so this is
 * neither retried nor skipped when degraded: the group file and the LB disagree.
 */
export class TrafficRejectedError extends RollgateError {}
