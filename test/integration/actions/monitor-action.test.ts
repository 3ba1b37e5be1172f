import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeActionsFleet,
  runAction,
  runStep,
  type ActionsFleet,
} from '../../support/actions-runner';
import { startGitHubDouble, type GitHubDouble } from '../../support/github-double/github-double';

// Issue 7: the monitor-30m bundle as the runner starts it. Prometheus is unreachable here on
// purpose: a watch that never sees data must end `unknown` and fail the job — never healthy.
// (The watch against a real Prometheus is test/integration/monitor.)
describe('monitor-30m action bundle', () => {
  let double: GitHubDouble;
  let fleet: ActionsFleet;
  let bare: ActionsFleet;

  beforeAll(async () => {
    double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: '127.0.4.21' });
    await double.storage();
    fleet = await makeActionsFleet({
      group: 'watched',
      addresses: ['127.0.9.61', '127.0.9.64'],
      port: 18961,
      extra: `monitor:
  prometheus: http://127.0.9.62:18962
  window: 3s
  interval: 1s
  retries: 0
  checks:
    - name: error-ratio
      kind: user
      query: sum(rate(http_requests_total{code=~"5.."}[1m]))
      rule: { threshold: { above: 1 } }`,
    });
    bare = await makeActionsFleet({ group: 'plain', addresses: ['127.0.9.63'], port: 18963 });
    await fleet.build('1.0.0', { startDelayMs: 50 });
  });

  afterAll(async () => {
    await fleet?.cleanup();
    await bare?.cleanup();
    await double?.stop();
  });

  it('Prometheus down for the whole window: unknown, the job fails, the summary says why', async () => {
    const r = await runAction('monitor-30m', {
      double,
      ids: { runId: 700, jobId: 'monitor' },
      cwd: fleet.workspace,
      inputs: { 'group-file': fleet.groupFile, environment: 'production', for: '3s' },
    });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.outputs).toMatchObject({ verdict: 'unknown', outcome: 'unknown' });
    expect(r.errors.join('\n')).toMatch(/monitor-30m: unknown/);
    expect(r.summary).toContain('## Monitor: ❔ unknown');
    expect(r.summary).toContain('| error-ratio | user |');
    expect(double.violations).toEqual([]);
  });

  it('a bad on-failure input is refused naming the input', async () => {
    const r = await runAction('monitor-30m', {
      double,
      ids: { runId: 701, jobId: 'monitor' },
      cwd: fleet.workspace,
      inputs: { 'group-file': fleet.groupFile, environment: 'production', 'on-failure': 'panic' },
    });
    expect(r.code).toBe(1);
    expect(r.errors.join('\n')).toMatch(/input on-failure: "panic" is not fail or rollback/);
  });

  it('bake with watch: the bastion is baked, watched, and the summary shows it for the continue gate', async () => {
    const run = (name: string, inputs: Record<string, string>) =>
      runStep(name, {
        double,
        runId: 703,
        cwd: fleet.workspace,
        groupFile: fleet.groupFile,
        environment: 'production',
        inputs,
      });
    const deploy = await run('deploy-bastion', { version: '1.0.0' });
    expect(deploy.code, deploy.stdout + deploy.stderr).toBe(0);
    const bake = await run('bake', { watch: '2s' });
    // No data (Prometheus is down here): unknown is shown, not a reason to block the gate.
    expect(bake.code, bake.stdout + bake.stderr).toBe(0);
    expect(bake.outputs).toMatchObject({ phase: 'BAKE_SUCCESS', verdict: 'unknown' });
    expect(bake.summary).toContain('## Monitor: ❔ unknown — the bastion in traffic for 2s');
    expect(bake.summary).toContain('continue: approve the `production` gate');
    const statuses = double.state.deployments
      .filter((d) => d.environment === 'production/watched')
      .flatMap((d) => d.statuses.map((st) => `${st.state}: ${st.description}`));
    expect(statuses.at(-1)).toMatch(/^in_progress: monitor unknown/); // progress, not an outcome
    expect(double.violations).toEqual([]);
  });

  it('a group file without a monitor section: the job notes it and passes (skipped)', async () => {
    const r = await runAction('monitor-30m', {
      double,
      ids: { runId: 702, jobId: 'monitor' },
      cwd: bare.workspace,
      inputs: { 'group-file': bare.groupFile, environment: 'production' },
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.outputs.outcome).toBe('skipped');
    expect(r.summary).toContain('## Monitor: skipped');
  });
});
