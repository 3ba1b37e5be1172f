import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ALIVE_FN } from '../../../src/host/install-steps';

/**
 * The install script's `alive` (polled every 20 ms while the old app stops) against real
 * processes, with the shell's trace (`sh -x`) counted: a scan of every /proc/<pid>/stat traces
 * a few lines per process on the machine, which made a batch of 30 stops take seconds of CPU
 * at 120 hosts (bench/scale.ts).
 */
function alive(pid: number): { code: number | null; traced: number } {
  const r = spawnSync('sh', ['-x', '-c', `${ALIVE_FN.join('\n')}\nalive ${pid}`], {
    encoding: 'utf8',
  });
  return { code: r.status, traced: r.stderr.split('\n').filter((l) => l.startsWith('+')).length };
}

const started: ChildProcess[] = [];
const groups: number[] = [];

afterEach(() => {
  for (const pgid of [...started.splice(0).map((c) => c.pid!), ...groups.splice(0)]) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** A process group led by `sh -c script`; resolves once the leader printed its first line. */
function group(script: string): Promise<{ leader: ChildProcess; line: string }> {
  const leader = spawn('sh', ['-c', script], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  started.push(leader);
  return new Promise((resolve) =>
    leader.stdout!.once('data', (d: Buffer) => resolve({ leader, line: d.toString().trim() })),
  );
}

/** The pid of a group leader left a zombie: its parent (`exec sleep`) never reaps it. */
async function zombieLeader(inner: string): Promise<number> {
  const { line } = await group(`setsid sh -c '${inner}' & echo $!; exec sleep 30`);
  const pid = Number(line);
  groups.push(pid);
  for (let i = 0; i < 200; i++) {
    if (/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return pid;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${pid} did not become a zombie`);
}

const exited = (c: ChildProcess) =>
  new Promise<void>((resolve) =>
    c.exitCode !== null ? resolve() : c.once('exit', () => resolve()),
  );

describe('alive: the stop loop of the install script', () => {
  it.each([
    {
      name: 'a running leader is alive, read from its own stat',
      make: async () => (await group('echo up; exec sleep 30')).leader.pid!,
      code: 0,
      fast: true,
    },
    {
      name: 'a group that is gone is not alive, said by kill -0',
      make: async () => {
        const { leader } = await group('echo up');
        await exited(leader);
        return leader.pid!;
      },
      code: 1,
      fast: true,
    },
    {
      name: 'a leader gone with a member still running is alive (found in /proc)',
      make: async () => {
        const { leader } = await group('sleep 30 & echo $!; exit 0');
        await exited(leader);
        return leader.pid!;
      },
      code: 0,
      fast: false,
    },
    {
      name: 'a zombie leader alone is not alive (a PID 1 that reaps late keeps it)',
      make: () => zombieLeader('exit 0'),
      code: 1,
      fast: false,
    },
    {
      name: 'a zombie leader with a member still running is alive',
      make: () => zombieLeader('sleep 30 & exit 0'),
      code: 0,
      fast: false,
    },
  ])('$name', async ({ make, code, fast }) => {
    const pid = await make();
    const r = alive(pid);
    expect(r.code).toBe(code);
    // Without the scan a call traces a handful of lines, whatever runs on the machine.
    if (fast) expect(r.traced).toBeLessThan(20);
  });
});
