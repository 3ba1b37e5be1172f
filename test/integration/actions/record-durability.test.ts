import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  killApp,
  ledgerArtifacts,
  readArtifactFile,
  runAction,
  type ActionRun,
} from '../../support/actions-runner';
import {
  startGitHubDouble,
  type GitHubDouble,
  violationLines,
} from '../../support/github-double/github-double';
import { closeServer, squat } from '../../support/port-squatter';
import type { Ledger } from '../../../src/engine/ledger';
import type { DeploymentRecord } from '../../support/github-double/state';
import { logOf, results, ROLLOUT_WORKFLOW } from '../../support/rollout-jobs';
import { makeSshActionsFleet, type SshActionsFleet } from '../../support/ssh-actions-fleet';
import {
  rerunFailedJobs,
  startWorkflow,
  type WorkflowRunOptions,
  type WorkflowRunResult,
} from '../../support/workflow-driver';

// Issue 12 items 3 (actions side), 4 and 5, on an SSH group (sshd on 127.0.2.211-213, the
// sample app on :18950), through the workflow driver and the real bundles against the GitHub
// double:
// - the record outlives its artifacts: expired or deleted, it is rebuilt from the GitHub
//   deployments and host truth (a rollback and a new release both work, with a warning);
// - "Re-run failed jobs" reads attempt 1's record by run id through REST (the internal artifact
//   service of attempt 2 does not show it);
// - a cancelled run keeps its record: ABORTED, uploaded before the runner's SIGKILL, even while
//   a target is stuck in a 20 s verify.

const ENV = 'production';
const DAY = 86_400_000;
const FAST = '  maxUnavailable: 33%\n  startTimeout: 8s\n  verifyInterval: 50ms';

let double: GitHubDouble;
let fleet: SshActionsFleet;
let home: string;
const aliceToken = 'ghp_alice_record_reviewer';

const deploymentsOf = (): DeploymentRecord[] =>
  double.state.deployments.filter((d) => d.environment === `${ENV}/${fleet.group}`);
const hostsView = () => fleet.hosts.map((h) => `${h.id} ${fleet.current(h.id)}`);

function options(runId: number, version: string, extra: Partial<WorkflowRunOptions> = {}) {
  return {
    file: ROLLOUT_WORKFLOW,
    double,
    runId,
    workspace: fleet.workspace,
    reviewerToken: aliceToken,
    inputs: { 'group-file': fleet.groupFile, group: fleet.group, version, environment: ENV },
    secrets: fleet.secrets,
    gate: () => 'approve' as const,
    ...extra,
  } satisfies WorkflowRunOptions;
}

/** A step of operate.yml (the root action's `step`), by hand in a later run. */
function operate(step: string, runId: number): Promise<ActionRun> {
  return runAction(step, {
    double,
    ids: { runId, jobId: step },
    job: step,
    cwd: fleet.workspace,
    inputs: {
      'group-file': fleet.groupFile,
      environment: ENV,
      'known-hosts': fleet.secrets['known-hosts'],
    },
    env: { ROLLGATE_SSH_KEY: fleet.secrets['ssh-private-key'], HOME: home },
  });
}

async function release(runId: number, version: string): Promise<WorkflowRunResult> {
  const r = await startWorkflow(options(runId, version)).done;
  expect(r.outputs.outcome, logOf(r, 'roll')).toBe('success');
  return r;
}

async function ledgerOf(runId: number, job?: string): Promise<Ledger> {
  const arts = ledgerArtifacts(double, fleet.group, runId).filter(
    (a) => !job || a.name.includes(`-${job}-`),
  );
  const newest = arts.at(-1);
  if (!newest) throw new Error(`no ledger artifact of run ${runId}${job ? ` (${job})` : ''}`);
  return JSON.parse(await readArtifactFile(double, newest, 'state.json')) as Ledger;
}

beforeAll(async () => {
  double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: '127.0.7.101' });
  await double.storage();
  double.state.addToken(aliceToken, 'alice');
  for (const name of [`${ENV}-bake`, ENV]) {
    double.state.setEnvironment(name, { reviewers: [{ type: 'User', login: 'alice' }] });
  }
  fleet = await makeSshActionsFleet({
    group: 'web',
    n: 3,
    first: 211,
    port: 18950,
    deployment: FAST,
  });
  home = await mkdtemp(join(tmpdir(), 'rollgate-operator-'));
  await mkdir(join(home, '.ssh'), { recursive: true });
  await writeFile(join(home, '.ssh/known_hosts'), fleet.secrets['known-hosts']);
  for (const v of ['1.0.0', '2.0.0', '3.0.0', '4.0.0']) await fleet.build(v, { startDelayMs: 50 });
  // Slow to start: the cancel lands while web-02 still verifies.
  await fleet.build('5.0.0', { startDelayMs: 20_000 });
}, 300_000);

afterAll(async () => {
  await fleet?.cleanup();
  await double?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

afterEach(() => {
  expect(violationLines(double)).toEqual([]);
});

describe('the record outlives artifact retention (SSH group, workflow driver, bundles)', () => {
  it('newest ledger artifact expired: a rollback in a later run still works, with a warning', async () => {
    await release(501, '1.0.0');
    await release(502, '2.0.0');
    expect(hostsView()).toEqual(['web-01 2.0.0', 'web-02 2.0.0', 'web-03 2.0.0']);
    // 91 days later: every artifact is past the repository's 90-day retention.
    const aged = double.state.ageArtifacts(91 * DAY);
    expect(aged.length).toBeGreaterThan(0);
    expect(aged.every((a) => double.state.artifactJson(a).expired)).toBe(true);

    const r = await operate('rollback', 503);
    expect(r.code, `${r.stdout.slice(-3000)}\n${r.stderr}`).toBe(0);
    expect(r.outputs).toMatchObject({ outcome: 'success', phase: 'SUCCESS', version: '1.0.0' });
    expect(r.warnings.join('\n')).toMatch(
      /record rebuilt from 2 GitHub deployments and host truth .*expired.*per-target log and step timings are gone/,
    );
    expect(r.stdout).not.toMatch(/first release of this group/);
    for (const h of fleet.hosts) {
      expect(fleet.current(h.id)).toBe('1.0.0');
      expect(await fleet.health(h.id)).toBe('1.0.0');
      expect(fleet.traffic(h.id)).toBe('up');
    }
    const rb = deploymentsOf().at(-1)!;
    expect(rb.payload).toMatchObject({ kind: 'rollback', version: '1.0.0', from: '2.0.0' });
    expect(rb.statuses.at(-1)!.state).toBe('success');
    // The rollback's own record is whole again: the history from the deployments, 2.0.0
    // quarantined, and the warning at the top of its log.
    const ledger = await ledgerOf(503);
    expect(
      ledger.history.map((h: { kind: string; version: string }) => `${h.kind} ${h.version}`),
    ).toEqual(['rollback 1.0.0', 'deploy 2.0.0', 'deploy 1.0.0']);
    expect(ledger.quarantined['2.0.0']?.reason).toMatch(/^rolled back to 1\.0\.0 by /);
    expect(r.summary).toContain('record rebuilt from 2 GitHub deployments');
    // 2.0.0 is quarantined and 1.0.0 runs: no rollback button that would be refused
    expect(r.summary).toContain(
      'a new release: run the release workflow (no earlier version to roll back to)',
    );
  });

  it('no artifact at all but deployments exist: a new release rebuilds the record, never "first release"', async () => {
    // GitHub deletes expired artifacts: nothing is left of runs 501-503.
    double.state.artifacts.length = 0;
    const r = await release(504, '3.0.0');
    const deployLog = logOf(r, 'deploy-bastion');
    expect(deployLog).not.toMatch(/first release of this group/);
    expect(deployLog).toMatch(/record rebuilt from 3 GitHub deployments and host truth/);
    expect(hostsView()).toEqual(['web-01 3.0.0', 'web-02 3.0.0', 'web-03 3.0.0']);
    const ledger = await ledgerOf(504);
    expect(ledger.current).toMatchObject({
      version: '3.0.0',
      phase: 'SUCCESS',
      fromVersion: '1.0.0',
    });
    expect(
      ledger.history.map((h: { kind: string; version: string }) => `${h.kind} ${h.version}`),
    ).toEqual(['deploy 3.0.0', 'rollback 1.0.0', 'deploy 2.0.0', 'deploy 1.0.0']);
    expect(Object.keys(ledger.quarantined)).toEqual(['2.0.0']);
  });
});

describe('re-runs read the record by run id through REST', () => {
  it('"Re-run failed jobs" (attempt 2) reads attempt 1\'s record and retries only the failed target', async () => {
    // web-02's app died and another process holds its port: its verify fails, the brake holds
    // (1 of 3 ≥ 33%), continue fails.
    killApp(join(fleet.hosts[1]!.docBase, '.rollgate/app.pid'));
    const squatter = await squat('127.0.2.212', 18950);
    let first: WorkflowRunResult;
    try {
      first = await startWorkflow(options(506, '4.0.0')).done;
    } finally {
      await closeServer(squatter);
    }
    expect(results(first), logOf(first, 'continue')).toMatchObject({
      roll: 'success',
      continue: 'failure',
    });
    expect(first.jobs.continue!.outputs.outcome).toBe('failure');
    const again = await rerunFailedJobs(options(506, '4.0.0'), first).done;
    expect(again.attempt).toBe(2);
    expect(results(again), logOf(again, 'continue')).toMatchObject({ continue: 'success' });
    const log = logOf(again, 'continue');
    expect(log).toMatch(/record: rollgate-web-a1-continue-\d+/);
    expect(log).toMatch(/retry 1 by alice .*: 1 target in 1 batch \(web-02\)/);
    expect(hostsView()).toEqual(['web-01 4.0.0', 'web-02 4.0.0', 'web-03 4.0.0']);
    expect(
      deploymentsOf().filter((d) => (d.payload as { runId: number }).runId === 506),
    ).toHaveLength(1);
  });
});

describe('cancel keeps the record', () => {
  it('cancel during a 20 s verify: the ledger is uploaded before SIGKILL, ABORTED, the interrupted target named', async () => {
    await writeGroupDeployment(
      '  maxUnavailable: 33%\n  startTimeout: 40s\n  verifyInterval: 100ms',
    );
    let cancelledAt = 0;
    let savedAfterMs = -1;
    const hook: { cancel?: () => void } = {};
    const run = startWorkflow(
      options(507, '5.0.0', {
        onAction: ({ job, running }) => {
          if (job !== 'roll') return;
          void running.waitForOutput(/web-02\s+VERIFY_RUNNING/, 120_000).then(() => {
            cancelledAt = Date.now();
            const before = new Set(ledgerArtifacts(double, fleet.group, 507).map((a) => a.name));
            const poll = setInterval(() => {
              if (ledgerArtifacts(double, fleet.group, 507).some((a) => !before.has(a.name))) {
                savedAfterMs = Date.now() - cancelledAt;
                clearInterval(poll);
              }
            }, 50);
            setTimeout(() => clearInterval(poll), 15_000);
            hook.cancel!();
          });
        },
      }),
    );
    hook.cancel = run.cancel;
    const result = await run.done;
    await writeGroupDeployment(FAST);
    expect(cancelledAt).toBeGreaterThan(0);
    expect(result.jobs.roll!.result).toBe('cancelled');
    // Saved within the runner's 7.5 s before SIGTERM (SIGKILL comes 2.5 s later).
    console.log(
      `record saved ${savedAfterMs} ms after the cancel (SIGTERM at 7500, SIGKILL at 10000)`,
    );
    expect(savedAfterMs).toBeGreaterThanOrEqual(0);
    expect(savedAfterMs).toBeLessThan(7500);
    const ledger = await ledgerOf(507, 'roll');
    expect(ledger.current?.phase).toBe('ABORTED');
    // SIGINT stopped new work; 3 s later the hard stop cut web-02's verify: recorded, not hidden.
    expect(ledger.current?.targets['web-02']).toMatchObject({
      state: 'VERIFY_FAILURE',
      error: expect.stringMatching(/^verify interrupted by a hard stop/),
    });
    const arts = ledgerArtifacts(double, fleet.group, 507).filter((a) => a.name.includes('-roll-'));
    const events = await readArtifactFile(double, arts.at(-1)!, 'events.ndjson');
    expect(events).toMatch(
      /stopped at once by the workflow run was cancelled \(hard stop\): cut mid-step: web-02/,
    );
    const d = deploymentsOf().at(-1)!;
    expect(d.payload).toMatchObject({ version: '5.0.0', runId: 507 });
    expect(d.statuses.some((s) => s.state === 'error')).toBe(true);
  }, 180_000);
});

async function writeGroupDeployment(lines: string): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  const file = join(fleet.workspace, fleet.groupFile);
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.replace(/deployment:\n(?: {2}.*\n)+/, `deployment:\n${lines}\n`));
}
