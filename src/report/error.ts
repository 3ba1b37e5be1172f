import { EXIT, GROUP_FILE, RecordWriteError, RollgateError } from '../model/errors';
import { escapeControl } from '../model/text';

export interface ErrorReport {
  /** Lines for stderr, each a whole line. */
  lines: string[];
  exitCode: number;
}

/**
 * The one place an error becomes what a person reads: `rollgate: <what>: <why>` and the exit
 * code of its class. A named error (RollgateError) says what to do; anything else is an internal
 * error, whose stack only `--debug` (or ROLLGATE_DEBUG=1) shows.
 */
export function describeError(
  err: unknown,
  o: { debug: boolean; groupFile?: string | undefined },
): ErrorReport {
  const file = o.groupFile ?? GROUP_FILE;
  const lines: string[] = [];
  let exitCode: number;
  if (isCommanderError(err)) {
    // commander printed its own message (and the usage hint).
    return { lines, exitCode: err.exitCode === 0 ? EXIT.success : EXIT.badInput };
  }
  if (err instanceof RollgateError) {
    lines.push(`rollgate: ${err.message.replaceAll(GROUP_FILE, file)}`);
    if (err instanceof RecordWriteError) lines.push(...err.unsaved);
    exitCode = err.exitCode;
  } else {
    const message = err instanceof Error ? err.message : String(err);
    lines.push(
      `rollgate: internal error: ${escapeControl(message)} (run again with --debug for details)`,
    );
    exitCode = EXIT.failure;
  }
  if (o.debug) lines.push(...stackLines(err));
  return { lines, exitCode };
}

function stackLines(err: unknown): string[] {
  const out: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    const text = cur instanceof Error ? (cur.stack ?? `${cur.name}: ${cur.message}`) : String(cur);
    out.push(...(depth === 0 ? text : `caused by: ${text}`).split('\n'));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return out;
}

/** commander's own errors (usage, --help), without importing commander where it is not used. */
function isCommanderError(err: unknown): err is Error & { exitCode: number } {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && code.startsWith('commander.');
}
