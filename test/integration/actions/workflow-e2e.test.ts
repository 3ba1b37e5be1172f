import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  hostPath,
  ledgerArtifacts,
  makeActionsFleet,
  readArtifactFile,
  type ActionsFleet,
} from '../../support/actions-runner';
import {
  startGitHubDouble,
  type GitHubDouble,
  violationLines,
} from '../../support/github-double/github-double';
import {
  deployedThen,
  jobResults,
  logOf,
  RELEASED,
  results,
  ROLLOUT_WORKFLOW,
} from '../../support/rollout-jobs';
import type { DeploymentRecord } from '../../support/github-double/state';
import {
  rerunFailedJobs,
  startWorkflow,
  type Decision,
  type GateRequest,
  type JobResult,
  type WorkflowRunOptions,
  type WorkflowRunResult,
} from '../../support/workflow-driver';

// Issue 5, end to end: .github/workflows/rollout.yml driven job by job from its YAML (see
// workflow-driver.ts) against the GitHub double, each action step running its dist bundle on a
// local fleet. The environments `production-bake` and `production` have a required reviewer,
// alice; the test is alice at the Review deployments button (G3).

const ENV = 'production';
const KNOWN_HOSTS =
  'web-01.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKx0dGVzdGtleXRlc3RrZXl0ZXN0a2V5';

let double: GitHubDouble;
let shop: ActionsFleet; // (a), (b), (d)
let cart: ActionsFleet; // (c)
const aliceToken = 'ghp_alice_reviewer_token';

interface Snapshot {
  job: string;
  result: string;
  outcome: string;
  statuses: string[];
  hosts: string[];
}

/** What the GitHub UI and the hosts show after each job. */
function snapshot(fleet: ActionsFleet, job: JobResult): Snapshot {
  const d = latest(fleet);
  return {
    job: job.name,
    result: job.result,
    outcome: job.outputs.outcome ?? '',
    statuses: d ? d.statuses.map((s) => s.state) : [],
    hosts: fleet.hosts.map((h) => `${h.host} ${fleet.current(h.host)} ${fleet.traffic(h.host)}`),
  };
}

function deploymentsOf(fleet: ActionsFleet): DeploymentRecord[] {
  return double.state.deployments.filter((d) => d.environment === `${ENV}/${fleet.group}`);
}
const latest = (fleet: ActionsFleet) => deploymentsOf(fleet).at(-1);

function artifactSteps(fleet: ActionsFleet, runId: number): string[] {
  return ledgerArtifacts(double, fleet.group, runId).map((a) =>
    a.name.replace(`rollgate-${fleet.group}-`, '').replace(/-\d+$/, ''),
  );
}

interface Scenario {
  fleet: ActionsFleet;
  runId: number;
  version: string;
  decide: (req: GateRequest) => Decision | Promise<Decision>;
  onAction?: WorkflowRunOptions['onAction'];
}

function options(s: Scenario, snaps: Snapshot[], gates: GateRequest[]): WorkflowRunOptions {
  return {
    file: ROLLOUT_WORKFLOW,
    double,
    runId: s.runId,
    workspace: s.fleet.workspace,
    reviewerToken: aliceToken,
    inputs: {
      'group-file': s.fleet.groupFile,
      group: s.fleet.group,
      version: s.version,
      environment: ENV,
    },
    secrets: { 'known-hosts': KNOWN_HOSTS },
    gate: (req) => {
      gates.push(req);
      return s.decide(req);
    },
    onJob: (job) => {
      snaps.push(snapshot(s.fleet, job));
    },
    ...(s.onAction ? { onAction: s.onAction } : {}),
  };
}

async function run(s: Scenario): Promise<{
  result: WorkflowRunResult;
  snaps: Snapshot[];
  gates: GateRequest[];
  opts: WorkflowRunOptions;
}> {
  const snaps: Snapshot[] = [];
  const gates: GateRequest[] = [];
  const opts = options(s, snaps, gates);
  const wf = startWorkflow(opts);
  cancelHook = wf.cancel;
  const result = await wf.done;
  return { result, snaps, gates, opts };
}
let cancelHook: (() => void) | undefined;

beforeAll(async () => {
  double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: '127.0.4.21' });
  await double.storage();
  double.state.addToken(aliceToken, 'alice');
  for (const name of [`${ENV}-bake`, ENV]) {
    double.state.setEnvironment(name, {
      reviewers: [{ type: 'User', login: 'alice' }],
      preventSelfReview: true,
    });
  }
  const deployment = '  maxUnavailable: 25%\n  startTimeout: 6s\n  verifyInterval: 50ms';
  shop = await makeActionsFleet({
    group: 'shop',
    addresses: ['127.0.9.21', '127.0.9.22', '127.0.9.23', '127.0.9.24'],
    port: 18910,
    deployment,
  });
  cart = await makeActionsFleet({
    group: 'cart',
    addresses: ['127.0.9.31', '127.0.9.32', '127.0.9.33', '127.0.9.34'],
    port: 18920,
    deployment,
  });
  await shop.build('1.0.0', { startDelayMs: 50 });
  await shop.build('2.0.0', { startDelayMs: 50 });
  // Slow to start, so that batch 2 is still verifying when the run is cancelled.
  await shop.build('4.0.0', { startDelayMs: 2500 });
  await cart.build('1.0.0', { startDelayMs: 50 });
});

afterAll(async () => {
  await shop?.cleanup();
  await cart?.cleanup();
  await double?.stop();
});

afterEach(() => {
  expect(violationLines(double)).toEqual([]);
});

describe('rollout.yml end to end (workflow driver + bundles + double + local fleet)', () => {
  it('(a) approve bake, approve roll → success; every job leaves the record and the hosts right', async () => {
    const { result, snaps, gates } = await run({
      fleet: shop,
      runId: 301,
      version: '1.0.0',
      decide: () => 'approve',
    });
    expect(results(result), logOf(result, 'roll')).toEqual(RELEASED);
    expect(result.outputs.outcome).toBe('success');
    expect(gates.map((g) => `${g.job}@${g.environment}`)).toEqual([
      'bake@production-bake',
      'roll@production',
    ]);
    // The image jobs come first and do nothing for a tarball release.
    expect(snaps.slice(0, 2).map((x) => `${x.job} ${x.result} ${x.hosts.join(',')}`)).toEqual([
      'build-image success web-01 null null,web-02 null null,web-03 null null,web-04 null null',
      'clair-scan success web-01 null null,web-02 null null,web-03 null null,web-04 null null',
    ]);
    expect(snaps.slice(2, 5)).toEqual([
      {
        job: 'deploy-bastion',
        result: 'success',
        outcome: 'waiting',
        // No status while the bastion's chain runs: the first says it is verified.
        statuses: ['in_progress'],
        hosts: ['web-01 1.0.0 down', 'web-02 null null', 'web-03 null null', 'web-04 null null'],
      },
      {
        job: 'bake',
        result: 'success',
        outcome: 'waiting',
        statuses: ['in_progress', 'in_progress'],
        hosts: ['web-01 1.0.0 up', 'web-02 null null', 'web-03 null null', 'web-04 null null'],
      },
      {
        job: 'roll',
        result: 'success',
        outcome: 'success',
        // verified, baked, batch 2, batch 3; the last batch's end is the outcome's status.
        statuses: ['in_progress', 'in_progress', 'in_progress', 'in_progress', 'success'],
        hosts: ['web-01 1.0.0 up', 'web-02 1.0.0 up', 'web-03 1.0.0 up', 'web-04 1.0.0 up'],
      },
    ]);
    // Steps: the two checkouts stood in for, the action bundle (known_hosts is an input now).
    expect(result.jobs['deploy-bastion']!.steps.map((s) => `${s.how}:${s.outcome}`)).toEqual([
      'driver:success',
      'driver:success',
      'not-run:skipped', // download-artifact: no package artifact
      'action:success',
    ]);
    expect(deploymentsOf(shop)).toHaveLength(1);
    // GitHub's own deployments for the approved gates.
    expect(
      double.state.deployments.filter((d) => d.environment === 'production-bake'),
    ).toHaveLength(1);
    expect(double.state.deployments.filter((d) => d.environment === 'production')).toHaveLength(1);
    expect(artifactSteps(shop, 301)).toEqual([
      'a1-deploy-bastion',
      'a1-bake',
      'a1-roll',
      'a1-monitor',
    ]);
    for (const h of shop.hosts) expect(await shop.health(h.host)).toBe('1.0.0');
  });

  it('(b) rejecting the bake gate runs the gate-failed job: ABORTED, bastion left verified and out of traffic', async () => {
    const { result, snaps, gates } = await run({
      fleet: shop,
      runId: 302,
      version: '2.0.0',
      decide: async (req): Promise<Decision> => {
        // At the gate: the bastion runs 2.0.0, verified, out of traffic; the rest untouched.
        expect(shop.current('web-01')).toBe('2.0.0');
        expect(shop.traffic('web-01')).toBe('down');
        expect(await shop.health('web-01')).toBe('2.0.0');
        expect(req.environment).toBe('production-bake');
        return 'reject';
      },
    });
    expect(gates).toHaveLength(1);
    expect(results(result), logOf(result, 'gate-failed')).toEqual(
      jobResults({
        'build-image': 'success',
        'clair-scan': 'success',
        'deploy-bastion': 'success',
        bake: 'failure',
        'gate-failed': 'success',
      }),
    );
    expect(result.jobs.bake!.steps).toEqual([]); // rejected: the job never ran
    expect(result.jobs['gate-failed']!.outputs.outcome).toBe('aborted');
    expect(result.outputs.outcome).toBe('aborted');
    const d = latest(shop)!;
    expect(d.payload).toMatchObject({ version: '2.0.0', runId: 302 });
    expect(d.statuses.map((s) => s.state)).toEqual(['in_progress', 'error']);
    expect(d.statuses.at(-1)!.description).toMatch(/^stopped by .* in phase SMOKE_SUCCESS/);
    expect(snaps.at(-1)!.hosts).toEqual([
      'web-01 2.0.0 down',
      'web-02 1.0.0 up',
      'web-03 1.0.0 up',
      'web-04 1.0.0 up',
    ]);
    expect(await shop.health('web-01')).toBe('2.0.0');
    expect(artifactSteps(shop, 302)).toEqual(['a1-deploy-bastion', 'a1-gate-failed']);
    const ledger = JSON.parse(
      await readArtifactFile(double, ledgerArtifacts(double, 'shop', 302).at(-1)!, 'state.json'),
    );
    expect(ledger.current.phase).toBe('ABORTED');
    expect(ledger.current.targets['web-01'].state).toBe('VERIFY_SUCCESS');
  });

  it('(c) a brake, continue behind the gate → failure; "Re-run failed jobs" retries only the failed target', async () => {
    // web-02's port is held by another process: its app cannot listen, verify fails there.
    const squatter = await squat('127.0.9.32', 18920);
    let first: WorkflowRunResult;
    let opts: WorkflowRunOptions;
    try {
      const r = await run({ fleet: cart, runId: 303, version: '1.0.0', decide: () => 'approve' });
      first = r.result;
      opts = r.opts;
      // roll: a brake keeps the job green so the continue job can follow
      expect(results(first), logOf(first, 'continue')).toEqual(
        deployedThen({ continue: 'failure' }),
      );
      expect(first.jobs.roll!.outputs.outcome).toBe('braked');
      expect(first.jobs.continue!.outputs.outcome).toBe('failure');
      expect(first.outputs.outcome).toBe('failure');
      expect(r.gates.map((g) => `${g.job}@${g.environment}`)).toEqual([
        'bake@production-bake',
        'roll@production',
        'continue@production',
      ]);
      expect(r.snaps.find((s) => s.job === 'roll')!.hosts).toEqual([
        'web-01 1.0.0 up',
        'web-02 1.0.0 down',
        'web-03 null null',
        'web-04 null null',
      ]);
      expect(r.snaps.find((s) => s.job === 'continue')!.hosts).toEqual([
        'web-01 1.0.0 up',
        'web-02 1.0.0 down',
        'web-03 1.0.0 up',
        'web-04 1.0.0 up',
      ]);
      expect(first.jobs.continue!.steps.at(-1)!.action!.outputs['failed-targets']).toBe('web-02');
    } finally {
      await close(squatter);
    }
    // The fault is gone; the other hosts must not be touched by the retry.
    const pids = ['web-01', 'web-03', 'web-04'].map((h) => pidOf(cart, h));
    const snaps: Snapshot[] = [];
    const gates: GateRequest[] = [];
    const again = await rerunFailedJobs(
      {
        ...opts!,
        gate: (req) => {
          gates.push(req);
          return 'approve';
        },
        onJob: (job) => {
          snaps.push(snapshot(cart, job));
        },
      },
      first!,
    ).done;
    expect(again.attempt).toBe(2);
    expect(results(again), logOf(again, 'continue')).toEqual(
      deployedThen({ continue: 'success', monitor: 'success' }),
    );
    expect(gates.map((g) => `${g.job}@${g.environment}#${g.attempt}`)).toEqual([
      'continue@production#2',
    ]);
    expect(again.jobs.continue!.attempt).toBe(2);
    expect(again.jobs.roll!.attempt).toBe(1); // kept from attempt 1
    expect(again.outputs.outcome).toBe('success');
    const log = again.jobs.continue!.steps.at(-1)!.action!.stdout;
    expect(log).toMatch(
      /retry 1 by alice \(approved production: .*\) \(run \d+, attempt 2\): 1 target in 1 batch \(web-0\d\)/,
    );
    expect(['web-01', 'web-03', 'web-04'].map((h) => pidOf(cart, h))).toEqual(pids);
    for (const h of cart.hosts) {
      expect(cart.current(h.host)).toBe('1.0.0');
      expect(cart.traffic(h.host)).toBe('up');
      expect(await cart.health(h.host)).toBe('1.0.0');
    }
    const d = latest(cart)!;
    expect(deploymentsOf(cart)).toHaveLength(1);
    expect(
      d.statuses.map((s) => `${s.state}: ${s.description.replace(/ in (\d+m)?[\d.]+m?s/, '')}`),
    ).toEqual([
      'in_progress: bastion web-01 verified on 1.0.0 — waiting for bake',
      // G5: the first status after each gate names who approved it, with the comment.
      'in_progress: alice approved production-bake ("approve bake (attempt 1)") · bastion baked: continue rolls out the other batches',
      'in_progress: alice approved production ("approve roll (attempt 1)") · batch 2/4 done: 0 ok, 1 failed',
      'in_progress: 1 of 4 targets failed (25%) ≥ max unavailable 25%: continue or stop',
      'in_progress: alice approved production ("approve continue (attempt 1)") · batch 3/4 done: 1 ok, 0 failed',
      // Issue 13 item 11: the reason, and no rollback on a first release.
      expect.stringMatching(/^failure: 1 of 4 targets failed: web-0\d \w+: /),
      // The retry's only batch is its last: its end is told by the outcome, with the approver.
      expect.stringMatching(
        /^success: alice approved production \("approve continue \(attempt 2\)"\) · released 1\.0\.0 on every target/,
      ),
    ]);
    expect(artifactSteps(cart, 303)).toEqual([
      'a1-deploy-bastion',
      'a1-bake',
      'a1-roll',
      'a1-continue',
      'a2-continue',
      'a2-monitor',
    ]);
  });

  it('(d) cancelling the run mid-batch: roll-batches starts nothing more, the target out of traffic finishes; stop ends it ABORTED', async () => {
    let cancelledAt = '';
    const { result, snaps } = await run({
      fleet: shop,
      runId: 304,
      version: '4.0.0',
      decide: () => 'approve',
      onAction: ({ job, running }) => {
        if (job !== 'roll') return;
        void running.waitForOutput(/web-02\s+VERIFY_RUNNING/, 60_000).then(() => {
          cancelledAt = `${shop.current('web-02')} ${shop.traffic('web-02')}`;
          cancelHook!();
        });
      },
    });
    expect(cancelledAt).toBe('4.0.0 down');
    expect(result.cancelled).toBe(true);
    expect(results(result), logOf(result, 'stop')).toEqual(
      deployedThen({ roll: 'cancelled', stop: 'success' }),
    );
    const roll = result.jobs.roll!.steps.at(-1)!.action!;
    expect(roll.signal ?? roll.code).toBe(1); // SIGINT handled: it ended on its own
    expect(roll.outputs).toMatchObject({ outcome: 'aborted', phase: 'ABORTED' });
    expect(roll.stdout).toMatch(/record kept as rollgate-shop-a1-roll-\d+/);
    expect(result.outputs.outcome).toBe('aborted');
    // Stop means stop starting things: web-02 was out of traffic, verifying — it finished its
    // chain and is back in on 4.0.0; batches 3-4 never began.
    expect(snaps.find((s) => s.job === 'roll')!.hosts).toEqual([
      'web-01 4.0.0 up',
      'web-02 4.0.0 up',
      'web-03 1.0.0 up',
      'web-04 1.0.0 up',
    ]);
    expect(snaps.at(-1)!.hosts).toEqual(snaps.find((s) => s.job === 'roll')!.hosts);
    const ledger = JSON.parse(
      await readArtifactFile(
        double,
        ledgerArtifacts(double, 'shop', 304).find((a) => a.name.includes('-a1-roll-'))!,
        'state.json',
      ),
    );
    expect(ledger.current.phase).toBe('ABORTED');
    expect(
      Object.values(ledger.current.targets as Record<string, { id: string; state: string }>).map(
        (t) => `${t.id} ${t.state}`,
      ),
    ).toEqual(['web-01 BAKE_SUCCESS', 'web-02 MARKUP_SUCCESS', 'web-03 PENDING', 'web-04 PENDING']);
    const d = latest(shop)!;
    expect(d.statuses.at(-1)!.state).toBe('error');
    expect(d.statuses.filter((s) => s.state === 'error')).toHaveLength(1);
    expect(artifactSteps(shop, 304)).toEqual([
      'a1-deploy-bastion',
      'a1-bake',
      'a1-roll',
      'a1-stop',
    ]);
  });

  it('(e) rollback-on-failure: a failed release is rolled back by the rollback job', async () => {
    // cart runs 1.0.0 everywhere after (c); 2.0.0 is broken on web-03 only.
    await cart.build('2.0.0', { startDelayMs: 50, broken: { onHosts: ['127.0.9.33'] } });
    const snaps: Snapshot[] = [];
    const gates: GateRequest[] = [];
    const opts = options(
      { fleet: cart, runId: 305, version: '2.0.0', decide: () => 'approve' },
      snaps,
      gates,
    );
    opts.inputs['rollback-on-failure'] = true;
    const result = await startWorkflow(opts).done;
    expect(results(result), logOf(result, 'rollback')).toEqual(
      deployedThen({ continue: 'failure', rollback: 'success' }),
    );
    expect(result.jobs.roll!.outputs.outcome).toBe('braked');
    expect(result.outputs.outcome).toBe('failure');
    expect(snaps.find((s) => s.job === 'continue')!.hosts).toEqual([
      'web-01 2.0.0 up',
      'web-02 2.0.0 up',
      'web-03 2.0.0 down',
      'web-04 2.0.0 up',
    ]);
    for (const h of cart.hosts) {
      expect(cart.current(h.host)).toBe('1.0.0');
      expect(cart.traffic(h.host)).toBe('up');
      expect(await cart.health(h.host)).toBe('1.0.0');
    }
    const [release, rollback] = deploymentsOf(cart).slice(-2);
    expect(release!.payload).toMatchObject({ kind: 'deploy', version: '2.0.0' });
    expect(release!.statuses.at(-1)!.state).toBe('failure');
    expect(rollback!.payload).toMatchObject({ kind: 'rollback', version: '1.0.0', runId: 305 });
    expect(rollback!.statuses.at(-1)!.state).toBe('success');
    expect(artifactSteps(cart, 305)).toEqual([
      'a1-deploy-bastion',
      'a1-bake',
      'a1-roll',
      'a1-continue',
      'a1-rollback',
    ]);
  });
});

/** Another process holding a host's app port: answers 503 to everything. */
function squat(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('port held by another process\n');
    });
    s.once('error', reject);
    s.listen(port, host, () => resolve(s));
  });
}

function close(s: Server): Promise<void> {
  return new Promise((r) => {
    s.close(() => r());
    s.closeAllConnections();
  });
}

function pidOf(fleet: ActionsFleet, host: string): string {
  return readFileSync(hostPath(fleet, host, '.rollgate/app.pid'), 'utf8').trim();
}
