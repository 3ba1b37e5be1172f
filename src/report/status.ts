import type { Phase, TargetState } from '../model/states';
import type { Slot, Step } from '../model/types';
import {
  batchCounts,
  type Deployment,
  type HistoryEntry,
  type Operation,
  type ReleaseEvent,
} from '../engine/ledger';
import type { HostLock, TrafficStatus } from '../engine/ports';
import { nextActions } from '../engine/phases';
import { BRAKE_RULE_NAMES, budgetLeft, countedInBatch, type BrakeRule } from '../plan/brake';
import { brakeInput, judgeBefore } from '../engine/budget';
import type { WayBackCommand } from '../engine/way-back';
import { table } from './table';
import { escapeControl as x, formatMs } from '../model/text';

/** One target as the host, the LB and the record see it (U5: instances). */
export interface TargetStatus {
  id: string;
  address: string;
  /** Host truth: what `current` points at, or null; `error` when the host did not answer. */
  running: string | null;
  /** S7, side-by-side: the slot serving and the other slot's version and whether it runs. */
  slots?: { serving: Slot; other?: { slot: Slot; version: string; running: boolean } };
  healthy: boolean | null;
  traffic: TrafficStatus;
  state: TargetState | null;
  /** Batch number as every page shows it: 1 is the bastion; within its pass for a retry. */
  batch: number | null;
  /** The retry pass the target's current attempt runs in (1, 2, …); absent: the first pass. */
  pass?: number;
  /** The current attempt's step durations (ms). */
  steps: Partial<Record<Step, number>>;
  error?: string;
  /** Earlier attempts, oldest first: where they ran, their step durations and error. */
  previous?: {
    batch: number;
    pass?: number;
    steps: Partial<Record<Step, number>>;
    error?: string;
  }[];
  pulledOut: boolean;
  hostError?: string;
  /** F5: the record does not know its LB state (a step skipped while the LB was down). */
  lbUnknown?: string;
  /** The host lock, when one is there. */
  lock?: HostLock;
  /**
   * Out of traffic, failed, or its LB state unknown: why, and the ONE command that restores it
   * (null: not rollgate's to do, the reason says who).
   */
  wayBack?: { why: string; action: WayBackCommand; command: string | null };
}

/**
 * F2, F7: the brake's budget while the release can still roll out (`status --json`: release.brake).
 */
export interface BrakeStatus {
  /** Failures counted so far (those a continue accepted are not). */
  counted: number;
  accepted: number;
  /** How many more failures brake (0: braked). */
  left: number;
  maxUnavailable: number;
  /** With a failure budget: the rule the next `left` failures reach first. */
  rule?: BrakeRule;
  /** The failure budget (F7), when the group sets one. */
  perBatch?: number;
  maxFailures?: number;
  /** With a per-batch budget: the batch running or next, as shown, and its counted failures. */
  batch?: { number: number; pass?: number; size: number; failed: number };
  /** In phase BRAKED: the rule that braked, every rule reached, and why. */
  braked?: { rule: BrakeRule; rules: BrakeRule[]; reason: string };
}

export interface GroupStatus {
  group: string;
  /** "inventory from cache, 2h old: …": a command's or URL's inventory, and whence (F5, F8). */
  inventory?: string;
  release: {
    id: string;
    kind: string;
    version: string;
    fromVersion: string | null;
    phase: Phase;
    outcome?: string;
    by: string;
    /** Who pressed what, in order: deploy, bake, continue, retry, stop, rollback, reconcile, takeover. */
    ops?: Operation[];
    /**
     * `index` 0-based (the record's), `number` as shown: batch 1 is the bastion; a retry's
     * batches are numbered within their `pass` (1, 2, …). `done`/`failed`: what the batch ended
     * with, kept when a retry took its failed targets into a pass of their own.
     */
    batches: {
      index: number;
      number: number;
      pass?: number;
      bastion: boolean;
      size: number;
      done: number;
      failed: number;
      /** When the batch's chains started and ended (epoch ms), once they did. */
      startedAt?: number;
      endedAt?: number;
    }[];
    /** The next batch to run: its 0-based `index` in `batches` (the record's), as always. */
    nextBatch: number;
    /**
     * The same batch as shown (batch 1 is the bastion; in a retry, within `nextBatchPass`), as
     * every person-facing line names it ("brake before batch 4"). Absent when no batch is left.
     */
    nextBatchNumber?: number;
    nextBatchPass?: number;
    degraded: string[];
    /**
     * F2: the brake's budget while the release can still roll out: failures counted so far
     * (those a continue accepted are not), and how many more trip the brake.
     */
    brake: BrakeStatus | null;
    /** Targets whose LB state the record does not know (F5): reconcile settles them. */
    lbUnknown?: string[];
    next: string;
    /** Set when the phase says an operation runs but its process is gone. */
    process?: string;
    /** Why the last operation ended in a running phase (an outside system's outage). */
    interrupted?: string;
    /** Who stopped it, and whether at once (hard stop). */
    stop?: { by: string; hard: boolean };
    /** An image release: the image, pinned, and the scan gate's line. */
    image?: string;
    scan?: string;
    /** Hosts were reached without checking their keys (transport.insecureIgnoreHostKey). */
    insecureHostKey?: boolean;
  } | null;
  targets: TargetStatus[];
  history: HistoryEntry[];
  rollbackTo: string | null;
  /** The last lines of the release log; `batch` as shown (1 is the bastion), `pass` in a retry. */
  log: (ReleaseEvent & { pass?: number })[];
}

/** Where a batch sits as shown: its number within its pass (the first pass, or retry N). */
export function batchPlace(
  d: Pick<Deployment, 'batches'>,
  index: number,
): { number: number; pass?: number } {
  const b = d.batches[index];
  if (!b) return { number: index + 1 };
  const pass = b.pass ?? 0;
  let number = 0;
  for (const x of d.batches) {
    if ((x.pass ?? 0) === pass) number += 1;
    if (x === b) break;
  }
  return pass ? { number, pass } : { number };
}

function nextPlace(d: Deployment): { nextBatchNumber?: number; nextBatchPass?: number } {
  if (!d.batches[d.nextBatch]) return {};
  const { number, pass } = batchPlace(d, d.nextBatch);
  return pass ? { nextBatchNumber: number, nextBatchPass: pass } : { nextBatchNumber: number };
}

/**
 * `rollbackTo`: the version a rollback returns to (null: none, so the buttons offer none);
 * undefined when not known.
 */
export function summarizeRelease(
  d: Deployment,
  processGone = false,
  rollbackTo?: string | null,
): NonNullable<GroupStatus['release']> {
  return {
    id: d.id,
    kind: d.kind,
    version: d.version,
    fromVersion: d.fromVersion,
    phase: d.phase,
    ...(d.outcome ? { outcome: d.outcome } : {}),
    by: d.by,
    ops: d.ops ?? [],
    batches: d.batches.map((b) => ({
      index: b.index,
      ...batchPlace(d, b.index),
      bastion: b.bastion,
      size: b.targets.length,
      ...(b.result ?? batchCounts(d, b)),
      ...(b.startedAt !== undefined ? { startedAt: b.startedAt } : {}),
      ...(b.endedAt !== undefined ? { endedAt: b.endedAt } : {}),
    })),
    nextBatch: d.nextBatch,
    ...nextPlace(d),
    degraded: d.degraded,
    brake: brakeBudget(d),
    lbUnknown: Object.values(d.targets)
      .filter((t) => t.lbUnknown !== undefined)
      .map((t) => t.id),
    next: nextActions(d.phase, processGone, rollbackTo),
    ...(d.interrupted ? { interrupted: d.interrupted } : {}),
    ...(d.stop ? { stop: d.stop } : {}),
    ...(d.package.image ? { image: d.package.image } : {}),
    ...(d.package.scan ? { scan: gateLine(d.package.scan) } : {}),
    insecureHostKey: d.config?.insecureIgnoreHostKey === true,
  };
}

const ROLLING: ReadonlySet<Phase> = new Set<Phase>([
  'BAKE_SUCCESS',
  'ROLLING_OUT',
  'PAUSED',
  'BRAKED',
]);

function brakeBudget(d: Deployment): BrakeStatus | null {
  if (!ROLLING.has(d.phase)) return null;
  const input = brakeInput(d, d.nextBatch, false);
  const budget = input.budget ?? {};
  const { left, rule } = budgetLeft(input);
  const verdict = d.phase === 'BRAKED' ? judgeBefore(d, d.nextBatch) : null;
  const next = d.batches[d.nextBatch];
  return {
    counted: Math.max(0, input.failed - input.accepted),
    accepted: input.accepted,
    left: verdict?.brake ? 0 : left,
    maxUnavailable: input.maxUnavailable,
    ...(budget.perBatch !== undefined || budget.maxFailures !== undefined
      ? { rule: verdict?.brake ? verdict.rule! : rule }
      : {}),
    ...(budget.perBatch !== undefined ? { perBatch: budget.perBatch } : {}),
    ...(budget.maxFailures !== undefined ? { maxFailures: budget.maxFailures } : {}),
    ...(budget.perBatch !== undefined && input.batch && next
      ? {
          batch: {
            ...batchPlace(d, next.index),
            size: input.batch.size,
            failed: countedInBatch(input.failed, input.accepted, input.batch.failed),
          },
        }
      : {}),
    ...(verdict?.brake
      ? { braked: { rule: verdict.rule!, rules: verdict.rules, reason: verdict.reason } }
      : {}),
  };
}

/**
 * "2 more failures brake (3 counted, max unavailable 25%)"; with a failure budget the rule the
 * next failures reach: "1 more failure brakes (max failures 3) (2 counted, …)"; once braked,
 * which rule braked and why.
 */
export function brakeLine(b: BrakeStatus): string {
  const accepted = b.accepted ? `; ${b.accepted} accepted by a continue, not counted` : '';
  const tail = `(${b.counted} counted, max unavailable ${Math.round(b.maxUnavailable * 100)}%${accepted})`;
  if (b.braked) {
    const by = b.braked.rules.map((r) => BRAKE_RULE_NAMES[r]).join(', ');
    return `brake: braked by ${by} — ${b.braked.reason} ${tail}`;
  }
  const more =
    b.left === 0 ? 'braked' : `${b.left} more failure${b.left === 1 ? ' brakes' : 's brake'}`;
  return `brake: ${more}${b.left > 0 && b.rule && b.rule !== 'maxUnavailable' ? ` (${ruleNote(b)})` : ''} ${tail}`;
}

function ruleNote(b: BrakeStatus): string {
  if (b.rule === 'maxFailures') return `max failures ${b.maxFailures}`;
  if (b.rule === 'perBatch' && b.batch) {
    const name = `${b.batch.pass ? `retry ${b.batch.pass}, ` : ''}batch ${b.batch.number}`;
    return `per-batch budget ${Math.round((b.perBatch ?? 0) * 100)}%: ${name} has lost ${b.batch.failed} of ${b.batch.size}`;
  }
  return `per-batch budget ${Math.round((b.perBatch ?? 0) * 100)}%`;
}

function gateLine(scan: NonNullable<Deployment['package']['scan']>): string {
  const o = scan.override;
  return o ? `${scan.summary}; overridden by ${o.by}: ${o.reason}` : scan.summary;
}

export function stepDurations(d: Deployment | null, id: string): Partial<Record<Step, number>> {
  return durations(d?.targets[id]?.steps ?? {});
}

/** The durations of the steps that ended. */
export function durations(
  steps: Partial<Record<Step, { startedAt: number; endedAt?: number }>>,
): Partial<Record<Step, number>> {
  const out: Partial<Record<Step, number>> = {};
  for (const [step, t] of Object.entries(steps)) {
    if (t?.endedAt !== undefined) out[step as Step] = t.endedAt - t.startedAt;
  }
  return out;
}

/** The earlier attempts of a target, as the pages show them. */
export function previousAttempts(
  d: Deployment | null,
  id: string,
): NonNullable<TargetStatus['previous']> | undefined {
  const rec = d?.targets[id];
  if (!d || !rec?.previous?.length) return undefined;
  return rec.previous.map((p) => {
    const place = batchPlace(d, p.batch);
    return {
      batch: place.number,
      ...(place.pass ? { pass: place.pass } : {}),
      steps: durations(p.steps),
      ...(p.error !== undefined ? { error: p.error } : {}),
    };
  });
}

/** "retry 1: 2" for a target whose attempt runs in a retry pass, else the batch number. */
export function batchCell(t: Pick<TargetStatus, 'batch' | 'pass'>): string {
  if (t.batch === null) return '-';
  return t.pass ? `retry ${t.pass}: ${t.batch}` : String(t.batch);
}

/** The traffic column: `none` is a group without a load balancer. */
export function trafficCell(t: TrafficStatus): string {
  return t === 'none' ? 'no LB' : t;
}

/** "deploy by alice 12:03 · bake by bob 12:10 · …" (UTC, as the log); the last `max` only. */
export function opsLine(ops: readonly Operation[], max = 12): string {
  const shown = ops.slice(-max).map((o) => `${o.op} by ${x(o.by)} ${hhmm(o.at)}`);
  const earlier = ops.length - Math.min(ops.length, max);
  return `${earlier ? `${earlier} earlier · ` : ''}${shown.join(' · ')}`;
}

const hhmm = (at: number) => new Date(at).toISOString().slice(11, 16);

/** The history line's who: who started it, then who pressed what after (the last few). */
export function historyWho(h: HistoryEntry, max = 6): string {
  const rest = (h.ops ?? []).slice(1);
  const shown = rest.slice(-max).map((o) => `${o.op} ${x(o.by)}`);
  const more = rest.length > max ? `… ${rest.length - max} more · ` : '';
  return `by ${x(h.by)}${shown.length ? ` · ${more}${shown.join(' · ')}` : ''}`;
}

/** "1 (bastion) 1/1 · 2 2/2 · 3 0/2 2✗ — retry 1: 1 1/1 · 2 0/1 1✗". */
export function batchesLine(batches: NonNullable<GroupStatus['release']>['batches']): string {
  const passes = new Map<number, string[]>();
  for (const b of batches) {
    const cell = `${b.number}${b.bastion ? ' (bastion)' : ''} ${b.done}/${b.size}${b.failed ? ` ${b.failed}✗` : ''}`;
    const list = passes.get(b.pass ?? 0) ?? [];
    list.push(cell);
    passes.set(b.pass ?? 0, list);
  }
  return [...passes]
    .map(([pass, cells]) => `${pass ? `retry ${pass}: ` : ''}${cells.join(' · ')}`)
    .join(' — ');
}

/** Nothing installed yet is not "DOWN": there is nothing to be healthy. */
export function health(t: TargetStatus): string {
  if (t.healthy === null) return '?';
  if (t.healthy) return 'ok';
  return t.running === null && !t.hostError ? '-' : 'DOWN';
}

/** The one page, as text (U1, U5): cluster, release, instances, batches, log, history, buttons. */
export function renderStatus(s: GroupStatus): string {
  const out: string[] = [];
  const r = s.release;
  out.push(`group ${x(s.group)}`);
  if (s.inventory) out.push(x(s.inventory));
  if (r) {
    out.push(
      `release ${x(r.id)}: ${r.kind} ${x(r.fromVersion ?? '∅')} → ${x(r.version)} by ${x(r.by)} — ${r.phase}${r.outcome ? ` (${r.outcome})` : ''}`,
    );
    if (r.image) out.push(`image ${x(r.image)}${r.scan ? ` — ${x(r.scan)}` : ''}`);
    if (r.insecureHostKey) out.push(INSECURE_LINE);
    if (r.ops?.length) out.push(`operations: ${opsLine(r.ops)}`);
    if (r.process) out.push(`process: ${x(r.process)}`);
    if (r.interrupted) out.push(`interrupted: ${x(r.interrupted)}`);
    if (r.stop) out.push(`stopped by ${x(r.stop.by)}${r.stop.hard ? ' (hard stop)' : ''}`);
    if (r.degraded.length) out.push(`degraded: ${x(r.degraded.join('; '))}`);
    if (r.brake) out.push(brakeLine(r.brake));
    if (r.lbUnknown?.length) {
      out.push(
        `load balancer state unknown: ${x(r.lbUnknown.join(', '))} (reconcile settles them)`,
      );
    }
    out.push(`batches: ${batchesLine(r.batches)}`);
  } else {
    out.push('no release yet');
  }
  out.push('');
  out.push(
    table(
      ['target', 'address', 'running', 'health', 'traffic', 'state', 'batch', 'steps'],
      s.targets.map((t) => [
        x(t.id) + (t.pulledOut ? ' (pulled out)' : ''),
        x(t.address),
        t.hostError ? `? ${x(t.hostError)}` : x(t.running ?? '-') + slotsCell(t),
        health(t),
        trafficCell(t.traffic),
        t.state ?? '-',
        batchCell(t),
        Object.entries(t.steps)
          .map(([k, v]) => `${k} ${formatMs(v)}`)
          .join(', ') +
          (t.error ? `  ✗ ${x(t.error)}` : '') +
          (t.previous?.length
            ? `  (attempt ${t.previous.length + 1}; before: ${x(t.previous.at(-1)!.error ?? 'no error')})`
            : ''),
      ]),
    ),
  );
  const ways = s.targets.filter((t) => t.wayBack);
  if (ways.length) {
    out.push('', 'out of traffic or failed — why, and the one command that restores it:');
    for (const t of ways) {
      const w = t.wayBack!;
      out.push(`  ${x(t.id)}: ${x(w.why)}`);
      out.push(`    → ${w.command ? x(w.command) : 'not rollgate’s to do (see above)'}`);
    }
  }
  if (s.log.length) {
    out.push('', 'release log (last lines):');
    for (const e of s.log)
      out.push(
        `  ${x(e.at.slice(0, 19).replace('T', ' '))}  ${e.target ? `${x(e.target)} ` : ''}${e.state ?? e.phase ?? ''} ${x(e.message)}`,
      );
  }
  out.push('', 'history:');
  if (s.history.length === 0) out.push('  none');
  for (const h of s.history.slice(0, 10)) {
    out.push(
      `  ${new Date(h.endedAt).toISOString().slice(0, 19).replace('T', ' ')}  ${h.kind.padEnd(8)} ${x(h.version).padEnd(14)} ${h.outcome.padEnd(8)} ${historyWho(h)}`,
    );
  }
  out.push(
    `rollback would return to: ${x(s.rollbackTo ?? 'nothing (no earlier successful release)')}`,
  );
  out.push(`now possible: ${r ? r.next : 'deploy'}`);
  return out.join('\n');
}

export const INSECURE_LINE =
  'host keys NOT checked: this release reached its hosts with transport.insecureIgnoreHostKey set';

/** Side-by-side: ` (slot b; a: 1.0.0 warm)` after the running version. */
function slotsCell(t: TargetStatus): string {
  if (!t.slots) return '';
  const o = t.slots.other;
  const other = o ? `; ${o.slot}: ${x(o.version)} ${o.running ? 'warm' : 'stopped'}` : '';
  return ` (slot ${t.slots.serving}${other})`;
}
