import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Traffic } from '../../../src/engine/ports';
import { DependencyDownError } from '../../../src/model/errors';
import { createTraffic } from '../../../src/traffic';
import { TrafficRejectedError } from '../../../src/traffic/errors';
import { HaproxyTraffic } from '../../../src/traffic/haproxy/haproxy-traffic';
import { parseServersState, statusFromServerState } from '../../../src/traffic/haproxy/stat-csv';
import { request, spread, startBackends, type TestBackend } from '../../support/haproxy-backends';
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

describe.skipIf(missing)('HAProxy traffic driver against HAProxy 2.6', () => {
  const dir = tempDir('haproxy');
  let backends: TestBackend[] = [];
  let a: HaproxyLb;
  let b: HaproxyLb;
  const servers = [1, 2, 3].map((i) => ({
    name: `s${i}`,
    address: `127.0.3.${10 + i}`,
    port: 18400,
  }));
  const t1 = lbTarget('h1', 's1');
  const t2 = lbTarget('h2', 's2');
  const t3 = lbTarget('h3', 's3');
  const opened: Traffic[] = [];

  function driver(sockets: string[], drainTimeoutMs = 5000) {
    const log = captureLogger();
    const traffic = new HaproxyTraffic(
      { kind: 'haproxy', sockets, backend: 'be', drainTimeoutMs },
      { clock: wallClock, logger: log.logger, pollMs: 50 },
    );
    opened.push(traffic);
    return { traffic, lines: log.lines };
  }

  async function stateOf(lb: HaproxyLb, server: string) {
    const row = parseServersState(await lb.cli('show servers state be')).find(
      (r) => r.srvName === server,
    )!;
    return { status: statusFromServerState(row), op: row.opState, admin: row.adminState };
  }

  async function allUp(lb: HaproxyLb) {
    for (const s of servers) {
      await until(
        `${s.name} up`,
        () => stateOf(lb, s.name),
        (v) => v.status === 'up',
      );
    }
  }

  beforeAll(async () => {
    backends = await startBackends(servers);
    a = await startHaproxy({
      dir: `${dir}/a`,
      frontend: '127.0.3.1:18300',
      backend: 'be',
      servers,
    });
    b = await startHaproxy({
      dir: `${dir}/b`,
      frontend: '127.0.3.2:18300',
      backend: 'be',
      servers,
    });
    await allUp(a);
    await allUp(b);
  });

  // Each driver keeps a runtime API connection open, and a stats socket takes 10 at most.
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await Promise.all(backends.map((x) => x.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('markdown drains (no new requests), waits for the request in flight, then maint', async () => {
    const { traffic, lines } = driver([a.endpoints.unix]);
    const before = await spread(a.url, 30);
    expect(before).toEqual({ s1: 10, s2: 10, s3: 10 });

    const slow = request(a.url, '/slow?ms=1500');
    const busy = await until(
      'a backend with the slow request',
      () => backends.find((x) => x.inFlight > 0),
      (x) => x !== undefined,
    );
    const target = lbTarget(`h-${busy!.name}`, busy!.name);
    expect(await traffic.status(target)).toBe('up');

    const started = performance.now();
    const markdown = traffic.markdown(target);
    await until(
      'drain',
      () => stateOf(a, busy!.name),
      (v) => v.status === 'drain',
    );
    const hitsBefore = busy!.hits;
    const during = await spread(a.url, 20);
    expect(during[busy!.name]).toBeUndefined();
    expect(busy!.hits).toBe(hitsBefore);
    expect(await traffic.status(target)).toBe('drain');

    await markdown;
    const ms = performance.now() - started;
    const answer = await slow;
    expect(answer).toMatchObject({ status: 200, server: busy!.name });
    expect(ms).toBeGreaterThan(1000);
    expect(ms).toBeLessThan(3000);
    expect(await traffic.status(target)).toBe('maint');
    expect(await stateOf(a, busy!.name)).toMatchObject({ op: 0, admin: 1 });
    expect(lines.warn).toEqual([]);
    const after = await spread(a.url, 20);
    expect(after[busy!.name]).toBeUndefined();

    await traffic.markup(target);
    await until(
      'back up',
      () => traffic.status(target),
      (s) => s === 'up',
    );
    expect(await spread(a.url, 30)).toEqual({ s1: 10, s2: 10, s3: 10 });
    console.info(`markdown with a 1.5 s request in flight: ${ms.toFixed(0)} ms`);
  });

  it('a drain timeout cuts the wait short, says so, and still goes to maint', async () => {
    const { traffic, lines } = driver([a.endpoints.unix], 300);
    const slow = request(a.url, '/slow?ms=2000');
    const busy = await until(
      'a backend with the slow request',
      () => backends.find((x) => x.inFlight > 0),
      (x) => x !== undefined,
    );
    const target = lbTarget(busy!.name);
    const started = performance.now();
    await traffic.markdown(target);
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(1000);
    expect(lines.warn.join('\n')).toMatch(
      new RegExp(`be/${busy!.name} still has 1 session\\(s\\) after the 300 ms drain timeout`),
    );
    expect(await traffic.status(target)).toBe('maint');
    await traffic.markup(target);
    expect((await slow).status).toBe(200);
    await allUp(a);
  });

  it('markup sets ready and restores the weight recorded before markdown', async () => {
    const { traffic, lines } = driver([a.endpoints.unix]);
    await a.cli('set weight be/s2 60');
    await traffic.markdown(t2);
    await a.cli('set weight be/s2 0');
    expect((await a.cli('get weight be/s2')).trim()).toBe('0 (initial 100)');
    await traffic.markup(t2);
    expect((await a.cli('get weight be/s2')).trim()).toBe('60 (initial 100)');
    expect(await stateOf(a, 's2')).toMatchObject({ admin: 0 });
    expect(lines.info.join('\n')).toMatch(/be\/s2 weight 0 -> 60 restored/);

    // A markdown done by another process: a zero weight goes back to the initial one.
    await a.cli('set server be/s2 state maint');
    await a.cli('set weight be/s2 0');
    const fresh = driver([a.endpoints.unix]).traffic;
    await fresh.markup(t2);
    expect((await a.cli('get weight be/s2')).trim()).toBe('100 (initial 100)');
    await allUp(a);
  });

  it('measures markdown and markup with no sessions (unix socket)', async () => {
    const { traffic } = driver([a.endpoints.unix]);
    const down: number[] = [];
    const up: number[] = [];
    for (let i = 0; i < 10; i++) {
      let t = performance.now();
      await traffic.markdown(t1);
      down.push(performance.now() - t);
      t = performance.now();
      await traffic.markup(t1);
      up.push(performance.now() - t);
    }
    expect(median(down)).toBeLessThan(50);
    expect(median(up)).toBeLessThan(50);
    console.info(
      `unix: markdown median ${median(down).toFixed(2)} ms, markup median ${median(up).toFixed(2)} ms`,
    );
    await allUp(a);
  });

  it('works over the TCP runtime API too', async () => {
    const { traffic } = driver([a.endpoints.tcp]);
    expect(await traffic.status(t3)).toBe('up');
    const t = performance.now();
    await traffic.markdown(t3);
    const down = performance.now() - t;
    expect(await stateOf(a, 's3')).toMatchObject({ status: 'maint', admin: 1 });
    const u = performance.now();
    await traffic.markup(t3);
    const up = performance.now() - u;
    expect(await stateOf(a, 's3')).toMatchObject({ admin: 0 });
    await until(
      's3 up',
      () => traffic.status(t3),
      (s) => s === 'up',
    );
    console.info(`tcp: markdown ${down.toFixed(2)} ms, markup ${up.toFixed(2)} ms`);
  });

  it('a server HAProxy already reports DOWN: markdown goes straight to maint', async () => {
    const { traffic, lines } = driver([a.endpoints.unix]);
    const s3 = backends[2]!;
    await s3.stop();
    await until(
      's3 down',
      () => traffic.status(t3),
      (s) => s === 'down',
    );
    const t = performance.now();
    await traffic.markdown(t3);
    const ms = performance.now() - t;
    expect(ms).toBeLessThan(200);
    expect(await stateOf(a, 's3')).toMatchObject({ status: 'maint', op: 0, admin: 1 });
    expect(lines.info.join('\n')).toMatch(/be\/s3 is DOWN; setting maint without a drain/);

    // Out of maint HAProxy counts it UP until its checks fail again (inter 500ms, fall 2).
    await traffic.markup(t3);
    expect(await stateOf(a, 's3')).toMatchObject({ admin: 0 });
    await until(
      's3 down after its checks',
      () => traffic.status(t3),
      (s) => s === 'down',
    );
    await s3.start();
    await until(
      's3 up again',
      () => traffic.status(t3),
      (s) => s === 'up',
    );
    console.info(`markdown of a DOWN server: ${ms.toFixed(1)} ms`);
  });

  it('a drain left on a DOWN server (admin=8, status DOWN) does not make markdown wait', async () => {
    const { traffic } = driver([a.endpoints.unix]);
    const s3 = backends[2]!;
    await s3.stop();
    await until(
      's3 down',
      () => traffic.status(t3),
      (s) => s === 'down',
    );
    await a.cli('set server be/s3 state drain');
    expect(await stateOf(a, 's3')).toMatchObject({ op: 0, admin: 8, status: 'down' });
    const t = performance.now();
    await traffic.markdown(t3);
    expect(performance.now() - t).toBeLessThan(200);
    expect(await stateOf(a, 's3')).toMatchObject({ admin: 1, status: 'maint' });
    await s3.start();
    await traffic.markup(t3);
    await until(
      's3 up again',
      () => traffic.status(t3),
      (s) => s === 'up',
    );
  });

  it('two HAProxy instances in front of one group: both are updated, status is the worst', async () => {
    const { traffic } = driver([a.endpoints.unix, b.endpoints.tcp]);
    expect(await traffic.status(t1)).toBe('up');
    await traffic.markdown(t1);
    expect(await stateOf(a, 's1')).toMatchObject({ status: 'maint' });
    expect(await stateOf(b, 's1')).toMatchObject({ status: 'maint' });
    const viaB = await spread(b.url, 12);
    expect(viaB.s1).toBeUndefined();
    await traffic.markup(t1);
    await until(
      's1 up on both',
      () => traffic.status(t1),
      (s) => s === 'up',
    );
    expect(await stateOf(b, 's1')).toMatchObject({ admin: 0 });

    await b.cli('set server be/s1 state drain');
    expect(await traffic.status(t1)).toBe('drain');
    await b.cli('set server be/s1 state ready');
    expect(await traffic.status(t1)).toBe('up');
  });

  it('an unknown server is the LB saying no: a typed error, not an outage', async () => {
    const { traffic } = driver([a.endpoints.unix]);
    const nope = lbTarget('h9', 'nope');
    const err = await traffic.markdown(nope).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrafficRejectedError);
    expect((err as Error).message).toMatch(/No such server/);

    const log = captureLogger();
    const wrapped = createTraffic(
      {
        kind: 'haproxy',
        sockets: [a.endpoints.unix],
        backend: 'be',
        drainTimeoutMs: 1000,
        degraded: true,
      },
      { clock: wallClock, logger: log.logger },
    );
    opened.push(wrapped);
    const viaBreaker = await wrapped.markdown(nope).catch((e: unknown) => e);
    expect(viaBreaker).toBeInstanceOf(TrafficRejectedError);
    expect(viaBreaker).not.toBeInstanceOf(DependencyDownError);
    expect(log.lines.warn).toEqual([]);
    expect(await wrapped.status(t1)).toBe('up');
  });
});
