import { randomBytes } from 'node:crypto';
import { LockHeldError, PhaseError } from '../model/errors';
import { isFailure, isRunning, type Phase, type TargetState } from '../model/states';
import type { DeploymentConfig, Group, PackageRef, Target } from '../model/types';
import { planBatches, planSubset, ROLLBACK_SIZING, type PlannedBatch } from '../plan/batches';
import { judgeBrake } from '../plan/brake';
import { waitBefore } from '../plan/estimate';
import { assertVersion } from '../model/validate';
import {
  chainFor,
  fmtMs,
  remainingSteps,
  runChain,
  type ChainContext,
  type ChainResult,
  type Role,
} from './chain';
import {
  emptyLedger,
  releaseFacts,
  type Deployment,
  type HistoryEntry,
  type Ledger,
  type TargetRecord,
} from './ledger';
import type { Ports } from './ports';
import { Recorder } from './recorder';
import { recordNotWritten } from './record-failure';

export type RunStatus = 'success' | 'failure' | 'aborted' | 'waiting';

export interface RunResult {
  status: RunStatus;
  phase: Phase;
  deployment: Deployment;
  message: string;
}

export interface DeployRequest {
  version: string;
  package: PackageRef;
  /** Release a version that an earlier rollback quarantined. */
  force?: boolean;
}

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

const TERMINAL: ReadonlySet<Phase> = new Set(['SUCCESS', 'FAILURE', 'ABORTED']);

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

export function nextActions(phase: Phase): string {
  return NEXT_ACTIONS[phase];
}

/**
 * The release engine: pure logic over injected ports (transport, traffic, store, clock,
 * logger). It knows nothing of GitHub, process.env or the real clock, so the CLI, Jenkins and
 * every action run the same code, and tests run long releases on a simulated clock.
 */
export class Engine {
  private localStop: string | null = null;
  private lastStopCheck = -Infinity;
  private stopSeen: string | null = null;
  private stopCheck: Promise<void> = Promise.resolve();
  /** The record the running operation works on and saves. */
  private live: Ledger | null = null;

  constructor(
    private readonly ports: Ports,
    private readonly group: Group,
    private readonly config: DeploymentConfig,
    private readonly who: string,
  ) {}

  /** Ask the running operation to stop before its next step (SIGINT, a cancelled job). */
  requestStop(by: string): void {
    this.localStop = by;
  }

  /**
   * F5: the release went on without an outside system. During an operation this goes into its
   * own record: a copy loaded from the store would be overwritten by the operation's next save.
   */
  async recordDegraded(reason: string): Promise<void> {
    const ledger = this.live ?? (await this.ports.store.load(this.group.name));
    const d = ledger?.current;
    if (!ledger || !d) return;
    if (!d.degraded.includes(reason)) d.degraded.push(reason);
    await new Recorder(ledger, this.ports.store, this.ports.clock, this.ports.logger).emit(
      'warn',
      `degraded: ${reason}`,
    );
  }

  /** Start a release: the bastion chain, ending at VERIFY_SUCCESS (S4). */
  deploy(req: DeployRequest): Promise<RunResult> {
    return this.exclusive(async (ledger) => {
      assertVersion(req.version, 'version');
      const cur = ledger.current;
      if (cur && !TERMINAL.has(cur.phase)) {
        throw new PhaseError(
          `release ${cur.id} (${cur.version}) is in phase ${cur.phase}: ${nextActions(cur.phase)} first`,
        );
      }
      const bad = ledger.quarantined[req.version];
      if (bad && !req.force) {
        throw new PhaseError(
          `version ${req.version} was quarantined by a rollback (${bad.reason}); pass --force to release it anyway`,
        );
      }
      const plan = planBatches(this.group.targets, this.config);
      const d = this.newDeployment(
        ledger,
        'deploy',
        req.version,
        req.package,
        this.config,
        plan.batches,
      );
      const rec = this.recorder(ledger);
      const bastion = plan.batches[0]?.bastion ? plan.batches[0] : null;
      const excluded = plan.excluded.length
        ? `; pulled out, not released: ${plan.excluded.join(', ')}`
        : '';
      await rec.emit(
        'release',
        `release ${d.version} of ${d.group} by ${d.by}: ${plan.total} targets in ${plan.batches.length} batches${bastion ? `, bastion ${bastion.targets.join(', ')}` : ''}${excluded}`,
        { release: releaseFacts(d) },
      );
      const scan = req.package.scan;
      if (scan) {
        // B4: the gate's decision stays with the release, an override with who and why.
        await rec.emit(
          'gate',
          scan.override
            ? `scan gate overridden by ${scan.override.by}: "${scan.override.reason}" (${scan.summary})`
            : `scan gate: ${scan.summary}`,
          scan.override ? { level: 'warn' } : {},
        );
      }
      if (!bastion) {
        await rec.phase('ROLLING_OUT', 'no bastion: rolling out');
        return this.rollOut(rec);
      }
      return this.smoke(rec);
    });
  }

  /** S4: put the verified bastion into traffic (BAKE_SUCCESS). A separate transaction. */
  bake(): Promise<RunResult> {
    return this.exclusive(async (ledger) => {
      const d = this.requireCurrent(ledger, ['SMOKE_SUCCESS', 'BAKING'], 'bake');
      const rec = this.recorder(ledger);
      await rec.phase('BAKING', `baking bastion ${d.batches[0]!.targets.join(', ')}`);
      const ctx = this.context(rec, d);
      let ok = true;
      for (const id of d.batches[0]!.targets) {
        const t = d.targets[id]!;
        if (t.state === 'SKIPPED' || t.state === 'BAKE_SUCCESS') continue;
        const target = this.target(id);
        await rec.target(
          t,
          { type: 'start', step: 'bake' },
          'bake started: checking the bastion first',
        );
        try {
          const h = await this.ports.transport.health(target);
          if (!h.ok || (h.version !== undefined && h.version !== d.version)) {
            throw new Error(
              `bastion no longer healthy on ${d.version}: ${h.ok ? `version ${h.version}` : h.detail}`,
            );
          }
          await ctx.ports.traffic.markup(target);
          await rec.target(t, { type: 'succeed' }, `in traffic (${this.ports.traffic.name})`);
        } catch (err) {
          ok = false;
          await rec.target(t, { type: 'fail' }, err instanceof Error ? err.message : String(err));
        }
      }
      if (!ok) {
        await rec.phase('SMOKE_FAILURE', 'bake failed: retry the bastion or stop');
        return this.result(rec, 'failure');
      }
      await rec.phase('BAKE_SUCCESS', 'bastion baked: continue rolls out the other batches');
      return this.result(rec, 'waiting');
    });
  }

  /** Roll out the remaining batches: after the bake, a brake, a pause, or a killed run. */
  continue(): Promise<RunResult> {
    return this.exclusive(async (ledger) => {
      const d = this.requireCurrent(
        ledger,
        ['BAKE_SUCCESS', 'PAUSED', 'BRAKED', 'ROLLING_OUT', 'SMOKING', 'BAKING'],
        'continue',
      );
      const rec = this.recorder(ledger);
      if (d.phase === 'SMOKING') {
        await rec.emit('release', 'resuming the bastion chain of an interrupted run');
        return this.smoke(rec);
      }
      if (d.phase === 'BAKING') {
        throw new PhaseError(`release ${d.id} was interrupted while baking: run bake again`);
      }
      if (d.phase === 'BRAKED') {
        d.brakeAccepted = this.failedCount(d);
        await rec.emit(
          'brake',
          `brake released by ${this.who}: ${d.brakeAccepted} failed targets accepted`,
        );
      }
      await rec.phase('ROLLING_OUT', `rolling out batch ${d.nextBatch + 1} of ${d.batches.length}`);
      return this.rollOut(rec);
    });
  }

  /** F3: re-run failed targets only; targets already on the version and healthy are skipped. */
  retry(): Promise<RunResult> {
    return this.exclusive(async (ledger) => {
      const d = this.requireCurrent(ledger, ['SMOKE_FAILURE', 'FAILURE'], 'retry');
      const rec = this.recorder(ledger);
      const failed = Object.values(d.targets).filter(
        (t) => isFailure(t.state) || isRunning(t.state),
      );
      for (const t of failed)
        await rec.target(t, { type: 'reset' }, `retry (attempt ${t.attempts + 2})`);
      if (d.phase === 'SMOKE_FAILURE') {
        await rec.emit('release', `retrying bastion ${failed.map((t) => t.id).join(', ')}`);
        return this.smoke(rec);
      }
      const batches = planSubset(
        this.group.targets,
        new Set(failed.map((t) => t.id)),
        d.config.sizing,
      );
      const first = d.batches.length;
      const retried = batches.map((b) => ({ ...b, index: first + b.index, bastion: false }));
      for (const b of batches) {
        const index = first + b.index;
        d.batches.push({ index, bastion: false, targets: b.targets });
        for (const id of b.targets) d.targets[id]!.batch = index;
      }
      d.nextBatch = first;
      d.brakeAccepted = 0;
      await rec.phase(
        'ROLLING_OUT',
        `retrying ${failed.length} failed targets in ${batches.length} batches`,
        { retried },
      );
      return this.rollOut(rec);
    });
  }

  /** F4: back to the last successful version: no bastion, 50% batches, no download. */
  rollback(): Promise<RunResult> {
    return this.exclusive(async (ledger) => {
      const cur = ledger.current;
      const from = cur?.version ?? null;
      const to = rollbackTarget(ledger);
      if (!to) {
        throw new PhaseError(`no earlier successful release of ${this.group.name} to roll back to`);
      }
      const rec0 = this.recorder(ledger);
      if (cur && !TERMINAL.has(cur.phase)) {
        await rec0.phase('ABORTED', `superseded by a rollback to ${to.version}`);
      }
      if (from && from !== to.version) {
        ledger.quarantined[from] = {
          reason: `rolled back to ${to.version} by ${this.who}`,
          at: this.ports.clock.now(),
        };
      }
      const config: DeploymentConfig = {
        ...this.config,
        sizing: ROLLBACK_SIZING,
        bastionCount: 0,
        bastionTargets: [],
        waitBetweenBatchesMs: 0,
        waitFromBatch3Ms: 0,
        manual: false,
      };
      const plan = planBatches(this.group.targets, config);
      const pkg: PackageRef = { version: to.version };
      const d = this.newDeployment(ledger, 'rollback', to.version, pkg, config, plan.batches);
      d.fromVersion = from;
      const rec = this.recorder(ledger);
      await rec.emit(
        'release',
        `rollback of ${d.group} from ${from ?? 'nothing'} to ${to.version} by ${d.by}: ${plan.total} targets in ${plan.batches.length} batches, no download`,
        { release: releaseFacts(d) },
      );
      await rec.phase('ROLLING_OUT', 'rolling back');
      return this.rollOut(rec);
    });
  }

  /**
   * U4: stop at any moment; state stays where it was. A running operation in another process
   * is asked to stop before its next step; otherwise the release ends ABORTED at once.
   */
  async stop(): Promise<RunResult | null> {
    const store = this.ports.store;
    let release: () => Promise<void>;
    try {
      release = await store.acquireRun(this.group.name, this.who);
    } catch (err) {
      if (!(err instanceof LockHeldError)) throw err;
      await store.requestStop(this.group.name, this.who);
      this.ports.logger.info(`stop requested: ${err.holder} stops before its next step`);
      return null;
    }
    try {
      const ledger = await store.load(this.group.name);
      const d = ledger?.current;
      if (!ledger || !d || TERMINAL.has(d.phase)) {
        throw new PhaseError(`no release of ${this.group.name} is in progress`);
      }
      const rec = this.recorder(ledger);
      await rec.emit('stop', `stopped by ${this.who}`);
      await rec.phase(
        'ABORTED',
        `stopped by ${this.who} in phase ${d.phase}; targets stay as they are`,
      );
      await store.flush();
      return this.result(rec, 'aborted');
    } finally {
      await release();
    }
  }

  // ── internals ────────────────────────────────────────────────────────────

  private async smoke(rec: Recorder): Promise<RunResult> {
    const d = rec.deployment;
    await rec.phase('SMOKING', `bastion ${d.batches[0]!.targets.join(', ')}: chain up to verify`);
    const res = await this.runBatch(rec, 0, 'bastion');
    if (res === 'stopped') return this.aborted(rec);
    if (res === 'failed') {
      await rec.phase('SMOKE_FAILURE', 'bastion failed: retry or stop');
      return this.result(rec, 'failure');
    }
    d.nextBatch = 1;
    await rec.phase(
      'SMOKE_SUCCESS',
      `bastion ${d.batches[0]!.targets.join(', ')} verified on ${d.version} — waiting for bake`,
    );
    return this.result(rec, 'waiting');
  }

  private async rollOut(rec: Recorder): Promise<RunResult> {
    const staging = { done: Promise.resolve() };
    try {
      return await this.rollBatches(rec, staging);
    } finally {
      await staging.done;
    }
  }

  /**
   * While a batch runs, the package is copied to the next batch's targets, which still serve:
   * their chain then finds the release complete, and the time each batch spends before markdown
   * drops to a check. Untracked on purpose — the copy is idempotent and the chain's download step
   * records it (or redoes it when this failed).
   */
  private async stage(
    rec: Recorder,
    batch: Deployment['batches'][number] | undefined,
  ): Promise<void> {
    const d = rec.deployment;
    if (!batch) return;
    const todo = batch.targets.filter((id) => d.targets[id]!.state === 'PENDING');
    if (d.kind === 'rollback' || !d.config.prefetch || !(d.package.path || d.package.image)) {
      // Nothing to copy (a rollback switches to the kept release): just open the connections.
      await Promise.allSettled(todo.map((id) => this.ports.transport.probe(this.target(id))));
      return;
    }
    const results = await Promise.allSettled(
      todo.map((id) => this.ports.transport.download(this.target(id), d.package)),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    if (todo.length > 0) {
      await rec.emit(
        'stage',
        `package staged on batch ${batch.index + 1} while it still serves: ${ok} of ${todo.length}`,
        { batch: batch.index },
      );
    }
  }

  private async rollBatches(rec: Recorder, staging: { done: Promise<void> }): Promise<RunResult> {
    const d = rec.deployment;
    const rollout = d.batches.filter((b) => !b.bastion);
    while (d.nextBatch < d.batches.length) {
      const batch = d.batches[d.nextBatch]!;
      const brake = judgeBrake({
        failed: this.failedCount(d),
        accepted: d.brakeAccepted,
        total: Object.keys(d.targets).length,
        maxUnavailable: d.config.sizing.maxUnavailable,
      });
      if (brake.brake) {
        await rec.emit('brake', `brake before batch ${batch.index + 1}: ${brake.reason}`);
        await rec.phase('BRAKED', `${brake.reason}: continue or stop`);
        return this.result(rec, 'waiting');
      }
      const position = rollout.indexOf(batch);
      const wait = batch.startedAt ? 0 : waitBefore(position, d.config);
      if (wait > 0) {
        await rec.emit('wait', `waiting ${fmtMs(wait)} before batch ${batch.index + 1}`, {
          batch: batch.index,
        });
        await this.ports.clock.sleep(wait);
      }
      if (await this.stopping()) return this.aborted(rec);
      // This batch's copy is finished before its chains start; the next batch's starts now.
      await staging.done;
      staging.done = this.stage(rec, d.batches[batch.index + 1]);
      const res = await this.runBatch(rec, batch.index, 'rollout');
      if (res === 'stopped') return this.aborted(rec);
      d.nextBatch = batch.index + 1;
      if (d.config.manual && d.nextBatch < d.batches.length) {
        await rec.phase(
          'PAUSED',
          `batch ${batch.index + 1} done; manual mode: continue for batch ${d.nextBatch + 1}`,
        );
        return this.result(rec, 'waiting');
      }
    }
    const failed = this.failedCount(d);
    if (failed > 0) {
      await rec.phase(
        'FAILURE',
        `${failed} of ${Object.keys(d.targets).length} targets failed: retry or rollback`,
      );
      return this.result(rec, 'failure');
    }
    await rec.phase(
      'SUCCESS',
      `${d.kind === 'rollback' ? 'rolled back to' : 'released'} ${d.version} on every target`,
    );
    return this.result(rec, 'success');
  }

  /**
   * S3: the targets of one batch in parallel. A resumed batch runs only what is not done: a step
   * a killed run left running starts the chain again, one left between two steps goes on.
   */
  private async runBatch(rec: Recorder, index: number, role: Role): Promise<ChainResult> {
    const d = rec.deployment;
    const batch = d.batches[index]!;
    const started = this.ports.clock.now();
    batch.startedAt ??= started;
    const chain = chainFor(role, d.kind, d.config.prefetch);
    const todo: TargetRecord[] = [];
    for (const id of batch.targets) {
      const t = d.targets[id]!;
      if (isRunning(t.state))
        await rec.target(
          t,
          { type: 'reset' },
          'interrupted by a killed run: host truth decides again',
        );
      if (remainingSteps(t.state, chain).length > 0) todo.push(t);
    }
    await rec.emit(
      'batch',
      `batch ${index + 1}/${d.batches.length}${batch.bastion ? ' (bastion)' : ''}: ${todo.map((t) => t.id).join(', ') || 'nothing left to do'}`,
      { batch: index },
    );
    const ctx = this.context(rec, d);
    const settled = await Promise.allSettled(
      todo.map((t) => runChain(ctx, this.target(t.id), t, role)),
    );
    const lockErr = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (lockErr) throw lockErr.reason;
    const results = settled.map((s) => (s as PromiseFulfilledResult<ChainResult>).value);
    batch.endedAt = this.ports.clock.now();
    const failedHere = batch.targets.filter((id) => isFailure(d.targets[id]!.state)).length;
    await rec.emit(
      'batch',
      `batch ${index + 1}/${d.batches.length} done in ${fmtMs(batch.endedAt - started)}: ${batch.targets.length - failedHere} ok, ${failedHere} failed`,
      { batch: index },
    );
    if (results.includes('stopped')) return 'stopped';
    return failedHere > 0 ? 'failed' : 'done';
  }

  private context(rec: Recorder, d: Deployment): ChainContext {
    return {
      ports: this.ports,
      recorder: rec,
      group: this.group,
      owner: { deploymentId: d.id, who: this.who },
      stopping: () => this.stopping(),
    };
  }

  /**
   * Reads the store's stop request at most every 250 ms of clock time. Targets asking at the
   * same moment share one read, so a batch never splits into stopped and not-stopped halves.
   */
  private async stopping(): Promise<boolean> {
    if (this.localStop) return true;
    const now = this.ports.clock.now();
    if (this.stopSeen === null && now - this.lastStopCheck >= 250) {
      this.lastStopCheck = now;
      this.stopCheck = this.ports.store.stopRequested(this.group.name).then((by) => {
        this.stopSeen ??= by;
      });
    }
    await this.stopCheck;
    return this.stopSeen !== null;
  }

  private async aborted(rec: Recorder): Promise<RunResult> {
    const by = this.localStop ?? this.stopSeen ?? 'a stop request';
    await rec.emit('stop', `stopped by ${by}`);
    await rec.phase('ABORTED', `stopped by ${by}; targets stay as they are`);
    return this.result(rec, 'aborted');
  }

  private failedCount(d: Deployment): number {
    return Object.values(d.targets).filter((t) => isFailure(t.state)).length;
  }

  private result(rec: Recorder, status: RunStatus): RunResult {
    const d = rec.deployment;
    return {
      status,
      phase: d.phase,
      deployment: d,
      message: `${d.phase}: ${nextActions(d.phase)}`,
    };
  }

  private target(id: string): Target {
    const t = this.group.targets.find((x) => x.id === id);
    if (!t) throw new PhaseError(`target ${id} of the release is no longer in the group file`);
    return t;
  }

  private recorder(ledger: Ledger): Recorder {
    return new Recorder(ledger, this.ports.store, this.ports.clock, this.ports.logger);
  }

  private requireCurrent(ledger: Ledger, phases: Phase[], op: string): Deployment {
    const d = ledger.current;
    if (!d) throw new PhaseError(`${op}: no release of ${this.group.name} yet — deploy first`);
    if (!phases.includes(d.phase)) {
      throw new PhaseError(
        `${op}: release ${d.id} (${d.version}) is in phase ${d.phase}; possible now: ${nextActions(d.phase)}`,
      );
    }
    return d;
  }

  private newDeployment(
    ledger: Ledger,
    kind: Deployment['kind'],
    version: string,
    pkg: PackageRef,
    config: DeploymentConfig,
    batches: PlannedBatch[],
  ): Deployment {
    const now = this.ports.clock.now();
    const stamp = new Date(now).toISOString().replace(/[-:]/g, '').slice(0, 15);
    const lastOk = ledger.history.find((h) => h.outcome === 'success');
    const d: Deployment = {
      id: `${this.group.name}-${stamp}-${randomBytes(2).toString('hex')}`,
      group: this.group.name,
      kind,
      version,
      fromVersion: lastOk?.version ?? null,
      package: pkg,
      config,
      phase: kind === 'rollback' ? 'ROLLING_OUT' : 'SMOKING',
      by: this.who,
      createdAt: now,
      updatedAt: now,
      batches: batches.map((b) => ({
        index: b.index,
        bastion: b.bastion,
        targets: [...b.targets],
      })),
      nextBatch: 0,
      targets: {},
      brakeAccepted: 0,
      degraded: [],
    };
    for (const b of batches) {
      for (const id of b.targets)
        d.targets[id] = { id, batch: b.index, state: 'PENDING', steps: {}, attempts: 0 };
    }
    ledger.current = d;
    return d;
  }

  /**
   * A killed run may leave the saved record and the event log one transition apart (they are
   * written separately). The log is the release's history: target states follow it, so the next
   * transition is recorded from the state the log ends in.
   */
  private async catchUp(ledger: Ledger): Promise<void> {
    const d = ledger.current;
    if (!d || TERMINAL.has(d.phase)) return;
    const logged = new Map<string, TargetState>();
    for (const e of await this.ports.store.events(this.group.name)) {
      if (e.deployment === d.id && e.type === 'target' && e.target && e.state) {
        logged.set(e.target, e.state);
      }
    }
    const moved: string[] = [];
    for (const [id, state] of logged) {
      const t = d.targets[id];
      if (!t || t.state === state) continue;
      moved.push(`${id} ${t.state} → ${state}`);
      t.state = state;
    }
    if (moved.length > 0) {
      await this.recorder(ledger).emit(
        'warn',
        `the saved record lagged the event log (a killed run?); caught up: ${moved.join(', ')}`,
      );
    }
  }

  /** One operation at a time per group; the stop request of a finished run is cleared. */
  private async exclusive(fn: (ledger: Ledger) => Promise<RunResult>): Promise<RunResult> {
    const { store } = this.ports;
    const release = await store.acquireRun(this.group.name, this.who);
    let result: RunResult | undefined;
    let failed: { error: unknown } | undefined;
    try {
      await store.clearStop(this.group.name);
      this.stopSeen = null;
      this.lastStopCheck = -Infinity;
      const ledger = (await store.load(this.group.name)) ?? emptyLedger(this.group.name);
      // Only a run that did not finish (killed) can leave the record behind the log.
      if (ledger.openRun) await this.catchUp(ledger);
      ledger.openRun = this.who;
      // An operation that reaches hosts without checking their keys says so in the release.
      if (
        this.config.insecureIgnoreHostKey &&
        ledger.current &&
        !TERMINAL.has(ledger.current.phase)
      )
        ledger.current.config.insecureIgnoreHostKey = true;
      this.live = ledger;
      result = await fn(ledger);
    } catch (error) {
      failed = { error };
    }
    const live = this.live;
    this.live = null;
    let unwritten: unknown;
    try {
      if (live) {
        delete live.openRun;
        await store.save(live);
      }
      unwritten = await store.flush().then(
        () => null,
        (err: unknown) => err,
      );
    } finally {
      await release();
    }
    // A record that could not be written fails the operation: never an outcome over a stale record.
    if (unwritten) throw recordNotWritten(unwritten, live, failed?.error);
    if (failed) throw failed.error;
    return result!;
  }
}
