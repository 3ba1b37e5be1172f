import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import {
  AbortedError,
  DependencyDownError,
  InputError,
  LockHeldError,
  PhaseError,
  RollgateError,
} from '../model/errors';
import { isFailure, isRunning, type Phase, type TargetState } from '../model/states';
import type { DeploymentConfig, Group, PackageRef, Target } from '../model/types';
import { planBatches, rollbackConfig, type Plan } from '../plan/batches';
import { planRetryPass } from '../plan/retry';
import { BRAKE_RULE_NAMES } from '../plan/brake';
import { judgeBefore } from './budget';
import { waitBefore } from '../plan/estimate';
import { assertVersion } from '../model/validate';
import {
  chainFor,
  message,
  remainingSteps,
  runBake,
  runChain,
  type ChainContext,
  type ChainResult,
  type Role,
} from './chain';
import {
  batchCounts,
  batchLabel,
  deploymentId,
  emptyLedger,
  newDeployment,
  releaseDetails,
  type Deployment,
  type Ledger,
  type NewDeployment,
  type TargetRecord,
} from './ledger';
import { escapeControl, formatMs } from '../model/text';
import type { Ports, TrafficStatus } from './ports';
import { Recorder } from './recorder';
import { runningStep } from './target-machine';
import { reconcileTargets, type ReconcileReport } from './reconcile';
import { commandLine, tookOut, type WayBackCommand } from './way-back';
import {
  failedOutcome,
  nextActions,
  releaseFacts,
  rollbackTarget,
  RUNNING_PHASES,
  staleDeployment,
  TERMINAL,
} from './phases';
import { recordNotWritten } from './record-failure';
import { settleSlots } from './slot-steps';
import { isSideBySide } from '../model/slots';
import {
  degradedRefusal,
  pendingSwitches,
  sideBySideOutageAdvice,
  type LbOperation,
} from './lb-outage';

export type RunStatus = 'success' | 'failure' | 'aborted' | 'waiting';

export interface RunResult {
  status: RunStatus;
  phase: Phase;
  deployment: Deployment;
  message: string;
}

export interface EngineOptions {
  /** The group file as the person named it: advice says `rollgate <op> -g <this>`. */
  groupFile?: string;
  /**
   * F5: how the load balancer was degraded for this run (`--degrade lb`, `traffic.degraded`), or
   * absent. Side-by-side refuses to run degraded (see lb-outage.ts).
   */
  lbDegraded?: string;
}

export interface DeployRequest {
  version: string;
  package: PackageRef;
  /** Release a version that an earlier rollback quarantined. */
  force?: boolean;
}

/** "1 target", "2 batches". */
const count = (n: number, what: string) =>
  `${n} ${what}${n === 1 ? '' : what.endsWith('h') ? 'es' : 's'}`;

/**
 * The release engine: pure logic over injected ports (transport, traffic, store, clock,
 * logger). It knows nothing of GitHub, process.env or the real clock, so the CLI, Jenkins and
 * every action run the same code, and tests run long releases on a simulated clock.
 */
export class Engine {
  private localStop: string | null = null;
  private hardStop: string | null = null;
  /** Aborted by a hard stop: reaches every wait, verify poll, remote command and drain wait. */
  private readonly hard = new AbortController();
  /** Aborted by any local stop: ends the wait between batches at once. */
  private readonly wake = new AbortController();
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
    private readonly options: EngineOptions = {},
  ) {
    // Every wait and remote command in flight listens to the hard stop until it ends (a remote
    // command twice: the race and the command): a rollback's half-fleet batch or the prefetch of
    // every target is many at once, not a leak. Above this bound, Node's warning still tells.
    setMaxListeners(Math.max(10, 4 * group.targets.length), this.hard.signal);
  }

  /**
   * Soft stop (first Ctrl-C, a cancelled job's SIGINT, `rollgate stop` from another shell): no
   * target starts its chain and none leaves traffic from now on; a target already out of traffic
   * finishes its chain. The operation then ends ABORTED. Also before an operation starts.
   */
  requestStop(by: string): void {
    this.localStop ??= by;
    this.wake.abort(new AbortedError(`stopped by ${by}`));
  }

  /**
   * Hard stop (second Ctrl-C, a cancelled job's SIGTERM): every wait and remote command ends at
   * once (SSH channel closed, local child killed); a target cut mid-step is recorded
   * `<STEP>_FAILURE`, interrupted; host truth decides on the next operation. The operation returns
   * ABORTED with the record saved.
   */
  abort(by: string): void {
    this.localStop ??= by;
    this.hardStop ??= by;
    this.wake.abort(new AbortedError(`stopped at once by ${by}`));
    this.hard.abort(new AbortedError(`stopped at once by ${by}`));
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
    await this.recorder(ledger).emit('warn', `degraded: ${reason}`);
  }

  /** Start a release: the bastion chain, ending at VERIFY_SUCCESS (S4). */
  deploy(req: DeployRequest): Promise<RunResult> {
    return this.exclusive('deploy', async (ledger) => {
      assertVersion(req.version, 'version');
      const cur = ledger.current;
      if (cur && RUNNING_PHASES.has(cur.phase)) {
        // We hold the group's run lock: whatever ran this phase is gone.
        throw new PhaseError(this.interruptedAdvice(cur));
      }
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
      const out = await this.outOfTraffic();
      const plan = planBatches(this.group.targets, this.config, { down: [...out.keys()] });
      const d = this.start(ledger, {
        kind: 'deploy',
        version: req.version,
        package: req.package,
        config: this.config,
        batches: plan.batches,
      });
      const recorder = this.recorder(ledger);
      const bastion = plan.batches[0]?.bastion ? plan.batches[0] : null;
      const excluded = plan.excluded.length
        ? `; pulled out, not released: ${plan.excluded.join(', ')}`
        : '';
      recorder.begin('deploy');
      await recorder.emit(
        'release',
        `release ${d.version} of ${d.group} by ${d.by}: ${plan.total} targets in ${plan.batches.length} batches${bastion ? `, bastion ${bastion.targets.join(', ')}` : ''}${excluded}${this.outNote(plan, out, this.config.sizing.maxUnavailable)}`,
        { release: releaseDetails(d), ...(out.size ? { outOfService: [...out.keys()] } : {}) },
      );
      await this.capacityWarning(recorder, plan, out);
      const scan = req.package.scan;
      if (scan) {
        // B4: the gate's decision stays with the release, an override with who and why.
        await recorder.emit(
          'gate',
          scan.override
            ? `scan gate overridden by ${scan.override.by}: "${scan.override.reason}" (${scan.summary})`
            : `scan gate: ${scan.summary}`,
          scan.override ? { level: 'warn' } : {},
        );
      }
      if (!bastion) {
        await recorder.phase('ROLLING_OUT', 'no bastion: rolling out');
        return this.rollOut(recorder);
      }
      return this.smoke(recorder);
    });
  }

  /**
   * S4: put the verified bastion into traffic (BAKE_SUCCESS). A separate transaction. Pressed
   * again once baked (a bastion that already served the version in traffic), it says so.
   */
  bake(): Promise<RunResult> {
    return this.exclusive('bake', async (ledger) => {
      const d = this.requireCurrent(ledger, ['SMOKE_SUCCESS', 'BAKING', 'BAKE_SUCCESS'], 'bake');
      delete d.interrupted;
      const recorder = this.recorder(ledger);
      if (d.phase === 'BAKE_SUCCESS') {
        return this.result(recorder, 'waiting', 'the bastion is already baked');
      }
      recorder.begin('bake');
      await recorder.phase(
        'BAKING',
        `baking bastion ${d.batches[0]!.targets.join(', ')} (by ${this.who})`,
      );
      const ctx = this.context(recorder, d);
      let ok = true;
      let lbDown: DependencyDownError | null = null;
      for (const id of d.batches[0]!.targets) {
        const t = d.targets[id]!;
        if (t.state === 'SKIPPED' || t.state === 'BAKE_SUCCESS') continue;
        if (ctx.signal.aborted) break;
        const baked = await runBake(ctx, this.target(id), t);
        if (baked === 'done') continue;
        ok = false;
        if (baked === 'stopped') break;
        if (baked !== 'failed') lbDown = baked.lbDown;
      }
      if (ctx.signal.aborted) return this.aborted(recorder);
      if (lbDown) {
        // The bastion stays verified; the bake is pressed again once the LB answers (or degraded).
        await recorder.phase('SMOKE_SUCCESS', 'bake stopped: the load balancer is down');
        throw lbDown;
      }
      if (!ok) {
        await recorder.phase('SMOKE_FAILURE', 'bake failed: retry the bastion or stop');
        return this.result(recorder, 'failure');
      }
      await recorder.phase('BAKE_SUCCESS', 'bastion baked: continue rolls out the other batches');
      return this.result(recorder, 'waiting');
    });
  }

  /** Roll out the remaining batches: after the bake, a brake, a pause, or a killed run. */
  continue(): Promise<RunResult> {
    return this.exclusive('continue', async (ledger) => {
      const d = this.requireCurrent(
        ledger,
        ['BAKE_SUCCESS', 'PAUSED', 'BRAKED', 'ROLLING_OUT', 'SMOKING', 'BAKING'],
        'continue',
      );
      if (d.phase === 'BAKING') {
        throw new PhaseError(`release ${d.id} was interrupted while baking: run bake again`);
      }
      delete d.interrupted;
      const recorder = this.recorder(ledger);
      recorder.begin('continue');
      if (d.phase === 'SMOKING') {
        await recorder.emit(
          'release',
          `continue by ${this.who}: resuming the bastion chain of an interrupted run`,
        );
        return this.smoke(recorder);
      }
      if (d.phase === 'BRAKED') {
        d.brakeAccepted = this.failedCount(d);
        await recorder.emit(
          'brake',
          `brake released by ${this.who}: ${d.brakeAccepted} failed targets accepted`,
        );
      }
      const next = d.batches[d.nextBatch] ? batchLabel(d, d.nextBatch, true) : 'nothing left';
      await recorder.phase('ROLLING_OUT', `continue by ${this.who}: rolling out ${next}`);
      return this.rollOut(recorder);
    });
  }

  /** F3: re-run failed targets only; targets already on the version and healthy are skipped. */
  retry(): Promise<RunResult> {
    return this.exclusive('retry', async (ledger) => {
      const d = this.requireCurrent(ledger, ['SMOKE_FAILURE', 'FAILURE'], 'retry');
      const recorder = this.recorder(ledger);
      recorder.begin('retry');
      const failed = Object.values(d.targets).filter(
        (t) => isFailure(t.state) || isRunning(t.state),
      );
      const ids = failed.map((t) => t.id).join(', ');
      if (d.phase === 'SMOKE_FAILURE') {
        // The bastion runs again in its own batch; the earlier attempt stays in its record.
        await recorder.emit('release', `retry by ${this.who}: bastion ${ids}`);
        for (const t of failed)
          await recorder.transition(t, { type: 'reset' }, `retry (attempt ${t.attempts + 2})`);
        return this.smoke(recorder);
      }
      // F3 as a pass of its own over the failed targets: the batches they failed in keep their
      // outcome, the pass numbers its batches from 1, the brake counts anew.
      const {
        pass,
        batches: retried,
        moveTo,
      } = planRetryPass(
        d.batches,
        this.group.targets,
        new Set(failed.map((t) => t.id)),
        d.config.sizing,
      );
      for (const b of d.batches) b.result ??= batchCounts(d, b);
      d.nextBatch = d.batches.length;
      for (const b of retried) d.batches.push({ ...b, targets: [...b.targets] });
      d.brakeAccepted = 0;
      await recorder.phase(
        'ROLLING_OUT',
        `retry ${pass} by ${this.who}: ${count(failed.length, 'target')} in ${count(retried.length, 'batch')} (${ids})`,
        { retried },
      );
      for (const t of failed) {
        await recorder.transition(
          t,
          { type: 'reset' },
          `retry ${pass} (attempt ${t.attempts + 2})`,
          moveTo.get(t.id),
        );
      }
      return this.rollOut(recorder);
    });
  }

  /** F4: back to the last successful version: no bastion, 50% batches, no download. */
  rollback(): Promise<RunResult> {
    return this.exclusive('rollback', async (ledger) => {
      const cur = ledger.current;
      const from = cur?.version ?? null;
      const to = rollbackTarget(ledger);
      if (!to) {
        throw new PhaseError(`no earlier successful release of ${this.group.name} to roll back to`);
      }
      const recorder = this.recorder(ledger);
      if (cur && !TERMINAL.has(cur.phase)) {
        await recorder.phase('ABORTED', `superseded by a rollback to ${to.version}`);
      }
      if (from && from !== to.version) {
        ledger.quarantined[from] = {
          reason: `rolled back to ${to.version} by ${this.who}`,
          at: this.ports.clock.now(),
        };
      }
      const config = rollbackConfig(this.config);
      const out = await this.outOfTraffic();
      const plan = planBatches(this.group.targets, config, { down: [...out.keys()] });
      const d = this.start(ledger, {
        kind: 'rollback',
        version: to.version,
        package: { version: to.version },
        config,
        batches: plan.batches,
        fromVersion: from,
      });
      // The same recorder: it writes to the record's current release, now the rollback.
      recorder.begin('rollback');
      await recorder.emit(
        'release',
        `rollback of ${d.group} from ${from ?? 'nothing'} to ${to.version} by ${d.by}: ${plan.total} targets in ${plan.batches.length} batches, no download${this.outNote(plan, out, config.sizing.maxUnavailable)}`,
        { release: releaseDetails(d), ...(out.size ? { outOfService: [...out.keys()] } : {}) },
      );
      await this.capacityWarning(recorder, plan, out);
      await recorder.phase('ROLLING_OUT', 'rolling back');
      return this.rollOut(recorder);
    });
  }

  /**
   * U4: stop at any moment. A running operation (in another process) is asked to stop: it starts
   * no target and takes none out of traffic from then on; targets out of traffic finish their
   * chain. Otherwise (no operation runs: waiting for a button, or its process was killed) the
   * release ends ABORTED at once: a step a killed run left running is recorded interrupted, and
   * the host locks this release holds are released.
   */
  async stop(): Promise<RunResult | null> {
    const store = this.ports.store;
    let release: () => Promise<void>;
    try {
      release = await store.acquireRun(this.group.name, this.who);
    } catch (err) {
      if (!(err instanceof LockHeldError)) throw err;
      await store.requestStop(this.group.name, this.who);
      this.ports.logger.info(
        `stop requested: ${err.holder} starts no more targets; those out of traffic finish their chain`,
      );
      return null;
    }
    try {
      const ledger = await store.load(this.group.name);
      const d = ledger?.current;
      if (!ledger || !d || TERMINAL.has(d.phase)) {
        throw new PhaseError(`no release of ${this.group.name} is in progress`);
      }
      if (ledger.openRun) await this.recover(ledger);
      delete ledger.openRun;
      const recorder = this.recorder(ledger);
      recorder.begin('stop');
      const gone = RUNNING_PHASES.has(d.phase) ? ' (the process that ran it is gone)' : '';
      for (const t of Object.values(d.targets)) {
        const step = runningStep(t.state);
        if (!step) continue;
        await recorder.transition(
          t,
          { type: 'fail' },
          `${step} interrupted: the process running it is gone; host truth decides on the next operation`,
        );
      }
      d.stop = { by: this.who, hard: false };
      delete d.interrupted;
      await recorder.emit('stop', `stopped by ${this.who}`, { stop: d.stop });
      await recorder.phase('ABORTED', `stopped by ${this.who} in phase ${d.phase}${gone}`);
      // S7: any target of a started batch may be mid-flip — the record can lag the process
      // that was killed by a write — so each is settled by host truth (a no-op when it agrees).
      if (isSideBySide(d.config)) {
        await this.settleCutFlips(
          recorder,
          d.batches.filter((b) => b.startedAt !== undefined).flatMap((b) => b.targets),
        );
      }
      await this.releaseHostLocks(recorder);
      await store.flush();
      return this.result(recorder, 'aborted');
    } finally {
      await release();
    }
  }

  /**
   * `rollgate reconcile`: compares host truth, the LB and the record and restores capacity
   * without a release (see reconcile.ts). Runs when no operation holds the group.
   */
  async reconcile(o: { dryRun?: boolean } = {}): Promise<ReconcileReport> {
    const { store } = this.ports;
    const dryRun = o.dryRun === true;
    const release = await store.acquireRun(this.group.name, this.who);
    try {
      const ledger = (await store.load(this.group.name)) ?? emptyLedger(this.group.name);
      if (ledger.openRun && !dryRun) {
        await this.recover(ledger);
        delete ledger.openRun;
      }
      this.live = ledger;
      const recorder = ledger.current ? this.recorder(ledger) : null;
      if (!dryRun) recorder?.begin('reconcile');
      const report = await reconcileTargets({
        ports: this.ports,
        group: this.group,
        ledger,
        recorder: recorder,
        // We hold the run lock: a running phase has lost its process.
        facts: releaseFacts(ledger, true),
        dryRun,
        sideBySide: isSideBySide(this.config),
        releaseLocks: true,
        ownDeployment: (id) => staleDeployment(ledger, this.group.name, id, null),
        command: (c) => commandLine(c, this.options.groupFile) ?? '',
        who: this.who,
      });
      if (!dryRun && ledger.current) {
        const acted = report.targets.filter(
          (t) => t.action === 'put back in traffic' || t.action === 'LB note cleared',
        );
        const locks = report.targets.filter((t) => t.lock?.action.startsWith('released'));
        const out = report.targets.filter((t) => t.action === 'left out');
        await recorder!.emit(
          'reconcile',
          `reconcile by ${this.who}: ${acted.length} put back or confirmed in traffic, ${locks.length} host locks released, ${out.length} left out${out.length ? ` (${out.map((t) => t.id).join(', ')})` : ''}`,
        );
      }
      return report;
    } finally {
      this.live = null;
      await store
        .flush()
        .catch((err) => this.ports.logger.warn(`could not write the record: ${String(err)}`));
      await release();
    }
  }

  // ── internals ────────────────────────────────────────────────────────────

  private async smoke(recorder: Recorder): Promise<RunResult> {
    const d = recorder.deployment;
    await recorder.phase(
      'SMOKING',
      `bastion ${d.batches[0]!.targets.join(', ')}: chain up to verify`,
    );
    const res = await this.runBatch(recorder, 0, 'bastion');
    // A stop that came while the bastion finished its chain still ends the release.
    if (res === 'stopped' || (await this.stopping())) return this.aborted(recorder);
    if (res === 'failed') {
      await recorder.phase('SMOKE_FAILURE', this.outcome(recorder, 'SMOKE_FAILURE'));
      return this.result(recorder, 'failure');
    }
    d.nextBatch = 1;
    const bastion = d.batches[0]!.targets;
    if (bastion.every((id) => d.targets[id]!.state === 'SKIPPED')) {
      // F3 on the bastion: it already serves the version in traffic — there is nothing to bake.
      await recorder.phase(
        'BAKE_SUCCESS',
        `bastion ${bastion.join(', ')} already runs ${d.version} in traffic, healthy — already baked: continue rolls out the other batches`,
      );
      return this.result(recorder, 'waiting');
    }
    await recorder.phase(
      'SMOKE_SUCCESS',
      `bastion ${d.batches[0]!.targets.join(', ')} verified on ${d.version} — waiting for bake`,
    );
    return this.result(recorder, 'waiting');
  }

  private async rollOut(recorder: Recorder): Promise<RunResult> {
    const staging = { done: Promise.resolve(), pending: false };
    try {
      return await this.rollBatches(recorder, staging);
    } finally {
      await staging.done;
    }
  }

  /**
   * While a batch runs, the package is copied to the next batch's targets (or they fetch it from
   * the store, or pull the image), which still serve: their chain then finds the release
   * complete, and the time each batch spends before markdown drops to a check. Untracked on purpose — the copy is idempotent and the chain's download step
   * records it (or redoes it when this failed).
   */
  private async stage(
    recorder: Recorder,
    batch: Deployment['batches'][number] | undefined,
  ): Promise<void> {
    const d = recorder.deployment;
    if (!batch) return;
    const todo = batch.targets.filter((id) => d.targets[id]!.state === 'PENDING');
    const fetched = d.package.path || d.package.image || d.package.store;
    if (d.kind === 'rollback' || !d.config.prefetch || !fetched) {
      // Nothing to copy (a rollback switches to the kept release): just open the connections.
      const { transport } = this.ports;
      const open = (t: Target) =>
        transport.connect
          ? transport.connect(t, this.hard.signal)
          : transport.probe(t, this.hard.signal);
      await Promise.allSettled(todo.map((id) => open(this.target(id))));
      return;
    }
    const results = await Promise.allSettled(
      // A hard stop cuts these copies too: the operation does not wait for them to finish.
      todo.map((id) => this.ports.transport.download(this.target(id), d.package, this.hard.signal)),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    if (todo.length > 0 && !this.hard.signal.aborted) {
      await recorder.emit(
        'stage',
        `package staged on ${batchLabel(d, batch.index, true)} while it still serves: ${ok} of ${todo.length}`,
        { batch: batch.index },
      );
    }
  }

  private async rollBatches(
    recorder: Recorder,
    staging: { done: Promise<void>; pending: boolean },
  ): Promise<RunResult> {
    const d = recorder.deployment;
    // The first batch of this operation starts now: a person (bake, continue, retry) said so.
    const startIndex = d.nextBatch;
    while (d.nextBatch < d.batches.length) {
      const batch = d.batches[d.nextBatch]!;
      // F2, F7: judged before every batch, so a manual pause never hides a brake.
      const brake = judgeBefore(d, batch.index);
      if (brake.brake) {
        // With a failure budget more than one rule can brake: the line names which did.
        const by = d.config.failureBudget
          ? ` — braked by ${brake.rules.map((r) => BRAKE_RULE_NAMES[r]).join(', ')}`
          : '';
        await recorder.emit(
          'brake',
          `brake before ${batchLabel(d, batch.index, true)}: ${brake.reason}${by}`,
          { brake: { rule: brake.rule!, rules: brake.rules } },
        );
        await recorder.phase('BRAKED', `${brake.reason}: continue or stop`);
        return this.result(recorder, 'waiting');
      }
      if (d.config.manual && batch.index > startIndex) {
        await recorder.phase(
          'PAUSED',
          `${batchLabel(d, batch.index - 1, true)} done; manual mode: continue for ${batchLabel(d, batch.index, true)}`,
        );
        return this.result(recorder, 'waiting');
      }
      const wait = batch.startedAt ? 0 : waitBefore(batch.index, startIndex, d.config);
      if (wait > 0) {
        await recorder.emit(
          'wait',
          `waiting ${formatMs(wait)} before ${batchLabel(d, batch.index, true)}`,
          {
            batch: batch.index,
          },
        );
        await this.waitOrStop(wait);
      }
      if (await this.stopping()) return this.aborted(recorder);
      // This batch's copy is finished before its chains start. The next batch's starts once
      // this one's targets are ready to install (locked, probed, their own package in place):
      // its connects and copies then take no CPU from this batch's own before it changes a host.
      if (staging.pending) {
        // A slow link: say why nothing runs, else the log (and the progress line) go quiet.
        await recorder.emit(
          'wait',
          `waiting for the package to reach ${batchLabel(d, batch.index, true)}: still on its way while those targets serve`,
          { batch: batch.index },
        );
      }
      await staging.done;
      let prepared!: () => void;
      const ready = new Promise<void>((resolve) => (prepared = resolve));
      staging.pending = true;
      staging.done = ready
        .then(() => this.stage(recorder, d.batches[batch.index + 1]))
        .finally(() => {
          staging.pending = false;
        });
      const res = await this.runBatch(recorder, batch.index, 'rollout', prepared);
      if (res === 'stopped') return this.aborted(recorder);
      d.nextBatch = batch.index + 1;
    }
    const failed = this.failedCount(d);
    const unknown = this.lbUnknownNote(d);
    if (unknown) await recorder.emit('warn', unknown);
    if (failed > 0) {
      await recorder.phase('FAILURE', this.outcome(recorder, 'FAILURE'));
      return this.result(recorder, 'failure');
    }
    await recorder.phase('SUCCESS', this.outcome(recorder, 'SUCCESS'));
    return this.result(recorder, 'success');
  }

  /**
   * The wait between batches, cut short by a stop: a local one wakes it at once, one from
   * another process is read every second.
   */
  private async waitOrStop(ms: number): Promise<void> {
    const { clock } = this.ports;
    const end = clock.now() + ms;
    while (clock.now() < end) {
      if (await this.stopping()) return;
      try {
        await clock.sleep(Math.min(end - clock.now(), 1000), this.wake.signal);
      } catch {
        return;
      }
    }
  }

  /**
   * S3: the targets of one batch in parallel. A resumed batch runs only what is not done: a step
   * a killed run left running starts the chain again, one left between two steps goes on.
   */
  private async runBatch(
    recorder: Recorder,
    index: number,
    role: Role,
    prepared: () => void = () => undefined,
  ): Promise<ChainResult> {
    try {
      return await this.runBatchChains(recorder, index, role, prepared);
    } finally {
      prepared();
    }
  }

  /** `prepared` is called once every chain of the batch reached install (or ended). */
  private async runBatchChains(
    recorder: Recorder,
    index: number,
    role: Role,
    prepared: () => void,
  ): Promise<ChainResult> {
    const d = recorder.deployment;
    const batch = d.batches[index]!;
    const started = this.ports.clock.now();
    batch.startedAt ??= started;
    const chain = chainFor(role, d.kind, d.config.prefetch, d.config.strategy);
    const todo: TargetRecord[] = [];
    for (const id of batch.targets) {
      const t = d.targets[id]!;
      if (isRunning(t.state))
        await recorder.transition(
          t,
          { type: 'reset' },
          'interrupted by a killed run: host truth decides again',
        );
      if (remainingSteps(t.state, chain).length > 0) todo.push(t);
    }
    await recorder.emit(
      'batch',
      `${batchLabel(d, index)}${batch.bastion ? ' (bastion)' : ''}: ${todo.map((t) => t.id).join(', ') || 'nothing left to do'}`,
      { batch: index },
    );
    const ready = new Set<string>();
    if (todo.length === 0) prepared();
    const ctx: ChainContext = {
      ...this.context(recorder, d),
      onPrepared: (id) => {
        ready.add(id);
        if (ready.size === todo.length) prepared();
      },
    };
    const settled = await Promise.allSettled(
      todo.map((t) => runChain(ctx, this.target(t.id), t, role)),
    );
    const lockErr = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (lockErr) throw lockErr.reason;
    const results = settled.map((s) => (s as PromiseFulfilledResult<ChainResult>).value);
    batch.endedAt = this.ports.clock.now();
    const states = batch.targets.map((id) => d.targets[id]!.state);
    const failedHere = states.filter(isFailure).length;
    const done = new Set<TargetState>(
      role === 'bastion' ? ['VERIFY_SUCCESS', 'SKIPPED'] : ['MARKUP_SUCCESS', 'SKIPPED'],
    );
    const ok = states.filter((s) => done.has(s)).length;
    // A stop that came while the batch ran: its line says so even when every target finished.
    const stopped = results.includes('stopped') || (await this.stopping());
    // Honest after a stop: a target that did not run is "not started", never "ok".
    const counts = stopped
      ? `${ok} ok, ${failedHere} failed, ${states.length - ok - failedHere} not started`
      : `${ok} ok, ${failedHere} failed`;
    await recorder.emit(
      'batch',
      `${batchLabel(d, index)} done in ${formatMs(batch.endedAt - started)}${stopped ? ' (stopped)' : ''}: ${counts}`,
      { batch: index },
    );
    if (stopped) return 'stopped';
    return failedHere > 0 ? 'failed' : 'done';
  }

  private context(recorder: Recorder, d: Deployment): ChainContext {
    return {
      ports: this.ports,
      recorder: recorder,
      group: this.group,
      owner: { deploymentId: d.id, who: this.who },
      stopping: () => this.stopping(),
      signal: this.hard.signal,
      hardStopBy: () => this.hardStop,
      staleLock: (id) => staleDeployment(recorder.ledger, this.group.name, id, d.id),
    };
  }

  /** After a stop: the host locks this release took are let go (on hosts its batches reached). */
  /** S7: flips a dead process cut in the middle, settled by host truth (see settleSlots). */
  private async settleCutFlips(recorder: Recorder, ids: string[]): Promise<void> {
    await Promise.all(
      ids.map(async (id) => {
        const said = await settleSlots(this.ports, this.target(id)).catch(
          (err: unknown) => ({ left: message(err) }) as const,
        );
        if (!said) return;
        const text =
          'did' in said
            ? `${id}: ${said.did}`
            : `${id}: a flip cut in the middle could not be settled: ${said.left}; \`${this.command('reconcile')}\` tries again`;
        await recorder.emit('reconcile', text, { target: id });
      }),
    );
  }

  private async releaseHostLocks(recorder: Recorder): Promise<void> {
    const d = recorder.deployment;
    const owner = { deploymentId: d.id, who: this.who };
    const ids = d.batches.filter((b) => b.startedAt !== undefined).flatMap((b) => b.targets);
    const results = await Promise.allSettled(
      ids.map((id) => this.ports.transport.unlock(this.target(id), owner)),
    );
    const released = ids.filter((_, i) => {
      const r = results[i]!;
      return r.status === 'fulfilled' && r.value === true;
    });
    const failed = ids.filter((_, i) => results[i]!.status === 'rejected');
    if (released.length > 0 || failed.length > 0) {
      await recorder.emit(
        'lock',
        `host locks of ${d.id} released: ${released.join(', ') || 'none'}${failed.length ? `; could not reach ${failed.join(', ')} (reconcile or the next release takes them over)` : ''}`,
        failed.length ? { level: 'warn' } : {},
      );
    }
  }

  /** `rollgate <op> -g <group file>`, for advice a person can paste. */
  private command(c: WayBackCommand | 'status', extra = ''): string {
    const line = commandLine(c, this.options.groupFile, extra);
    return line ? `\`${line}\`` : '';
  }

  /** Why a running phase is on the record though nothing runs it, and the way on. */
  private interruptedAdvice(d: Deployment): string {
    const resume = d.phase === 'BAKING' ? 'bake' : 'continue';
    const lb =
      d.interrupted?.includes('load balancer') && !isSideBySide(d.config)
        ? ` (add --degrade lb to go on without the load balancer, recorded)`
        : '';
    return (
      `release ${d.id} (${d.version}) was interrupted in phase ${d.phase}` +
      `${d.interrupted ? `: ${d.interrupted}` : ''}; the process that ran it is gone. ` +
      `${this.command(resume)} resumes it${lb}, or ${this.command('stop')} ends it`
    );
  }

  /** The hosts whose LB state is unknown (F5 degraded), and the command that settles them. */
  private lbUnknownNote(d: Deployment): string | null {
    const pending = isSideBySide(d.config) && !TERMINAL.has(d.phase) ? pendingSwitches(d) : [];
    if (pending.length > 0) {
      const op = d.phase === 'SMOKE_SUCCESS' || d.phase === 'BAKING' ? 'bake' : 'continue';
      return (
        `verified, not in traffic (the load balancer was unavailable): ${pending.join(', ')} — ` +
        `${this.command(op)} switches them once it answers, without a restart`
      );
    }
    const ids = Object.values(d.targets)
      .filter((t) => t.lbUnknown !== undefined)
      .map((t) => t.id);
    if (ids.length === 0) return null;
    return (
      `load balancer (${this.ports.traffic.name}) state unknown for ${ids.join(', ')}: ` +
      `steps were skipped or did not complete while it was down; ${this.command('reconcile')} ` +
      `(or the next operation that reaches it) puts the verified ones back in traffic`
    );
  }

  /**
   * F5: targets whose LB state the record does not know, settled as soon as an operation
   * reaches the LB again: verified ones go back in traffic, recorded.
   */
  private async heal(ledger: Ledger): Promise<void> {
    const d = ledger.current;
    if (!d) return;
    const only = new Set(
      Object.values(d.targets)
        .filter((t) => t.lbUnknown !== undefined)
        .map((t) => t.id),
    );
    if (only.size === 0) return;
    const report = await reconcileTargets({
      ports: this.ports,
      group: this.group,
      ledger,
      recorder: this.recorder(ledger),
      facts: releaseFacts(ledger, true),
      dryRun: false,
      only,
      releaseLocks: false,
      ownDeployment: () => null,
      command: (c) => commandLine(c, this.options.groupFile) ?? '',
      who: this.who,
    });
    const still = report.targets.filter(
      (t) => t.action !== 'put back in traffic' && t.action !== 'LB note cleared',
    );
    if (still.length < only.size) {
      this.ports.logger.info(
        `load balancer answers again: ${only.size - still.length} of ${only.size} targets with an unknown LB state settled`,
      );
    }
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

  private async aborted(recorder: Recorder): Promise<RunResult> {
    const d = recorder.deployment;
    const by = this.localStop ?? this.stopSeen ?? 'a stop request';
    const hard = this.hardStop !== null;
    d.stop = { by, hard };
    const targets = Object.values(d.targets);
    const notStarted = targets.filter((t) => t.state === 'PENDING').length;
    const failed = targets.filter((t) => isFailure(t.state)).length;
    const cut = targets.filter((t) => t.error?.includes('interrupted by a hard stop'));
    // A stop asked for from another shell (or a Ctrl-C) is an operation of whoever asked.
    recorder.begin('stop', by);
    await recorder.emit(
      'stop',
      hard
        ? `stopped at once by ${by} (hard stop): ${cut.length ? `cut mid-step: ${cut.map((t) => t.id).join(', ')}; ` : ''}host truth decides on the next operation`
        : `stopped by ${by}: no target started or left traffic after the stop; targets out of traffic finished their chain`,
      { stop: d.stop },
    );
    await recorder.phase(
      'ABORTED',
      `stopped by ${by}${hard ? ' (hard stop)' : ''}: ${failed} failed, ${notStarted} not started`,
    );
    return this.result(recorder, 'aborted');
  }

  private failedCount(d: Deployment): number {
    return Object.values(d.targets).filter((t) => isFailure(t.state)).length;
  }

  /**
   * Why an operation ended as it did, and what is possible now (issue 13 item 11): the failed
   * targets with their step and what it said — the first five, and how many more.
   */
  private outcome(recorder: Recorder, phase: 'SUCCESS' | 'FAILURE' | 'SMOKE_FAILURE'): string {
    const d = recorder.deployment;
    const next = nextActions(phase, false, rollbackTarget(recorder.ledger)?.version ?? null);
    if (phase === 'SUCCESS') {
      const lb = this.lbUnknownNote(d)
        ? ' — load balancer state unknown for some, see the warning'
        : '';
      return `${d.kind === 'rollback' ? 'rolled back to' : 'released'} ${d.version} on every target${lb}: ${next}`;
    }
    return `${failedOutcome(d, phase)}: ${next}`;
  }

  private result(recorder: Recorder, status: RunStatus, note?: string): RunResult {
    const d = recorder.deployment;
    const notes = [note, this.lbUnknownNote(d)];
    if (d.phase === 'ABORTED') {
      const out = Object.values(d.targets).filter((t) => tookOut(t));
      if (out.length > 0) {
        notes.push(
          `out of traffic: ${out.map((t) => `${t.id} (${t.state})`).join(', ')} — ` +
            `${this.command('reconcile')} puts back those healthy, ${this.command('status')} names the way back of the others`,
        );
      }
    }
    const extra = notes.filter((n): n is string => !!n);
    // An ended failure or success says why (the phase line of the log); the others their phase.
    const next = nextActions(d.phase, false, rollbackTarget(recorder.ledger)?.version ?? null);
    const ended =
      d.phase === 'FAILURE' || d.phase === 'SMOKE_FAILURE' || d.phase === 'SUCCESS'
        ? this.outcome(recorder, d.phase)
        : d.phase === 'ABORTED' && d.stop
          ? `stopped by ${escapeControl(d.stop.by)}${d.stop.hard ? ' (hard stop)' : ''}: ${next}`
          : `${d.phase}: ${next}`;
    return {
      status,
      phase: d.phase,
      deployment: d,
      message: `${ended}${extra.length ? `; ${extra.join('; ')}` : ''}`,
    };
  }

  private target(id: string): Target {
    const t = this.group.targets.find((x) => x.id === id);
    if (!t) throw new PhaseError(`target ${id} of the release is no longer in the group file`);
    return t;
  }

  private recorder(ledger: Ledger): Recorder {
    return new Recorder(ledger, this.ports.store, this.ports.clock, this.ports.logger, this.who);
  }

  /**
   * M6/F2 (issue 13 item 5): the eligible targets the load balancer has out of traffic (DOWN,
   * MAINT, DRAIN) count against max unavailable. One status read per target; a read that fails
   * or says unknown counts the target as serving — the chain's markdown finds the LB's state.
   */
  private async outOfTraffic(): Promise<Map<string, TrafficStatus>> {
    const out = new Map<string, TrafficStatus>();
    if (this.ports.traffic.name === 'none') return out;
    const eligible = this.group.targets.filter((t) => !t.pulledOut);
    let next = 0;
    const worker = async () => {
      while (next < eligible.length) {
        const t = eligible[next++]!;
        const status = await this.ports.traffic.status(t).catch(() => 'unknown' as const);
        if (status === 'down' || status === 'maint' || status === 'drain') out.set(t.id, status);
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, eligible.length) }, worker));
    // In the group's order, whatever order the reads came back in.
    return new Map(eligible.filter((t) => out.has(t.id)).map((t) => [t.id, out.get(t.id)!]));
  }

  /** The release line's note on the targets already out of traffic. */
  private outNote(plan: Plan, out: Map<string, TrafficStatus>, maxUnavailable: number): string {
    if (out.size === 0) return '';
    return (
      `; out of traffic in the load balancer, counted against max unavailable ` +
      `${Math.round(maxUnavailable * 100)}% (${plan.capacity.allowed} of ${this.group.targets.length} out at once), released first: ` +
      [...out].map(([id, s]) => `${id} (${s})`).join(', ')
    );
  }

  /** When the targets already out leave no room, a batch exceeds the ratio: said. */
  private async capacityWarning(
    recorder: Recorder,
    plan: Plan,
    out: Map<string, TrafficStatus>,
  ): Promise<void> {
    if (!plan.capacity.forcedMinimum) return;
    const total = this.group.targets.length;
    const lb = [...out].map(([id, s]) => `${id} (${s})`);
    const pulled = plan.excluded.map((id) => `${id} (pulled out)`);
    const already = [...pulled, ...lb];
    await recorder.emit(
      'warn',
      `${plan.capacity.worst} of ${total} out of service at once: more than max unavailable ` +
        `${Math.round(recorder.deployment.config.sizing.maxUnavailable * 100)}% allows (${plan.capacity.allowed}) — ` +
        `${already.join(', ')} ${already.length === 1 ? 'is' : 'are'} already out and a batch holds at least 1` +
        `${lb.length ? '; those out of traffic go first, after the bastion' : ''}`,
    );
  }

  /**
   * The run lock of a run that did not finish (killed, or its record could not be written) was
   * taken over: the record catches up with the log, and the trail says whose run it was and who
   * took it over.
   */
  private async recover(ledger: Ledger): Promise<void> {
    const killed = ledger.openRun;
    await this.catchUp(ledger);
    if (!killed || !ledger.current) return;
    const recorder = this.recorder(ledger);
    recorder.begin('takeover');
    await recorder.emit(
      'lock',
      `the run of ${killed} did not finish (killed?); ${this.who} takes over the group`,
      { level: 'warn' },
    );
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

  /** A new release of this group, now, by who runs this engine: the record's current one. */
  private start(ledger: Ledger, n: Omit<NewDeployment, 'id' | 'group' | 'by' | 'now'>): Deployment {
    const now = this.ports.clock.now();
    const id = deploymentId(this.group.name, now, randomBytes(2).toString('hex'));
    const d = newDeployment(ledger, { ...n, id, group: this.group.name, by: this.who, now });
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

  /**
   * An operation that ends by an error while its phase says it runs (or the bake waits): the
   * record says why, and a load balancer outage gets the exact command that goes on.
   */
  private async interrupted(ledger: Ledger, err: unknown): Promise<unknown> {
    const d = ledger.current;
    const waiting = d && (RUNNING_PHASES.has(d.phase) || d.phase === 'SMOKE_SUCCESS');
    if (!d || !waiting || !(err instanceof RollgateError) || err instanceof PhaseError) return err;
    d.interrupted = err.message;
    if (!(err instanceof DependencyDownError)) {
      await this.recorder(ledger).emit('warn', `interrupted in phase ${d.phase}: ${err.message}`, {
        interrupted: err.message,
      });
      return err;
    }
    const op = d.phase === 'SMOKE_SUCCESS' || d.phase === 'BAKING' ? 'bake' : 'continue';
    if (isSideBySide(d.config)) {
      // Side-by-side: the switch waits for the LB; its refused "go on without it" is not offered.
      const advice = sideBySideOutageAdvice(d, op, (c) => this.command(c));
      await this.recorder(ledger).emit('warn', advice, { interrupted: err.message });
      return new DependencyDownError(`${err.message} ${advice}`, { cause: err });
    }
    const advice =
      `The release waits in phase ${d.phase}: ${this.command(op, ' --degrade lb')} goes on without ` +
      `the load balancer (skipped steps recorded), ${this.command(op)} once it answers, ` +
      `${this.command('stop')} ends the release.`;
    await this.recorder(ledger).emit('warn', advice, { interrupted: err.message });
    return new DependencyDownError(`${err.message} ${advice}`, { cause: err });
  }

  /**
   * S7 × F5: a side-by-side operation with the load balancer degraded is refused before any host
   * is touched — it could switch nothing (see lb-outage.ts).
   */
  private refuseDegraded(op: LbOperation, ledger: Ledger): void {
    const cur = ledger.current;
    const runs =
      (op === 'bake' || op === 'continue' || op === 'retry') && cur ? cur.config : this.config;
    const why = degradedRefusal(op, this.options.lbDegraded, isSideBySide(runs), (c) =>
      this.command(c),
    );
    if (why) throw new InputError(this.options.lbDegraded!, why);
  }

  /** One operation at a time per group; the stop request of a finished run is cleared. */
  private async exclusive(
    op: LbOperation,
    fn: (ledger: Ledger) => Promise<RunResult>,
  ): Promise<RunResult> {
    const { store } = this.ports;
    const release = await store.acquireRun(this.group.name, this.who);
    let result: RunResult | undefined;
    let failed: { error: unknown } | undefined;
    try {
      await store.clearStop(this.group.name);
      this.stopSeen = null;
      this.lastStopCheck = -Infinity;
      const ledger = (await store.load(this.group.name)) ?? emptyLedger(this.group.name);
      this.refuseDegraded(op, ledger);
      // Only a run that did not finish (killed) can leave the record behind the log.
      if (ledger.openRun) await this.recover(ledger);
      ledger.openRun = this.who;
      // An operation that reaches hosts without checking their keys says so in the release.
      if (
        this.config.insecureIgnoreHostKey &&
        ledger.current &&
        !TERMINAL.has(ledger.current.phase)
      )
        ledger.current.config.insecureIgnoreHostKey = true;
      this.live = ledger;
      await this.heal(ledger);
      try {
        result = await fn(ledger);
      } catch (err) {
        throw await this.interrupted(ledger, err);
      }
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
