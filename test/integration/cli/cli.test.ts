import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCliFleet, type CliFleet } from '../../support/cli-fleet';

// Real processes: the rollgate command (tsx on the sources) and the sample app on 127.0.5.x.
describe('rollgate CLI on a local fleet', () => {
  let f: CliFleet;
  beforeAll(async () => {
    f = await makeCliFleet({
      addresses: ['127.0.5.1', '127.0.5.2', '127.0.5.3', '127.0.5.4', '127.0.5.5'],
      port: 18500,
    });
    await f.build('1.0.0', { startDelayMs: 50 });
    // Slow to start, so a batch is still running when the test kills rollgate.
    await f.build('2.0.0', { startDelayMs: 1500 });
  });
  afterAll(async () => f?.cleanup());

  it('refuses an injected version before anything runs (exit 2, names --version)', async () => {
    const r = await f.run(['deploy', '--version', '1.0;rm -rf /']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--version: "1.0;rm -rf /" is not a valid version');
    expect(existsSync(join(f.dir, 'fleet'))).toBe(false);
  });

  it('plan --json touches nothing and describes the batches', async () => {
    const r = await f.run(['plan', '--version', '1.0.0', '--json']);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.batches.map((b: { targets: string[] }) => b.targets.length)).toEqual([1, 2, 2]);
    expect(plan.batches[0].bastion).toBe(true);
    expect(existsSync(join(f.dir, 'fleet'))).toBe(false);
  });

  it('deploy → bake → continue: exit codes 3, 3, 0 and every host on the version', async () => {
    expect((await f.run(['deploy', '--version', '1.0.0'])).code).toBe(3);
    expect((await f.run(['bake'])).code).toBe(3);
    const r = await f.run(['continue']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(f.hosts.map((h) => f.current(h.host))).toEqual(Array(5).fill('1.0.0'));
    const status = JSON.parse((await f.run(['status', '--json'])).stdout);
    expect(
      status.targets.every(
        (t: { running: string; healthy: boolean }) => t.running === '1.0.0' && t.healthy,
      ),
    ).toBe(true);
    expect(status.release.phase).toBe('SUCCESS');
  });

  it('a second release while one runs is refused with who holds it (exit 5)', async () => {
    expect((await f.run(['deploy', '--version', '2.0.0'])).code).toBe(3);
    expect((await f.run(['bake'])).code).toBe(3);
    const running = f.spawn(['continue']);
    await waitFor(() =>
      f.latest().some((e) => e.state === 'INSTALL_RUNNING' && e.target !== 'web-01'),
    );
    const second = await f.run(['retry']);
    expect(second.code, second.stderr).toBe(5);
    expect(second.stderr).toMatch(/group cli-shop is locked by cli-test \(pid \d+/);
    running.kill('SIGKILL');
    await new Promise((r) => running.on('close', r));
  });

  it('after rollgate is killed mid-batch, continue finishes the release correctly', async () => {
    // The run above was killed with SIGKILL in the middle of batch 2.
    const states = new Map<string, string>();
    for (const e of f.latest()) if (e.target && e.state) states.set(e.target, e.state);
    expect([...states.values()].some((s) => s.endsWith('_RUNNING'))).toBe(true);
    const r = await f.run(['continue']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('interrupted by a killed run');
    expect(r.stderr).toContain('taking over the run lock');
    expect(f.hosts.map((h) => f.current(h.host))).toEqual(Array(5).fill('2.0.0'));
    const status = JSON.parse((await f.run(['status', '--json'])).stdout);
    expect(status.targets.every((t: { healthy: boolean }) => t.healthy)).toBe(true);
    expect(status.history[0]).toMatchObject({ version: '2.0.0', outcome: 'success' });
  });

  it('stop from another shell ends a running release ABORTED (exit 4); state stays', async () => {
    // Slow enough that the stop lands while batch 2 verifies, even on a loaded machine.
    await f.build('3.0.0', { startDelayMs: 3500 });
    expect((await f.run(['deploy', '--version', '3.0.0'])).code).toBe(3);
    expect((await f.run(['bake'])).code).toBe(3);
    const running = f.spawn(['continue']);
    await waitFor(() =>
      f.latest().some((e) => e.state === 'VERIFY_RUNNING' && e.target !== 'web-01'),
    );
    const stop = await f.run(['stop']);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain('stop requested');
    const code = await new Promise<number>((r) => running.on('close', (c) => r(c ?? -1)));
    expect(code).toBe(4);
    const status = JSON.parse((await f.run(['status', '--json'])).stdout);
    expect(status.release).toMatchObject({
      version: '3.0.0',
      phase: 'ABORTED',
      outcome: 'aborted',
    });
    // The batch in flight was out of traffic: it finished its chain (back in on 3.0.0); the next
    // batch never started (stop means stop starting things).
    const byState = (state: string) =>
      status.targets.filter((t: { state: string }) => t.state === state).length;
    expect(byState('PENDING')).toBeGreaterThan(0);
    expect(byState('MARKUP_SUCCESS')).toBeGreaterThan(0);
    expect(status.targets.filter((t: { state: string }) => /_RUNNING$/.test(t.state))).toEqual([]);
  });

  it('a bad group file is refused naming the field (exit 2)', async () => {
    const bad = await makeCliFleet({
      addresses: ['127.0.5.9'],
      port: 18501,
      deployment: '  maxUnavailable: 150%',
    });
    try {
      const r = await bad.run(['plan', '--version', '1.0.0']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('deployment.maxUnavailable');
    } finally {
      await bad.cleanup();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}
