/**
 * S7 side-by-side on a real fleet: four sshd hosts (127.0.27.1–4, SSH on 27022) running the
 * sample app behind a real HAProxy (127.0.27.200:27200) that declares a pair per target,
 * `web-0N` on 27080 and `web-0N-b` on 27081 (disabled). maxUnavailable 50%: batches [web-01]
 * (bastion), [web-02, web-03], [web-04]. A load probe runs through HAProxy during each release;
 * every scenario ends with THE INVARIANT (test/support/fleet-invariant.ts), slot-aware.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeTargets,
  expectFleetInvariant,
  fullRelease,
  lbStatus,
  onEvents,
  packageOf,
} from '../../support/fleet-invariant';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';

const KEEP_WARM_S = 20;

/** HAProxy sends traffic to a server UP, or UP and checking ("UP 1/2"). */
const up = (status: string | undefined) => status?.startsWith('UP') === true;

/** Targets with a server UP in HAProxy, sampled every 25 ms. */
function capacityWatch(f: RealFleet) {
  let min = Infinity;
  let running = true;
  const loop = (async () => {
    while (running) {
      const st = await lbStatus(f);
      const serving = f.hosts.filter((h) => up(st[h.id]) || up(st[`${h.id}-b`])).length;
      min = Math.min(min, serving);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return min;
    },
  };
}

function serving(f: RealFleet, i: number): string {
  return readFileSync(join(f.hosts[i]!.docBase, '.rollgate/serving'), 'utf8').trim();
}

async function waitAllUp(f: RealFleet): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const st = await lbStatus(f);
    if (f.hosts.every((h) => up(st[h.id]) || up(st[`${h.id}-b`]))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not every target UP: ${JSON.stringify(await lbStatus(f))}`);
}

describe('side-by-side on sshd + HAProxy (S7)', () => {
  let f: RealFleet;

  beforeAll(async () => {
    f = await startRealFleet({
      n: 4,
      first: 1,
      net: '127.0.27',
      sshPort: 27022,
      appPort: 27080,
      altPort: 27081,
      frontend: '127.0.27.200:27200',
      deployment:
        '  strategy: side-by-side\n' +
        `  keepWarm: ${KEEP_WARM_S}s\n` +
        '  maxUnavailable: 50%\n  startTimeout: 3s\n  verifyInterval: 20ms',
    });
    await f.build('1.0.0', { startDelayMs: 300 });
    await f.build('2.0.0', { startDelayMs: 300 });
    await f.build('3.0.0', { startDelayMs: 300, broken: { onHosts: [f.hosts[2]!.address] } });
    await f.build('4.0.0', { startDelayMs: 300 });
    const rt = await f.runtime();
    try {
      const r = await fullRelease(rt.engine, f, '1.0.0');
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    } finally {
      await rt.close();
    }
    await waitAllUp(f);
  }, 180_000);

  afterAll(async () => f?.stop());

  it('a release never takes a host out: every target UP throughout, 0 failed requests; the old slot stays warm', async () => {
    const probe = f.probe(4);
    const capacity = capacityWatch(f);
    const rt = await f.runtime();
    const started = performance.now();
    let r;
    try {
      r = await fullRelease(rt.engine, f, '2.0.0');
    } finally {
      await rt.close();
    }
    const ms = performance.now() - started;
    const min = await capacity.stop();
    const stats = await probe.stop();
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    expect(stats.failed, stats.errors.slice(0, 5).join('; ')).toBe(0);
    expect(min).toBe(4);
    for (const [i, h] of f.hosts.entries()) {
      expect(await f.current(h.id)).toBe('2.0.0');
      expect(serving(f, i)).toBe('b');
    }
    const st = await lbStatus(f);
    expect(st['web-02-b']).toBe('UP');
    expect(st['web-02']).toBe('MAINT');
    // Slot a still answers on its own port, out of traffic: a rollback in the window is a flip.
    const warm = await fetch(`http://${f.hosts[1]!.address}:27080/health`);
    expect(((await warm.json()) as { version: string }).version).toBe('1.0.0');
    expect(r.deployment.targets['web-02']!.steps.markdown).toBeUndefined();
    console.info(
      `side-by-side release of 4 hosts: ${ms.toFixed(0)} ms, min ${min}/4 UP, ${stats.ok} ok / ${stats.failed} failed`,
    );
    await expectFleetInvariant(f);
  });

  it('rollback inside the keep-warm window is one flip per host: nothing starts, 0 failed requests', async () => {
    const probe = f.probe(4);
    const capacity = capacityWatch(f);
    const rt = await f.runtime();
    const started = performance.now();
    let r;
    try {
      r = await rt.engine.rollback();
    } finally {
      await rt.close();
    }
    const ms = performance.now() - started;
    const min = await capacity.stop();
    const stats = await probe.stop();
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    expect(r.deployment.batches.map((b) => b.targets.length)).toEqual([2, 2]);
    for (const t of Object.values(r.deployment.targets)) {
      expect(t.steps.install?.detail).toMatch(/still runs 1.0.0, warm: nothing to start/);
      expect(t.steps.markup?.detail).toMatch(/flipped: slot a .* on 1.0.0/);
    }
    expect(stats.failed, stats.errors.slice(0, 5).join('; ')).toBe(0);
    expect(min).toBe(4);
    for (const [i, h] of f.hosts.entries()) {
      expect(await f.current(h.id)).toBe('1.0.0');
      expect(serving(f, i)).toBe('a');
    }
    console.info(`side-by-side rollback in the warm window: ${ms.toFixed(0)} ms`);
    await expectFleetInvariant(f);
  });

  it('a new slot that never gets healthy: the old slot never leaves traffic; the others go on (F1)', async () => {
    await waitAllUp(f);
    const probe = f.probe(4);
    const capacity = capacityWatch(f);
    const rt = await f.runtime();
    let r;
    try {
      r = await fullRelease(rt.engine, f, '3.0.0');
    } finally {
      await rt.close();
    }
    const min = await capacity.stop();
    const stats = await probe.stop();
    expect(r.phase, describeTargets(r.deployment)).toBe('FAILURE');
    const web03 = r.deployment.targets['web-03']!;
    expect(web03.state).toBe('VERIFY_FAILURE');
    expect(web03.error).toMatch(/not healthy within 3s/);
    expect(await f.current('web-03')).toBe('1.0.0');
    expect(serving(f, 2)).toBe('a');
    const st = await lbStatus(f);
    expect(st['web-03']).toBe('UP');
    expect(st['web-03-b']).toBe('MAINT');
    expect(stats.failed, stats.errors.slice(0, 5).join('; ')).toBe(0);
    expect(min).toBe(4);
    await expectFleetInvariant(f, { alsoAllowed: ['1.0.0'] });
  });

  it('U4: a stop during a batch starts no new slot; every target keeps serving; reconcile finds nothing to put back', async () => {
    await waitAllUp(f);
    const probe = f.probe(4);
    const capacity = capacityWatch(f);
    const rt = await f.runtime({ who: 'operator' });
    let r;
    try {
      const smoke = await rt.engine.deploy({ version: '4.0.0', package: packageOf(f, '4.0.0') });
      expect(smoke.phase, describeTargets(smoke.deployment)).toBe('SMOKE_SUCCESS');
      await rt.engine.bake();
      onEvents(rt, (e) => {
        if (e.type === 'target' && e.target === 'web-02' && e.state === 'INSTALL_RUNNING') {
          rt.engine.requestStop('operator (Ctrl-C)');
        }
      });
      r = await rt.engine.continue();
    } finally {
      await rt.close();
    }
    const min = await capacity.stop();
    const stats = await probe.stop();
    expect(r.phase, describeTargets(r.deployment)).toBe('ABORTED');
    // web-02 had started its new slot: it finished and switched. web-04 (batch 3) never started.
    expect(r.deployment.targets['web-02']!.state).toBe('MARKUP_SUCCESS');
    expect(r.deployment.targets['web-04']!.state).toBe('PENDING');
    expect(await f.current('web-02')).toBe('4.0.0');
    expect(await f.current('web-04')).not.toBe('4.0.0');
    expect(stats.failed, stats.errors.slice(0, 5).join('; ')).toBe(0);
    expect(min).toBe(4);
    await expectFleetInvariant(f, { alsoAllowed: ['1.0.0', '3.0.0'] });

    const again = await f.runtime({ who: 'operator' });
    try {
      const report = await again.engine.reconcile();
      expect(report.ok).toBe(true);
      expect(report.targets.map((t) => [t.id, t.action])).toEqual(
        f.hosts.map((h) => [h.id, 'serving']),
      );
    } finally {
      await again.close();
    }
  });
});
