/**
 * Helpers of the record fault suite (issue 11 items 4–7): the real command line as a child
 * process, a small tmpfs for the store, "nothing was touched" snapshots of a real fleet, and the
 * check that no output shows a stack frame.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { lbStatus, stateDir } from './fleet-invariant';
import type { RealFleet } from './real-fleet';
import { parseEventLog } from '../../src/store/record-repair';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A stack frame as Node prints one: `    at fn (file.js:12:34)` or `    at file.js:12:34`. */
export const STACK_FRAME = /^\s*at .*:\d+:\d+\)?$/m;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `rollgate …` through the real entry point (src/cli/bin.ts under tsx). */
export function cli(
  args: string[],
  o: { env?: Record<string, string>; onSpawn?: (pid: number) => void } = {},
): Promise<CliResult> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    ROLLGATE_WHO: 'record-suite',
    ...o.env,
  };
  delete env.ROLLGATE_DEBUG;
  if (o.env?.ROLLGATE_DEBUG) env.ROLLGATE_DEBUG = o.env.ROLLGATE_DEBUG;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  o.onSpawn?.(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** No stack frame anywhere in what a person saw. */
export function expectNoStack(r: CliResult): void {
  expect(`${r.stdout}\n${r.stderr}`, `${r.stdout}\n${r.stderr}`).not.toMatch(STACK_FRAME);
}

/** What a refused command must leave exactly as it was. */
export interface FleetSnapshot {
  lb: Record<string, string>;
  current: Record<string, string | null>;
  state: string | null;
  events: string | null;
}

export async function snapshot(f: RealFleet): Promise<FleetSnapshot> {
  const current: Record<string, string | null> = {};
  for (const h of f.hosts) current[h.id] = await f.current(h.id);
  return {
    lb: await lbStatus(f),
    current,
    state: await readFile(join(stateDir(f), 'state.json'), 'utf8').catch(() => null),
    events: await readFile(join(stateDir(f), 'events.ndjson'), 'utf8').catch(() => null),
  };
}

/** Every host in HAProxy and UP, no host lock, no run lock, hosts and record as before. */
export async function expectUntouched(f: RealFleet, before: FleetSnapshot): Promise<void> {
  const after = await snapshot(f);
  // `UP 1/2` is HAProxy's health check settling after a markup: still UP.
  const word = (lb: Record<string, string>) =>
    Object.fromEntries(Object.entries(lb).map(([id, status]) => [id, status.split(' ')[0]]));
  for (const [id, status] of Object.entries(after.lb)) expect(status, id).toMatch(/^UP/);
  expect(word(after.lb)).toEqual(word(before.lb));
  expect(after.current).toEqual(before.current);
  for (const h of f.hosts) {
    expect(existsSync(join(h.docBase, '.rollgate/lock')), `${h.id} lock file`).toBe(false);
  }
  expect(existsSync(join(stateDir(f), 'run.lock')), 'run.lock').toBe(false);
  expect(after.state).toBe(before.state);
  expect(after.events).toBe(before.events);
}

/** A group file next to the fleet's (same store, same hosts), changed by `edit`. */
export async function groupVariant(
  f: RealFleet,
  name: string,
  edit: (text: string) => string,
): Promise<string> {
  const text = await readFile(f.groupFile, 'utf8');
  const changed = edit(text);
  if (changed === text) throw new Error(`test bug: ${name} changes nothing`);
  const file = join(f.dir, `${name}.yml`);
  await writeFile(file, changed);
  return file;
}

/** A tmpfs of `size` (e.g. `4m`) mounted at `dir`, holding what `dir` held. */
export async function mountTmpfs(dir: string, size: string): Promise<void> {
  const aside = `${dir}.before-tmpfs`;
  await rename(dir, aside);
  await mkdir(dir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  await run('cp', ['-a', `${aside}/.`, `${dir}/`]);
}

/** Copies what the tmpfs holds back onto the disk and unmounts it. */
export async function unmountTmpfs(dir: string): Promise<void> {
  const aside = `${dir}.before-tmpfs`;
  if (!existsSync(aside)) return;
  await rm(join(dir, 'filler'), { force: true });
  const copy = `${dir}.from-tmpfs`;
  await mkdir(copy, { recursive: true });
  await run('cp', ['-a', `${dir}/.`, `${copy}/`]);
  await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
  await rm(dir, { recursive: true, force: true });
  await rename(copy, dir);
  await rm(aside, { recursive: true, force: true });
}

/** Fills the file system of `dir` to the last byte with `<dir>/filler`. */
export async function fillDisk(dir: string): Promise<void> {
  const handle = await open(join(dir, 'filler'), 'a');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (let size = chunk.length; size >= 1;) {
      try {
        await handle.write(chunk, 0, size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        size = Math.floor(size / 2);
      }
    }
  } finally {
    await handle.close();
  }
}

export async function freeDisk(dir: string): Promise<void> {
  await rm(join(dir, 'filler'), { force: true });
}

/** Temp files of the store left behind (`.state.json.<pid>.<rand>.tmp`, run lock temps). */
export async function leftoverTemps(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.tmp') || n.startsWith('.run.lock.'));
}

/**
 * The fleet invariant reads every log line as JSON. A log that holds a line rollgate itself
 * skips (a partial line a crash or a full disk left) is checked as rollgate reads it: without
 * that line; the file is put back as it was afterwards.
 */
export async function withReadableLog<T>(f: RealFleet, fn: () => Promise<T>): Promise<T> {
  const path = join(stateDir(f), 'events.ndjson');
  const text = await readFile(path, 'utf8').catch(() => null);
  const parsed = text === null ? null : parseEventLog(text);
  if (!parsed || parsed.damaged.length === 0) return fn();
  await writeFile(path, parsed.events.map((e) => `${JSON.stringify(e)}\n`).join(''));
  try {
    return await fn();
  } finally {
    await writeFile(path, text!);
  }
}

/**
 * Waits until the log holds, past its first `from` bytes, an event matching `match` (polled
 * every 10 ms, up to `ms`).
 */
export async function waitForEvent(
  f: RealFleet,
  from: number,
  match: (line: string) => boolean,
  ms = 30_000,
): Promise<boolean> {
  const path = join(stateDir(f), 'events.ndjson');
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const text = await readFile(path).catch(() => Buffer.alloc(0));
    if (text.subarray(from).toString('utf8').split('\n').some(match)) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}
