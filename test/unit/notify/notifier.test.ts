import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/model/errors';
import type { Notification } from '../../../src/notify/format';
import { Notifier } from '../../../src/notify/notifier';
import type { Sender } from '../../../src/notify/senders';

const n = (headline: string) => ({ headline }) as Notification;

/** A sender that runs `behave` for its i-th call (0-based), recording what it was sent. */
function sender(
  behave: (i: number, signal: AbortSignal) => Promise<void>,
): Sender & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: 'notify.test',
    calls,
    // As fetch does: an aborted signal fails the request before it is sent.
    send: (m, signal) => {
      signal.throwIfAborted();
      return behave(calls.push(m.headline) - 1, signal);
    },
  };
}

const hang = (signal: AbortSignal) =>
  new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

function notifier(s: Sender, retries = 2) {
  const log: string[] = [];
  const notif = new Notifier([s], {
    retries,
    initialDelayMs: 1,
    maxDelayMs: 2,
    onFailure: (name, m, err, attempts) =>
      log.push(`failed ${name} "${m.headline}" ${attempts}: ${err.message}`),
    onDelivered: (name, m, attempts) => log.push(`sent ${name} "${m.headline}" ${attempts}`),
  });
  return { notif, log };
}

describe('Notifier', () => {
  it('retries a failing channel and reports the delivery with its attempts', async () => {
    const s = sender(async (i) => {
      if (i < 2) throw new Error('HTTP 503');
    });
    const { notif, log } = notifier(s);
    notif.send(n('baked'));
    expect(await notif.flush(5_000)).toBe(0);
    expect(log).toEqual(['sent notify.test "baked" 3']);
  });

  it('gives up after its retries, once, with the last error', async () => {
    const { notif, log } = notifier(
      sender(async (i) => {
        throw new Error(`HTTP 50${i}`);
      }),
    );
    notif.send(n('failed'));
    await notif.flush(5_000);
    expect(log).toEqual(['failed notify.test "failed" 3: HTTP 502']);
  });

  it('an unset variable (InputError) is not retried', async () => {
    const { notif, log } = notifier(
      sender(async () => {
        throw new InputError('notify.slack.url', 'environment variable S is not set');
      }),
    );
    notif.send(n('baked'));
    await notif.flush(5_000);
    expect(log).toEqual([
      'failed notify.test "baked" 1: notify.slack.url: environment variable S is not set',
    ]);
  });

  it('flush gives up on a hung channel after its bound; later messages still go out', async () => {
    const s = sender((i, signal) => (i === 0 ? hang(signal) : Promise.resolve()));
    const { notif, log } = notifier(s);
    notif.send(n('bastion verified'));
    const started = performance.now();
    expect(await notif.flush(100)).toBe(1);
    expect(performance.now() - started).toBeLessThan(1_000);
    notif.send(n('baked'));
    expect(await notif.flush(5_000)).toBe(0);
    // The one given up is the flush's to record: no failure of its own.
    expect(log).toEqual(['sent notify.test "baked" 1']);
    expect(s.calls).toEqual(['bastion verified', 'baked']);
  });

  it('flush with nothing pending returns at once', async () => {
    const { notif } = notifier(sender(async () => undefined));
    expect(await notif.flush(60_000)).toBe(0);
  });
});
