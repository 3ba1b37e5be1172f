import { escapeControl } from './text';

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

/** Another release holds the group or a host. The holder's text is escaped: it is printed. */
export class LockHeldError extends RollgateError {
  override readonly exitCode: number = EXIT.busy;
  readonly holder: string;
  readonly since: string;
  constructor(
    readonly what: string,
    holder: string,
    since: string,
    /** The deployment a host lock names, when it names one. */
    readonly deploymentId?: string,
  ) {
    super(`${what} is locked by ${escapeControl(holder)} since ${escapeControl(since)}`);
    this.holder = escapeControl(holder);
    this.since = escapeControl(since);
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

/**
 * A compliance rule could not run on the image (B4): a registry it reads is unreachable, a setting
 * it uses is wrong. Names the rule, the setting that turns it off or feeds it, and the fix.
 */
export class ComplianceRuleError extends RollgateError {
  constructor(
    readonly rule: string,
    readonly field: string,
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`compliance rule ${rule} could not run: ${reason} — ${fix} (${field})`);
  }
}

/** G5: a gated step (bake, continue) found no person's approval of its job, and no opt-out. */
export class UnapprovedGateError extends RollgateError {
  constructor(
    readonly environment: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The record (`state.json`, `events.ndjson`, the run lock) could not be written: a full disk, a
 * read-only file system, a permission. The operation fails: a record on disk that is behind what
 * happened is never reported as success. `unsaved` is what rollgate knew when it gave up (one
 * line per target), printed with the message so the person sees what runs where.
 */
export class RecordWriteError extends RollgateError {
  unsaved: string[] = [];

  constructor(
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    const fix = /no space|quota/.test(reason)
      ? 'free space'
      : /read-only/.test(reason)
        ? 'make the file system writable'
        : /permission|not permitted/.test(reason)
          ? 'give this user write access to it'
          : 'fix the cause';
    super(
      `could not write the record ${path}: ${reason} — ${fix}, then run rollgate status -g ${GROUP_FILE}`,
      options,
    );
  }
}

/**
 * Stands for the group file in messages of code that does not know it (the store); the command
 * line and the actions put in the path the person gave.
 */
export const GROUP_FILE = '<group file>';

/** The record on disk is damaged and cannot be rebuilt from the release log: names the file and the way out. */
export class RecordDamagedError extends RollgateError {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** Plain words for the errno of a failed write (`ENOSPC` → `no space left on device`). */
export function describeWriteError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const words: Record<string, string> = {
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'read-only file system',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOTDIR: 'a part of the path is not a directory',
    ENOENT: 'the directory does not exist',
    EISDIR: 'a directory is in the way',
    EIO: 'input/output error',
    EMFILE: 'too many open files',
  };
  if (code && words[code]) return words[code];
  return err instanceof Error ? err.message : String(err);
}
