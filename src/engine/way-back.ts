/**
 * Pure: for one target, host truth (version, health, the LB's view) next to the record — is it
 * serving, may `reconcile` put it back in traffic, or is it out and which ONE command brings it
 * back. `status` lists what this says; `reconcile` and the heal at the start of every operation
 * act on it. No I/O here: table-driven tests cover every case.
 */
import { isFailure, isRunning, type Phase, type TargetState } from '../model/states';
import type { DeploymentKind } from '../model/types';
import type { TargetRecord } from './ledger';
import type { TrafficStatus } from './ports';
import type { RestoreTo } from './target-machine';

/** The commands that restore a target; `none` when it is not rollgate's to do. */
export type WayBackCommand =
  'reconcile' | 'retry' | 'bake' | 'continue' | 'rollback' | 'deploy' | 'stop' | 'none';

export interface ReleaseFacts {
  phase: Phase;
  kind: DeploymentKind;
  version: string;
  fromVersion: string | null;
  /** A running phase whose process is gone (killed, or ended by an outside system's outage). */
  processGone: boolean;
  /** What `rollback` would return to, or null. */
  rollbackTo: string | null;
  /** S7: the release runs side-by-side (a host moves only when the LB switches it). */
  sideBySide?: boolean;
}

export interface TargetFacts {
  id: string;
  pulledOut: boolean;
  bastion: boolean;
  record: Pick<TargetRecord, 'state' | 'steps' | 'lbUnknown' | 'error'> | null;
}

export interface TargetTruth {
  /** `current` on the host; undefined when the host did not answer. */
  current: string | null | undefined;
  healthy: boolean | null;
  /** The version the app reports, when it reports one. */
  healthVersion?: string;
  healthDetail?: string;
  hostError?: string;
  traffic: TrafficStatus;
}

export type Judgement =
  /**
   * In traffic (or no LB) and healthy. `failed`: the record holds a failure all the same.
   * `pending`: side-by-side, its new slot is verified but not switched to yet (S7).
   */
  | {
      kind: 'serving';
      failed?: { why: string; command: WayBackCommand };
      pending?: { why: string; command: WayBackCommand };
    }
  /**
   * Out of traffic and healthy on a version the record allows: reconcile puts it back. `to` is
   * the record's new state (`reset`: a failure or an interrupted step back to PENDING; null:
   * the state stays).
   */
  | { kind: 'restore'; version: string; to: RestoreTo | 'reset' | null; why: string }
  /** The record notes the LB state unknown; the LB now says it serves: only the note goes. */
  | { kind: 'clear'; why: string }
  | { kind: 'out'; why: string; command: WayBackCommand };

/** States in which the install of the release's version ran on the host (or the target was skipped). */
export const INSTALL_RAN: ReadonlySet<TargetState> = new Set<TargetState>([
  'INSTALL_RUNNING',
  'INSTALL_SUCCESS',
  'INSTALL_FAILURE',
  'VERIFY_RUNNING',
  'VERIFY_SUCCESS',
  'VERIFY_FAILURE',
  'MARKUP_RUNNING',
  'MARKUP_SUCCESS',
  'MARKUP_FAILURE',
  'BAKE_RUNNING',
  'BAKE_SUCCESS',
  'BAKE_FAILURE',
  'SKIPPED',
]);

/** States that say "back in traffic" (or never left it): an LB that shows it out contradicts them. */
const IN_TRAFFIC: ReadonlySet<TargetState> = new Set<TargetState>([
  'MARKUP_SUCCESS',
  'BAKE_SUCCESS',
  'SKIPPED',
]);

function inTraffic(t: TrafficStatus): boolean {
  return t === 'up' || t === 'none';
}

function healthyOn(truth: TargetTruth, version: string | null): boolean {
  if (version === null || truth.current === undefined) return false;
  return (
    truth.healthy === true &&
    truth.current === version &&
    (truth.healthVersion === undefined || truth.healthVersion === version)
  );
}

/** The record says rollgate took this target out of traffic (and did not put it back). */
export function tookOut(r: TargetFacts['record']): boolean {
  if (!r) return false;
  if (r.lbUnknown !== undefined) return true;
  return r.steps.markdown !== undefined && !IN_TRAFFIC.has(r.state);
}

/** The command that repairs a target rollgate cannot simply put back, by the release's phase. */
export function repairCommand(d: ReleaseFacts | null): WayBackCommand {
  if (!d) return 'none';
  if (d.processGone) return d.phase === 'BAKING' ? 'bake' : 'continue';
  switch (d.phase) {
    case 'FAILURE':
    case 'SMOKE_FAILURE':
      return 'retry';
    case 'BRAKED':
    case 'PAUSED':
    case 'BAKE_SUCCESS':
      return 'continue';
    case 'SMOKING':
    case 'BAKING':
    case 'ROLLING_OUT':
      // An operation runs now: it decides; nothing to press yet.
      return 'none';
    default:
      return d.rollbackTo ? 'rollback' : 'deploy';
  }
}

function describeHealth(truth: TargetTruth): string {
  if (truth.healthy === null) return 'health unknown';
  if (!truth.healthy) return `not healthy (${truth.healthDetail ?? 'no answer'})`;
  const v = truth.healthVersion ?? truth.current;
  return `healthy on ${v ?? 'an unknown version'}`;
}

/** What happens to a record whose target goes back in traffic on the version it came from. */
function resetFor(state: TargetState, phase: Phase): RestoreTo | 'reset' | null {
  if (state === 'PENDING') return null;
  if (isRunning(state)) return 'reset';
  // A failure stays for retry to re-run, except in an aborted release: there nothing started it.
  if (isFailure(state)) return phase === 'ABORTED' ? 'reset' : null;
  return 'PENDING';
}

const ENDED: ReadonlySet<Phase> = new Set<Phase>(['SUCCESS', 'FAILURE', 'ABORTED']);

/**
 * S7: a side-by-side roll-out target whose new slot is verified (VERIFY_SUCCESS) while the
 * release goes on: the host still serves from its old slot until the switch, which the release's
 * next operation does without restarting anything (`continue`; reconcile never switches a
 * version). Null when this is not such a target, or an operation runs that will switch it.
 */
function pendingSwitch(
  d: ReleaseFacts | null,
  t: TargetFacts,
  truth: TargetTruth,
): Judgement | null {
  const r = t.record;
  if (!d?.sideBySide || !r || ENDED.has(d.phase)) return null;
  // The bastion's switch is its bake: one the LB did not take is pressed again.
  const bakeLost =
    t.bastion &&
    r.state === 'BAKE_FAILURE' &&
    r.lbUnknown !== undefined &&
    d.phase === 'SMOKE_SUCCESS';
  if (!bakeLost && (r.state !== 'VERIFY_SUCCESS' || t.bastion)) return null;
  const command: WayBackCommand = bakeLost ? 'bake' : repairCommand(d);
  if (command === 'none') return null;
  const lost =
    r.lbUnknown !== undefined || /load balancer/.test(r.error ?? '')
      ? ' (the load balancer was unavailable)'
      : '';
  const why = `new slot verified on ${d.version}, not in traffic${lost}; the switch puts it in without a restart`;
  if (inTraffic(truth.traffic) && truth.healthy === true) {
    return { kind: 'serving', pending: { why: `${why} — its old slot serves meanwhile`, command } };
  }
  if (truth.traffic === 'unknown') {
    return {
      kind: 'out',
      why: `${why}, once the load balancer answers (its traffic state is unknown now)`,
      command,
    };
  }
  return null;
}

/** Pure: see the module comment. */
export function judgeTarget(d: ReleaseFacts | null, t: TargetFacts, truth: TargetTruth): Judgement {
  const r = t.record;
  if (t.pulledOut) {
    return {
      kind: 'out',
      why: 'pulled out by the operator (M6): not released; take pulledOut off in the group file (or the inventory) to release it again',
      command: 'none',
    };
  }
  if (truth.current === undefined) {
    return {
      kind: 'out',
      why: `the host did not answer (${truth.hostError ?? 'unreachable'}); once it does, reconcile checks it again`,
      command: 'reconcile',
    };
  }
  const failedNote = (): { why: string; command: WayBackCommand } | undefined =>
    r && isFailure(r.state) && d
      ? { why: `${r.state}${r.error ? `: ${r.error}` : ''}`, command: repairCommand(d) }
      : undefined;

  const pending = pendingSwitch(d, t, truth);
  if (pending) return pending;
  if (inTraffic(truth.traffic) && truth.healthy === true) {
    if (r?.lbUnknown !== undefined && truth.traffic === 'up') {
      return { kind: 'clear', why: 'the load balancer answers again and shows it in traffic' };
    }
    const failed = failedNote();
    return failed ? { kind: 'serving', failed } : { kind: 'serving' };
  }
  if (truth.traffic === 'unknown') {
    return {
      kind: 'out',
      why:
        r?.lbUnknown !== undefined
          ? `load balancer state unknown: ${r.lbUnknown}; reconcile puts it back in traffic once the load balancer answers`
          : 'the load balancer did not answer: its traffic state is unknown; reconcile checks again once it answers',
      command: 'reconcile',
    };
  }
  const health = describeHealth(truth);
  const where = `${truth.traffic === 'none' || truth.traffic === 'up' ? 'in traffic' : `out of traffic (${truth.traffic})`}, runs ${truth.current ?? 'nothing'}, ${health}`;
  if (truth.traffic === 'maint' || truth.traffic === 'drain') {
    if (!d || !r || !tookOut(r)) {
      return {
        kind: 'out',
        why: `${where}; the record does not say rollgate took it out, so it is left to whoever did (put it back in the load balancer, or set pulledOut: true)`,
        command: 'none',
      };
    }
    const st = r.state;
    const fromVersion = (): Judgement | null => {
      if (!healthyOn(truth, d.fromVersion)) return null;
      if (IN_TRAFFIC.has(st)) {
        return {
          kind: 'out',
          why: `${where}, but the record says ${st} on ${d.version}: the host went back by other means`,
          command: repairCommand(d),
        };
      }
      return {
        kind: 'restore',
        version: d.fromVersion!,
        to: resetFor(st, d.phase),
        why: `${where}, the version it came from`,
      };
    };
    if (t.bastion && d.kind === 'deploy' && !st.startsWith('BAKE_') && st !== 'SKIPPED') {
      // S4: only a person's bake puts a new version into traffic first.
      if (d.phase === 'SMOKE_SUCCESS' && st === 'VERIFY_SUCCESS') {
        return {
          kind: 'out',
          why: `bastion verified on ${d.version}, waiting for its bake`,
          command: 'bake',
        };
      }
      if (healthyOn(truth, d.version) && d.version !== d.fromVersion) {
        const command: WayBackCommand = d.processGone
          ? 'continue'
          : d.phase === 'SMOKE_FAILURE'
            ? 'retry'
            : d.rollbackTo
              ? 'rollback'
              : 'deploy';
        return {
          kind: 'out',
          why: `bastion ${where}, never baked (release ${d.phase}): only a bake puts ${d.version} into traffic first`,
          command,
        };
      }
      const back = fromVersion();
      if (back) return back;
      return { kind: 'out', why: `bastion ${where}; ${r.error ?? st}`, command: repairCommand(d) };
    }
    if (healthyOn(truth, d.version) && INSTALL_RAN.has(st)) {
      const to: RestoreTo | null = IN_TRAFFIC.has(st)
        ? null
        : t.bastion && d.kind === 'deploy'
          ? 'BAKE_SUCCESS'
          : 'MARKUP_SUCCESS';
      return {
        kind: 'restore',
        version: d.version,
        to,
        why: `${where}; the record shows ${d.version} installed (${st})`,
      };
    }
    const back = fromVersion();
    if (back) return back;
    return { kind: 'out', why: `${where}; ${r.error ?? st}`, command: repairCommand(d) };
  }
  // In traffic but not healthy, or DOWN in the LB (its health check fails).
  const failed = failedNote();
  return {
    kind: 'out',
    why: `${where}${failed ? `; ${failed.why}` : ''}`,
    command: d ? repairCommand(d) : 'none',
  };
}

/**
 * Drift: the record says one version, the host runs another. Reported and logged by reconcile,
 * never "fixed" by it (host truth decides the next operation).
 */
export function driftOf(d: ReleaseFacts | null, t: TargetFacts, truth: TargetTruth): string | null {
  const r = t.record;
  if (!d || !r || truth.current === undefined || t.pulledOut) return null;
  const installed = INSTALL_RAN.has(r.state) && !isFailure(r.state) && !isRunning(r.state);
  if (installed && truth.current !== d.version) {
    return `the record says ${r.state} on ${d.version}, the host runs ${truth.current ?? 'nothing'}`;
  }
  if (!installed && !INSTALL_RAN.has(r.state) && truth.current !== null) {
    const expected = [d.fromVersion, d.version].filter((v): v is string => v !== null);
    if (expected.length > 0 && !expected.includes(truth.current)) {
      return `the record says ${r.state}, the host runs ${truth.current}, neither ${expected.join(' nor ')}`;
    }
  }
  return null;
}

/** `rollgate <command> -g <group file>`, or null for `none`. */
export function commandLine(
  c: WayBackCommand | 'status',
  groupFile = '<group file>',
  extra = '',
): string | null {
  return c === 'none' ? null : `rollgate ${c} -g ${groupFile}${extra}`;
}
