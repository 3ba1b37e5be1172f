import type { Outcome, Phase, TargetState } from '../model/states';
import type { BrakeRule } from '../plan/brake';
import type { DeploymentConfig, DeploymentKind, PackageRef, Step } from '../model/types';

export interface StepTiming {
  startedAt: number;
  endedAt?: number;
  detail?: string;
}

/** An earlier attempt of a target (before a retry, or a reset after a killed run or an outage). */
export interface PreviousAttempt {
  /** The batch it ran in then. */
  batch: number;
  steps: Partial<Record<Step, StepTiming>>;
  error?: string;
}

/** M5 in a release: one target's state and timings. */
export interface TargetRecord {
  id: string;
  batch: number;
  state: TargetState;
  steps: Partial<Record<Step, StepTiming>>;
  error?: string;
  attempts: number;
  /** The earlier attempts, oldest first: `steps` and `error` are the current attempt's. */
  previous?: PreviousAttempt[];
  /**
   * F5: its LB state is unknown — a markdown or markup was skipped (the LB was down and the
   * release degraded) or did not complete. Why, for `status`; cleared once the LB answers.
   */
  lbUnknown?: string;
}

/** M4: batch 0 is the bastion when the release has one. */
export interface BatchRecord {
  index: number;
  bastion: boolean;
  targets: string[];
  /** The retry pass this batch belongs to (1, 2, …); absent: the release's first pass. */
  pass?: number;
  /**
   * What the batch ended with, kept once a retry takes its failed targets into a pass of their
   * own (their state no longer tells it).
   */
  result?: BatchCounts;
  startedAt?: number;
  endedAt?: number;
}

export interface BatchCounts {
  done: number;
  failed: number;
}

/** What a person (or a job) did to a release: the operations of its audit trail. */
export const OPERATIONS = [
  'deploy',
  'bake',
  'continue',
  'retry',
  'stop',
  'rollback',
  'reconcile',
  /** A run lock taken over from a run that did not finish (killed): its release recovered. */
  'takeover',
] as const;
export type OperationName = (typeof OPERATIONS)[number];

export interface Operation {
  op: OperationName;
  by: string;
  at: number;
}

/** M3: one release. */
export interface Deployment {
  id: string;
  group: string;
  kind: DeploymentKind;
  version: string;
  /** What the group ran before this release (what a rollback returns to). */
  fromVersion: string | null;
  package: PackageRef;
  config: DeploymentConfig;
  phase: Phase;
  outcome?: Outcome;
  by: string;
  createdAt: number;
  updatedAt: number;
  endedAt?: number;
  batches: BatchRecord[];
  /** Index of the next batch to run. */
  nextBatch: number;
  targets: Record<string, TargetRecord>;
  /** Failures accepted by a `continue` after a brake. */
  brakeAccepted: number;
  /** Outside systems the release went on without (F5), with the reason. */
  degraded: string[];
  /**
   * Why the last operation ended while the phase still says it runs (an outside system's
   * outage): the process is gone; `continue` resumes, `stop` ends it.
   */
  interrupted?: string;
  /** Who stopped it and how, when it ended ABORTED. */
  stop?: { by: string; hard: boolean };
  /** Who pressed what, in order (absent in records written before it was kept). */
  ops?: Operation[];
}

export interface HistoryEntry {
  id: string;
  kind: DeploymentKind;
  version: string;
  outcome: Outcome;
  createdAt: number;
  endedAt: number;
  by: string;
  /** The release's operations when it ended (and any after: a reconcile, a stop). */
  ops?: Operation[];
}

/** The record kept by the store (`state.json`). Host truth beats it (rule 4). */
export interface Ledger {
  schemaVersion: 1;
  group: string;
  current: Deployment | null;
  history: HistoryEntry[];
  /** Versions rolled back from: refused by deploy unless forced. */
  quarantined: Record<string, { reason: string; at: number }>;
  /** Set while an operation runs; still set on load means that run was killed. */
  openRun?: string;
}

export const EVENT_TYPES = [
  'release', // a release or rollback started
  'phase', // the deployment's phase changed
  'batch', // a batch started or ended
  'stage', // the package was copied ahead to the next batch
  'target', // a target's state changed
  'brake',
  'wait',
  'stop',
  'outcome',
  'monitor', // a verdict of the watch after the release (O2, O4)
  'gate', // the scan gate's decision for an image package (B4)
  'warn',
  'reconcile', // host truth, the LB and the record compared; a target put back, a lock released
  'drift', // the record and host truth disagree (reported, never "fixed")
  'lock', // a host lock taken over or released
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A batch as planned: index, bastion or not, target ids (and the retry pass it belongs to). */
export interface BatchPlan {
  index: number;
  bastion: boolean;
  targets: string[];
  pass?: number;
}

/** What a `release` event carries besides its line: enough to rebuild the record from the log. */
export interface ReleaseDetails {
  kind: DeploymentKind;
  version: string;
  fromVersion: string | null;
  by: string;
  package: PackageRef;
  config: DeploymentConfig;
  batches: BatchPlan[];
}

export function releaseDetails(d: Deployment): ReleaseDetails {
  return {
    kind: d.kind,
    version: d.version,
    fromVersion: d.fromVersion,
    by: d.by,
    package: d.package,
    config: d.config,
    batches: d.batches.map((b) => ({ index: b.index, bastion: b.bastion, targets: b.targets })),
  };
}

/** One line of `events.ndjson`: the release log (U5, O4). */
export interface ReleaseEvent {
  at: string;
  group: string;
  deployment: string;
  type: EventType;
  message: string;
  target?: string;
  batch?: number;
  state?: TargetState;
  phase?: Phase;
  /** An event of another type that a log with levels shows as a warning (a gate override). */
  level?: 'warn';
  /** On the `release` event of a deploy or rollback: what the release is. */
  release?: ReleaseDetails;
  /** On the phase event of a retry: the batches it added (the targets move to them). */
  retried?: BatchPlan[];
  /** On the `stop` event: who stopped the release, and whether at once (a hard stop). */
  stop?: { by: string; hard: boolean };
  /** Why the operation that ran the release ended while its phase says it runs (F5: the LB). */
  interrupted?: string;
  /**
   * The target's load-balancer state the record does not know (F5), on every target event while
   * it holds one; `null` on a reconcile event that settles it.
   */
  lbUnknown?: string | null;
  /** Who ran the operation that wrote this line. */
  by?: string;
  /** On the first line of an operation: what it was, and who asked for it (a stop: the stopper). */
  operation?: { op: OperationName; by: string };
  /**
   * On the `release` event of a deploy or rollback: eligible targets the load balancer reported
   * out of traffic, counted against max unavailable when the batches were cut (M6, F2).
   */
  outOfService?: string[];
  /** On the `brake` event of a brake (F2, F7): the rule that braked, and every rule reached. */
  brake?: { rule: BrakeRule; rules: BrakeRule[] };
}

const DONE: ReadonlySet<TargetState> = new Set([
  'MARKUP_SUCCESS',
  'BAKE_SUCCESS',
  'SKIPPED',
  'VERIFY_SUCCESS',
]);

/** A batch's targets done and failed, from their states now. */
export function batchCounts(d: Pick<Deployment, 'targets'>, b: BatchPlan): BatchCounts {
  const states = b.targets.map((id) => d.targets[id]!.state);
  return {
    done: states.filter((s) => DONE.has(s)).length,
    failed: states.filter((s) => s.endsWith('_FAILURE')).length,
  };
}

/**
 * "batch 4/6", or in a retry pass "retry 1, batch 2/2": as every line and page shows it.
 * `short`: without the count ("batch 4", "retry 1, batch 2").
 */
export function batchLabel(d: Pick<Deployment, 'batches'>, index: number, short = false): string {
  const b = d.batches[index]!;
  const pass = b.pass ?? 0;
  const same = d.batches.filter((x) => (x.pass ?? 0) === pass);
  const of = short ? '' : `/${same.length}`;
  return `${pass ? `retry ${pass}, ` : ''}batch ${same.indexOf(b) + 1}${of}`;
}

/** The record of an operation on the release, in its trail and in its history entry. */
export function recordOperation(ledger: Ledger, d: Deployment, op: Operation): void {
  (d.ops ??= []).push(op);
  const h = ledger.history.find((x) => x.id === d.id);
  if (h) h.ops = d.ops.map((o) => ({ ...o }));
}

export function emptyLedger(group: string): Ledger {
  return { schemaVersion: 1, group, current: null, history: [], quarantined: {} };
}

/**
 * Deployment ids are `<group>-<yyyymmddThhmmss>-<4 hex>`, in UTC: `web` at
 * 2026-03-01T12:34:56.789Z with suffix `a1b2` → `web-20260301T123456-a1b2`.
 */
export function deploymentId(group: string, now: number, suffix: string): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `${group}-${stamp}-${suffix}`;
}

/** Whether `id` is a deployment id of `group` (not of `web-eu` when the group is `web`). */
export function isDeploymentOf(group: string, id: string): boolean {
  const prefix = `${group}-`;
  return id.startsWith(prefix) && /^\d{8}T\d{6}-[0-9a-f]{4}$/.test(id.slice(prefix.length));
}

export interface NewDeployment {
  id: string;
  group: string;
  kind: DeploymentKind;
  version: string;
  package: PackageRef;
  config: DeploymentConfig;
  batches: readonly BatchPlan[];
  by: string;
  now: number;
  /** What the group ran before; by default the newest successful release in the history. */
  fromVersion?: string | null;
}

/**
 * M3: a release as it starts, every target PENDING in its batch. A deploy starts SMOKING (the
 * bastion first), a rollback ROLLING_OUT. What the record did not know of a target's load
 * balancer state (F5) stays unknown: the previous release's `lbUnknown` carries over until an
 * operation reaches the LB. Worked example: batches [web-01] (bastion) and [web-02, web-03] →
 * targets web-01 in batch 0, web-02 and web-03 in batch 1, all PENDING, attempts 0.
 */
export function newDeployment(ledger: Readonly<Ledger>, n: NewDeployment): Deployment {
  const lastOk = ledger.history.find((h) => h.outcome === 'success');
  const targets: Record<string, TargetRecord> = {};
  for (const b of n.batches) {
    for (const id of b.targets) {
      targets[id] = { id, batch: b.index, state: 'PENDING', steps: {}, attempts: 0 };
      const unknown = ledger.current?.targets[id]?.lbUnknown;
      if (unknown !== undefined) targets[id].lbUnknown = unknown;
    }
  }
  return {
    id: n.id,
    group: n.group,
    kind: n.kind,
    version: n.version,
    fromVersion: n.fromVersion !== undefined ? n.fromVersion : (lastOk?.version ?? null),
    package: n.package,
    config: n.config,
    phase: n.kind === 'rollback' ? 'ROLLING_OUT' : 'SMOKING',
    by: n.by,
    createdAt: n.now,
    updatedAt: n.now,
    batches: n.batches.map((b) => ({
      index: b.index,
      bastion: b.bastion,
      targets: [...b.targets],
    })),
    nextBatch: 0,
    targets,
    brakeAccepted: 0,
    degraded: [],
    ops: [],
  };
}
