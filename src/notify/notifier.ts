import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { InputError } from '../model/errors';
import type { Notification } from './format';
import type { Sender } from './senders';

export interface NotifierOptions {
  /** Attempts after the first, per channel and message. */
  retries: number;
  /** First wait between attempts; it doubles (with jitter) up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** A channel gave up on a message: the caller records the warning. Must not throw. */
  onFailure(sender: string, n: Notification, error: Error, attempts: number): void;
  /** A channel delivered a message (the CLI's --verbose line, the tests' latency). */
  onDelivered?(sender: string, n: Notification, attempts: number): void;
}

/**
 * Sends each notification to every channel in the background, each with its own retries: the
 * release never waits for a receiver, except for `flush` at the end of a step, and that for a
 * bounded time.
 */
export class Notifier {
  private readonly pending = new Set<Promise<void>>();
  /** Ends the messages a flush gave up on; replaced then, so later messages still go out. */
  private aborter = new AbortController();

  constructor(
    private readonly senders: readonly Sender[],
    private readonly o: NotifierOptions,
  ) {}

  send(n: Notification): void {
    for (const sender of this.senders) {
      const task = this.deliver(sender, n).finally(() => this.pending.delete(task));
      this.pending.add(task);
    }
  }

  /**
   * Waits for the messages still being sent, at most `ms`; those left are abandoned (the
   * caller records them) and their count is returned.
   */
  async flush(ms: number): Promise<number> {
    if (this.pending.size === 0) return 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), ms);
    });
    const all = Promise.allSettled([...this.pending]).then(() => 'done' as const);
    const result = await Promise.race([all, late]);
    clearTimeout(timer);
    if (result === 'done') return 0;
    const left = this.pending.size;
    this.aborter.abort();
    this.aborter = new AbortController();
    return left;
  }

  private async deliver(sender: Sender, n: Notification): Promise<void> {
    const { signal } = this.aborter;
    let attempts = 0;
    const policy = retry(
      // A missing environment variable stays missing: no retry.
      handleWhen((err) => !(err instanceof InputError)),
      {
        maxAttempts: this.o.retries,
        backoff: new ExponentialBackoff({
          initialDelay: this.o.initialDelayMs ?? 500,
          maxDelay: this.o.maxDelayMs ?? 8_000,
        }),
      },
    );
    try {
      await policy.execute(({ signal: attempt }) => {
        attempts += 1;
        return sender.send(n, attempt);
      }, signal);
      this.o.onDelivered?.(sender.name, n, attempts);
    } catch (err) {
      // Given up by a flush, which records it.
      if (signal.aborted) return;
      this.o.onFailure(
        sender.name,
        n,
        err instanceof Error ? err : new Error(String(err)),
        attempts,
      );
    }
  }
}
