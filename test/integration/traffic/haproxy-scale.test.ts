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
import { parseServersState, statusFromServerState } from '../../../src/traffic/haproxy/stat-csv';
import { captureLogger, lbTarget, tempDir, wallClock } from '../../support/haproxy-fixture';
import { ensureHaproxy, startHaproxy, type HaproxyLb } from '../../support/haproxy-lb';

const missing = await ensureHaproxy();

/** A unix-socket proxy in front of `upstream` that keeps every command line clients send. */
async function countingProxy(upstream: string, listenPath: string) {
  const commands: string[] = [];
  const server = net.createServer((client) => {
    const up = net.connect({ path: upstream });
    let pending = '';
    client.on('data', (chunk) => {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        commands.push(pending.slice(0, nl));
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

  async function markdownBatch(first: number, size: number) {
    const traffic = new HaproxyTraffic(
      {
        kind: 'haproxy',
        sockets: [`unix:${path.join(dir, 'proxy.sock')}`],
        backend: 'be',
        drainTimeoutMs: 5000,
      },
      { clock: wallClock, logger: captureLogger().logger, pollMs: 50 },
    );
    const targets = Array.from({ length: size }, (_, i) =>
      lbTarget(`h${first + i}`, `s${first + i}`),
    );
    const before = proxy.commands.length;
    await Promise.all(targets.map((t) => traffic.markdown(t)));
    const down = proxy.commands.slice(before);
    const states = parseServersState(await lb.cli('show servers state be'));
    const inMaint = states.filter((r) => statusFromServerState(r) === 'maint').length;
    await Promise.all(targets.map((t) => traffic.markup(t)));
    await traffic.close();
    return { down, inMaint };
  }

  it('reads the whole backend a bounded number of times per batch, whatever its size', async () => {
    const small = await markdownBatch(1, 5);
    const large = await markdownBatch(11, 40);
    expect(small.inMaint).toBe(5);
    expect(large.inMaint).toBe(40);

    // Per target: get weight, set drain, set maint (+ the connection's `prompt`): linear in batch.
    const perTarget = (c: string) => /^(get weight|set server) /.test(c);
    expect(large.down.filter(perTarget)).toHaveLength(3 * 40);
    // Each whole-backend read answers every target that asked before it went out: before this
    // fix each target sent its own two (80 for a batch of 40: 40 × 80 rows each).
    expect(small.down.filter(wholeBackendRead).length).toBeLessThanOrEqual(4);
    expect(large.down.filter(wholeBackendRead).length).toBeLessThanOrEqual(4);
    expect(large.down.length).toBeLessThanOrEqual(3 * 40 + 1 + 4);
  });
});
