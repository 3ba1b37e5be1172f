/**
 * The page's read model (issue 15): what `rollgate serve` shows of a group, built from the
 * record alone — the ledger and the release log. Pure: no host is asked, so the page stays
 * cheap to redraw on every change; `rollgate status` is the one that asks the hosts.
 */
import { isFailure, isRunning, type Phase, type TargetState } from '../model/states';
import type { DeploymentConfig, Step } from '../model/types';
import type { Deployment, Ledger, ReleaseEvent, TargetRecord } from '../engine/ledger';
import { nextActions, rollbackTarget, RUNNING_PHASES } from '../engine/phases';
import {
  commandLine,
  INSTALL_RAN,
  repairCommand,
  tookOut,
  type ReleaseFacts,
} from '../engine/way-back';
import { batchPlace, brakeLine, summarizeRelease } from '../report/status';
import { operationLinks, type OperationLink } from '../github/records';

/** The operations a page button may run (the CLI's commands of the same name). */
export const PAGE_OPERATIONS = ['bake', 'continue', 'retry', 'stop', 'rollback'] as const;
export type PageOperation = (typeof PAGE_OPERATIONS)[number];

/** The chain as the page draws it, in the order a target goes through it. */
const CHAIN: readonly Step[] = ['download', 'markdown', 'install', 'verify', 'markup', 'bake'];

export type StepStatus = 'done' | 'running' | 'failed';

export interface TargetView {
  id: string;
  address?: string;
  /** Batch number as shown (1 is the bastion), null when not in the release. */
  batch: number | null;
  pass?: number;
  bastion: boolean;
  state: TargetState | null;
  /** The version the record says it runs (the CLI's `status` asks the host). */
  version: string | null;
  chain: { step: Step; status: StepStatus; ms?: number }[];
  /** When its chain started and ended (null: still running), for the batches' timeline. */
  span?: { start: number; end: number | null };
  error?: string;
  /** Out of traffic per the record (or failed): why, and the one command that repairs it. */
  out?: { why: string; command: string | null };
  pulledOut: boolean;
}

export interface ReleaseView {
  id: string;
  kind: string;
  version: string;
  fromVersion: string | null;
  phase: Phase;
  outcome?: string;
  /** An operation runs now (a running phase whose process is alive, or not known dead). */
  running: boolean;
  processGone: boolean;
  by: string;
  startedAt: number;
  updatedAt: number;
  endedAt?: number;
  next: string;
  /** The buttons of the phase (U2: at most two). */
  buttons: PageOperation[];
  batches: {
    number: number;
    pass?: number;
    bastion: boolean;
    size: number;
    done: number;
    failed: number;
  }[];
  brake?: string;
  degraded: string[];
  stop?: { by: string; hard: boolean };
}

export interface GroupInput {
  /** The page's key for the group (its URL): the group's name, or for GitHub repo:environment. */
  name: string;
  /** The group's own name, when `name` is not it. */
  group?: string;
  /** The environment it runs in (a column of the home page), when known. */
  environment?: string | null;
  /** Read from a GitHub repository: where a person acts (links, never a POST). */
  github?: { repo: string; runUrl: string | null; operateUrl: string; source: string };
  ledger: Ledger | null;
  events: ReleaseEvent[];
  /** null: nobody holds the run lock; undefined: the store cannot tell. */
  holder?: { alive: boolean | null; who: string } | null;
  /** From the group file, when the page was given one. */
  file?: {
    path: string;
    targets: { id: string; address: string; pulledOut: boolean }[];
    config: DeploymentConfig;
    loadBalancer: string;
    degraded: boolean;
  };
}

export interface GroupView {
  name: string;
  group: string;
  environment: string | null;
  /** A GitHub group: its repository, where its record was read, and the buttons as links. */
  github?: { repo: string; source: string; links: OperationLink[] };
  groupFile?: string;
  release: ReleaseView | null;
  cluster: {
    hosts: number;
    loadBalancer: string;
    policy: string[];
    degraded: string[];
  };
  targets: TargetView[];
  /** The version most targets run, per the record. */
  version: string | null;
  history: {
    id: string;
    kind: string;
    version: string;
    outcome: string;
    at: number;
    endedAt: number;
    by: string;
    quarantined: boolean;
  }[];
  quarantined: { version: string; reason: string; at: number }[];
  rollbackTo: string | null;
  log: {
    at: string;
    type: string;
    target?: string;
    message: string;
    level: 'error' | 'warn' | 'info';
  }[];
  /** The newest event's time (ISO), for the page's event-to-screen measure. */
  lastEventAt: string | null;
  /** A read-only page rebuilt a damaged or missing state.json in memory: why (nothing written). */
  recordRepaired?: string;
}

/** The install finished on the host (whatever came after): the release's version is in place. */
const installed = (state: TargetState): boolean =>
  INSTALL_RAN.has(state) && state !== 'INSTALL_RUNNING' && state !== 'INSTALL_FAILURE';

/** What the record says a target runs: the release's version once installed, else the old one. */
export function recordedVersion(
  d: Deployment | null,
  id: string,
  before: string | null,
): string | null {
  if (!d) return before;
  const r = d.targets[id];
  if (!r) return before;
  return installed(r.state) ? d.version : d.fromVersion;
}

/** "continue or stop" → ['continue', 'stop']: only the words that are operations. */
export function buttonsOf(next: string): PageOperation[] {
  if (/\bnew release\b/.test(next) && !/\brollback\b/.test(next.replace(/no earlier.*$/, ''))) {
    return [];
  }
  const words = next.replace(/\(.*?\)/g, '').split(/[^a-z]+/);
  const ops = PAGE_OPERATIONS.filter((op) => words.includes(op));
  return ops.slice(0, 2);
}

function levelOf(e: ReleaseEvent): 'error' | 'warn' | 'info' {
  if (e.type === 'warn' || e.level === 'warn' || e.type === 'drift') return 'warn';
  if ((e.state && isFailure(e.state)) || e.type === 'brake') return 'error';
  if (e.type === 'outcome' && /fail|abort/i.test(e.message)) return 'error';
  return 'info';
}

function policy(c: DeploymentConfig): string[] {
  const s = c.sizing;
  const pct = (n: number) => `${Math.round(n * 100)}%`;
  const sizing = Object.entries(s)
    .map(
      ([k, v]) =>
        `${k} ${typeof v === 'number' && v <= 1 && k === 'maxUnavailable' ? pct(v) : String(v)}`,
    )
    .join(', ');
  return [
    `batches: ${sizing}`,
    `bastion: ${c.bastionCount}${c.bastionTargets?.length ? ` (${c.bastionTargets.join(', ')})` : ''}`,
    `wait between batches: ${c.waitBetweenBatchesMs / 1000}s${c.waitFromBatch3Ms !== undefined ? `, from batch 3: ${c.waitFromBatch3Ms / 1000}s` : ''}`,
    `manual: ${c.manual ? 'yes (pause after each batch)' : 'no'}`,
    `start timeout ${c.startTimeoutMs / 1000}s, verify every ${c.verifyIntervalMs}ms`,
  ];
}

function chainOf(d: Deployment, id: string): TargetView['chain'] {
  const r = d.targets[id];
  if (!r) return [];
  const out: TargetView['chain'] = [];
  for (const step of CHAIN) {
    const t = r.steps[step];
    if (!t) continue;
    const failed = r.state === `${step.toUpperCase()}_FAILURE`;
    const status: StepStatus = failed ? 'failed' : t.endedAt === undefined ? 'running' : 'done';
    out.push({ step, status, ...(t.endedAt !== undefined ? { ms: t.endedAt - t.startedAt } : {}) });
  }
  return out;
}

function spanOf(r: TargetRecord): { span?: TargetView['span'] } {
  const steps = Object.values(r.steps).filter((t) => t !== undefined);
  if (steps.length === 0) return {};
  const start = Math.min(...steps.map((t) => t.startedAt));
  const running = steps.some((t) => t.endedAt === undefined);
  const end = running ? null : Math.max(...steps.map((t) => t.endedAt ?? t.startedAt));
  return { span: { start, end } };
}

/** The group as the page shows it. Pure. */
export function groupView(g: GroupInput, logLines = 30): GroupView {
  const ledger = g.ledger;
  const d = ledger?.current ?? null;
  const processGone =
    d !== null &&
    RUNNING_PHASES.has(d.phase) &&
    g.holder !== undefined &&
    (g.holder === null || g.holder.alive === false);
  const rollbackTo = ledger ? (rollbackTarget(ledger)?.version ?? null) : null;
  const facts: ReleaseFacts | null = d
    ? {
        phase: d.phase,
        kind: d.kind,
        version: d.version,
        fromVersion: d.fromVersion,
        processGone,
        rollbackTo,
      }
    : null;
  const before = d?.fromVersion ?? null;
  const bastions = new Set(d?.batches.filter((b) => b.bastion).flatMap((b) => b.targets) ?? []);
  const ids =
    g.file?.targets.map((t) => t.id) ??
    (d ? d.batches.flatMap((b) => b.targets).filter((id, i, all) => all.indexOf(id) === i) : []);
  const fileTarget = new Map(g.file?.targets.map((t) => [t.id, t]) ?? []);
  const targets = ids.map((id): TargetView => {
    const r = d?.targets[id];
    const place = d && r ? batchPlace(d, r.batch) : null;
    const ft = fileTarget.get(id);
    const view: TargetView = {
      id,
      ...(ft ? { address: ft.address } : {}),
      batch: place ? place.number : null,
      ...(place?.pass ? { pass: place.pass } : {}),
      bastion: bastions.has(id),
      state: r?.state ?? null,
      version: recordedVersion(d, id, before),
      chain: d ? chainOf(d, id) : [],
      ...(r ? spanOf(r) : {}),
      ...(r?.error ? { error: r.error } : {}),
      pulledOut: ft?.pulledOut ?? false,
    };
    if (ft?.pulledOut) {
      view.out = { why: 'pulled out by the operator (M6): not released', command: null };
    } else if (r && (tookOut(r) || isFailure(r.state)) && !isRunning(r.state)) {
      const why = r.lbUnknown
        ? `load balancer state unknown: ${r.lbUnknown}`
        : `${r.state}${r.error ? `: ${r.error}` : ''}${tookOut(r) ? ' — out of traffic per the record' : ''}`;
      view.out = { why, command: commandLine(repairCommand(facts), g.file?.path) };
    }
    return view;
  });
  const counts = new Map<string, number>();
  for (const t of targets) if (t.version) counts.set(t.version, (counts.get(t.version) ?? 0) + 1);
  const version =
    [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ??
    ledger?.history.find((h) => h.outcome === 'success')?.version ??
    null;
  let release: ReleaseView | null = null;
  if (d) {
    const s = summarizeRelease(d, processGone, rollbackTo);
    const next = nextActions(d.phase, processGone, rollbackTo);
    release = {
      id: d.id,
      kind: d.kind,
      version: d.version,
      fromVersion: d.fromVersion,
      phase: d.phase,
      ...(d.outcome ? { outcome: d.outcome } : {}),
      running: RUNNING_PHASES.has(d.phase) && !processGone,
      processGone,
      by: d.by,
      startedAt: d.createdAt,
      updatedAt: d.updatedAt,
      ...(d.endedAt !== undefined ? { endedAt: d.endedAt } : {}),
      next,
      buttons: buttonsOf(next),
      batches: s.batches.map((b) => ({
        number: b.number,
        ...(b.pass ? { pass: b.pass } : {}),
        bastion: b.bastion,
        size: b.size,
        done: b.done,
        failed: b.failed,
      })),
      ...(s.brake ? { brake: brakeLine(s.brake) } : {}),
      degraded: d.degraded,
      ...(d.stop ? { stop: d.stop } : {}),
    };
  }
  const config = g.file?.config ?? d?.config;
  const quarantined = Object.entries(ledger?.quarantined ?? {}).map(([v, q]) => ({
    version: v,
    reason: q.reason,
    at: q.at,
  }));
  const log = g.events.slice(-logLines).map((e) => ({
    at: e.at,
    type: e.type,
    ...(e.target ? { target: e.target } : {}),
    message: e.message,
    level: levelOf(e),
  }));
  return {
    name: g.name,
    group: g.group ?? g.name,
    environment: g.environment ?? null,
    ...(g.github
      ? {
          github: {
            repo: g.github.repo,
            source: g.github.source,
            links: operationLinks(release?.buttons ?? [], g.github),
          },
        }
      : {}),
    ...(g.file ? { groupFile: g.file.path } : {}),
    release,
    cluster: {
      hosts: targets.length,
      loadBalancer: g.file?.loadBalancer ?? 'not known (no group file given)',
      policy: config ? policy(config) : [],
      degraded: [...(d?.degraded ?? []), ...(g.file?.degraded ? ['lb (group file)'] : [])],
    },
    targets,
    version,
    history: (ledger?.history ?? []).map((h) => ({
      id: h.id,
      kind: h.kind,
      version: h.version,
      outcome: h.outcome,
      at: h.createdAt,
      endedAt: h.endedAt,
      by: h.by,
      quarantined: ledger?.quarantined[h.version] !== undefined,
    })),
    quarantined,
    rollbackTo,
    log,
    lastEventAt: g.events.at(-1)?.at ?? null,
  };
}

/** One row of the home page. */
export interface HomeRow {
  /** The page's key (its URL). */
  name: string;
  /** The row it belongs to (the group) and its column (the environment; null: none known). */
  group: string;
  environment: string | null;
  version: string | null;
  hosts: number;
  release: Pick<
    ReleaseView,
    'version' | 'phase' | 'outcome' | 'running' | 'by' | 'updatedAt' | 'kind'
  > | null;
  /** Every target's recorded version, for the home page's small version map. */
  cells: { id: string; version: string | null; batch: number | null }[];
}

export function homeRow(v: GroupView): HomeRow {
  const r = v.release;
  return {
    name: v.name,
    group: v.group,
    environment: v.environment,
    version: v.version,
    hosts: v.targets.length,
    release: r
      ? {
          version: r.version,
          phase: r.phase,
          ...(r.outcome ? { outcome: r.outcome } : {}),
          running: r.running,
          by: r.by,
          updatedAt: r.updatedAt,
          kind: r.kind,
        }
      : null,
    cells: v.targets.map((t) => ({ id: t.id, version: t.version, batch: t.batch })),
  };
}
