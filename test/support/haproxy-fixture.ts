import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Clock } from '../../src/model/clock';
import type { Logger } from '../../src/model/logger';
import type { Target } from '../../src/model/types';

/** A logger that keeps its lines for assertions. */
export function captureLogger() {
  const lines = { info: [] as string[], warn: [] as string[], error: [] as string[] };
  const logger: Logger = {
    info: (l) => lines.info.push(l),
    warn: (l) => lines.warn.push(l),
    error: (l) => lines.error.push(l),
  };
  return { lines, logger };
}

export function lbTarget(id: string, lbName?: string, address = '127.0.3.60'): Target {
  return { id, host: id, address, port: 18400, docBase: '/srv/app', pulledOut: false, lbName };
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rollgate-${prefix}-`));
}

export async function until<T>(
  what: string,
  probe: () => Promise<T> | T,
  ok: (v: T) => boolean,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 25));
    last = await probe();
  }
  return last;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** Wall-clock time for tests against real servers. */
export const wallClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};
