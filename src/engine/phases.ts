/**
 * The release's phases as a person meets them: which ones run, which ones ended, what may be
 * pressed in each, and where a rollback returns to. Pure: status, the CLI, the actions and the
 * engine all read them from here.
 */
import type { Phase } from '../model/states';
import type { HistoryEntry, Ledger } from './ledger';
import type { ReleaseFacts } from './way-back';

/** Phases in which an operation runs; on a record whose run lock is free, its process is gone. */
export const RUNNING_PHASES: ReadonlySet<Phase> = new Set<Phase>([
  'SMOKING',
  'BAKING',
  'ROLLING_OUT',
]);

/** Phases where a person decides what comes next (U2: at most two buttons). */
const NEXT_ACTIONS: Record<Phase, string> = {
  SMOKING: 'stop',
  SMOKE_SUCCESS: 'bake or stop',
  SMOKE_FAILURE: 'retry or stop',
  BAKING: 'stop',
  BAKE_SUCCESS: 'continue or stop',
  ROLLING_OUT: 'stop',
  PAUSED: 'continue or stop',
  BRAKED: 'continue or stop',
  SUCCESS: 'rollback at any time',
  FAILURE: 'retry or rollback',
  ABORTED: 'rollback or a new release',
};

export const TERMINAL: ReadonlySet<Phase> = new Set(['SUCCESS', 'FAILURE', 'ABORTED']);

/** A running phase whose process is gone: the way on (issue 13, item 2). */
const RESUME: Partial<Record<Phase, string>> = {
  SMOKING: 'continue or stop',
  BAKING: 'bake or stop',
  ROLLING_OUT: 'continue or stop',
};

/**
 * F4 / U4: the most recent successful release of another version than the current one — not
 * one a later rollback quarantined (a successful release after the quarantine counts again).
 */
export function rollbackTarget(ledger: Ledger): HistoryEntry | undefined {
  const from = ledger.current?.version ?? null;
  const ok = ledger.history.filter((h) => {
    const q = ledger.quarantined[h.version];
    return h.outcome === 'success' && h.version !== from && (!q || q.at < h.endedAt);
  });
  return ok.find((h) => h.kind === 'deploy') ?? ok[0];
}

/** The ended phases when there is no earlier version to roll back to (the first release). */
const NO_ROLLBACK: Partial<Record<Phase, string>> = {
  SUCCESS: 'a new release',
  FAILURE: 'retry',
  ABORTED: 'a new release',
};

/**
 * The buttons of a phase; a running phase whose process is gone offers the way on instead.
 * `rollbackTo`: the version a rollback returns to, when known — null says there is none, and
 * the buttons never offer a rollback that would be refused.
 */
export function nextActions(phase: Phase, processGone = false, rollbackTo?: string | null): string {
  if (processGone && RESUME[phase]) return RESUME[phase];
  if (rollbackTo === null && NO_ROLLBACK[phase]) {
    return `${NO_ROLLBACK[phase]} (no earlier version to roll back to)`;
  }
  if (phase === 'SUCCESS' && rollbackTo) return `rollback (to ${rollbackTo}) at any time`;
  return NEXT_ACTIONS[phase];
}

/** What `judgeTarget` needs of a release. */
export function releaseFacts(ledger: Ledger, processGone: boolean): ReleaseFacts | null {
  const d = ledger.current;
  if (!d) return null;
  return {
    phase: d.phase,
    kind: d.kind,
    version: d.version,
    fromVersion: d.fromVersion,
    processGone: processGone && RUNNING_PHASES.has(d.phase),
    rollbackTo: rollbackTarget(ledger)?.version ?? null,
  };
}
