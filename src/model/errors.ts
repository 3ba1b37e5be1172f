/**
 * Named errors. Bad input and a tripped brake fail the job; a failed status post only warns.
 * Each carries the exit code the CLI uses.
 */
export const EXIT = {
  success: 0,
  failure: 1,
  badInput: 2,
  waiting: 3, // braked, waiting for bake or continue
  aborted: 4,
  busy: 5, // another release holds the group or a host
} as const;

export class RollgateError extends Error {
  readonly exitCode: number = EXIT.failure;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad user input: names the field (`deployment.maxUnavailable`, `--version`). */
export class InputError extends RollgateError {
  override readonly exitCode: number = EXIT.badInput;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The operation does not fit the release's phase (bake before deploy, …). */
export class PhaseError extends RollgateError {
  override readonly exitCode: number = EXIT.badInput;
}

/** Another release holds the group or a host. */
export class LockHeldError extends RollgateError {
  override readonly exitCode: number = EXIT.busy;
  constructor(
    readonly what: string,
    readonly holder: string,
    readonly since: string,
    /** The deployment a host lock names, when it names one. */
    readonly deploymentId?: string,
  ) {
    super(`${what} is locked by ${holder} since ${since}`);
  }
}

/**
 * A hard stop (second Ctrl-C, a cancelled CI job's SIGTERM) cut a wait or a remote command short.
 * The reason of every AbortSignal the engine aborts.
 */
export class AbortedError extends RollgateError {
  override readonly exitCode: number = EXIT.aborted;
}

/** A host-side step failed; the message is what the host said. */
export class StepError extends RollgateError {}

/** The load balancer (or another outside system) is unreachable and not degraded. */
export class DependencyDownError extends RollgateError {}

/** The deploy gate refused an image whose scan did not pass (B4); an override with a reason lets it through. */
export class ScanGateError extends RollgateError {}

/** G5: a gated step (bake, continue) found no person's approval of its job, and no opt-out. */
export class UnapprovedGateError extends RollgateError {
  constructor(
    readonly environment: string,
    message: string,
  ) {
    super(message);
  }
}
