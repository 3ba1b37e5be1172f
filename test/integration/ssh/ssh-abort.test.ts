/**
 * A hard stop reaches a remote command over real SSH (issue 12 item 3, engine side): the channel
 * is closed with a KILL to the command's process group, exec rejects at once, the connection
 * stays usable (unlock and the record still go through it); an SFTP copy is cut too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError } from '../../../src/model/errors';
import { SshExecutor } from '../../../src/transport/ssh/ssh-executor';
import {
  ensureSshd,
  hostRef,
  sshOptionsFor,
  startSshFleet,
  type SshFleet,
} from '../../support/ssh-fleet';

const unavailable = await ensureSshd();

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe.skipIf(unavailable !== null)('hard stop over SSH', () => {
  let fleet: SshFleet;
  let ssh: SshExecutor;

  beforeAll(async () => {
    fleet = await startSshFleet({ n: 1, first: 150 });
    ssh = new SshExecutor(sshOptionsFor(fleet, {}));
  });

  afterAll(async () => {
    await ssh?.close();
    await fleet?.stop();
  });

  it('an aborted exec kills the remote command and rejects at once; the connection serves the next command', async () => {
    const host = hostRef(fleet.hosts[0]!);
    const pidFile = join(fleet.hosts[0]!.root, 'sleeper.pid');
    expect((await ssh.exec(host, 'true')).code).toBe(0); // connected
    const ctl = new AbortController();
    const t0 = performance.now();
    const run = ssh.exec(host, `sleep 30 & echo $! > ${pidFile}; wait`, {
      signal: ctl.signal,
      timeoutMs: 60_000,
    });
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') {
      await new Promise((r) => setTimeout(r, 10));
    }
    const remote = Number(readFileSync(pidFile, 'utf8').trim());
    expect(alive(remote)).toBe(true);
    ctl.abort(new AbortedError('stopped at once by Ctrl-C twice'));
    await expect(run).rejects.toBeInstanceOf(AbortedError);
    expect(performance.now() - t0).toBeLessThan(3000);
    for (let i = 0; i < 100 && alive(remote); i++) await new Promise((r) => setTimeout(r, 10));
    expect(alive(remote)).toBe(false);
    expect((await ssh.exec(host, 'echo still here')).stdout.trim()).toBe('still here');
  });

  it('an aborted SFTP copy stops and rejects at once', async () => {
    const host = hostRef(fleet.hosts[0]!);
    const big = join(fleet.dir, 'big.bin');
    await writeFile(big, randomBytes(64 * 1024 * 1024));
    const ctl = new AbortController();
    const copy = ssh.put(host, big, join(fleet.hosts[0]!.root, 'big.bin'), { signal: ctl.signal });
    setTimeout(() => ctl.abort(new AbortedError('SIGTERM')), 20);
    const t0 = performance.now();
    await expect(copy).rejects.toBeInstanceOf(AbortedError);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(existsSync(join(fleet.hosts[0]!.root, 'big.bin'))).toBe(false);
  });
});
