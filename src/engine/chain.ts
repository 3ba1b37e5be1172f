import { DependencyDownError, LockHeldError, StepError } from '../model/errors';
import { stepState, type TargetState } from '../model/states';
import type { DeploymentKind, Group, PackageRef, Step, Target } from '../model/types';
import type { Deployment, TargetRecord } from './ledger';
import type { Clock, LockOwner, Ports } from './ports';
import type { Recorder } from './recorder';

export type Role = 'bastion' | 'rollout';

/**
 * S1: the steps a target runs. Prefetch moves download before markdown so the package reaches
 * the host while it still serves. The bastion stops at verify (S4); a rollback switches to the
 * release kept on the host, so it has no download (F4).
 */
export function chainFor(role: Role, kind: DeploymentKind, prefetch: boolean): Step[] {
  const fetch: Step[] = kind === 'rollback' ? [] : ['download'];
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
  /** True once a stop was asked for: no new step starts. */
  stopping: () => Promise<boolean>;
}

export type ChainResult = 'done' | 'failed' | 'stopped';

/**
 * Runs one target's chain from PENDING, or the rest of it after the last step that succeeded.
 * Host truth first: a target already there is skipped (F3).
 */
export async function runChain(
  ctx: ChainContext,
  target: Target,
  rec: TargetRecord,
  role: Role,
): Promise<ChainResult> {
  const { ports, recorder } = ctx;
  const d = recorder.deployment;
  const fresh = rec.state === 'PENDING';
  const steps = remainingSteps(rec.state, chainFor(role, d.kind, d.config.prefetch));
  try {
    await ports.transport.lock(target, ctx.owner);
  } catch (err) {
    if (err instanceof LockHeldError) throw err;
    // The host cannot even be locked: the chain's first step is what failed.
    await recorder.target(rec, { type: 'start', step: steps[0]! }, `${steps[0]} started`);
    await recorder.target(rec, { type: 'fail' }, `host unreachable: ${message(err)}`);
    return 'failed';
  }
  try {
    const skip = fresh ? await alreadyThere(ctx, target, d.version, role) : null;
    if (skip) {
      await recorder.target(rec, { type: 'skip' }, skip);
      return 'done';
    }
    for (const step of steps) {
      if (await ctx.stopping()) return 'stopped';
      await recorder.target(rec, { type: 'start', step }, `${step} started`);
      try {
        const detail = await runStep(ctx, step, target, d);
        await recorder.target(rec, { type: 'succeed' }, detail);
      } catch (err) {
        await recorder.target(rec, { type: 'fail' }, message(err));
        if (err instanceof DependencyDownError) {
          // F5: an outside system is down, not this target. The release stops at once instead of
          // taking batch after batch into it; a continue (once it is back, or degraded) reruns it.
          await recorder.target(
            rec,
            { type: 'reset' },
            `${step} stopped: an outside system is down, not this target; the release stops here`,
          );
          throw err;
        }
        return 'failed';
      }
    }
    return 'done';
  } finally {
    await ports.transport.unlock(target, ctx.owner).catch(() => undefined);
  }
}

/** F3: skipped when `current` is the version, verify passes and it takes traffic. */
async function alreadyThere(
  ctx: ChainContext,
  target: Target,
  version: string,
  role: Role,
): Promise<string | null> {
  // The bastion always ends verified and out of traffic, so the bake has something to judge.
  if (role === 'bastion') return null;
  const probe = await ctx.ports.transport.probe(target).catch(() => null);
  if (probe?.current !== version) return null;
  const health = await ctx.ports.transport.health(target);
  if (!health.ok || (health.version !== undefined && health.version !== version)) return null;
  const traffic = await ctx.ports.traffic.status(target).catch(() => 'unknown' as const);
  if (traffic !== 'up' && traffic !== 'unknown') return null;
  return `already runs ${version}, healthy — skipped`;
}

async function runStep(
  ctx: ChainContext,
  step: Step,
  target: Target,
  d: Deployment,
): Promise<string> {
  const { transport, traffic } = ctx.ports;
  switch (step) {
    case 'markdown':
      await traffic.markdown(target);
      return `out of traffic (${traffic.name})`;
    case 'download': {
      const { skipped } = await transport.download(target, packageOf(d));
      return skipped
        ? `release ${d.version} already complete on host`
        : `package ${d.version} in place, checksum ok`;
    }
    case 'install': {
      const { alreadyRunning } = await transport.install(target, d.version);
      return alreadyRunning
        ? `already running ${d.version}`
        : `switched current to ${d.version}, started`;
    }
    case 'verify':
      return verify(ctx, target, d);
    case 'markup':
    case 'bake':
      await traffic.markup(target);
      return `back in traffic (${traffic.name})`;
  }
}

function packageOf(d: Deployment): PackageRef {
  return d.package;
}

/** Polls the health check until healthy on the expected version, or the start timeout. */
export async function verify(ctx: ChainContext, target: Target, d: Deployment): Promise<string> {
  const { transport, clock } = ctx.ports;
  const cfg = d.config;
  const started = clock.now();
  if (cfg.skipVerify) {
    const h = await transport.health(target);
    return `verify skipped by config (health: ${h.ok ? 'ok' : h.detail})`;
  }
  for (;;) {
    const h = await transport.health(target);
    const versionOk = h.version === undefined || h.version === d.version;
    if (h.ok && versionOk) {
      if (cfg.warmupMs > 0) await clock.sleep(cfg.warmupMs);
      return `healthy on ${d.version} after ${fmtMs(clock.now() - started)}`;
    }
    const last = h.ok ? `answers version ${h.version}, expected ${d.version}` : h.detail;
    if (clock.now() - started >= cfg.startTimeoutMs) {
      throw new StepError(`not healthy within ${fmtMs(cfg.startTimeoutMs)}: ${last}`);
    }
    await sleepUpTo(clock, cfg.verifyIntervalMs, started + cfg.startTimeoutMs);
  }
}

async function sleepUpTo(clock: Clock, ms: number, deadline: number): Promise<void> {
  await clock.sleep(Math.max(1, Math.min(ms, deadline - clock.now())));
}

export function fmtMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
