/**
 * The install and slot scripts' `alive` (install-steps.ts): a process group lives while its leader
 * or any member does, zombies excepted. Each case starts real processes and asks the function
 * under every shell here that a host's `sh` may be.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALIVE_FN } from '../../../src/host/install-steps';

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
