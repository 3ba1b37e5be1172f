/**
 * A hard stop reaches real waits and real processes: the wall clock's sleep, a local script (its
 * whole process group killed), a health check that hangs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realClock } from '../../../src/clock/real';
import { LocalExecutor } from '../../../src/transport/local/local-executor';
import { checkHealth } from '../../../src/host/health';
import { AbortedError } from '../../../src/model/errors';

const host = { id: 'h', host: 'h', address: '127.0.0.1' };

/** Alive and not a zombie (an orphan whose new parent never reaps it is dead all the same). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('hard stop on real waits and processes', () => {
  let dir: string;
  let server: Server;
  let port = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-abort-'));
    // Accepts and never answers: a health check that would wait for its whole timeout.
    server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('realClock.sleep rejects with the reason as soon as the signal aborts', async () => {
    const ctl = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ctl.abort(new AbortedError('hard stop')), 30);
    await expect(realClock.sleep(60_000, ctl.signal)).rejects.toThrow('hard stop');
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('LocalExecutor: an aborted exec kills the script and what it started, at once', async () => {
    const pidFile = join(dir, 'child.pid');
    const ctl = new AbortController();
    const exec = new LocalExecutor({ timeoutMs: 60_000 });
    const t0 = performance.now();
    const run = exec.exec(host, `sleep 30 & echo $! > ${pidFile}; wait`, { signal: ctl.signal });
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') {
      await new Promise((r) => setTimeout(r, 10));
    }
    const child = Number(readFileSync(pidFile, 'utf8').trim());
    expect(alive(child)).toBe(true);
    ctl.abort(new AbortedError('Ctrl-C twice'));
    await expect(run).rejects.toBeInstanceOf(AbortedError);
    expect(performance.now() - t0).toBeLessThan(2000);
    for (let i = 0; i < 50 && alive(child); i++) await new Promise((r) => setTimeout(r, 10));
    expect(alive(child)).toBe(false);
  });

  it('checkHealth: a hanging health check ends with the hard stop, not its timeout', async () => {
    const ctl = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ctl.abort(new AbortedError('SIGTERM')), 50);
    await expect(
      checkHealth(`http://127.0.0.1:${port}/health`, 30_000, ctl.signal),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
