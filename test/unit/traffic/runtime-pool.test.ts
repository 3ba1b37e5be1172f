import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeApiError } from '../../../src/traffic/haproxy/runtime-client';
import { RuntimePool } from '../../../src/traffic/haproxy/runtime-pool';

/**
 * The runtime API's interactive mode, answering each command after `delayMs` and counting how
 * many commands were unanswered at once across all connections (HAProxy answers one command
 * per connection at a time, so that is how many connections really worked side by side).
 */
class SlowRuntime {
  connections = 0;
  /** Commands, a joined line split at `; `. */
  received: string[] = [];
  lines: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  delayMs = 20;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(readonly socketPath: string) {
    this.server = net.createServer((sock) => {
      this.connections += 1;
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => undefined);
      sock.setEncoding('utf8');
      let buf = '';
      sock.on('data', (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const cmd = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (cmd === 'prompt') {
            sock.write('\n> ');
            continue;
          }
          this.lines.push(cmd);
          this.received.push(...cmd.split('; '));
          this.inFlight += 1;
          this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
          // Like HAProxy 2.6: a set answers nothing unless refused, and each command of a
          // `a; b` line ends its answer with its own prompt.
          setTimeout(() => {
            this.inFlight -= 1;
            if (!cmd.startsWith('set ')) sock.write(`answer to ${cmd}\n\n> `);
            else
              sock.write(
                cmd
                  .split('; ')
                  .map((c) => (c.includes('/bad') ? 'No such server.\n\n> ' : '\n> '))
                  .join(''),
              );
          }, this.delayMs);
        }
      });
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  reset(): void {
    for (const s of this.sockets) s.destroy();
    this.connections = 0;
    this.received = [];
    this.lines = [];
    this.maxInFlight = 0;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let dir: string;
let fake: SlowRuntime;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollgate-pool-'));
  fake = new SlowRuntime(path.join(dir, 'admin.sock'));
  await fake.listen();
});

afterEach(() => fake.reset());

afterAll(async () => {
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('RuntimePool', () => {
  const label = () => `unix:${fake.socketPath}`;

  it.each([
    // name, max connections, commands asked at once, connections expected
    { name: 'one command', max: 4, at: 1, connections: 1 },
    { name: 'two at once', max: 4, at: 2, connections: 2 },
    { name: 'a batch of 20, room for 4', max: 4, at: 20, connections: 4 },
    {
      name: 'a batch of 20, room for 1 (the old single connection)',
      max: 1,
      at: 20,
      connections: 1,
    },
    { name: 'a batch of 3, room for 8', max: 8, at: 3, connections: 3 },
  ])(
    '$name: $connections connection(s), every answer its own',
    async ({ max, at, connections }) => {
      const pool = new RuntimePool(label(), { maxConnections: max });
      const cmds = Array.from({ length: at }, (_, i) => `show info ${i}`);
      const answers = await Promise.all(cmds.map((c) => pool.command(c)));
      await pool.close();
      expect(answers).toEqual(cmds.map((c) => `answer to ${c}`));
      expect(fake.connections).toBe(connections);
      expect(pool.stats().connects).toBe(connections);
      expect(fake.maxInFlight).toBe(connections);
      expect(pool.stats().commands).toBe(at);
    },
  );

  it('commands one after another never open a second connection', async () => {
    const pool = new RuntimePool(label(), { maxConnections: 4 });
    for (let i = 0; i < 5; i++) await pool.set(`set server be/s${i} state drain`);
    await pool.close();
    expect(fake.connections).toBe(1);
    expect(fake.received).toHaveLength(5);
  });

  it('identical reads asked while every connection is busy go out once', async () => {
    const pool = new RuntimePool(label(), { maxConnections: 2 });
    // Two sets fill both connections; then 10 targets ask for the same backend read.
    const busy = [
      pool.set('set server be/s1 state drain'),
      pool.set('set server be/s2 state drain'),
    ];
    const reads = Array.from({ length: 10 }, () => pool.read('show stat be 4 -1'));
    const answers = await Promise.all([...busy, ...reads]);
    await pool.close();
    expect(answers.slice(2)).toEqual(Array(10).fill('answer to show stat be 4 -1'));
    expect(fake.received.filter((c) => c === 'show stat be 4 -1')).toHaveLength(1);
    expect(pool.stats().sharedReads).toBe(9);
  });

  it('reads go out on one connection while state changes spread over the others', async () => {
    const pool = new RuntimePool(label(), { maxConnections: 4 });
    const sets = Array.from({ length: 8 }, (_, i) => pool.set(`set server be/s${i} state maint`));
    const reads = Array.from({ length: 8 }, (_, i) => pool.read(`show servers state be${i % 2}`));
    await Promise.all([...sets, ...reads]);
    await pool.close();
    expect(fake.connections).toBe(4);
    // 2 distinct reads queued behind a set on the first connection: each goes out once.
    expect(fake.received.filter((c) => c.startsWith('show '))).toHaveLength(2);
    expect(fake.received.filter((c) => c.startsWith('set '))).toHaveLength(8);
    expect(fake.lines.filter((c) => c.startsWith('set ')).length).toBeLessThanOrEqual(4);
  });

  it('sets queued behind a busy connection go out as one line, each caller told', async () => {
    const pool = new RuntimePool(label(), { maxConnections: 1 });
    const first = pool.command('show info');
    await new Promise((r) => setTimeout(r, 5)); // on the wire now
    const rest = Array.from({ length: 20 }, (_, i) =>
      pool.set(`set server be/s${i + 1} state drain`),
    );
    await Promise.all([first, ...rest]);
    await pool.close();
    expect(fake.received).toHaveLength(21);
    expect(fake.lines).toEqual([
      'show info',
      rest.map((_, i) => `set server be/s${i + 1} state drain`).join('; '),
    ]);
    expect(pool.stats().joinedSets).toBe(19);
  });

  it('a joined line HAProxy refused part of: only that caller fails, with its own answer', async () => {
    const pool = new RuntimePool(label(), { maxConnections: 1 });
    const busy = pool.set('set server be/s0 state maint');
    await new Promise((r) => setTimeout(r, 5)); // on the wire now
    const asked = ['be/s1', 'be/bad', 'be/s2'].map((s) => pool.set(`set server ${s} state maint`));
    const results = await Promise.allSettled([busy, ...asked]);
    await pool.close();
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    const err = (results[2] as PromiseRejectedResult).reason as Error;
    expect(err).toBeInstanceOf(RuntimeApiError);
    expect(err.message).toMatch(/'set server be\/bad state maint' failed: No such server/);
    // s0 alone, then the joined line: each answer is read from its place in the line's answer.
    expect(fake.lines).toHaveLength(2);
  });

  it('a read asked after the shared one went out is sent anew (no older view than asked for)', async () => {
    const pool = new RuntimePool(label(), { maxConnections: 1 });
    const first = pool.read('show servers state be');
    await new Promise((r) => setTimeout(r, 5)); // on the wire now
    const second = pool.read('show servers state be');
    await Promise.all([first, second]);
    await pool.close();
    expect(fake.received.filter((c) => c === 'show servers state be')).toHaveLength(2);
  });

  it('opens nothing new once closed', async () => {
    const pool = new RuntimePool(label(), { maxConnections: 4 });
    await pool.command('show info');
    await pool.close();
    await expect(pool.command('show info')).rejects.toThrow(/closed/);
    expect(pool.size).toBe(1);
  });
});
