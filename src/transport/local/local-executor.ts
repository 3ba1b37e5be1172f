import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { constants } from 'node:os';
import { dirname, isAbsolute } from 'node:path';
import type { ExecOptions, ExecResult, Executor, HostRef } from '../../host/executor';
import { abortReason } from '../../model/abort';

export interface LocalExecutorOptions {
  /** Default for exec when the caller gives none. */
  timeoutMs?: number;
  /** Output kept per stream; the rest is dropped. */
  maxOutputBytes?: number;
}

/** Exit code reported when a script is killed for running too long (as timeout(1) does). */
export const TIMED_OUT = 124;

/** Runs scripts on this machine with `sh`. Every "host" is this machine; docBase tells them apart. */
export class LocalExecutor implements Executor {
  private readonly timeoutMs: number;
  private readonly maxOutputBytes: number;
  private readonly running = new Set<ChildProcess>();

  constructor(options: LocalExecutorOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxOutputBytes = options.maxOutputBytes ?? 1 << 20;
  }

  exec(_host: HostRef, script: string, options: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const { signal } = options;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      // Own process group, so a timeout kills the script's children too (not the apps it
      // detached with setsid: those are in sessions of their own).
      const child = spawn('sh', ['-c', script], {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      // No input: stdin ends at once, as /dev/null would.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input === undefined ? '' : `${options.input}\n`);
      this.running.add(child);
      const out = this.collector();
      const err = this.collector();
      child.stdout.on('data', out.add);
      child.stderr.on('data', err.add);
      let timedOut = false;
      let aborted = false;
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child);
      }, timeoutMs);
      const onAbort = () => {
        aborted = true;
        killGroup(child);
        reject(abortReason(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.running.delete(child);
        reject(error);
      });
      child.on('close', (code, exitSignal) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.running.delete(child);
        if (aborted) return;
        let stderr = err.text();
        if (timedOut)
          stderr += `${stderr && !stderr.endsWith('\n') ? '\n' : ''}timed out after ${timeoutMs} ms\n`;
        resolve({
          code: timedOut ? TIMED_OUT : (code ?? 128 + signalNumber(exitSignal)),
          stdout: out.text(),
          stderr,
        });
      });
    });
  }

  async put(
    _host: HostRef,
    localPath: string,
    remotePath: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    if (!isAbsolute(remotePath)) throw new Error(`remote path must be absolute: ${remotePath}`);
    if (options.signal?.aborted) throw abortReason(options.signal);
    await mkdir(dirname(remotePath), { recursive: true });
    await copyFile(localPath, remotePath);
  }

  async close(): Promise<void> {
    for (const child of this.running) killGroup(child);
    this.running.clear();
  }

  private collector() {
    const chunks: Buffer[] = [];
    let size = 0;
    return {
      add: (chunk: Buffer) => {
        if (size >= this.maxOutputBytes) return;
        chunks.push(chunk.subarray(0, this.maxOutputBytes - size));
        size += chunk.length;
      },
      text: () => Buffer.concat(chunks).toString('utf8'),
    };
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : (constants.signals[signal] ?? 0);
}
