/**
 * Fault suite (issue 4), application faults on a real fleet: four sshd hosts behind HAProxy,
 * maxUnavailable 50% → batches [web-01] (bastion), [web-02], [web-03], [web-04]. Scenarios run in
 * order on one fleet, each ending with THE INVARIANT (test/support/fleet-invariant.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PhaseError } from '../../../src/model/errors';
import {
  describeTargets,
  expectFleetInvariant,
  fullRelease,
  lbStatus,
  packageOf,
  readEvents,
  releaseOnFleet,
} from '../../support/fleet-invariant';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';

const START_TIMEOUT_MS = 2000;

describe('fault suite: application faults (issue 4)', () => {
  let f: RealFleet;

  beforeAll(async () => {
    f = await startRealFleet({
      n: 4,
      first: 121,
      appPort: 18780,
      frontend: '127.0.7.21:18721',
      deployment: `  maxUnavailable: 50%\n  startTimeout: ${START_TIMEOUT_MS}ms\n  verifyInterval: 20ms`,
    });
    await f.build('1.0.0', { startDelayMs: 100 });
    await f.build('2.0.0', { startDelayMs: 100, broken: true });
    await f.build('3.0.0', {
      startDelayMs: 100,
      broken: { onHosts: [f.hosts[1]!.address, f.hosts[2]!.address] },
    });
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
  });

  afterAll(async () => f?.stop());

  it('3. app never healthy: VERIFY_FAILURE after the start timeout; retry fails again; rollback returns it', async () => {
    const rt = await f.runtime();
    try {
      const smoke = await rt.engine.deploy({ version: '2.0.0', package: packageOf(f, '2.0.0') });
      expect(smoke.phase).toBe('SMOKE_FAILURE');
      const bastion = smoke.deployment.targets['web-01']!;
      expect(bastion.state).toBe('VERIFY_FAILURE');
      expect(bastion.error).toMatch(/not healthy within 2s: HTTP 500/);
      const verify = bastion.steps.verify!;
      expect(verify.endedAt! - verify.startedAt).toBeGreaterThanOrEqual(START_TIMEOUT_MS);
      // The others were not touched: still on 1.0.0, in traffic.
      for (const id of ['web-02', 'web-03', 'web-04']) {
        expect(smoke.deployment.targets[id]!.state).toBe('PENDING');
        expect(await f.current(id)).toBe('1.0.0');
      }
      await expectFleetInvariant(f);

      // No bake, no continue past a failed bastion; retry runs it again and fails the same way.
      await expect(rt.engine.bake()).rejects.toBeInstanceOf(PhaseError);
      await expect(rt.engine.continue()).rejects.toBeInstanceOf(PhaseError);
      const again = await rt.engine.retry();
      expect(again.phase).toBe('SMOKE_FAILURE');
      expect(again.deployment.targets['web-01']).toMatchObject({
        state: 'VERIFY_FAILURE',
        attempts: 1,
      });
      await expectFleetInvariant(f);

      const back = await rt.engine.rollback();
      expect(back.phase, describeTargets(back.deployment)).toBe('SUCCESS');
      expect(back.deployment).toMatchObject({ kind: 'rollback', version: '1.0.0' });
      expect(back.deployment.targets['web-01']!.state).toBe('MARKUP_SUCCESS');
      for (const id of ['web-02', 'web-03', 'web-04']) {
        expect(back.deployment.targets[id]!.state).toBe('SKIPPED');
      }
      // The broken version is quarantined: a new deploy of it is refused without --force.
      await expect(
        rt.engine.deploy({ version: '2.0.0', package: packageOf(f, '2.0.0') }),
      ).rejects.toThrow(/quarantined/);
    } finally {
      await rt.close();
    }
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('1.0.0');
    await expectFleetInvariant(f);
  });

  it('9. brake exactly at the ratio: 2 of 4 failed (50%) brakes before batch 4, not one earlier', async () => {
    const rt = await f.runtime();
    try {
      const r = await fullRelease(rt.engine, f, '3.0.0');
      expect(r.phase, describeTargets(r.deployment)).toBe('BRAKED');
      const t = r.deployment.targets;
      expect(t['web-01']!.state).toBe('BAKE_SUCCESS');
      // 1 of 4 (25%) after batch 2 is below the ratio: batch 3 ran.
      expect(t['web-02']!.state).toBe('VERIFY_FAILURE');
      expect(t['web-03']!.state).toBe('VERIFY_FAILURE');
      // 2 of 4 (50%) reaches it: batch 4 never started.
      expect(t['web-04']).toMatchObject({ state: 'PENDING', steps: {} });
      expect(r.deployment.nextBatch).toBe(3);
      expect(await f.current('web-04')).toBe('1.0.0');
      const events = (await readEvents(f)).filter((e) => e.deployment === r.deployment.id);
      const brakes = events.filter((e) => e.type === 'brake');
      expect(brakes.map((e) => e.message)).toEqual([
        'brake before batch 4: 2 of 4 targets failed (50%) ≥ max unavailable 50%',
      ]);
      const lastFailure = events.findIndex(
        (e) => e.target === 'web-03' && e.state === 'VERIFY_FAILURE',
      );
      expect(events.indexOf(brakes[0]!)).toBeGreaterThan(lastFailure);
      await expectFleetInvariant(f);

      // Continue accepts the two failures and rolls out the last batch.
      const done = await rt.engine.continue();
      expect(done.phase, describeTargets(done.deployment)).toBe('FAILURE');
      expect(done.deployment.brakeAccepted).toBe(2);
      expect(done.deployment.targets['web-04']!.state).toBe('MARKUP_SUCCESS');
      expect(await f.current('web-04')).toBe('3.0.0');
    } finally {
      await rt.close();
    }
    await expectFleetInvariant(f);
  });

  it('10. rollback after a partial failure: all back on 1.0.0, in the LB, no request lost', async () => {
    const before = await lbStatus(f);
    expect(before['web-02']).toMatch(/^MAINT/);
    expect(before['web-03']).toMatch(/^MAINT/);
    const probe = f.probe(4);
    const rt = await f.runtime();
    try {
      const r = await rt.engine.rollback();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
      expect(r.deployment).toMatchObject({
        kind: 'rollback',
        version: '1.0.0',
        fromVersion: '3.0.0',
      });
      // The old release was kept on every host: no download step anywhere.
      for (const t of Object.values(r.deployment.targets)) {
        expect(t.state).toBe('MARKUP_SUCCESS');
        expect(t.steps.download).toBeUndefined();
      }
    } finally {
      await rt.close();
    }
    const stats = await probe.stop();
    expect(stats.ok).toBeGreaterThan(20);
    expect(stats.failed, stats.errors.slice(0, 5).join('; ')).toBe(0);
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('1.0.0');
    // Every server is back in HAProxy; its checks take a moment to forget the restarts (UP 1/2).
    const deadline = Date.now() + 5000;
    let lb = await lbStatus(f);
    while (!Object.values(lb).every((s) => s === 'UP') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      lb = await lbStatus(f);
    }
    expect(lb).toEqual({ 'web-01': 'UP', 'web-02': 'UP', 'web-03': 'UP', 'web-04': 'UP' });
    await expectFleetInvariant(f);
  });

  it('the invariant itself catches a host pulled out of the LB without a record', async () => {
    await f.lb.cli('set server app/web-04 state maint');
    try {
      await expect(expectFleetInvariant(f)).rejects.toThrow(
        /web-04 .*out of the load balancer, and the record does not say why/,
      );
    } finally {
      await f.lb.cli('set server app/web-04 state ready');
    }
    await expectFleetInvariant(f);
  });
});
