import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTraffic } from '../../../src/traffic';
import { loadProbe, startBackends, type TestBackend } from '../../support/haproxy-backends';
import {
  captureLogger,
  lbTarget,
  median,
  tempDir,
  until,
  wallClock,
} from '../../support/haproxy-fixture';
import { ensureHaproxy, startHaproxy, type HaproxyLb } from '../../support/haproxy-lb';

const missing = await ensureHaproxy();

describe.skipIf(missing)('rolling markdown/markup under load', () => {
  const dir = tempDir('haproxy-load');
  const servers = [1, 2, 3, 4].map((i) => ({
    name: `s${i}`,
    address: `127.0.3.${30 + i}`,
    port: 18400,
  }));
  let backends: TestBackend[] = [];
  let lb: HaproxyLb;

  beforeAll(async () => {
    backends = await startBackends(servers);
    lb = await startHaproxy({ dir, frontend: '127.0.3.4:18300', backend: 'be', servers });
  });

  afterAll(async () => {
    await lb?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('takes each server out and back in turn while a probe sees 0 failed requests', async () => {
    const { logger, lines } = captureLogger();
    const traffic = createTraffic(
      { kind: 'haproxy', sockets: [lb.endpoints.unix], backend: 'be', drainTimeoutMs: 5000 },
      { clock: wallClock, logger },
    );
    const targets = servers.map((s) => lbTarget(`app-${s.name}`, s.name));
    for (const t of targets)
      await until(
        `${t.id} up`,
        () => traffic.status(t),
        (s) => s === 'up',
      );

    const probe = loadProbe(lb.url, 6);
    await new Promise((r) => setTimeout(r, 300));
    const down: number[] = [];
    const up: number[] = [];
    for (const [i, t] of targets.entries()) {
      const backend = backends[i]!;
      let start = performance.now();
      await traffic.markdown(t);
      down.push(performance.now() - start);
      const hits = backend.hits;
      // the "install" window: nothing may reach the server
      await new Promise((r) => setTimeout(r, 250));
      expect(backend.hits).toBe(hits);
      expect(backend.inFlight).toBe(0);
      start = performance.now();
      await traffic.markup(t);
      up.push(performance.now() - start);
      await until(
        `${t.id} serving again`,
        () => backend.hits,
        (h) => h > hits + 5,
      );
    }
    const stats = await probe.stop();
    await traffic.close();

    expect(stats.errors).toEqual([]);
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(500);
    expect(Object.keys(stats.byServer).sort()).toEqual(['s1', 's2', 's3', 's4']);
    expect(lines.warn).toEqual([]);
    console.info(
      `load probe: ${stats.ok} ok, ${stats.failed} failed; under load markdown median ` +
        `${median(down).toFixed(1)} ms (max ${Math.max(...down).toFixed(1)}), markup median ` +
        `${median(up).toFixed(1)} ms`,
    );
  });
});
