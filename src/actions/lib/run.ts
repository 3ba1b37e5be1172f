import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import { getOctokit } from '@actions/github';
import { loadGroupFile } from '../../config/group-file';
import { openRuntime, resolvePackage, type Runtime } from '../../app/runtime';
import type { RunResult } from '../../engine/engine';
import { nextActions } from '../../engine/phases';
import type { ReleaseLogger } from '../../engine/ports';
import type { Phase } from '../../model/states';
import { collectStatus } from '../../report/collect';
import { JOB_SUMMARY_LIMITS, renderStatusMarkdown, type Buttons } from '../../report/markdown';
import { GitHubReportingStore, groupPageUrl, type RepoContext } from './github-deployments';
import { optional, readInputs } from './inputs';
import { STEP_INPUTS, type StepInputs, type StepName } from './step-inputs';
import { monitorRelease } from '../../app/monitor';
import { formatValue, type WatchResult } from '../../monitor';
import { InputError, PhaseError, UnapprovedGateError } from '../../model/errors';
import {
  CheckpointStore,
  guardCancel,
  probeHosts,
  recordStopIn,
  RecordKeeper,
  restoreRecord,
  stopCopyLayers,
  type CancelGuard,
} from './record';
import { realClock } from '../../clock/real';
import { gatePackage, type VerdictSource } from '../../app/gate';
import { ArtifactVerdicts } from './scan-verdicts';
import { coreLogger } from './core-logger';
import { planGates, recordGate } from './step-gates';
import { knownHostsEnv, maskKey } from './ssh-inputs';
import { failStep } from './fail-step';

export type { StepName };

/** What a step did: the engine's result, and what a step that is not an engine operation adds. */
interface StepResult {
  run: RunResult | null;
  outcome?: string;
  outputs?: Record<string, string>;
  /** Fails the job with this message. */
  failure?: string;
  /** Markdown put above the one page in the job summary. */
  notes?: string;
}

type Op<S extends StepName> = (
  rt: Runtime,
  attempt: number,
  signal: AbortSignal,
  inputs: StepInputs<S>,
) => Promise<RunResult | null | StepResult>;

/** What each step asks of the engine. Retry is GitHub's "Re-run failed jobs" (G3). */
const OPS: { [S in StepName]: Op<S> } = {
  'deploy-bastion': async (rt, attempt, _signal, inputs) => {
    const version = inputs.version;
    const d = (await rt.ports.store.load(rt.loaded.group.name))?.current;
    // A re-run after the bastion of this version failed retries it (F3) instead of a new release.
    if (attempt > 1 && d?.phase === 'SMOKE_FAILURE' && d.version === version) {
      return rt.engine.retry();
    }
    // `{version}` in input package, as in the group file's package.source.
    const file = inputs.package?.replaceAll('{version}', version);
    const pkg = await resolvePackage(rt.loaded, version, file, inputs.image);
    const override = inputs['scan-override'];
    const gated = await gatePackage(
      pkg,
      await verdictSource(attempt, inputs),
      override ? { reason: override, by: rt.who } : undefined,
    );
    return rt.engine.deploy({ version, package: gated, force: inputs.force });
  },
  bake: async (rt, attempt, signal, inputs) => {
    // A re-run after a failed bake retries the bastion chain first, then bakes it.
    const d = (await rt.ports.store.load(rt.loaded.group.name))?.current;
    if (attempt > 1 && d?.phase === 'SMOKE_FAILURE') {
      const retried = await rt.engine.retry();
      if (retried.phase !== 'SMOKE_SUCCESS') return retried;
    }
    const baked = await rt.engine.bake();
    const watchFor = inputs.watch;
    if (baked.phase !== 'BAKE_SUCCESS' || !watchFor || !rt.loaded.monitor) return baked;
    // The bastion takes traffic now: the same checks, bastion against the rest of the fleet, so
    // the person at the continue gate decides on data. Degraded fails the job (no roll-out).
    const { result } = await monitorRelease(rt, {
      forText: watchFor,
      rollbackOnDegraded: false,
      signal,
    });
    return {
      run: baked,
      outputs: { verdict: result.verdict, 'decided-by': result.decidedBy ?? '' },
      ...(result.verdict === 'degraded'
        ? { failure: `bake: the bastion looks degraded: ${result.message}` }
        : {}),
      notes: monitorNotes(result, `the bastion in traffic for ${watchFor}`),
    };
  },
  'roll-batches': async (rt, attempt) => {
    const d = (await rt.ports.store.load(rt.loaded.group.name))?.current;
    if (d?.phase === 'SMOKE_SUCCESS' || d?.phase === 'SMOKING') {
      throw new PhaseError(
        `roll-batches: bastion of ${d.version} is not baked (phase ${d.phase}): the bake job must be approved first`,
      );
    }
    return attempt > 1 && d?.phase === 'FAILURE' ? rt.engine.retry() : rt.engine.continue();
  },
  rollback: (rt) => rt.engine.rollback(),
  stop: async (rt) => {
    // A cancelled step has already ended the release ABORTED itself: nothing is left to stop.
    const d = (await rt.ports.store.load(rt.loaded.group.name))?.current;
    if (d?.phase === 'ABORTED') {
      core.info(`release ${d.id} (${d.version}) is already ABORTED`);
      return {
        status: 'aborted',
        phase: d.phase,
        deployment: d,
        message: `ABORTED: ${nextActions(d.phase)}`,
      };
    }
    return rt.engine.stop();
  },
  'monitor-30m': async (rt, _attempt, signal, inputs) => {
    if (!rt.loaded.monitor) {
      const why = `${rt.loaded.file} has no monitor section: nothing to watch (see the README)`;
      core.notice(why);
      return { run: null, outcome: 'skipped', notes: `## Monitor: skipped\n${why}\n` };
    }
    const onFailure = inputs['on-failure'];
    if (onFailure !== 'fail' && onFailure !== 'rollback') {
      throw new InputError('input on-failure', `"${onFailure}" is not fail or rollback`);
    }
    const forText = inputs.for;
    const intervalText = inputs.interval;
    const { result, rollback } = await monitorRelease(rt, {
      ...(forText ? { forText } : {}),
      ...(intervalText ? { intervalText } : {}),
      rollbackOnDegraded: onFailure === 'rollback',
      signal,
    });
    const healthy = result.verdict === 'healthy';
    return {
      run: rollback,
      outcome: healthy ? 'healthy' : rollback ? 'rolled-back' : result.verdict,
      outputs: {
        verdict: result.verdict,
        'decided-by': result.decidedBy ?? '',
        message: result.message,
      },
      ...(healthy ? {} : { failure: `monitor-30m: ${result.verdict}: ${result.message}` }),
      notes: monitorNotes(result, `the release for ${forText ?? 'its window'}`),
    };
  },
};

function monitorNotes(r: WatchResult, what: string): string {
  const icon = r.verdict === 'healthy' ? '✅' : r.verdict === 'degraded' ? '❌' : '❔';
  const rows = r.checks.map((c) => {
    const last = c.points.at(-1);
    const rest = c.lastOld !== undefined ? formatValue(c.lastOld, c.unit) : '-';
    return `| ${c.name} | ${c.kind} | ${c.state} | ${last ? formatValue(last.value, c.unit) : '-'} | ${rest} | ${c.withData}/${c.reads} |`;
  });
  return [
    `## Monitor: ${icon} ${r.verdict} — ${what}`,
    r.message,
    '',
    '| check | kind | last state | last reading (new version) | rest of the fleet (old version) | reads with data |',
    '|---|---|---|---|---|---:|',
    ...rows,
    '',
  ].join('\n');
}

/**
 * Where deploy-bastion finds the clair-scan verdict: this run's artifacts, or input
 * scan-run-id's. A re-run attempt reads its own run by run id through REST: the runner's
 * artifact service of attempt 2 does not serve what attempt 1's clair-scan uploaded.
 */
async function verdictSource(
  attempt: number,
  inputs: StepInputs<'deploy-bastion'>,
): Promise<VerdictSource> {
  const env = process.env;
  const dir = await mkdtemp(join(env.RUNNER_TEMP ?? tmpdir(), 'rollgate-scan-'));
  const [owner = '', repo = ''] = (env.GITHUB_REPOSITORY ?? '/').split('/');
  const other = inputs['scan-run-id'];
  if (!other) {
    return attempt > 1
      ? new ArtifactVerdicts(dir, {
          token: inputs.token,
          runId: Number(env.GITHUB_RUN_ID ?? 0),
          owner,
          repo,
        })
      : new ArtifactVerdicts(dir);
  }
  const runId = Number(other);
  if (!Number.isSafeInteger(runId) || runId <= 0) {
    throw new InputError('input scan-run-id', `"${other}" is not a workflow run id`);
  }
  return new ArtifactVerdicts(dir, { token: inputs.token, runId, owner, repo });
}

function asStep(r: RunResult | null | StepResult): StepResult {
  return r && 'run' in r ? r : { run: r };
}

/** Groups each batch in the log; one line per transition. */
const ciLogger: ReleaseLogger = {
  ...coreLogger,
  event(e, line) {
    if (e.type === 'batch' && !/ done /.test(e.message)) core.startGroup(line);
    else if (e.type === 'warn' || e.level === 'warn') core.warning(line);
    else core.info(line);
    if (e.type === 'batch' && / done /.test(e.message)) core.endGroup();
  },
};

export function outcomeOf(r: RunResult | null): string {
  if (!r) return 'stop-requested';
  if (r.phase === 'BRAKED') return 'braked';
  return r.status;
}

function buttons(phase: Phase | undefined, env: string, rollbackTo: string | null): Buttons {
  // Never a rollback button when there is nothing to roll back to (the first release).
  const none = 'no earlier version to roll back to';
  if (rollbackTo === null && (phase === 'SUCCESS' || phase === 'ABORTED')) {
    return { live: [`a new release: run the release workflow (${none})`] };
  }
  if (rollbackTo === null && phase === 'FAILURE') {
    return { live: [`retry: Re-run failed jobs (${none})`] };
  }
  const gate = (name: string) => `approve the \`${name}\` gate (Review deployments in this run)`;
  switch (phase) {
    case 'SMOKE_SUCCESS':
      return { live: [`bake: ${gate(`${env}-bake`)}`, 'stop: reject the gate or cancel the run'] };
    case 'BAKE_SUCCESS':
    case 'PAUSED':
    case 'BRAKED':
      return { live: [`continue: ${gate(env)}`, 'stop: reject the gate or cancel the run'] };
    case 'SMOKE_FAILURE':
    case 'FAILURE':
      return { live: ['retry: Re-run failed jobs', 'rollback: run the rollback job or workflow'] };
    case 'SUCCESS':
    case 'ABORTED':
      return { live: ['rollback: run the rollback workflow (any time)'] };
    default:
      return { live: ['stop: cancel the run'] };
  }
}

/** The whole life of one step: restore the record, act, report, keep the record. */
export async function runStep(step: StepName): Promise<void> {
  const env = process.env;
  let rt: Runtime | null = null;
  let guard: CancelGuard | null = null;
  try {
    const inputs = readInputs(STEP_INPUTS[step]) as StepInputs<StepName>;
    const groupFile = inputs['group-file'];
    const environment = inputs.environment;
    const pageUrl = inputs['page-url'];
    const token = inputs.token;
    const [owner = '', repo = ''] = (env.GITHUB_REPOSITORY ?? '/').split('/');
    const runId = Number(env.GITHUB_RUN_ID ?? 0);
    const attempt = Number(env.GITHUB_RUN_ATTEMPT ?? 1);
    const loaded = await loadGroupFile(groupFile, env);
    const group = loaded.group.name;
    // Checked before anything is touched: a bad URL fails the step naming the input.
    const environmentUrl = pageUrl ? groupPageUrl(pageUrl, group) : undefined;
    const named = inputs.group;
    if (named !== undefined && named !== group) {
      throw new InputError(
        'input group',
        `"${named}" is not the group ${groupFile} releases ("${group}"): the workflow's concurrency is keyed on this input, so it must be the group file's name`,
      );
    }
    maskKey(loaded.transport, env);
    const dir = await mkdtemp(join(env.RUNNER_TEMP ?? tmpdir(), 'rollgate-'));
    const runtimeEnv = await knownHostsEnv({
      transport: loaded.transport,
      groupFile,
      knownHosts: inputs['known-hosts'],
      env,
      tempDir: await mkdtemp(join(env.RUNNER_TEMP ?? tmpdir(), 'rollgate-ssh-')),
      reachesHosts: step !== 'stop',
    });
    const groupDir = join(dir, group);
    const octokit = getOctokit(token);
    const ctx: RepoContext = {
      owner,
      repo,
      environment: `${environment}/${group}`,
      ref: env.GITHUB_SHA ?? 'HEAD',
      runId,
      logUrl: `${env.GITHUB_SERVER_URL ?? 'https://github.com'}/${owner}/${repo}/actions/runs/${runId}`,
      ...(environmentUrl ? { environmentUrl } : {}),
      warn: (l) => core.warning(l),
    };
    // stop reaches no host: it needs no key (its status page probes with one if given).
    const lazyTransport = step === 'stop';

    let reporter: GitHubReportingStore | null = null;
    // A release a cancel has ended ABORTED: its deployment gets no more statuses from this step.
    const muted = new Map<string, number>();
    const ids = () => new Map([...(reporter?.ids ?? []), ...muted]);
    const keeper = new RecordKeeper({
      group,
      groupDir,
      attempt,
      job: env.GITHUB_JOB ?? step,
      flush: () => rt?.ports.store.flush() ?? Promise.resolve(),
      ids,
      log: core,
    });

    // The record first: the gate check reads it, and who acts depends on the gate.
    const restored = await core.group('restore the release record', async () => {
      const found = await restoreRecord({
        group,
        groupDir,
        token,
        octokit,
        repo: ctx,
        runId,
        attempt,
        // Only a rebuild asks the hosts (host truth), through a runtime of its own.
        hosts: async () => {
          const probe = await openRuntime({
            groupFile,
            env: runtimeEnv,
            logger: ciLogger,
            storeDir: dir,
            lazyTransport,
          });
          try {
            return await probeHosts(probe.ports.transport, probe.loaded.group.targets);
          } finally {
            await probe.close();
          }
        },
        packageFor: (version) => resolvePackage(loaded, version).catch(() => null),
        now: () => Date.now(),
        log: core,
      });
      core.info(
        found.artifact
          ? `record: ${found.artifact}`
          : 'no earlier record: first release of this group',
      );
      return found;
    });

    // G5: before anything acts, the gate this step stands behind (approvals API).
    const gates = await planGates({
      step,
      octokit,
      repo: { owner, repo },
      runId,
      attempt,
      environment,
      storeDir: dir,
      group,
      env,
      inputs,
    });

    // A re-run's actor is who pressed Re-run (github.triggering_actor), not the run's first one.
    // Whoever it is, the record names the run and its attempt (GITHUB_RUN_ATTEMPT) too.
    const actor = env.GITHUB_TRIGGERING_ACTOR || env.GITHUB_ACTOR || 'github';
    rt = await openRuntime({
      groupFile,
      env: runtimeEnv,
      logger: ciLogger,
      who: `${gates.who ?? inputs.who ?? actor} (run ${runId}, attempt ${attempt})`,
      degrade: inputs['degrade-lb'] ? ['lb'] : [],
      storeDir: dir,
      // Notifications name the workflow's environment and link to this run (issue 18).
      notifyLink: inputs['notify-link'] ?? ctx.logUrl,
      environment,
      decorateStore: (s) =>
        new CheckpointStore(
          (reporter = new GitHubReportingStore(s, octokit, ctx, restored.ids)),
          keeper,
        ),
      lazyTransport,
    });
    const running = rt;
    if (gates.statusNote) reporter!.note = gates.statusNote;
    await recordGate(rt, gates);

    const aborter = new AbortController();
    const by = 'the workflow run was cancelled';
    guard = guardCancel({
      engine: running.engine,
      aborter,
      by,
      log: core,
      emergency: async () => {
        const name = await keeper.emergency(async (snapshot) => {
          const stopped = await recordStopIn(snapshot, {
            group,
            by,
            decorate: stopCopyLayers(
              running,
              (s) => new GitHubReportingStore(s, octokit, ctx, Object.fromEntries(ids())),
            ),
            logger: ciLogger,
            clock: realClock,
          });
          const id = stopped ? reporter?.ids.get(stopped) : undefined;
          if (stopped && id !== undefined) {
            muted.set(stopped, id);
            reporter!.ids.delete(stopped);
          }
        });
        if (name) core.info(`record kept as ${name} (the step was cancelled)`);
        core.setOutput('outcome', 'aborted');
        core.setOutput('phase', 'ABORTED');
      },
    });

    let done: StepResult = { run: null };
    try {
      done = gates.leave
        ? { run: null, outcome: 'waiting' }
        : asStep(await (OPS[step] as Op<StepName>)(rt, attempt, aborter.signal, inputs));
    } finally {
      guard.finished();
      await rt.ports.store.flush();
      const kept = await keeper.final();
      if (kept) core.info(`record kept as ${kept}`);
      const status = await collectStatus(rt.ports, rt.loaded.group, 15);
      const d = status.release;
      core.setOutput('outcome', done.outcome ?? outcomeOf(done.run));
      for (const [k, v] of Object.entries(done.outputs ?? {})) core.setOutput(k, v);
      core.setOutput('phase', d?.phase ?? '');
      core.setOutput('version', d?.version ?? '');
      core.setOutput('deployment-id', d ? String(ids().get(d.id) ?? '') : '');
      core.setOutput(
        'failed-targets',
        status.targets
          .filter((t) => t.state?.endsWith('_FAILURE'))
          .map((t) => t.id)
          .join(','),
      );
      await core.summary
        .addRaw(
          (restored.warning ? `> [!WARNING]\n> ${restored.warning}\n\n` : '') +
            (gates.notes ? `${gates.notes}\n` : '') +
            (done.notes ? `${done.notes}\n` : '') +
            renderStatusMarkdown(
              status,
              buttons(d?.phase, environment, status.rollbackTo),
              JOB_SUMMARY_LIMITS,
            ),
        )
        .write();
    }
    // For the stop step, ABORTED is what it was asked for: the job stays green.
    const result = done.run;
    if (done.failure) {
      core.setFailed(done.failure);
    } else if (
      result &&
      (result.status === 'failure' || (result.status === 'aborted' && step !== 'stop'))
    ) {
      core.setFailed(`${step}: ${result.message}`);
    }
  } catch (err) {
    if (err instanceof UnapprovedGateError) {
      await core.summary
        .addRaw(
          `## ⛔ Gate \`${err.environment}\`: not approved — nothing was done\n${err.message}\n`,
        )
        .write()
        .catch(() => undefined);
    }
    failStep(err, env, optional('group-file'));
  } finally {
    guard?.uninstall();
    await rt?.close();
  }
}
