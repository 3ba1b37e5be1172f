/**
 * Pure reading and repair of a group's record: the release log's lines (a crash or a full disk
 * leaves a partial last line), the shape of `state.json` (a damaged file is never trusted), and
 * the record rebuilt from the log alone when `state.json` is damaged or gone. Host truth
 * completes what the log cannot say (`rollgate reconcile`).
 */
import {
  batchCounts,
  EVENT_TYPES,
  OPERATIONS,
  recordOperation,
  type BatchPlan,
  type Deployment,
  type Ledger,
  type ReleaseEvent,
} from '../engine/ledger';
import { OUTCOMES, PHASES, TARGET_STATES, type Phase, type TargetState } from '../model/states';
import { STEPS, type Step } from '../model/types';

// ── the release log ──────────────────────────────────────────────────────────────────────────

export interface DamagedLine {
  /** 1-based line number in events.ndjson. */
  line: number;
  /** The last line, without its newline: what a crash or a full disk leaves. */
  partial: boolean;
  why: string;
}

export interface ParsedLog {
  events: ReleaseEvent[];
  damaged: DamagedLine[];
}

/** Parses events.ndjson; a line that is not a whole event is reported, never thrown. */
export function parseEventLog(text: string): ParsedLog {
  const events: ReleaseEvent[] = [];
  const damaged: DamagedLine[] = [];
  const lines = text.split('\n');
  const complete = text.endsWith('\n');
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    const partial = i === lines.length - 1 && !complete;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      damaged.push({ line: i + 1, partial, why: `not JSON (${(err as Error).message})` });
      return;
    }
    const why = eventProblem(value);
    if (why) damaged.push({ line: i + 1, partial, why });
    else events.push(value as ReleaseEvent);
  });
  return { events, damaged };
}

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const STATE_SET: ReadonlySet<string> = new Set(TARGET_STATES);
const PHASE_SET: ReadonlySet<string> = new Set(PHASES);

function eventProblem(v: unknown): string | null {
  if (!isObject(v)) return 'not an event object';
  for (const key of ['at', 'group', 'deployment', 'message'] as const) {
    if (typeof v[key] !== 'string') return `${key} is not a string`;
  }
  if (typeof v.type !== 'string' || !EVENT_TYPE_SET.has(v.type)) return 'unknown event type';
  if (v.state !== undefined && !STATE_SET.has(v.state as string)) return 'unknown target state';
  if (v.phase !== undefined && !PHASE_SET.has(v.phase as string)) return 'unknown phase';
  if (v.type === 'target' && (typeof v.target !== 'string' || v.state === undefined)) {
    return 'a target event without target or state';
  }
  if (v.type === 'phase' && v.phase === undefined) return 'a phase event without phase';
  if (v.batch !== undefined && !isIndex(v.batch)) return 'batch is not an index';
  if (v.operation !== undefined && !isOperation(v.operation)) return 'operation is not { op, by }';
  return null;
}

const OPERATION_SET: ReadonlySet<string> = new Set(OPERATIONS);

function isOperation(v: unknown): boolean {
  return isObject(v) && OPERATION_SET.has(v.op as string) && typeof v.by === 'string';
}

function opsProblem(v: unknown): string | null {
  if (v === undefined) return null;
  if (!Array.isArray(v) || v.some((o) => !isOperation(o) || !isTime((o as { at: unknown }).at))) {
    return 'ops is not a list of { op, by, at }';
  }
  return null;
}

// ── the shape of state.json ──────────────────────────────────────────────────────────────────

/** The first thing wrong with a parsed state.json, or null when it has the shape of a Ledger. */
export function ledgerProblem(v: unknown, group: string): string | null {
  if (!isObject(v)) return `it holds ${v === null ? 'null' : typeof v}, not a record`;
  if (v.schemaVersion !== 1) return `schemaVersion is ${JSON.stringify(v.schemaVersion)}`;
  if (v.group !== group) return `group is ${JSON.stringify(v.group)}, not "${group}"`;
  if (!Array.isArray(v.history)) return 'history is not a list';
  for (const [i, h] of v.history.entries()) {
    const why = historyProblem(h);
    if (why) return `history[${i}]: ${why}`;
  }
  if (!isObject(v.quarantined)) return 'quarantined is not an object';
  for (const [version, q] of Object.entries(v.quarantined)) {
    if (!isObject(q) || typeof q.reason !== 'string' || !isTime(q.at)) {
      return `quarantined.${version} is not { reason, at }`;
    }
  }
  if (v.openRun !== undefined && typeof v.openRun !== 'string') return 'openRun is not a string';
  if (v.current === null) return null;
  const why = deploymentProblem(v.current);
  return why ? `current: ${why}` : null;
}

function historyProblem(h: unknown): string | null {
  if (!isObject(h)) return 'not an object';
  for (const key of ['id', 'version', 'by'] as const) {
    if (typeof h[key] !== 'string') return `${key} is not a string`;
  }
  if (h.kind !== 'deploy' && h.kind !== 'rollback') return 'kind is not deploy or rollback';
  if (!(OUTCOMES as readonly unknown[]).includes(h.outcome)) return 'unknown outcome';
  if (!isTime(h.createdAt) || !isTime(h.endedAt)) return 'createdAt/endedAt are not times';
  return opsProblem(h.ops);
}

function deploymentProblem(d: unknown): string | null {
  if (!isObject(d)) return 'not an object';
  for (const key of ['id', 'group', 'version', 'by'] as const) {
    if (typeof d[key] !== 'string') return `${key} is not a string`;
  }
  if (d.kind !== 'deploy' && d.kind !== 'rollback') return 'kind is not deploy or rollback';
  if (d.fromVersion !== null && typeof d.fromVersion !== 'string') return 'fromVersion';
  if (!PHASE_SET.has(d.phase as string)) return `unknown phase ${JSON.stringify(d.phase)}`;
  if (d.outcome !== undefined && !(OUTCOMES as readonly unknown[]).includes(d.outcome)) {
    return 'unknown outcome';
  }
  if (!isTime(d.createdAt) || !isTime(d.updatedAt)) return 'createdAt/updatedAt are not times';
  if (!isObject(d.package) || typeof d.package.version !== 'string') return 'package';
  if (!isObject(d.config) || !isObject(d.config.sizing)) return 'config';
  if (!isIndex(d.nextBatch) || !isIndex(d.brakeAccepted)) return 'nextBatch/brakeAccepted';
  if (!Array.isArray(d.degraded) || d.degraded.some((s) => typeof s !== 'string')) {
    return 'degraded is not a list of strings';
  }
  const ops = opsProblem(d.ops);
  if (ops) return ops;
  if (!Array.isArray(d.batches)) return 'batches is not a list';
  if (!isObject(d.targets)) return 'targets is not an object';
  const targets = d.targets;
  for (const [i, b] of d.batches.entries()) {
    if (!isObject(b) || !isIndex(b.index) || typeof b.bastion !== 'boolean') {
      return `batches[${i}] is not { index, bastion, targets }`;
    }
    if (
      !Array.isArray(b.targets) ||
      b.targets.some((id) => typeof id !== 'string' || !(id in targets))
    ) {
      return `batches[${i}].targets names a target the release does not have`;
    }
  }
  for (const [id, t] of Object.entries(targets)) {
    if (!isObject(t) || t.id !== id) return `targets.${id} is not a target record`;
    if (!STATE_SET.has(t.state as string)) return `targets.${id}.state ${JSON.stringify(t.state)}`;
    if (!isIndex(t.batch) || !isIndex(t.attempts)) return `targets.${id}.batch/attempts`;
    if (!isObject(t.steps)) return `targets.${id}.steps`;
    if (t.error !== undefined && typeof t.error !== 'string') return `targets.${id}.error`;
  }
  return null;
}

// ── rebuild from the log ─────────────────────────────────────────────────────────────────────

export type Rebuild =
  /** The log holds no release of the group: there was nothing to lose. */
  | { kind: 'empty' }
  | { kind: 'rebuilt'; ledger: Ledger; notes: string[] }
  | { kind: 'impossible'; reason: string };

const TERMINAL: ReadonlySet<Phase> = new Set(['SUCCESS', 'FAILURE', 'ABORTED']);
const DONE_BATCH = /^(retry \d+, )?batch \d+\/\d+ done in /;

/**
 * Pure: the record as the release log tells it. Each release starts with a `release` event
 * carrying its facts (kind, version, by, package, config, batches); target, phase, batch, brake
 * and `degraded:` warn events replay on it as the engine recorded them. A release whose start
 * the log does not describe (a log of an older rollgate) cannot be rebuilt.
 */
export function rebuildLedger(group: string, events: readonly ReleaseEvent[]): Rebuild {
  const ledger: Ledger = { schemaVersion: 1, group, current: null, history: [], quarantined: {} };
  const releases = new Map<string, Deployment>();
  const undescribed = new Set<string>();
  const notes: string[] = [];
  /** A batch that ended counts as passed unless the release stopped right after it. */
  const passed = new Map<string, number>();
  let last: string | null = null;

  for (const e of events) {
    if (e.group !== group) continue;
    const at = Date.parse(e.at);
    if (e.type === 'release' && e.release) {
      const f = e.release;
      const d: Deployment = {
        id: e.deployment,
        group,
        kind: f.kind,
        version: f.version,
        fromVersion: f.fromVersion,
        package: f.package,
        config: f.config,
        phase: f.kind === 'rollback' ? 'ROLLING_OUT' : 'SMOKING',
        by: f.by,
        createdAt: at,
        updatedAt: at,
        batches: f.batches.map((b) => ({
          index: b.index,
          bastion: b.bastion,
          targets: [...b.targets],
        })),
        nextBatch: 0,
        targets: {},
        brakeAccepted: 0,
        degraded: [],
        ops: [],
      };
      const prev = ledger.current;
      for (const b of f.batches) {
        for (const id of b.targets) {
          d.targets[id] = { id, batch: b.index, state: 'PENDING', steps: {}, attempts: 0 };
          // As the engine does: an LB state the record does not know stays unknown.
          const unknown = prev?.targets[id]?.lbUnknown;
          if (unknown !== undefined) d.targets[id]!.lbUnknown = unknown;
        }
      }
      if (f.kind === 'rollback' && f.fromVersion && f.fromVersion !== f.version) {
        ledger.quarantined[f.fromVersion] = {
          reason: `rolled back to ${f.version} by ${f.by}`,
          at,
        };
      }
      releases.set(d.id, d);
      undescribed.delete(d.id);
      ledger.current = d;
      last = d.id;
      if (e.operation) recordOperation(ledger, d, { ...e.operation, at });
      continue;
    }
    const d = releases.get(e.deployment);
    if (!d) {
      if (e.type === 'release') {
        undescribed.add(e.deployment);
        last = e.deployment;
      }
      continue;
    }
    d.updatedAt = at;
    const next = passed.get(d.id);
    if (next !== undefined) {
      passed.delete(d.id);
      if (e.type !== 'stop') d.nextBatch = Math.max(d.nextBatch, next);
    }
    // As the recorder does: the trail entry first, the line's effect after.
    if (e.operation) recordOperation(ledger, d, { op: e.operation.op, by: e.operation.by, at });
    switch (e.type) {
      case 'target':
        replayTarget(d, e, at, notes);
        break;
      case 'phase':
        // An operation that goes on (continue, bake) clears why the last one was interrupted.
        delete d.interrupted;
        if (e.retried) applyRetry(d, e.retried);
        replayPhase(ledger, d, e.phase!, at);
        break;
      case 'stop':
        delete d.interrupted;
        if (e.stop) d.stop = { by: e.stop.by, hard: e.stop.hard };
        break;
      case 'release':
        // "resuming the bastion chain of an interrupted run"
        delete d.interrupted;
        break;
      case 'reconcile': {
        const t = e.target ? d.targets[e.target] : undefined;
        if (t && e.lbUnknown === null) delete t.lbUnknown;
        break;
      }
      case 'batch': {
        const b = e.batch === undefined ? undefined : d.batches[e.batch];
        if (!b) break;
        if (DONE_BATCH.test(e.message)) {
          b.endedAt = at;
          if (!b.bastion) passed.set(d.id, b.index + 1);
        } else {
          b.startedAt ??= at;
        }
        break;
      }
      case 'brake':
        if (e.message.startsWith('brake released')) {
          d.brakeAccepted = Object.values(d.targets).filter((t) =>
            t.state.endsWith('_FAILURE'),
          ).length;
        }
        break;
      case 'warn':
        if (e.interrupted !== undefined) d.interrupted = e.interrupted;
        if (e.message.startsWith('degraded: ')) {
          const reason = e.message.slice('degraded: '.length);
          if (!d.degraded.includes(reason)) d.degraded.push(reason);
        }
        break;
      default:
        break;
    }
  }
  for (const [id, next] of passed) {
    const d = releases.get(id)!;
    d.nextBatch = Math.max(d.nextBatch, next);
  }
  if (last !== null && undescribed.has(last)) {
    return {
      kind: 'impossible',
      reason: `the log does not describe release ${last} (its release event has no details: written by an older rollgate)`,
    };
  }
  if (!ledger.current) {
    return undescribed.size > 0
      ? {
          kind: 'impossible',
          reason: 'the log was written by an older rollgate, without release details',
        }
      : { kind: 'empty' };
  }
  if (undescribed.size > 0) {
    notes.push(
      `releases left out of the history (no details in the log): ${[...undescribed].join(', ')}`,
    );
  }
  ledger.history.length = Math.min(ledger.history.length, 50);
  return { kind: 'rebuilt', ledger, notes };
}

function replayTarget(d: Deployment, e: ReleaseEvent, at: number, notes: string[]): void {
  const t = d.targets[e.target!];
  if (!t) {
    notes.push(`${d.id}: an event of ${e.target} that the release does not have was skipped`);
    return;
  }
  const to = e.state!;
  const from = t.state;
  const step = stepOf(to);
  if (to.endsWith('_RUNNING') && step) {
    t.steps[step] = { startedAt: at };
    // As the recorder does: a step that starts again drops what its earlier try said.
    delete t.error;
  } else if (
    (to.endsWith('_SUCCESS') || to.endsWith('_FAILURE')) &&
    step &&
    from === `${step.toUpperCase()}_RUNNING`
  ) {
    const timing = t.steps[step];
    if (timing) {
      timing.endedAt = at;
      timing.detail = e.message;
    }
    if (to.endsWith('_FAILURE')) t.error = e.message;
  } else if (to === 'PENDING' && from !== 'PENDING') {
    (t.previous ??= []).push({
      batch: t.batch,
      steps: t.steps,
      ...(t.error !== undefined ? { error: t.error } : {}),
    });
    t.steps = {};
    delete t.error;
    t.attempts += 1;
  }
  if (e.batch !== undefined && d.batches[e.batch]) t.batch = e.batch;
  t.state = to;
  // Every target event carries the LB note it holds at that moment: none means settled.
  if (typeof e.lbUnknown === 'string') t.lbUnknown = e.lbUnknown;
  else delete t.lbUnknown;
}

function replayPhase(ledger: Ledger, d: Deployment, phase: Phase, at: number): void {
  d.phase = phase;
  if (phase === 'SMOKE_SUCCESS') d.nextBatch = Math.max(d.nextBatch, 1);
  if (!TERMINAL.has(phase)) {
    delete d.outcome;
    delete d.endedAt;
    return;
  }
  d.outcome = phase === 'SUCCESS' ? 'success' : phase === 'FAILURE' ? 'failure' : 'aborted';
  d.endedAt = at;
  ledger.history = ledger.history.filter((h) => h.id !== d.id);
  ledger.history.unshift({
    id: d.id,
    kind: d.kind,
    version: d.version,
    outcome: d.outcome,
    createdAt: d.createdAt,
    endedAt: at,
    by: d.by,
    ...(d.ops ? { ops: d.ops.map((o) => ({ ...o })) } : {}),
  });
}

/**
 * A retry's pass: the batches so far keep what they ended with (the retry's resets come after
 * this line and move each target into its batch of the pass).
 */
function applyRetry(d: Deployment, added: readonly BatchPlan[]): void {
  const first = added[0]?.index ?? d.batches.length;
  for (const b of d.batches) b.result ??= batchCounts(d, b);
  for (const b of added) {
    d.batches[b.index] = {
      index: b.index,
      bastion: b.bastion,
      targets: [...b.targets],
      ...(b.pass !== undefined ? { pass: b.pass } : {}),
    };
  }
  d.nextBatch = first;
  d.brakeAccepted = 0;
}

function stepOf(state: TargetState): Step | null {
  const name = state.slice(0, state.lastIndexOf('_')).toLowerCase();
  return (STEPS as readonly string[]).includes(name) ? (name as Step) : null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 0;
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
