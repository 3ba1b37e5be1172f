import { spawn } from 'node:child_process';
import type { CommandTrafficSpec } from '../config/specs';
import type { Logger } from '../model/logger';
import type { Traffic, TrafficStatus } from '../engine/ports';
import { InputError } from '../model/errors';
import type { Target } from '../model/types';
import { TrafficUnavailableError } from './errors';
import { abortReason } from '../model/abort';

export interface CommandTrafficDeps {
  logger: Logger;
  /** Environment the commands start from (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export type TrafficAction = 'markdown' | 'markup' | 'status';

const STATUSES = new Set<TrafficStatus>(['up', 'down', 'drain', 'maint']);
const OUTPUT_LIMIT = 64 * 1024;

/** The user's own scripts (nginx, F5, a cloud LB), run with `sh -c` on this machine. */
export class CommandTraffic implements Traffic {
  readonly name = 'command';
  private readonly warnedStatus = new Set<string>();

  constructor(
    private readonly spec: CommandTrafficSpec,
    private readonly deps: CommandTrafficDeps,
  ) {
    if (!spec.markdown.trim()) throw new InputError('traffic.markdown', 'command is empty');
    if (!spec.markup.trim()) throw new InputError('traffic.markup', 'command is empty');
    if (!(spec.timeoutMs > 0)) throw new InputError('traffic.timeout', 'must be more than zero');
  }

  async status(target: Target): Promise<TrafficStatus> {
    if (!this.spec.status) return 'unknown';
    const out = (await this.run('status', this.spec.status, target)).trim();
    const word = out.split(/\s+/)[0]?.toLowerCase() ?? '';
    if (STATUSES.has(word as TrafficStatus)) return word as TrafficStatus;
    if (!this.warnedStatus.has(target.id)) {
      this.warnedStatus.add(target.id);
      this.deps.logger.warn(
        `traffic status command for ${target.id} printed ${JSON.stringify(out.slice(0, 80))}, ` +
          `not up, down, drain or maint; status unknown`,
      );
    }
    return 'unknown';
  }

  async markdown(target: Target, signal?: AbortSignal): Promise<void> {
    await this.run('markdown', this.spec.markdown, target, signal);
  }

  async markup(target: Target, signal?: AbortSignal): Promise<void> {
    await this.run('markup', this.spec.markup, target, signal);
  }

  async close(): Promise<void> {}

  private run(
    action: TrafficAction,
    command: string,
    target: Target,
    signal?: AbortSignal,
  ): Promise<string> {
    const env = {
      ...(this.deps.env ?? process.env),
      TARGET: target.id,
      HOST: target.host,
      ADDRESS: target.address,
      PORT: String(target.port),
      LB_NAME: target.lbName ?? target.id,
      ACTION: action,
      // S7: side-by-side acts on one slot at a time; PORT and LB_NAME are then that slot's.
      ...(target.slot ? { SLOT: target.slot } : {}),
    };
    const what = `traffic ${action} command for ${target.id}`;
    return new Promise<string>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const child = spawn('sh', ['-c', command], {
        env,
        cwd: this.deps.cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, so a timeout also stops what the script started.
        detached: true,
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout = (stdout + d).slice(-OUTPUT_LIMIT);
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr = (stderr + d).slice(-OUTPUT_LIMIT);
      });
      const kill = () => {
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }
      };
      // Bounds a real process: a simulated clock would fire it at once, so real timers.
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, this.spec.timeoutMs);
      let aborted = false;
      const onAbort = () => {
        aborted = true;
        clearTimeout(timer);
        kill();
        reject(abortReason(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (err) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(
          new TrafficUnavailableError(`${what} could not start: ${err.message}`, { cause: err }),
        );
      });
      child.on('close', (code, exitSignal) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (aborted) return;
        if (timedOut) {
          reject(
            new TrafficUnavailableError(
              `${what} timed out after ${this.spec.timeoutMs} ms${tail(stderr)}`,
            ),
          );
        } else if (code !== 0) {
          const how = code === null ? `was killed by ${exitSignal}` : `exited ${code}`;
          reject(new TrafficUnavailableError(`${what} ${how}${tail(stderr)}`));
        } else {
          resolve(stdout);
        }
      });
    });
  }
}

function tail(stderr: string): string {
  const text = stderr.trim();
  if (!text) return ' (no stderr)';
  return `: ${text.length > 2000 ? `…${text.slice(-2000)}` : text}`;
}
