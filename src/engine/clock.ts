import { abortReason } from '../model/abort';
import type { Clock } from '../model/clock';

/**
 * A simulated clock: `sleep` queues a timer and time jumps to the earliest one as soon as the
 * process has nothing else to do, so a release with minutes of waits runs in milliseconds and
 * parallel sleepers still overlap as they would in real time.
 */
export class SimulatedClock implements Clock {
  private t: number;
  private timers: { due: number; seq: number; resolve: () => void }[] = [];
  private seq = 0;
  private scheduled = false;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const timer = {
        due: this.t + Math.max(0, ms),
        seq: this.seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      // An aborted sleeper leaves the queue: time does not jump to a timer nobody waits for.
      const onAbort = () => {
        this.timers = this.timers.filter((t) => t !== timer);
        reject(abortReason(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.timers.push(timer);
      this.schedule();
    });
  }

  /** Moves time forward by hand (for tests that check what happens in between). */
  advance(ms: number): void {
    this.t += ms;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.timers.length === 0) return;
      this.timers.sort((a, b) => a.due - b.due || a.seq - b.seq);
      const next = this.timers.shift()!;
      this.t = Math.max(this.t, next.due);
      next.resolve();
      if (this.timers.length > 0) this.schedule();
    });
  }
}
