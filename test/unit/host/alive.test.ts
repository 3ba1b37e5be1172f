/**
 * The install and slot scripts' `alive` (install-steps.ts): a process group lives while its leader
 * or any member does, zombies excepted. Real processes; asked with the shell's trace counted, and
 * under every shell here that a host's `sh` may be.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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

const SHELLS = ['/bin/sh', '/bin/dash', '/bin/bash'].filter((s) => existsSync(s));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rollgate-alive-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Exit status of `alive <pid>` under `shell`, plus whether it left `set -f` and IFS as they were. */
function aliveIn(shell: string, pid: number, noglob = false): { code: number; kept: boolean } {
  const script = [
    ...ALIVE_FN,
    noglob ? 'set -f' : '',
    'before="$- $IFS"',
    `alive ${pid}; code=$?`,
    '[ "$before" = "$- $IFS" ] && kept=1 || kept=0',
    'echo "$code $kept"',
  ].join('\n');
  const [code, kept] = execFileSync(shell, ['-c', script], { encoding: 'utf8' }).trim().split(' ');
  return { code: Number(code), kept: kept === '1' };
}

async function waitFor(file: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8').trim();
      if (/^\d+$/.test(text)) return Number(text);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${file} was never written`);
}

function state(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/**
 * Starts `script` under sh in a session of its own (its pid leads its process group) and returns
 * the pid the script writes to $1; the whole group is killed at the end of the test.
 */
async function start(name: string, script: string): Promise<{ pid: number; stop(): void }> {
  const file = join(dir, `${name}.pid`);
  const child = spawn('sh', ['-c', script, 'sh', file], { detached: true, stdio: 'ignore' });
  child.unref();
  const pid = await waitFor(file);
  return {
    pid,
    stop() {
      for (const p of [-child.pid!, -pid]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
    },
  };
}

describe('alive(): a process group lives while its leader or a member does, zombies excepted', () => {
  it.each(SHELLS)('%s: a running leader is alive', async (shell) => {
    const p = await start(`leader-${shell.replace(/\//g, '')}`, 'echo $$ >"$1"; exec sleep 30');
    try {
      expect(aliveIn(shell, p.pid)).toEqual({ code: 0, kept: true });
      expect(aliveIn(shell, p.pid, true)).toEqual({ code: 0, kept: true });
    } finally {
      p.stop();
    }
  });

  it.each(SHELLS)('%s: a pid nothing runs under is not alive', (shell) => {
    // Above the default pid_max of 32768 × 128: never a pid here.
    expect(aliveIn(shell, 4_194_000)).toEqual({ code: 1, kept: true });
    expect(aliveIn(shell, 4_194_000, true)).toEqual({ code: 1, kept: true });
  });

  it.each(SHELLS)(
    '%s: a leader gone while a member of its group runs is alive; once the member ends, not',
    async (shell) => {
      // The leader (sh) writes its pid, starts a member in its group and exits; the member is
      // reparented, so nothing of the leader is left, not even a zombie.
      const p = await start(
        `member-${shell.replace(/\//g, '')}`,
        'sleep 30 & echo $! >"$1.member"; echo $$ >"$1"; exit 0',
      );
      const member = await waitFor(join(dir, `member-${shell.replace(/\//g, '')}.pid.member`));
      try {
        for (let i = 0; i < 100 && state(p.pid) !== null && state(p.pid) !== 'Z'; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(aliveIn(shell, p.pid)).toEqual({ code: 0, kept: true });
        process.kill(member, 'SIGKILL');
        for (let i = 0; i < 100 && state(member) !== null && state(member) !== 'Z'; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(aliveIn(shell, p.pid)).toEqual({ code: 1, kept: true });
      } finally {
        p.stop();
      }
    },
  );

  it.each(SHELLS)(
    '%s: a zombie leader no parent reaps, with no member left, is not alive',
    async (shell) => {
      // The parent execs `sleep`, which never reaps: its child, leader of a session of its own,
      // exits and stays a zombie.
      const p = await start(
        `zombie-${shell.replace(/\//g, '')}`,
        'setsid sh -c "echo \\$\\$ >\\"$1\\"; exit 0" sh "$1" & exec sleep 30',
      );
      try {
        for (let i = 0; i < 100 && state(p.pid) !== 'Z'; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(state(p.pid)).toBe('Z');
        expect(aliveIn(shell, p.pid)).toEqual({ code: 1, kept: true });
      } finally {
        p.stop();
      }
    },
  );
});
