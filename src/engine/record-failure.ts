import { describeWriteError, RecordWriteError } from '../model/errors';
import { escapeControl } from '../model/text';
import type { Ledger } from './ledger';

/**
 * The error an operation ends with when its record could not be written: the store's failure,
 * with what the operation knew when it ended (the release's phase and every target's state), so
 * the person sees what runs where although the record on disk is behind.
 */
export function recordNotWritten(
  err: unknown,
  live: Ledger | null,
  alsoFailed?: unknown,
): RecordWriteError {
  const out =
    err instanceof RecordWriteError
      ? err
      : new RecordWriteError('the record', describeWriteError(err), { cause: err });
  const lines: string[] = [];
  const d = live?.current;
  if (d) {
    lines.push(
      `not saved — what rollgate knew when it stopped (the record on disk is behind):`,
      `  release ${d.id}: ${d.kind} ${d.fromVersion ?? '∅'} → ${d.version}, phase ${d.phase}`,
    );
    const width = Math.max(...Object.keys(d.targets).map((id) => id.length), 6);
    for (const t of Object.values(d.targets)) {
      lines.push(
        `  ${t.id.padEnd(width)}  batch ${t.batch + 1}  ${t.state}${t.error ? `  ✗ ${escapeControl(t.error)}` : ''}`,
      );
    }
  }
  if (alsoFailed !== undefined && alsoFailed !== err) {
    lines.push(
      `the operation also failed: ${escapeControl(alsoFailed instanceof Error ? alsoFailed.message : String(alsoFailed))}`,
    );
  }
  out.unsaved = lines;
  return out;
}
