import { DependencyDownError, LockHeldError, StepError } from '../model/errors';
import { stepState, type TargetState } from '../model/states';
import type { DeploymentKind, Group, PackageRef, Step, Strategy, Target } from '../model/types';
import { isSideBySide, slotTarget } from '../model/slots';
import { flip, newSlotOf, slotsOf, startSlot, type ChainSeen } from './slot-steps';
import type { Deployment, Ledger, TargetRecord } from './ledger';
import type { Clock } from '../model/clock';
import type { HealthResult, HostProbe, LockOwner, Ports } from './ports';
import type { Recorder } from './recorder';
import { throwIfAborted } from '../model/abort';
import { formatMs } from '../model/text';

export type Role = 'bastion' | 'rollout';

/**
 * S1: the steps a target runs. Prefetch moves download before markdown so the package reaches
 * the host while it still serves. The bastion stops at verify (S4); a rollback switches to the
 * release kept on the host, so it has no download (F4).
 */
export function chainFor(
  role: Role,
  kind: DeploymentKind,
  prefetch: boolean,
  strategy: Strategy = 'in-place',
): Step[] {
  const fetch: Step[] = kind === 'rollback' ? [] : ['download'];
  if (strategy === 'side-by-side') {
    // S7: no markdown — the new slot starts beside the serving one; markup is the flip.
    const steps: Step[] = [...fetch, 'install', 'verify'];
    return role === 'bastion' ? steps : [...steps, 'markup'];
  }
  const head: Step[] = prefetch ? [...fetch, 'markdown'] : ['markdown', ...fetch];
  const steps: Step[] = [...head, 'install', 'verify'];
  return role === 'bastion' ? steps : [...steps, 'markup'];
}

/**
 * The steps still to run: all of them from PENDING, the rest of the chain for a target a killed
 * run left between two steps (`<step>_SUCCESS`, not the last), none otherwise.
 */
export function remainingSteps(state: TargetState, steps: readonly Step[]): Step[] {
  if (state === 'PENDING') return [...steps];
  const done = steps.findIndex((step) => stepState(step, 'SUCCESS') === state);
  return done >= 0 ? steps.slice(done + 1) : [];
}

export interface ChainContext {
  ports: Ports;
  recorder: Recorder;
  group: Group;
  owner: LockOwner;
  /** True once a soft stop was asked for: no target starts, none leaves traffic. */
  stopping: () => Promise<boolean>;
  /** Aborted by a hard stop: every wait and remote command ends at once. */
  signal: AbortSignal;
  /** Who asked for the hard stop, once one was asked for. */
  hardStopBy: () => string | null;
  /**
   * A host lock held by `deploymentId`: a description of that deployment when the record shows
   * it runs nowhere (ABORTED, ended, an older one of this group) so the lock is taken over;
   * null refuses.
   */
  staleLock?: (deploymentId: string) => string | null;
  /**
   * What the host said under this chain's host lock, kept up to date by the chain's own steps,
   * so each step need not ask the host again, and the lock it holds (set per chain by runChain).
   */
  seen?: ChainSeen;
  /**
   * Called once per chain (with the target id) when it is about to install — locked, probed, its
   * package in place — or has ended: the engine then starts preparing the next batch.
   */
  onPrepared?: (targetId: string) => void;
}

export type ChainResult = 'done' | 'failed' | 'stopped';

/**
 * Runs one target's chain from PENDING, or the rest of it after the last step that succeeded.
 * Host truth first: a target already there is skipped (F3).
 *
 * Stop rule (U4, "stop means stop starting things"): after a soft stop no target starts its
 * chain and none leaves traffic; a target already out of traffic finishes its chain, so it is
 * back in traffic on the new version or ends `<STEP>_FAILURE`. A hard stop ends the step in
 * flight: recorded `<STEP>_FAILURE`, interrupted; host truth decides on the next operation.
 */
export async function runChain(
  ctx: ChainContext,
  target: Target,
  record: TargetRecord,
  role: Role,
): Promise<ChainResult> {
  let told = false;
  const prepared = () => {
    if (told) return;
    told = true;
    ctx.onPrepared?.(target.id);
  };
  try {
    return await runSteps({ ...ctx, onPrepared: prepared }, target, record, role);
  } finally {
    prepared();
  }
}

async function runSteps(
  ctx: ChainContext,
  target: Target,
  record: TargetRecord,
  role: Role,
): Promise<ChainResult> {
  const { recorder, signal } = ctx;
  const d = recorder.deployment;
  const fresh = record.state === 'PENDING';
  // One view of the host per chain: taken under the host lock (a keep-warm stop under way
  // finishes first, and none starts while the lock is held), then changed only by our steps.
  ctx = { ...ctx, seen: {} };
  const { ports } = ctx;
  const steps = remainingSteps(
    record.state,
    chainFor(role, d.kind, d.config.prefetch, d.config.strategy),
  );
  // The step from which the target is changed: a stop before it leaves the target as it was.
  const gate: Step = isSideBySide(d.config) ? 'install' : 'markdown';
  if (signal.aborted || (steps.includes(gate) && (await ctx.stopping()))) return 'stopped';
  try {
    const probe = await lockHost(ctx, target);
    if (probe) ctx.seen!.probe = probe;
    ctx.seen!.lock = ctx.owner;
  } catch (err) {
    if (err instanceof LockHeldError) throw err;
    if (signal.aborted) return 'stopped';
    // The host cannot even be locked: the chain's first step is what failed.
    await recorder.transition(record, { type: 'start', step: steps[0]! }, `${steps[0]} started`);
    await recorder.transition(record, { type: 'fail' }, `host unreachable: ${message(err)}`);
    return 'failed';
  }
  try {
    let skip: string | null = null;
    try {
      skip = fresh
        ? await alreadyThere(ctx, target, d.version, role, isSideBySide(d.config))
        : null;
    } catch (err) {
      // Nothing started on this target: a hard stop leaves it as it was.
      if (signal.aborted) return 'stopped';
      throw err;
    }
    if (skip) {
      await recorder.transition(record, { type: 'skip' }, skip);
      return 'done';
    }
    for (const [i, step] of steps.entries()) {
      if (signal.aborted) return 'stopped';
      // Still in traffic (markdown to come): a stop keeps it there.
      if (steps.slice(i).includes(gate) && (await ctx.stopping())) return 'stopped';
      if (step === 'install') ctx.onPrepared?.(target.id);
      await recorder.transition(record, { type: 'start', step }, `${step} started`);
      try {
        // A switch resumed in a later run (after an LB outage, a killed run) asks the host first.
        const resumed = i === 0 && !fresh && step === 'markup';
        const detail = await runStep(ctx, step, target, d, record, resumed);
        await recorder.transition(record, { type: 'succeed' }, detail);
      } catch (err) {
        if (signal.aborted) {
          await recorder.transition(record, { type: 'fail' }, interruptedBy(ctx, step));
          return 'stopped';
        }
        await recorder.transition(record, { type: 'fail' }, message(err));
        if (err instanceof DependencyDownError) {
          // F5: an outside system is down, not this target. The release stops at once instead of
          // taking batch after batch into it; a continue (once it is back, or degraded) reruns
          // the step. A markup the LB did not take leaves the target verified, out of traffic.
          if (step === 'markdown' || step === 'markup') {
            record.lbUnknown = `${step} of ${target.id} did not complete: ${message(err)}`;
          }
          await recorder.transition(
            record,
            step === 'markup' ? { type: 'restore', to: 'VERIFY_SUCCESS' } : { type: 'reset' },
            `${step} stopped: an outside system is down, not this target; the release stops here`,
          );
          throw err;
        }
        return 'failed';
      }
    }
    return 'done';
  } finally {
    // Side-by-side: the flip's host half already released it.
    if (!ctx.seen?.unlocked) await ports.transport.unlock(target, ctx.owner).catch(() => undefined);
  }
}

/**
 * The host lock; one a deployment that runs nowhere left is taken over, with a warning. Resolves
 * with what the host said under the lock when the transport read it in the same round trip.
 */
async function lockHost(ctx: ChainContext, target: Target): Promise<HostProbe | void> {
  try {
    return await ctx.ports.transport.lock(target, ctx.owner, ctx.signal);
  } catch (err) {
    const stale =
      err instanceof LockHeldError &&
      err.deploymentId &&
      err.deploymentId !== ctx.owner.deploymentId
        ? (ctx.staleLock?.(err.deploymentId) ?? null)
        : null;
    if (!stale || !(err instanceof LockHeldError)) throw err;
    const probe = await ctx.ports.transport.lock(
      target,
      { ...ctx.owner, takeOver: err.deploymentId! },
      ctx.signal,
    );
    await ctx.recorder.emit(
      'lock',
      `host ${target.id}: took over the lock of ${stale} (held by ${err.holder} since ${err.since})`,
      { level: 'warn', target: target.id },
    );
    return probe;
  }
}

export function interruptedBy(ctx: Pick<ChainContext, 'hardStopBy'>, step: Step): string {
  return `${step} interrupted by a hard stop (${ctx.hardStopBy() ?? 'stopped at once'}): host truth decides on the next operation`;
}

/**
 * F3: skipped when `current` is the version, verify passes and it takes traffic — the bastion
 * too (a bastion that already serves the version in traffic has nothing to bake). An LB that
 * could not answer is not "in traffic": the chain runs (and says what it skipped).
 */
async function alreadyThere(
  ctx: ChainContext,
  base: Target,
  version: string,
  role: Role,
  sideBySide: boolean,
): Promise<string | null> {
  const { transport, traffic } = ctx.ports;
  // What the host said when the lock was taken, else asked now (still under the lock).
  const probe =
    ctx.seen?.probe ??
    (await transport.probe(base, ctx.signal).catch((err: unknown) => {
      if (ctx.signal.aborted) throw err;
      return null;
    }));
  if (probe && ctx.seen) ctx.seen.probe = probe;
  if (probe?.current !== version) return null;
  // Side-by-side: what serves is the serving slot (its port, its server).
  const target = sideBySide ? slotTarget(base, slotsOf(probe).serving ?? 'a') : base;
  const health = await transport.health(target, ctx.signal);
  if (!health.ok || (health.version !== undefined && health.version !== version)) return null;
  const lb = await traffic.status(target).catch(() => 'unknown' as const);
  if (lb !== 'up' && lb !== 'none') return null;
  const where = lb === 'none' ? 'no load balancer' : 'in traffic';
  return role === 'bastion'
    ? `already runs ${version}, healthy, ${where} — skipped: nothing to bake`
    : `already runs ${version}, healthy, ${where} — skipped`;
}

async function runStep(
  ctx: ChainContext,
  step: Step,
  target: Target,
  d: Deployment,
  record: TargetRecord,
  resumed = false,
): Promise<string> {
  const { transport, traffic } = ctx.ports;
  const { signal } = ctx;
  switch (step) {
    case 'markdown': {
      const r = await traffic.markdown(target, signal);
      if (r) {
        record.lbUnknown = r.skipped;
        return `skipped (LB degraded): ${r.skipped}`;
      }
      return traffic.name === 'none'
        ? 'no load balancer (traffic: none)'
        : `out of traffic (${traffic.name})`;
    }
    case 'download': {
      const { skipped } = await transport.download(target, packageOf(d), signal);
      return skipped
        ? `release ${d.version} already complete on host`
        : `package ${d.version} in place, checksum ok`;
    }
    case 'install': {
      if (isSideBySide(d.config)) {
        return startSlot({ ...ctx, protect: keptForRollback(ctx.recorder.ledger, d) }, target, d);
      }
      // What the host said under this chain's lock: `current` is changed only by this install.
      const probe = ctx.seen?.probe;
      if (ctx.seen) delete ctx.seen.probe;
      const { alreadyRunning } = await transport.install(target, d.version, signal, {
        protect: keptForRollback(ctx.recorder.ledger, d),
        ...(probe ? { probe } : {}),
      });
      return alreadyRunning
        ? `already running ${d.version}`
        : `switched current to ${d.version}, started`;
    }
    case 'verify':
      if (isSideBySide(d.config)) {
        const { next } = await newSlotOf(ctx, target, d.version);
        return `slot ${next.slot} (port ${next.port}): ${await verify(ctx, next, d)}`;
      }
      return verify(ctx, target, d);
    case 'markup':
      if (isSideBySide(d.config)) {
        if (resumed) {
          // Verified in an earlier run: the slot must still run the version, healthy, before it
          // takes traffic — it is switched as it runs, never restarted here.
          const { next } = await newSlotOf(ctx, target, d.version);
          const problem = slotUnhealthy(await transport.health(next, signal), d.version);
          if (problem) {
            throw new StepError(
              `slot ${next.slot} (port ${next.port}), verified earlier, ${problem}; the serving slot keeps serving: retry starts it again`,
            );
          }
        }
        return flip(ctx, target, d, record);
      }
      return markUp(ctx, target, record);
    case 'bake': {
      if (isSideBySide(d.config)) {
        const { next } = await newSlotOf(ctx, target, d.version);
        const problem = bastionUnhealthy(await transport.health(next, signal), d.version);
        if (problem) throw new StepError(problem);
        return flip(ctx, target, d, record);
      }
      const problem = bastionUnhealthy(await transport.health(target, signal), d.version);
      if (problem) throw new StepError(problem);
      return markUp(ctx, target, record);
    }
  }
}

/**
 * S4: why a bastion may not bake — it no longer answers healthy, or answers another version —
 * or null. The version is judged only when the health check reports one.
 */
export function bastionUnhealthy(h: HealthResult, version: string): string | null {
  const problem = slotUnhealthy(h, version);
  return problem && `bastion ${problem}`;
}

/** Pure: why a started slot may not take traffic — or null when it answers healthy on `version`. */
export function slotUnhealthy(h: HealthResult, version: string): string | null {
  if (h.ok && (h.version === undefined || h.version === version)) return null;
  return `no longer healthy on ${version}: ${h.ok ? `version ${h.version}` : h.detail}`;
}

export type BakeResult = ChainResult | { lbDown: DependencyDownError };

/**
 * S4: a verified bastion's last step — still healthy on the version, then into traffic. It
 * runs on a person's word (`bake`), not in a batch: no host lock, no skip. A load balancer that
 * is down fails the bake and leaves the bastion's LB state unknown (`lbDown`): pressed again
 * once the LB answers, or degraded.
 */
export async function runBake(
  ctx: ChainContext,
  target: Target,
  record: TargetRecord,
): Promise<BakeResult> {
  const { recorder } = ctx;
  await recorder.transition(
    record,
    { type: 'start', step: 'bake' },
    'bake started: checking the bastion first',
  );
  try {
    const detail = await runStep(ctx, 'bake', target, recorder.deployment, record);
    await recorder.transition(record, { type: 'succeed' }, detail);
    return 'done';
  } catch (err) {
    if (ctx.signal.aborted) {
      await recorder.transition(record, { type: 'fail' }, interruptedBy(ctx, 'bake'));
      return 'stopped';
    }
    await recorder.transition(record, { type: 'fail' }, message(err));
    if (err instanceof DependencyDownError) {
      record.lbUnknown = `bake of ${target.id} did not complete: ${err.message}`;
      return { lbDown: err };
    }
    return 'failed';
  }
}

/** Markup (and the bastion's bake): a skip because the LB is degraded is said, never hidden. */
export async function markUp(
  ctx: Pick<ChainContext, 'ports' | 'signal'>,
  target: Target,
  record: TargetRecord,
): Promise<string> {
  const { traffic } = ctx.ports;
  const r = await traffic.markup(target, ctx.signal);
  if (r) {
    record.lbUnknown = r.skipped;
    return `skipped (LB degraded): ${r.skipped}`;
  }
  delete record.lbUnknown;
  return traffic.name === 'none'
    ? 'no load balancer (traffic: none)'
    : `back in traffic (${traffic.name})`;
}

function packageOf(d: Deployment): PackageRef {
  return d.package;
}

/** Polls the health check until healthy on the expected version, or the start timeout. */
export async function verify(
  ctx: Pick<ChainContext, 'ports' | 'signal'>,
  target: Target,
  d: Deployment,
): Promise<string> {
  const { transport, clock } = ctx.ports;
  const { signal } = ctx;
  const cfg = d.config;
  const started = clock.now();
  if (cfg.skipVerify) {
    const h = await transport.health(target, signal);
    return `verify skipped by config (health: ${h.ok ? 'ok' : h.detail})`;
  }
  for (;;) {
    const h = await transport.health(target, signal);
    throwIfAborted(signal);
    const versionOk = h.version === undefined || h.version === d.version;
    if (h.ok && versionOk) {
      if (cfg.warmupMs > 0) await clock.sleep(cfg.warmupMs, signal);
      return `healthy on ${d.version} after ${formatMs(clock.now() - started)}`;
    }
    const last = h.ok ? `answers version ${h.version}, expected ${d.version}` : h.detail;
    if (clock.now() - started >= cfg.startTimeoutMs) {
      throw new StepError(`not healthy within ${formatMs(cfg.startTimeoutMs)}: ${last}`);
    }
    await sleepUpTo(clock, cfg.verifyIntervalMs, started + cfg.startTimeoutMs, signal);
  }
}

async function sleepUpTo(
  clock: Clock,
  ms: number,
  deadline: number,
  signal: AbortSignal,
): Promise<void> {
  await clock.sleep(Math.max(1, Math.min(ms, deadline - clock.now())), signal);
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * F4: the versions a host must keep whatever `keep` says — where a rollback goes (the newest
 * successful release of another version) and what this release came from.
 */
export function keptForRollback(ledger: Ledger, d: Deployment): string[] {
  const kept = new Set<string>();
  const ok = ledger.history.find((h) => h.outcome === 'success' && h.version !== d.version);
  if (ok) kept.add(ok.version);
  if (d.fromVersion && d.fromVersion !== d.version) kept.add(d.fromVersion);
  return [...kept];
}
