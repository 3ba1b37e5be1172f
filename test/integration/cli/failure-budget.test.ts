/**
 * F7 on a real local fleet through the `rollgate` command: real app processes on 127.0.24.1–5,
 * port 24100. 5 hosts at 50% → bastion web-01, batch 2 [web-02, web-03], batch 3 [web-04,
 * web-05]; the global ratio brakes at 3 of 5. Version 2.0.0 is broken on web-02 only: batch 2
 * loses 1 of 2 (50%) — the per-batch budget brakes before batch 3, with 1 of 5 (20%) failed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCliFleet, type CliFleet } from '../../support/cli-fleet';

describe('failure budgets through the rollgate command (F7)', () => {
  let f: CliFleet;

  beforeAll(async () => {
    f = await makeCliFleet({
      addresses: ['127.0.24.1', '127.0.24.2', '127.0.24.3', '127.0.24.4', '127.0.24.5'],
      port: 24100,
      deployment: [
        '  maxUnavailable: 50%',
        '  startTimeout: 2s',
        '  verifyInterval: 50ms',
        '  failureBudget:',
        '    perBatch: 50%',
        '    maxFailures: 3',
      ].join('\n'),
    });
    await f.build('1.0.0', { startDelayMs: 50 });
    await f.build('2.0.0', { startDelayMs: 50, broken: { onHosts: ['127.0.24.2'] } });
  });
  afterAll(async () => f?.cleanup());

  it('plan says the budgets in words, and what each batch may lose', async () => {
    const r = await f.run(['plan', '--version', '1.0.0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'brake: brakes at 3 failures, or when a batch loses 50% of its hosts, or at 50% of the group (3 of 5 targets)',
    );
    expect(r.stdout).toMatch(/^2 +2 +.*web-02, web-03 +1 failed$/m);
    const json = JSON.parse((await f.run(['plan', '--version', '1.0.0', '--json'])).stdout);
    expect(json.brake).toMatchObject({ perBatch: 0.5, maxFailures: 3, atFailures: 3 });
  });

  it('a version failing on half of batch 2 brakes there; status, status --json and continue say why', async () => {
    for (const op of ['deploy', 'bake', 'continue']) {
      const r = await f.run(op === 'deploy' ? [op, '--version', '1.0.0'] : [op]);
      expect(r.code, r.stderr).toBe(op === 'continue' ? 0 : 3);
    }
    expect((await f.run(['deploy', '--version', '2.0.0'])).code).toBe(3);
    const baked = await f.run(['bake']);
    expect(baked.code).toBe(3);
    // Before batch 2: its 2 hosts may lose 1 (50%); the group 3; max failures 3.
    const before = await f.run(['status']);
    expect(before.stdout).toContain(
      'brake: 1 more failure brakes (per-batch budget 50%: batch 2 has lost 0 of 2) (0 counted, max unavailable 50%)',
    );

    const r = await f.run(['continue']);
    expect(r.code, r.stderr).toBe(3); // waiting: braked
    expect(r.stdout).toContain(
      'brake before batch 3: batch 2 lost 1 of 2 hosts (50%) ≥ per-batch budget 50% — braked by the per-batch budget',
    );
    // Batch 3 never started: still 1.0.0, serving.
    expect(f.current('web-04')).toBe('1.0.0');
    expect(f.current('web-05')).toBe('1.0.0');
    expect(f.current('web-03')).toBe('2.0.0');
    const brakes = f.latest().filter((e) => e.type === 'brake');
    expect(brakes).toHaveLength(1);
    expect((brakes[0] as { brake?: unknown }).brake).toEqual({
      rule: 'perBatch',
      rules: ['perBatch'],
    });

    const st = await f.run(['status']);
    expect(st.stdout).toMatch(/— BRAKED$/m);
    expect(st.stdout).toContain(
      'brake: braked by the per-batch budget — batch 2 lost 1 of 2 hosts (50%) ≥ per-batch budget 50% (1 counted, max unavailable 50%)',
    );
    const json = JSON.parse((await f.run(['status', '--json'])).stdout);
    expect(json.release.brake).toMatchObject({
      counted: 1,
      left: 0,
      perBatch: 0.5,
      maxFailures: 3,
      braked: { rule: 'perBatch', rules: ['perBatch'] },
    });

    // continue accepts web-02's failure; batch 3 is clean; the release ends FAILURE (web-02).
    const done = await f.run(['continue']);
    expect(done.code).toBe(1);
    expect(f.current('web-05')).toBe('2.0.0');
  });
});
