import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from './builders';

/** Port: runs a program (no shell) and collects its output. */
export interface CommandRunner {
  run(command: Command, options?: RunOptions): Promise<CommandResult>;
}

export interface RunOptions {
  cwd?: string;
  /** The complete environment of the child (the caller decides what it inherits). */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Each output line as it arrives (for live build logs). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  /** True when the timeout killed it. */
  timedOut: boolean;
}

const MAX_KEPT = 4 * 1024 * 1024;

/** CommandRunner over child_process.spawn. Output beyond 4 MB per stream keeps only the tail. */
export function spawnRunner(): CommandRunner {
  return {
    run(command, options = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(command.command, command.args, {
          cwd: options.cwd,
          env: options.env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const out = { stdout: '', stderr: '' };
        const partial = { stdout: '', stderr: '' };
        let timedOut = false;
        const timer =
          options.timeoutMs !== undefined
            ? setTimeout(() => {
                timedOut = true;
                child.kill('SIGKILL');
              }, options.timeoutMs)
            : undefined;
        const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
          const text = chunk.toString('utf8');
          out[stream] += text;
          if (out[stream].length > MAX_KEPT) out[stream] = out[stream].slice(-MAX_KEPT / 2);
          if (options.onLine) {
            const lines = (partial[stream] + text).split('\n');
            partial[stream] = lines.pop() ?? '';
            for (const line of lines) options.onLine(line, stream);
          }
        };
        child.stdout.on('data', collect('stdout'));
        child.stderr.on('data', collect('stderr'));
        child.on('error', (err) => {
          if (timer) clearTimeout(timer);
          reject(err);
        });
        child.on('close', (code, signal) => {
          if (timer) clearTimeout(timer);
          for (const stream of ['stdout', 'stderr'] as const) {
            if (options.onLine && partial[stream] !== '') options.onLine(partial[stream], stream);
          }
          resolve({ code: code ?? (signal ? 128 : 1), ...out, timedOut });
        });
      });
    },
  };
}

/** First executable `name` in a PATH value (the caller passes its PATH; src reads no env). */
export function findOnPath(name: string, pathValue: string): string | null {
  for (const dir of pathValue.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
