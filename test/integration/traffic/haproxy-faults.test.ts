import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Traffic } from '../../../src/engine/ports';
import { DependencyDownError } from '../../../src/model/errors';
import { createTraffic } from '../../../src/traffic';
import { RuntimeClient } from '../../../src/traffic/haproxy/runtime-client';
import { startBackends, type TestBackend } from '../../support/haproxy-backends';
import { captureLogger, lbTarget, tempDir, until, wallClock } from '../../support/haproxy-fixture';
import {
  ensureHaproxy,
  startHaproxy,
  type HaproxyLb,
  type HaproxyOptions,
} from '../../support/haproxy-lb';

const missing = await ensureHaproxy();

describe.skipIf(missing)('HAProxy outages: breaker, degradation, reconnects', () => {
  const dir = tempDir('haproxy-faults');
  const servers = [1, 2].map((i) => ({ name: `s${i}`, address: `127.0.3.${20 + i}`, port: 18400 }));
  const options: HaproxyOptions = {
    dir: `${dir}/lb`,
    frontend: '127.0.3.3:18300',
    backend: 'be',
    servers,
    statsTimeoutMs: 300,
  };
  let backends: TestBackend[] = [];
  let lb: HaproxyLb | null = null;
  const opened: Traffic[] = [];
  const t1 = lbTarget('h1', 's1');
  const t2 = lbTarget('h2', 's2');

  function traffic(degraded: boolean, halfOpenAfterMs = 10_000) {
    const log = captureLogger();
    const reasons: string[] = [];
    const t = createTraffic(
      {
        kind: 'haproxy',
        sockets: [lb!.endpoints.unix, lb!.endpoints.tcp],
        backend: 'be',
        drainTimeoutMs: 2000,
        degraded,
      },
      {
        clock: wallClock,
        logger: log.logger,
        onDegraded: (r) => {
          reasons.push(r);
        },
        commandTimeoutMs: 1000,
        breaker: { halfOpenAfterMs, retryDelayMs: 50 },
      },
    );
    opened.push(t);
    return { t, lines: log.lines, reasons };
  }

  beforeAll(async () => {
    backends = await startBackends(servers);
    lb = await startHaproxy(options);
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
    if (!lb) lb = await startHaproxy(options);
  });

  afterAll(async () => {
    await lb?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('replaces the connection HAProxy closed after its stats timeout', async () => {
    const client = new RuntimeClient(lb!.endpoints.tcp, { timeoutMs: 1000 });
    expect(await client.command('get weight be/s1')).toBe('100 (initial 100)');
    await new Promise((r) => setTimeout(r, 600));
    expect(await client.command('get weight be/s2')).toBe('100 (initial 100)');
    await client.close();
  });

  it('HAProxy killed: DependencyDownError naming --degrade lb, then fail fast', async () => {
    const { t, lines } = traffic(false);
    await until(
      's1 up',
      () => t.status(t1),
      (s) => s === 'up',
    );
    await lb!.kill();
    lb = null;

    const started = performance.now();
    const err = await t.markdown(t1).catch((e: unknown) => e);
    const firstMs = performance.now() - started;
    expect(err).toBeInstanceOf(DependencyDownError);
    const message = (err as Error).message;
    expect(message).toMatch(/load balancer \(haproxy\) is unavailable: markdown of h1 failed/);
    expect(message).toMatch(/ECONNREFUSED|ENOENT/);
    expect(message).toContain('--degrade lb');
    expect(message).toContain('traffic.degraded: true');
    expect(firstMs).toBeLessThan(1000);

    await expect(t.markup(t1)).rejects.toBeInstanceOf(DependencyDownError);
    const fast = performance.now();
    const open = await t.markdown(t2).catch((e: unknown) => e);
    expect(performance.now() - fast).toBeLessThan(20);
    expect((open as Error).message).toMatch(/circuit open after 3 consecutive failures/);
    expect(lines.warn.join('\n')).toMatch(/circuit open/);
    console.info(`HAProxy down: first DependencyDownError after ${firstMs.toFixed(0)} ms`);
  });

  it('degraded: markdown and markup are skipped with one warning per target, and recorded', async () => {
    const { t, lines, reasons } = traffic(true);
    await lb!.kill();
    lb = null;

    await t.markdown(t1);
    await t.markdown(t2);
    expect(await t.status(t1)).toBe('unknown');
    await t.markup(t1);
    await t.markup(t2);
    expect(lines.warn.filter((l) => l.startsWith('degraded:'))).toHaveLength(2);
    expect(reasons).toEqual([
      expect.stringMatching(/markdown of h1 skipped/),
      expect.stringMatching(/markdown of h2 skipped/),
      expect.stringMatching(/markup of h1 skipped/),
      expect.stringMatching(/markup of h2 skipped/),
    ]);
  });

  it('after HAProxy is back, the half-open breaker lets the same driver recover', async () => {
    const { t, lines } = traffic(false, 500);
    await lb!.kill();
    lb = null;
    await expect(t.markdown(t1)).rejects.toBeInstanceOf(DependencyDownError);
    await expect(t.markdown(t1)).rejects.toBeInstanceOf(DependencyDownError);

    lb = await startHaproxy(options);
    await new Promise((r) => setTimeout(r, 600));
    await until(
      's1 up again',
      () => t.status(t1),
      (s) => s === 'up',
      3000,
    );
    await t.markdown(t1);
    expect(await t.status(t1)).toBe('maint');
    await t.markup(t1);
    expect(lines.info.join('\n')).toMatch(/answers again/);
  });

  it('one of two instances down is an outage too: the target may still take traffic there', async () => {
    const { t } = traffic(false);
    const other = await startHaproxy({
      ...options,
      dir: `${dir}/other`,
      frontend: '127.0.3.5:18300',
    });
    const both = createTraffic(
      {
        kind: 'haproxy',
        sockets: [lb!.endpoints.unix, other.endpoints.unix],
        backend: 'be',
        drainTimeoutMs: 2000,
      },
      { clock: wallClock, logger: captureLogger().logger, breaker: { retryDelayMs: 0 } },
    );
    opened.push(both);
    await other.kill();
    const err = await both.markdown(t2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyDownError);
    expect((err as Error).message).toMatch(/1 of 2 HAProxy instances failed/);
    // the reachable instance did take it out
    expect(await t.status(t2)).toBe('maint');
    await t.markup(t2);
  });
});
