import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeActionsFleet, runStep, type ActionsFleet } from '../../support/actions-runner';
import { startGitHubDouble, type GitHubDouble } from '../../support/github-double/github-double';
import { startLoad, type Load } from '../../support/prometheus-app';
import {
  ensurePrometheus,
  startPrometheus,
  waitForSeries,
  type RunningServer,
} from '../../support/prometheus-server';

// Issue 7, "the same checks run during the bake": the bake action bundle with `watch`, against
// a real Prometheus scraping the real fleet. The bastion runs the new version in traffic and
// the rest the old one; the canary rule compares them by the `version` label, so the person at
// the continue gate sees the bastion's numbers next to the fleet's.
const ADDRESSES = ['127.0.10.81', '127.0.10.82', '127.0.10.83'];
const PORT = 19183;
const PROM = '127.0.10.1:19094';

describe('bake watch on a real Prometheus: the bastion against the rest', () => {
  let double: GitHubDouble;
  let fleet: ActionsFleet;
  let prom: RunningServer;
  let load: Load | undefined;
  let run = 800;
  const urls = ADDRESSES.map((a) => ({ url: `http://${a}:${PORT}` }));
  // A watch counts the polls without a value (unknown below 80% coverage): in a window of
  // seconds, start it once Prometheus has a rate for the bastion's new process, as it will have
  // long before the end of a watch of minutes.
  const newVersionScraped = (version: string) =>
    waitForSeries(
      prom.url,
      `sum by (version) (rate(http_requests_total{version="${version}"}[5s]))`,
      1,
      30_000,
    );
  const step = (name: string, inputs: Record<string, string>) =>
    runStep(name, {
      double,
      runId: run,
      cwd: fleet.workspace,
      groupFile: fleet.groupFile,
      environment: 'production',
      inputs,
    });

  beforeAll(async () => {
    const why = await ensurePrometheus();
    if (why) throw new Error(why);
    double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: '127.0.4.31' });
    await double.storage();
    fleet = await makeActionsFleet({
      group: 'baked',
      addresses: ADDRESSES,
      port: PORT,
      extra: `monitor:
  prometheus: http://${PROM}
  window: 30m
  interval: 1s
  checks:
    - name: error-ratio
      kind: application
      ratio:
        numerator: sum by (version) (rate(http_requests_total{code=~"5.."}[5s]))
        denominator: sum by (version) (rate(http_requests_total[5s]))
      unit: ratio
      rule: { canary: { above: 3, tolerance: 1% } }
      for: 2`,
    });
    for (const v of ['1.0.0', '2.0.0', '2.0.1']) await fleet.build(v, { startDelayMs: 50 });
    prom = await startPrometheus({
      dir: `${fleet.workspace}/prom`,
      listen: PROM,
      targets: ADDRESSES.map((a) => ({ address: `${a}:${PORT}` })),
    });
    // 1.0.0 everywhere first: the "rest of the fleet" the bastion is compared with.
    for (const [name, inputs] of [
      ['deploy-bastion', { version: '1.0.0' }],
      ['bake', {}],
      ['roll-batches', {}],
    ] as const) {
      const r = await step(name, inputs);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    load = startLoad(urls, 20);
    await waitForSeries(prom.url, 'sum by (instance) (rate(http_requests_total[5s]))', 3, 30_000);
  }, 120_000);

  afterAll(async () => {
    await load?.stop();
    await prom?.stop();
    await fleet?.cleanup();
    await double?.stop();
  });

  it('a healthy bastion: healthy, both versions in the summary, the job passes', async () => {
    run++;
    const deploy = await step('deploy-bastion', { version: '2.0.0' });
    expect(deploy.code, deploy.stdout + deploy.stderr).toBe(0);
    await newVersionScraped('2.0.0');
    const bake = await step('bake', { watch: '8s' });
    expect(bake.code, bake.stdout + bake.stderr).toBe(0);
    expect(bake.outputs).toMatchObject({ phase: 'BAKE_SUCCESS', verdict: 'healthy' });
    expect(bake.summary).toContain('## Monitor: ✅ healthy — the bastion in traffic for 8s');
    // The table row carries the bastion's value and the rest's ("new … old …").
    const row = bake.summary.split('\n').find((l) => l.startsWith('| error-ratio |'));
    expect(row, bake.summary).toBeDefined();
    expect(row).toMatch(/\| [\d.]+% \| [\d.]+% \|/); // the bastion and the rest, both read
    const roll = await step('roll-batches', {});
    expect(roll.code, roll.stdout + roll.stderr).toBe(0);
  }, 90_000);

  it('a bastion answering 40% errors: degraded against the rest, the job fails, no roll-out', async () => {
    run++;
    const deploy = await step('deploy-bastion', { version: '2.0.1' });
    expect(deploy.code, deploy.stdout + deploy.stderr).toBe(0);
    const bastion = ADDRESSES.find((_, i) => fleet.current(`web-0${i + 1}`) === '2.0.1');
    expect(bastion).toBeDefined();
    await fetch(`http://${bastion}:${PORT}/errrate?r=0.4`, { method: 'POST' });
    await newVersionScraped('2.0.1');
    const bake = await step('bake', { watch: '20s' });
    expect(bake.code, bake.stdout + bake.stderr).toBe(1);
    expect(bake.outputs).toMatchObject({ verdict: 'degraded', 'decided-by': 'error-ratio/canary' });
    expect(bake.errors.join('\n')).toMatch(/bake: the bastion looks degraded: .*error-ratio/);
    expect(bake.summary).toContain('## Monitor: ❌ degraded');
    // The rest of the fleet never left 2.0.0.
    for (const [i] of ADDRESSES.entries()) {
      const host = `web-0${i + 1}`;
      expect(['2.0.0', '2.0.1']).toContain(fleet.current(host));
    }
    expect(ADDRESSES.filter((_, i) => fleet.current(`web-0${i + 1}`) === '2.0.1')).toHaveLength(1);
    expect(double.violations).toEqual([]);
  }, 90_000);
});
