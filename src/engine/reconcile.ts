/**
 * `rollgate reconcile` and the heal at the start of every operation: host truth (current, health),
 * the LB and the record, compared per target (`judgeTarget`), and capacity restored without a
 * release — a target rollgate took out of traffic that is healthy on a version the record allows
 * goes back in; dead host locks of this group are released; drift is reported. Never a version
 * change: that is what retry, rollback and deploy are for.
 */
import type { Group, Target } from '../model/types';
import { message } from './chain';
import { settleSlots } from './slot-steps';
import type { Ledger, TargetRecord } from './ledger';
import type { HostLock, Ports, TrafficStatus } from './ports';
import type { Recorder } from './recorder';
import {
  driftOf,
  judgeTarget,
  type Judgement,
  type ReleaseFacts,
  type TargetTruth,
  type WayBackCommand,
} from './way-back';

export type ReconcileAction =
  | 'serving'
  | 'put back in traffic'
  | 'would put back in traffic'
  | 'LB note cleared'
  | 'left out'
  | 'could not put back';

export interface ReconcileTarget {
  id: string;
  address: string;
  /** Host truth; null when nothing is installed or the host did not answer (see `hostError`). */
  running: string | null;
  healthy: boolean | null;
  traffic: TrafficStatus;
  /** The record's state for this target after reconcile, or null without a release. */
  state: string | null;
  action: ReconcileAction;
  /** Why it is out, or what reconcile did. */
  why?: string;
  /** The one command that restores it, when reconcile could not. */
  command?: string;
  hostError?: string;
  drift?: string;
  lock?: { deploymentId?: string; who?: string; since?: string; action: string };
}

export interface ReconcileReport {
  group: string;
  release: { id: string; version: string; phase: string } | null;
  dryRun: boolean;
  targets: ReconcileTarget[];
  /** False when something reconcile tried failed (a markup, an unlock). */
  ok: boolean;
}

export interface ReconcileDeps {
  ports: Ports;
  group: Group;
  ledger: Ledger;
  /** The current release's recorder; null without a current release. */
  recorder: Recorder | null;
  facts: ReleaseFacts | null;
  dryRun: boolean;
  /** Only these targets (the heal at the start of an operation); every target when absent. */
  only?: ReadonlySet<string>;
  /** S7: settle a flip cut in the middle by host truth first (see settleSlots). */
  sideBySide?: boolean;
  /** Release host locks of this group's deployments (reconcile holds the group's run lock). */
  releaseLocks: boolean;
  /** A description when `deploymentId` is one of this group's and runs nowhere; else null. */
  ownDeployment: (deploymentId: string) => string | null;
  command: (c: WayBackCommand) => string;
  who: string;
}

/** Host truth for one target: current, health, the LB's view, the host lock. */
export async function inspectTarget(
  ports: Pick<Ports, 'transport' | 'traffic'>,
  target: Target,
): Promise<TargetTruth & { lock: HostLock | null }> {
  const traffic = await ports.traffic.status(target).catch(() => 'unknown' as const);
  try {
    const [probe, health] = await Promise.all([
      ports.transport.probe(target),
      ports.transport.health(target),
    ]);
    return {
      current: probe.current,
      healthy: health.ok,
      ...(health.version !== undefined ? { healthVersion: health.version } : {}),
      healthDetail: health.detail,
      traffic,
      lock: probe.lock ?? null,
    };
  } catch (err) {
    return { current: undefined, healthy: null, hostError: message(err), traffic, lock: null };
  }
}

export async function reconcileTargets(deps: ReconcileDeps): Promise<ReconcileReport> {
  const { ports, group, ledger, recorder, facts, dryRun } = deps;
  const d = ledger.current;
  const targets = group.targets.filter((t) => !deps.only || deps.only.has(t.id));
  const rows = await Promise.all(
    targets.map(async (target): Promise<ReconcileTarget & { failed?: boolean }> => {
      const record = d?.targets[target.id] ?? null;
      const bastion = record !== null && d?.batches[record.batch]?.bastion === true;
      const settled =
        deps.sideBySide && !dryRun
          ? await settleSlots(ports, target).catch((err: unknown) => ({ left: message(err) }))
          : null;
      if (settled && 'did' in settled && recorder) {
        await recorder.emit('reconcile', `${target.id}: ${settled.did}`, { target: target.id });
      }
      const truth = await inspectTarget(ports, target);
      const facts1 = { id: target.id, pulledOut: target.pulledOut, bastion, record: record };
      const verdict = judgeTarget(facts, facts1, truth);
      const row: ReconcileTarget & { failed?: boolean } = {
        id: target.id,
        address: target.address,
        running: truth.current ?? null,
        healthy: truth.healthy,
        traffic: truth.traffic,
        state: record?.state ?? null,
        action: 'serving',
        ...(truth.hostError ? { hostError: truth.hostError } : {}),
      };
      await act(deps, target, record, verdict, row);
      if (settled && 'did' in settled) row.why = settled.did;
      else if (settled) {
        row.why = `a flip cut in the middle is not settled: ${settled.left}`;
        row.failed = true;
      }
      if (!deps.only) {
        const drift = driftOf(facts, facts1, truth);
        if (drift) {
          row.drift = drift;
          if (!dryRun && recorder) {
            await recorder.emit('drift', `${target.id}: ${drift}`, { target: target.id });
          }
        }
      }
      if (deps.releaseLocks && truth.lock) {
        row.lock = await lockRow(deps, target, truth.lock);
        if (row.lock.action.startsWith('could not')) row.failed = true;
      }
      row.state = record?.state ?? null;
      return row;
    }),
  );
  const failed = rows.some((r) => r.failed);
  return {
    group: group.name,
    release: d ? { id: d.id, version: d.version, phase: d.phase } : null,
    dryRun,
    targets: rows.map(({ failed: _failed, ...row }) => row),
    ok: !failed,
  };
}

async function act(
  deps: ReconcileDeps,
  target: Target,
  record: TargetRecord | null,
  verdict: Judgement,
  row: ReconcileTarget & { failed?: boolean },
): Promise<void> {
  const { ports, recorder, dryRun } = deps;
  switch (verdict.kind) {
    case 'serving':
      if (verdict.pending) {
        row.why = verdict.pending.why;
        row.command = deps.command(verdict.pending.command);
        return;
      }
      if (verdict.failed) {
        row.why = `serves, but the release recorded ${verdict.failed.why}`;
        row.command = deps.command(verdict.failed.command);
      }
      return;
    case 'out':
      row.action = 'left out';
      row.why = verdict.why;
      if (verdict.command !== 'none' && verdict.command !== 'reconcile') {
        row.command = deps.command(verdict.command);
      }
      return;
    case 'clear':
      row.action = 'LB note cleared';
      row.why = verdict.why;
      if (!dryRun && record && recorder) {
        delete record.lbUnknown;
        await recorder.emit(
          'reconcile',
          `${target.id}: the load balancer answers again and shows it in traffic (its state was unknown)`,
          { target: target.id, lbUnknown: null },
        );
      }
      return;
    case 'restore': {
      row.why = `${verdict.why}: back in traffic on ${verdict.version}`;
      if (dryRun) {
        row.action = 'would put back in traffic';
        return;
      }
      try {
        const r = await ports.traffic.markup(target);
        if (r) throw new Error(r.skipped);
      } catch (err) {
        row.action = 'could not put back';
        row.failed = true;
        row.why = `${verdict.why}; markup failed: ${message(err)}`;
        row.command = deps.command('reconcile');
        return;
      }
      row.action = 'put back in traffic';
      if (!record || !recorder) return;
      delete record.lbUnknown;
      const text = `reconcile by ${deps.who}: back in traffic on ${verdict.version} (${ports.traffic.name}): ${verdict.why}`;
      if (verdict.to === 'reset') await recorder.transition(record, { type: 'reset' }, text);
      else if (verdict.to)
        await recorder.transition(record, { type: 'restore', to: verdict.to }, text);
      else {
        await recorder.emit('reconcile', `${target.id}: ${text}`, {
          target: target.id,
          lbUnknown: null,
        });
      }
      return;
    }
  }
}

async function lockRow(
  deps: ReconcileDeps,
  target: Target,
  lock: HostLock,
): Promise<NonNullable<ReconcileTarget['lock']>> {
  const base = {
    ...(lock.deploymentId ? { deploymentId: lock.deploymentId } : {}),
    ...(lock.who ? { who: lock.who } : {}),
    ...(lock.since ? { since: lock.since } : {}),
  };
  if (!lock.deploymentId) {
    return {
      ...base,
      action: `left: an unreadable lock file; if no release runs, remove ${target.docBase}/.rollgate/lock`,
    };
  }
  const own = deps.ownDeployment(lock.deploymentId);
  if (!own) {
    return { ...base, action: 'left: held by a deployment of another group (it may be running)' };
  }
  if (deps.dryRun) return { ...base, action: `would release (${own})` };
  try {
    await deps.ports.transport.unlock(target, { deploymentId: lock.deploymentId, who: deps.who });
  } catch (err) {
    return { ...base, action: `could not release: ${message(err)}` };
  }
  await deps.recorder?.emit(
    'lock',
    `reconcile by ${deps.who}: released the lock on ${target.id} of ${own}, which runs nowhere`,
    { target: target.id },
  );
  return { ...base, action: `released (${own})` };
}
