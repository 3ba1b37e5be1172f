import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage } from '../../../src/package/tarball';
import {
  APP_DIR,
  ledgerArtifacts,
  readArtifactFile,
  type ActionRun,
} from '../../support/actions-runner';
import {
  startGitHubDouble,
  type GitHubDouble,
  violationLines,
} from '../../support/github-double/github-double';
import type { DeploymentRecord } from '../../support/github-double/state';
import { logOf, results, ROLLOUT_WORKFLOW } from '../../support/rollout-jobs';
import { commandTraffic, sampleAppGroup } from '../../support/group-yaml';
import { startSshFleet, type SshFleet } from '../../support/ssh-fleet';
import {
  rerunFailedJobs,
  startWorkflow,
  type GateRequest,
  type WorkflowRunOptions,
  type WorkflowRunResult,
} from '../../support/workflow-driver';

// Issue 12 items 1, 2 and 6 on an SSH group: .github/workflows/rollout.yml driven job by job
// against the GitHub double; the hosts are real sshd on 127.0.2.181-183 (the deploy user, the
// sample app on port 18901), the key and known_hosts come in as the workflow's secrets.
//
// - a rejected bake gate ends the release ABORTED, with and without the key in the stop job;
// - a gate job that fails for another reason (runner lost) leaves the release for a re-run;
// - the approver is the `who` of the record, the deployment status and the summary;
// - a gate that does not hold (private repository on the Team plan; a missing environment)
//   is refused, or recorded as a warning with allow-unprotected-gates.

const ENV = 'production';
const GROUP = 'gates-web';
const PORT = 18901;
const aliceToken = 'ghp_gates_alice';

let double: GitHubDouble;
let ssh: SshFleet;
let dir: string;
let workspace: string;
let lb: string;
let noKeyWorkflow: string;
let secrets: Record<string, string>;
let eventFile: string;
const hosts: { id: string; address: string; docBase: string }[] = [];

beforeAll(async () => {
  double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: '127.0.7.96' });
  await double.storage();
  double.state.addToken(aliceToken, 'alice');
  for (const name of [`${ENV}-bake`, ENV]) {
    double.state.setEnvironment(name, { reviewers: [{ type: 'User', login: 'alice' }] });
  }
  dir = await mkdtemp(join(tmpdir(), 'rollgate-gates-'));
  await chmod(dir, 0o755); // the deploy user reaches its host roots under here
  ssh = await startSshFleet({ n: 3, first: 181, dir: join(dir, 'ssh') });
  for (const [i, h] of ssh.hosts.entries()) {
    hosts.push({
      id: `web-0${i + 1}`,
      address: h.address,
      docBase: join(h.root, 'srv/app'),
    });
  }
  workspace = join(dir, 'ws');
  lb = join(workspace, 'deploy/lb');
  await mkdir(lb, { recursive: true });
  await writeFile(
    join(workspace, `deploy/${GROUP}.yml`),
    sampleAppGroup({
      group: GROUP,
      docBase: '/srv/app',
      port: PORT,
      healthCheckUrl: '/health',
      stopTimeout: '5s',
      deployment: '  maxUnavailable: 50%\n  startTimeout: 10s\n  verifyInterval: 50ms',
      sections: [
        `transport:\n  kind: ssh\n  user: ${ssh.user}\n  privateKeyEnv: ROLLGATE_SSH_KEY`,
        commandTraffic(lb),
      ],
      targets: hosts.map((h) => ({ host: h.id, address: h.address, docBase: h.docBase })),
    }),
  );
  for (const v of ['1.0.0', '2.0.0', '3.0.0', '4.0.0', '5.0.0', '6.0.0']) {
    await buildPackage({
      appDir: APP_DIR,
      version: v,
      outDir: join(workspace, 'deploy/packages'),
      startDelayMs: 50,
    });
  }
  secrets = {
    'ssh-private-key': await readFile(ssh.keyFile, 'utf8'),
    'known-hosts': await readFile(ssh.knownHostsFile, 'utf8'),
  };
  // The same workflow with no key in the stop and gate-failed jobs.
  const wf = parseYaml(readFileSync(ROLLOUT_WORKFLOW, 'utf8')) as {
    jobs: Record<string, { steps: { env?: Record<string, string> }[] }>;
  };
  for (const job of ['stop', 'gate-failed']) {
    for (const step of wf.jobs[job]!.steps) delete step.env;
  }
  noKeyWorkflow = join(dir, 'rollout-stop-without-key.yml');
  await writeFile(noKeyWorkflow, stringify(wf));
  eventFile = join(dir, 'event.json');
  await writeFile(
    eventFile,
    JSON.stringify({
      repository: { full_name: 'acme/shop', private: true, visibility: 'private' },
    }),
  );
});

afterAll(async () => {
  for (const h of hosts) {
    const pidFile = join(h.docBase, '.rollgate/app.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  await ssh?.stop().catch(() => undefined);
  await double?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  expect(violationLines(double)).toEqual([]);
});

// ── helpers ───────────────────────────────────────────────────────────────────────────────────

function options(
  runId: number,
  version: string,
  decide: (req: GateRequest) => 'approve' | 'reject',
  gates: GateRequest[],
  extra: Partial<WorkflowRunOptions> = {},
): WorkflowRunOptions {
  return {
    file: ROLLOUT_WORKFLOW,
    double,
    runId,
    workspace,
    reviewerToken: aliceToken,
    inputs: { 'group-file': `deploy/${GROUP}.yml`, group: GROUP, version, environment: ENV },
    secrets,
    gate: (req) => {
      gates.push(req);
      return decide(req);
    },
    ...extra,
  };
}

function action(r: WorkflowRunResult, job: string): ActionRun {
  const a = r.jobs[job]?.steps.find((s) => s.how === 'action')?.action;
  if (!a) throw new Error(`no action ran in ${job}`);
  return a;
}

const release = (): DeploymentRecord =>
  double.state.deployments.filter((d) => d.environment === `${ENV}/${GROUP}`).at(-1)!;

async function ledgerOf(runId: number): Promise<{
  state: { current: { phase: string; by: string; version: string } };
  events: { type: string; message: string; level?: string }[];
}> {
  const a = ledgerArtifacts(double, GROUP, runId).at(-1)!;
  const state = JSON.parse(await readArtifactFile(double, a, 'state.json'));
  const events = (await readArtifactFile(double, a, 'events.ndjson'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  return { state, events };
}

function current(id: string): string | null {
  const h = hosts.find((x) => x.id === id)!;
  try {
    return readFileSync(join(h.docBase, 'current/VERSION'), 'utf8').trim();
  } catch {
    return null;
  }
}

function traffic(id: string): string | null {
  try {
    return readFileSync(join(lb, id), 'utf8').trim();
  } catch {
    return null;
  }
}

async function health(id: string): Promise<string | null> {
  const h = hosts.find((x) => x.id === id)!;
  try {
    const res = await fetch(`http://${h.address}:${PORT}/health`, {
      signal: AbortSignal.timeout(2000),
    });
    return res.status === 200 ? ((await res.json()) as { version: string }).version : null;
  } catch {
    return null;
  }
}

/** The record's gate events of one run (the group's log holds every run's). */
const gateEvents = <E extends { type: string; message: string }>(events: E[], runId: number) =>
  events.filter((e) => e.type === 'gate' && e.message.includes(` in run ${runId} `));

const fleet = () => hosts.map((h) => `${h.id} ${current(h.id)} ${traffic(h.id)}`);

// ── the runs ──────────────────────────────────────────────────────────────────────────────────

describe('rollout.yml on an SSH group: gates that cannot fail open', () => {
  it('approved gates: the approver is the who of the record, the deployment status and the summary; the release is by the triggering actor', async () => {
    const gates: GateRequest[] = [];
    const r = await startWorkflow(
      options(501, '1.0.0', () => 'approve', gates, { actor: 'carol', triggeringActor: 'dave' }),
    ).done;
    expect(results(r), logOf(r, 'roll')).toMatchObject({
      'deploy-bastion': 'success',
      bake: 'success',
      roll: 'success',
      stop: 'skipped',
      'gate-failed': 'skipped',
    });
    expect(gates.map((g) => `${g.job}@${g.environment}`)).toEqual([
      'bake@production-bake',
      'roll@production',
    ]);
    // Protected gates: deploy-bastion has nothing to warn about.
    expect(action(r, 'deploy-bastion').warnings.join('\n')).not.toMatch(/gate environment/);
    const { state, events } = await ledgerOf(501);
    expect(state.current).toMatchObject({ phase: 'SUCCESS', by: 'dave (run 501, attempt 1)' });
    expect(gateEvents(events, 501).map((e) => e.message)).toEqual([
      'gate "production-bake" approved by alice in run 501 (attempt 1): "approve bake (attempt 1)"',
      'gate "production" approved by alice in run 501 (attempt 1): "approve roll (attempt 1)"',
    ]);
    const descriptions = release().statuses.map((s) => s.description);
    expect(descriptions).toContain(
      'alice approved production-bake ("approve bake (attempt 1)") · bastion baked: continue rolls out the other batches',
    );
    expect(descriptions.find((d) => d.includes('batch 2/'))).toMatch(
      /^alice approved production \("approve roll \(attempt 1\)"\) · batch 2\/\d done/,
    );
    expect(action(r, 'bake').summary).toContain(
      '## Gate `production-bake`: approved by **alice** — “approve bake (attempt 1)”',
    );
    expect(action(r, 'roll').summary).toContain('## Gate `production`: approved by **alice**');
    expect(fleet()).toEqual(['web-01 1.0.0 up', 'web-02 1.0.0 up', 'web-03 1.0.0 up']);
    for (const h of hosts) expect(await health(h.id)).toBe('1.0.0');
    // The key is registered as a secret (the runner masks it, line by line, in every log).
    const keyLine = secrets['ssh-private-key']!.split('\n')[1]!;
    for (const job of ['deploy-bastion', 'bake', 'roll']) {
      const out = action(r, job).stdout;
      expect(out).toContain(`::add-mask::${keyLine}`);
      const shown = out.split('\n').filter((l) => !l.startsWith('::add-mask::'));
      expect(shown.join('\n')).not.toContain(keyLine);
    }
  });

  it.each([
    ['with the key', ROLLOUT_WORKFLOW, 502, '2.0.0'],
    ['without the key in the stop job', 'no-key', 503, '3.0.0'],
  ])(
    'a rejected bake gate → gate-failed → ABORTED, %s; the bastion stays verified out of traffic',
    async (_name, file, runId, version) => {
      const gates: GateRequest[] = [];
      const r = await startWorkflow({
        ...options(runId, version, () => 'reject', gates),
        file: file === 'no-key' ? noKeyWorkflow : file,
      }).done;
      expect(results(r), logOf(r, 'gate-failed')).toMatchObject({
        'deploy-bastion': 'success',
        bake: 'failure',
        roll: 'skipped',
        stop: 'skipped',
        'gate-failed': 'success',
      });
      expect(r.jobs.bake!.steps).toEqual([]); // rejected: it never ran
      expect(r.jobs['gate-failed']!.outputs.outcome).toBe('aborted');
      expect(r.outputs.outcome).toBe('aborted');
      const { state } = await ledgerOf(runId);
      expect(state.current).toMatchObject({ phase: 'ABORTED', version });
      const last = release().statuses.at(-1)!;
      expect(last.state).toBe('error');
      // Who pressed what (issue 13 item 3): the reviewer, the run and its attempt.
      expect(last.description).toBe(
        `stopped by alice (rejected production-bake: "reject bake (attempt 1)") (run ${runId}, attempt 1) in phase SMOKE_SUCCESS`,
      );
      expect(action(r, 'gate-failed').summary).toContain(
        '## Gate `production-bake`: rejected by **alice**',
      );
      expect(fleet()).toEqual([`web-01 ${version} down`, 'web-02 1.0.0 up', 'web-03 1.0.0 up']);
      expect(await health('web-01')).toBe(version);
    },
  );

  it('a gate job that fails for another reason (runner lost) is not a rejection: the release waits for "Re-run failed jobs", which finishes it', async () => {
    const gates: GateRequest[] = [];
    const opts = options(504, '4.0.0', () => 'approve', gates, {
      failJob: ({ job, attempt }) =>
        job === 'bake' && attempt === 1
          ? 'The runner has lost communication with the server'
          : null,
    });
    const first = await startWorkflow(opts).done;
    expect(results(first), logOf(first, 'gate-failed')).toMatchObject({
      'deploy-bastion': 'success',
      bake: 'failure',
      roll: 'skipped',
      stop: 'skipped',
      'gate-failed': 'success',
    });
    expect(first.jobs['gate-failed']!.outputs.outcome).toBe('waiting');
    expect(action(first, 'gate-failed').warnings.join('\n')).toMatch(
      /failed before it set its outputs .* not aborted\. Re-run failed jobs/,
    );
    expect(action(first, 'gate-failed').summary).toContain('## A job failed — not a rejected gate');
    expect((await ledgerOf(504)).state.current.phase).toBe('SMOKE_SUCCESS');
    expect(release().statuses.map((s) => s.state)).not.toContain('error');
    expect(fleet()).toEqual(['web-01 4.0.0 down', 'web-02 1.0.0 up', 'web-03 1.0.0 up']);

    const again = await rerunFailedJobs(opts, first).done;
    expect(results(again), logOf(again, 'bake')).toMatchObject({
      bake: 'success',
      roll: 'success',
      'gate-failed': 'skipped',
    });
    expect(gates.map((g) => `${g.job}@${g.environment}#${g.attempt}`)).toEqual([
      'bake@production-bake#1',
      'bake@production-bake#2',
      'roll@production#2',
    ]);
    const { state, events } = await ledgerOf(504);
    expect(state.current.phase).toBe('SUCCESS');
    expect(gateEvents(events, 504).map((e) => e.message)).toEqual([
      'gate "production-bake" approved by alice in run 504 (attempt 2): "approve bake (attempt 2)"',
      'gate "production" approved by alice in run 504 (attempt 2): "approve roll (attempt 2)"',
    ]);
    expect(fleet()).toEqual(['web-01 4.0.0 up', 'web-02 4.0.0 up', 'web-03 4.0.0 up']);
  });

  it('a private repository on the Team plan: required reviewers do not hold the job; allow-unprotected-gates goes on, with the warning in the record and the deployment', async () => {
    double.state.visibility = 'private';
    double.state.plan = 'team';
    try {
      const gates: GateRequest[] = [];
      const opts = options(505, '5.0.0', () => 'approve', gates, {
        runnerEnv: { GITHUB_EVENT_PATH: eventFile },
      });
      opts.inputs['allow-unprotected-gates'] = true;
      const r = await startWorkflow(opts).done;
      expect(results(r), logOf(r, 'bake')).toMatchObject({
        'deploy-bastion': 'success',
        bake: 'success',
        roll: 'success',
      });
      expect(gates).toEqual([]); // nothing waited for anybody
      expect(action(r, 'deploy-bastion').warnings.join('\n')).toMatch(
        /gate environment "production-bake" has required reviewers, but this repository is private: GitHub enforces them there only with GitHub Enterprise/,
      );
      const { state, events } = await ledgerOf(505);
      expect(state.current.phase).toBe('SUCCESS');
      expect(gateEvents(events, 505).map((e) => `${e.level}: ${e.message}`)).toEqual([
        'warn: gate "production-bake": no approval in run 505 (attempt 1); going on because allow-unprotected-gates is true',
        'warn: gate "production": no approval in run 505 (attempt 1); going on because allow-unprotected-gates is true',
      ]);
      expect(release().statuses.map((s) => s.description)).toContain(
        '⚠ production-bake not approved (allow-unprotected-gates) · bastion baked: continue rolls out the other batches',
      );
      expect(action(r, 'bake').summary).toContain(
        '## ⚠️ Gate `production-bake`: nobody approved — going on (allow-unprotected-gates)',
      );
      expect(fleet()).toEqual(['web-01 5.0.0 up', 'web-02 5.0.0 up', 'web-03 5.0.0 up']);
    } finally {
      double.state.visibility = 'public';
      double.state.plan = 'free';
    }
  });

  it('a missing gate environment: the job creates it unprotected and runs at once; bake refuses, touching nothing, and the release waits', async () => {
    const bake = double.state.environments.get(`${ENV}-bake`)!;
    double.state.environments.delete(`${ENV}-bake`);
    try {
      const gates: GateRequest[] = [];
      const r = await startWorkflow(options(506, '6.0.0', () => 'approve', gates)).done;
      expect(results(r), logOf(r, 'bake')).toMatchObject({
        'deploy-bastion': 'success',
        bake: 'failure',
        roll: 'skipped',
        'gate-failed': 'success',
      });
      expect(gates).toEqual([]);
      expect(action(r, 'deploy-bastion').warnings.join('\n')).toMatch(
        /gate environment "production-bake" does not exist: the job naming it creates it without protection/,
      );
      // GitHub created it, open.
      expect(double.state.environments.get(`${ENV}-bake`)?.reviewers).toEqual([]);
      const refused = action(r, 'bake');
      expect(refused.outputs.outcome).toBeUndefined();
      expect(refused.errors.join('\n')).toMatch(
        /bake: no one approved the gate environment "production-bake" for this job \(run 506, attempt 1\).*Settings → Environments → production-bake → Required reviewers.*allow-unprotected-gates: true/s,
      );
      expect(refused.summary).toContain(
        '## ⛔ Gate `production-bake`: not approved — nothing was done',
      );
      // Not baked, not aborted: verified and out of traffic, waiting for a protected gate.
      expect(r.jobs['gate-failed']!.outputs.outcome).toBe('waiting');
      expect((await ledgerOf(506)).state.current.phase).toBe('SMOKE_SUCCESS');
      expect(fleet()).toEqual(['web-01 6.0.0 down', 'web-02 5.0.0 up', 'web-03 5.0.0 up']);
    } finally {
      double.state.environments.set(`${ENV}-bake`, bake);
    }
  });
});
