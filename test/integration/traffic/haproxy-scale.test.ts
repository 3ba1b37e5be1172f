/**
 * Issue 17: the markdown of a batch must cost O(batch) runtime API commands, not O(batch × N)
 * work. A counting proxy sits between the driver and HAProxy's admin socket and records every
 * command line; the whole-backend reads (`show stat <be> …`, `show servers state <be>`) each
 * return N rows, so their count per batch is what made a 40-host batch of 120 take seconds.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyTraffic } from '../../../src/traffic/haproxy/haproxy-traffic';
import { RuntimeApiError, RuntimeClient } from '../../../src/traffic/haproxy/runtime-client';
import { parseServersState, statusFromServerState } from '../../../src/traffic/haproxy/stat-csv';
import { captureLogger, lbTarget, tempDir, wallClock } from '../../support/haproxy-fixture';
import { ensureHaproxy, startHaproxy, type HaproxyLb } from '../../support/haproxy-lb';

const missing = await ensureHaproxy();

/**
 * A unix-socket proxy in front of `upstream` that keeps every command line clients send, and
 * counts the connections made through it and how many were open at once.
 */
async function countingProxy(upstream: string, listenPath: string) {
  /** Each command, a line of joined sets split at `; `. */
  const commands: string[] = [];
  const lines: string[] = [];
  const conns = { total: 0, open: 0, maxOpen: 0 };
  const server = net.createServer((client) => {
    conns.total += 1;
    conns.open += 1;
    conns.maxOpen = Math.max(conns.maxOpen, conns.open);
    client.on('close', () => (conns.open -= 1));
    const up = net.connect({ path: upstream });
    let pending = '';
    client.on('data', (chunk) => {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        lines.push(pending.slice(0, nl));
        commands.push(...pending.slice(0, nl).split('; '));
        pending = pending.slice(nl + 1);
      }
      up.write(chunk);
    });
    up.on('data', (chunk) => client.write(chunk));
    up.on('close', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  fs.rmSync(listenPath, { force: true });
  await new Promise<void>((resolve) => server.listen(listenPath, resolve));
  return {
    commands,
    lines,
    conns,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const wholeBackendRead = (c: string) => /^show (stat be |servers state be$)/.test(c);

describe.skipIf(missing)('HAProxy markdown of a batch in O(batch) commands', () => {
  const dir = tempDir('haproxy-scale');
  const N = 80;
  let lb: HaproxyLb;
  let proxy: Awaited<ReturnType<typeof countingProxy>>;

  beforeAll(async () => {
    lb = await startHaproxy({
      dir: path.join(dir, 'lb'),
      frontend: '127.0.44.1:44100',
      backend: 'be',
      // No checks: the servers need not exist; each is "no check", i.e. up, with no sessions.
      check: false,
      servers: Array.from({ length: N }, (_, i) => ({
        name: `s${i + 1}`,
        address: `127.0.40.${i + 1}`,
        port: 44180,
      })),
    });
    proxy = await countingProxy(lb.socketPath, path.join(dir, 'proxy.sock'));
  });

  afterAll(async () => {
    await proxy?.close();
    await lb?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function markdownBatch(first: number, size: number, maxConnections?: number) {
    const traffic = new HaproxyTraffic(
      {
        kind: 'haproxy',
        sockets: [`unix:${path.join(dir, 'proxy.sock')}`],
        backend: 'be',
        drainTimeoutMs: 5000,
      },
      { clock: wallClock, logger: captureLogger().logger, pollMs: 50, maxConnections },
    );
    const targets = Array.from({ length: size }, (_, i) =>
      lbTarget(`h${first + i}`, `s${first + i}`),
    );
    const before = proxy.commands.length;
    const linesBefore = proxy.lines.length;
    const connsBefore = proxy.conns.total;
    proxy.conns.maxOpen = proxy.conns.open;
    await Promise.all(targets.map((t) => traffic.markdown(t)));
    const down = proxy.commands.slice(before);
    const downLines = proxy.lines.slice(linesBefore);
    const states = parseServersState(await lb.cli('show servers state be'));
    const inMaint = states.filter((r) => statusFromServerState(r) === 'maint').length;
    const beforeUp = proxy.commands.length;
    await Promise.all(targets.map((t) => traffic.markup(t)));
    const up = proxy.commands.slice(beforeUp);
    const after = parseServersState(await lb.cli('show servers state be'));
    const names = new Set(targets.map((t) => t.lbName));
    const ready = after.filter(
      (r) => names.has(r.srvName) && statusFromServerState(r) === 'up' && r.uweight === 100,
    ).length;
    await traffic.close();
    await new Promise((r) => setTimeout(r, 50)); // the proxy sees the closes
    return {
      down,
      downLines,
      up,
      inMaint,
      ready,
      connections: proxy.conns.total - connsBefore,
      maxOpen: proxy.conns.maxOpen,
    };
  }

  it('reads the whole backend a bounded number of times per batch, whatever its size', async () => {
    const small = await markdownBatch(1, 5);
    const large = await markdownBatch(11, 40);
    expect(small.inMaint).toBe(5);
    expect(large.inMaint).toBe(40);

    // Per target: set drain, set maint (+ each connection's `prompt`): linear in batch. The
    // weight to restore comes from the shared `show servers state` row, not a `get weight` each.
    const perTarget = (c: string) => /^(get weight|set server) /.test(c);
    expect(large.down.filter(perTarget)).toHaveLength(2 * 40);
    expect(large.down.filter((c) => c.startsWith('get weight'))).toHaveLength(0);
    // Each whole-backend read answers every target that asked before it went out: before this
    // fix each target sent its own two (80 for a batch of 40: 40 × 80 rows each).
    expect(small.down.filter(wholeBackendRead).length).toBeLessThanOrEqual(4);
    expect(large.down.filter(wholeBackendRead).length).toBeLessThanOrEqual(4);
    expect(large.down.length).toBeLessThanOrEqual(2 * 40 + 4 + 4);
    // Sets queued behind others share a line (`a; b; c`): fewer round trips than commands.
    const setLines = large.downLines.filter((l) => l.startsWith('set server'));
    expect(setLines.length).toBeLessThan(2 * 40);
    // Markup: one `set server … ready` per target and a bounded number of shared reads.
    expect(large.ready).toBe(40);
    expect(large.up.filter((c) => c.startsWith('set server'))).toHaveLength(40);
    expect(large.up.filter((c) => c.startsWith('get weight'))).toHaveLength(0);
    expect(large.up.filter(wholeBackendRead).length).toBeLessThanOrEqual(4);
  });

  it('spreads a batch over a few runtime API connections, never more than allowed', async () => {
    // One target at a time needs one connection; a batch of 40 uses the pool (default 4).
    const one = await markdownBatch(51, 1);
    const batch = await markdownBatch(11, 40);
    const capped = await markdownBatch(11, 40, 2);
    expect(one.connections).toBe(1);
    expect(batch.inMaint).toBe(40);
    expect(batch.connections).toBe(4);
    expect(batch.maxOpen).toBe(4);
    expect(capped.connections).toBe(2);
    expect(capped.inMaint).toBe(40);
    expect(capped.ready).toBe(40);
  });

  it('a line of joined sets HAProxy refuses part of: each caller gets its own answer', async () => {
    const client = new RuntimeClient(`unix:${path.join(dir, 'proxy.sock')}`);
    const linesBefore = proxy.lines.length;
    const busy = client.command('show info');
    const sets = ['s70', 'nope', 's71'].map((s) => client.set(`set server be/${s} state maint`));
    const results = await Promise.allSettled([busy, ...sets]);
    const states = parseServersState(await lb.cli('show servers state be'));
    const maint = (name: string) =>
      statusFromServerState(states.find((r) => r.srvName === name)!) === 'maint';
    await Promise.all(['s70', 's71'].map((s) => client.set(`set server be/${s} state ready`)));
    await client.close();
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    const err = (results[2] as PromiseRejectedResult).reason as Error;
    expect(err).toBeInstanceOf(RuntimeApiError);
    expect(err.message).toMatch(/'set server be\/nope state maint' failed: No such server/);
    expect(maint('s70') && maint('s71')).toBe(true);
    expect(proxy.lines.slice(linesBefore)).toContain(
      'set server be/s70 state maint; set server be/nope state maint; set server be/s71 state maint',
    );
  });
});
