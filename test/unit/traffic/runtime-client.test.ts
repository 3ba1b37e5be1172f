import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/model/errors';
import {
  parseEndpoint,
  RuntimeApiError,
  RuntimeClient,
  RuntimeUnreachableError,
} from '../../../src/traffic/haproxy/runtime-client';

type Reply = string | { close: true } | { hang: true };

/** Speaks the runtime API's interactive mode: `prompt`, then answers ending in "\n> ". */
class FakeRuntime {
  connections = 0;
  received: string[] = [];
  handler: (cmd: string) => Reply = (cmd) => `echo ${cmd}\n`;
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;

  constructor(readonly socketPath: string) {
    this.server = net.createServer((sock) => {
      this.connections += 1;
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => undefined);
      let buf = '';
      sock.setEncoding('utf8');
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
          this.received.push(cmd);
          const reply = this.handler(cmd);
          if (typeof reply === 'string') {
            // split the answer to check that the client waits for the prompt
            const half = Math.floor(reply.length / 2);
            sock.write(reply.slice(0, half));
            setImmediate(() => sock.write(`${reply.slice(half)}\n> `));
          } else if ('close' in reply) {
            sock.destroy();
          }
        }
      });
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  /** What HAProxy does when `stats timeout` expires on an idle connection. */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let dir: string;
let fake: FakeRuntime;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollgate-rt-'));
  fake = new FakeRuntime(path.join(dir, 'admin.sock'));
  await fake.listen();
});

afterAll(async () => {
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function client(timeoutMs = 1000) {
  return new RuntimeClient(`unix:${fake.socketPath}`, { timeoutMs });
}

describe('parseEndpoint', () => {
  it('reads unix and tcp endpoints', () => {
    expect(parseEndpoint('unix:/run/haproxy/admin.sock')).toEqual({
      kind: 'unix',
      path: '/run/haproxy/admin.sock',
    });
    expect(parseEndpoint('tcp:127.0.0.1:9999')).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 9999,
    });
    expect(parseEndpoint('tcp:[::1]:9999')).toEqual({ kind: 'tcp', host: '::1', port: 9999 });
  });

  it('rejects anything else as input', () => {
    for (const bad of [
      '/run/admin.sock',
      'tcp:127.0.0.1',
      'tcp:host:0',
      'unix:',
      'udp:1.2.3.4:5',
    ]) {
      expect(() => parseEndpoint(bad), bad).toThrow(InputError);
    }
  });
});

describe('RuntimeClient (fake runtime API on a unix socket)', () => {
  it('keeps one connection and answers queued commands in order', async () => {
    fake.handler = (cmd) => `echo ${cmd}\n`;
    const before = fake.connections;
    const c = client();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => c.command(`get weight be/s${i}`)),
    );
    expect(answers).toEqual(Array.from({ length: 30 }, (_, i) => `echo get weight be/s${i}`));
    expect(fake.connections - before).toBe(1);
    await c.close();
  });

  it('identical reads queued before one is sent share its answer; a later read is sent anew', async () => {
    let n = 0;
    fake.handler = (cmd) => `${cmd} #${++n}\n`;
    const c = client();
    const sentBefore = fake.received.length;
    const busy = c.command('get weight be/s1');
    const reads = Array.from({ length: 20 }, () => c.read('show stat be 4 -1'));
    const other = c.read('show servers state be');
    const answers = await Promise.all([busy, ...reads, other]);
    expect(new Set(answers.slice(1, 21))).toEqual(new Set(['show stat be 4 -1 #2']));
    expect(answers[21]).toBe('show servers state be #3');
    // Asked after the shared read went out: it must not get the older answer.
    expect(await c.read('show stat be 4 -1')).toBe('show stat be 4 -1 #4');
    expect(fake.received.slice(sentBefore)).toEqual([
      'get weight be/s1',
      'show stat be 4 -1',
      'show servers state be',
      'show stat be 4 -1',
    ]);
    await c.close();
  });

  it('strips the prompt and trailing empty lines; set wants an empty answer', async () => {
    fake.handler = (cmd) => (cmd.includes('nope') ? 'No such server.\n\n' : '\n');
    const c = client();
    expect(await c.command('set server be/s1 state drain')).toBe('');
    await c.set('set server be/s1 state drain');
    const err = await c.set('set server be/nope state drain').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeApiError);
    expect(err).toMatchObject({
      command: 'set server be/nope state drain',
      response: 'No such server.',
    });
    expect((err as Error).message).toContain('No such server.');
    await c.close();
  });

  it('reconnects when HAProxy dropped the idle connection', async () => {
    fake.handler = () => 'ok\n';
    const c = client();
    await c.command('show info');
    const before = fake.connections;
    fake.dropAll();
    await new Promise((r) => setTimeout(r, 20));
    expect(await c.command('show info')).toBe('ok');
    expect(fake.connections).toBe(before + 1);
    await c.close();
  });

  it('tries once more on a new connection when the connection drops under a command', async () => {
    let drops = 0;
    fake.handler = () => {
      if (drops > 0) {
        drops -= 1;
        return { close: true };
      }
      return 'ok\n';
    };
    const c = client();
    await c.command('warm up');
    drops = 1;
    expect(await c.command('show stat')).toBe('ok');
    drops = 2;
    await expect(c.command('show stat')).rejects.toBeInstanceOf(RuntimeUnreachableError);
    await c.close();
  });

  it('times out a command that gets no answer, then works on a new connection', async () => {
    fake.handler = (cmd) => (cmd === 'hang' ? { hang: true } : 'ok\n');
    const c = client(200);
    const started = Date.now();
    const err = await c.command('hang').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeUnreachableError);
    expect((err as Error).message).toMatch(/no answer to 'hang' within 200 ms/);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await c.command('show info')).toBe('ok');
    await c.close();
  });

  it('reports an endpoint nobody listens on as unreachable', async () => {
    const c = new RuntimeClient(`unix:${path.join(dir, 'missing.sock')}`, { timeoutMs: 500 });
    const err = await c.command('show info').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeUnreachableError);
    expect((err as Error).message).toMatch(/cannot connect: .*ENOENT/);
    await c.close();
  });

  it('refuses commands that would smuggle a second command', async () => {
    const c = client();
    await expect(c.command('show info; shutdown sessions server be/s1')).rejects.toThrow(
      /refusing/,
    );
    await expect(c.command('show info\nshutdown frontend fe')).rejects.toThrow(/refusing/);
    await c.close();
  });
});
