/**
 * The release's phases as a person meets them: which ones run, which ones ended, what may be
 * pressed in each, where a rollback returns to, why a release ended as it did and which
 * deployment runs nowhere. Pure: status, the CLI, the actions and the engine read them here.
 */
import { isFailure, type Phase } from '../model/states';
import { escapeControl } from '../model/text';
import { isDeploymentOf, type Deployment, type HistoryEntry, type Ledger } from './ledger';
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
    sideBySide: d.config.strategy === 'side-by-side',
  };
}

/**
 * A deployment of `group` other than `running`, described, when the record shows it runs
 * nowhere — it is ABORTED, ended, or older than the record's history. Meant for a caller that
 * holds the group's run lock, so no other deployment of this group runs anywhere. Null: not
 * one of this group's deployments (or the running one): its host lock is not taken over.
 */
export function staleDeployment(
  ledger: Ledger,
  group: string,
  id: string,
  running: string | null,
): string | null {
  if (id === running || !isDeploymentOf(group, id)) return null;
  const cur = ledger.current;
  if (cur?.id === id) {
    return `${cur.kind} ${id} of ${cur.version} (${cur.phase}${TERMINAL.has(cur.phase) ? '' : ', its process gone'})`;
  }
  const h = ledger.history.find((x) => x.id === id);
  if (h) return `${h.kind} ${id} of ${h.version} (${h.outcome.toUpperCase()})`;
  return `${id} (an earlier release of ${group}, no longer in the record)`;
}

/**
 * Why a release failed (issue 13 item 11): the failed targets with their step and what it said
 * — the first five, and how many more. `web-03 verify: not healthy within 5s: HTTP 500`.
 */
export function failedOutcome(
  d: Pick<Deployment, 'targets'>,
  phase: 'FAILURE' | 'SMOKE_FAILURE',
): string {
  const failed = Object.values(d.targets).filter((t) => isFailure(t.state));
  const shown = failed
    .slice(0, 5)
    .map(
      (t) =>
        `${t.id} ${t.state.slice(0, -'_FAILURE'.length).toLowerCase()}: ${escapeControl(t.error ?? 'failed')}`,
    );
  if (failed.length > 5) shown.push(`and ${failed.length - 5} more`);
  const what =
    phase === 'SMOKE_FAILURE'
      ? 'bastion failed'
      : `${failed.length} of ${Object.keys(d.targets).length} targets failed`;
  return `${what}: ${shown.join('; ')}`;
}
