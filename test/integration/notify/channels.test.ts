/**
 * Issue 18: each channel against a real receiver on loopback (127.0.26.x): the signed webhook
 * checked the way the README tells a receiver to, Slack- and Teams-shaped receivers, a real SMTP
 * server with a password from the environment; a receiver that fails then answers (retry), one
 * that is down and one that hangs (a warning in the record, a bounded flush).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotifyingStore } from '../../../src/app/notify';
import { emptyLedger, newDeployment, type Ledger } from '../../../src/engine/ledger';
import { Notifier } from '../../../src/notify/notifier';
import { createSender, type Sender } from '../../../src/notify/senders';
import type { Notification } from '../../../src/notify/format';
import { parseNotifySpec, type NotifySpec } from '../../../src/notify/spec';
import { FileStore } from '../../../src/store/file/file-store';
import {
  httpReceiver,
  smtpReceiver,
  type HttpReceiver,
  type SmtpReceiver,
} from '../../support/notify-receivers';

const SECRET = 'whsec-9f8e7d6c5b4a';
const PASSWORD = 'smtp-pass-0123';
const ENV = {
  HOOK_SECRET: SECRET,
  SMTP_PASSWORD: PASSWORD,
};

const N: Notification = {
  kind: 'bastion-verified',
  headline: 'bastion verified, waiting for bake',
  detail: 'bastion web-01 verified on 2.0.0; out of traffic until bake',
  group: 'shop',
  environment: 'production',
  version: '2.0.0',
  deployment: 'shop-20260301T120000-abcd',
  by: 'alice',
  at: '2026-03-01T12:00:05.000Z',
  next: 'bake or stop',
  buttons: ['bake', 'stop'],
  link: 'https://github.example/acme/shop/actions/runs/42',
  urgent: true,
};

/** The receiver's side of the README's recipe, written apart from rollgate's signer. */
function verified(r: { headers: Record<string, unknown>; body: string }, nowS: number): boolean {
  const ts = String(r.headers['x-rollgate-timestamp']);
  const sig = String(r.headers['x-rollgate-signature']);
  if (Math.abs(nowS - Number(ts)) > 300) return false;
  const want = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${r.body}`).digest('hex')}`;
  return want.length === sig.length && timingSafeEqual(Buffer.from(want), Buffer.from(sig));
}

function notifier(spec: NotifySpec, failures: string[], env = ENV): Notifier {
  const senders: Sender[] = spec.channels.map((c) =>
    createSender(c, { env, timeoutMs: spec.timeoutMs }),
  );
  return new Notifier(senders, {
    retries: spec.retries,
    initialDelayMs: 50,
    onFailure: (name, _n, err, attempts) => failures.push(`${name} (${attempts}): ${err.message}`),
  });
}

describe('notification channels against real receivers', () => {
  let hook: HttpReceiver;
  let slack: HttpReceiver;
  let teams: HttpReceiver;
  let smtp: SmtpReceiver;
  beforeAll(async () => {
    hook = await httpReceiver({ host: '127.0.26.10', port: 26010 });
    slack = await httpReceiver({ host: '127.0.26.11', port: 26011 });
    teams = await httpReceiver({
      host: '127.0.26.12',
      port: 26012,
      reply: { status: 202, body: '' },
    });
    smtp = await smtpReceiver({
      host: '127.0.26.13',
      port: 26025,
      user: 'rollgate',
      password: PASSWORD,
    });
  });
  afterAll(async () => {
    await Promise.all([hook?.close(), slack?.close(), teams?.close(), smtp?.close()]);
  });

  it('delivers one message to all four: signed JSON, Slack blocks, a Teams card, a mail', async () => {
    const failures: string[] = [];
    const spec = parseNotifySpec({
      webhook: { url: hook.url, secret: 'env:HOOK_SECRET' },
      slack: { url: slack.url },
      teams: { url: teams.url },
      email: {
        smtp: {
          host: smtp.host,
          port: smtp.port,
          user: 'rollgate',
          password: 'env:SMTP_PASSWORD',
        },
        from: 'rollgate@example.com',
        to: ['oncall@example.com', 'Release Team <release@example.com>'],
      },
    });
    const n = notifier(spec, failures);
    n.send(N);
    expect(await n.flush(10_000)).toBe(0);
    expect(failures).toEqual([]);

    const [w] = hook.received;
    expect(verified(w!, Math.floor(Date.now() / 1000))).toBe(true);
    expect(w!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(w!.body)).toMatchObject({
      source: 'rollgate',
      kind: 'bastion-verified',
      group: 'shop',
      environment: 'production',
      version: '2.0.0',
      by: 'alice',
      next: 'bake or stop',
      buttons: ['bake', 'stop'],
      link: N.link,
    });
    // A body changed on the way no longer verifies.
    expect(verified({ ...w!, body: w!.body.replace('2.0.0', '6.6.6') }, Date.now() / 1000)).toBe(
      false,
    );
    // Nor does the same request replayed ten minutes later.
    expect(verified(w!, Math.floor(Date.now() / 1000) + 600)).toBe(false);

    const s = JSON.parse(slack.received[0]!.body);
    expect(s.text).toBe('shop (production) 2.0.0: bastion verified, waiting for bake');
    expect(s.blocks.find((b: { type: string }) => b.type === 'actions').elements[0].url).toBe(
      N.link,
    );

    const t = JSON.parse(teams.received[0]!.body);
    expect(t.type).toBe('message');
    expect(t.attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(t.attachments[0].content.type).toBe('AdaptiveCard');
    expect(t.attachments[0].content.actions[0]).toMatchObject({
      type: 'Action.OpenUrl',
      url: N.link,
    });

    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail.user).toBe('rollgate');
    expect(mail.to).toEqual(['oncall@example.com', 'release@example.com']);
    expect(mail.subject).toBe(
      '[rollgate] shop (production) 2.0.0: bastion verified, waiting for bake',
    );
    expect(mail.text).toContain('By:          alice');
    expect(mail.text).toContain('Now:         bake or stop');
    expect(mail.text).toContain(`Link:        ${N.link}`);
  });

  describe('a receiver that fails, is down, or hangs', () => {
    let flaky: HttpReceiver | undefined;
    let hung: HttpReceiver | undefined;
    afterEach(async () => {
      await flaky?.close();
      await hung?.close();
      flaky = hung = undefined;
    });

    it('retries with backoff: 503 twice, then delivered on the third attempt', async () => {
      flaky = await httpReceiver({ host: '127.0.26.14', port: 26014, failFirst: 2 });
      const failures: string[] = [];
      const n = notifier(
        parseNotifySpec({ webhook: { url: flaky.url, secret: 'env:HOOK_SECRET' }, retries: 3 }),
        failures,
      );
      n.send(N);
      expect(await n.flush(10_000)).toBe(0);
      expect(failures).toEqual([]);
      expect(flaky.attempts).toBe(3);
      expect(flaky.received).toHaveLength(1);
    });

    it('gives up after its retries on a receiver that is down, and says so without the secret URL', async () => {
      const failures: string[] = [];
      const n = notifier(
        parseNotifySpec({
          slack: { url: 'http://127.0.26.15:26015/services/T00/B00/xoxb-secret-token' },
          retries: 2,
        }),
        failures,
      );
      n.send(N);
      expect(await n.flush(10_000)).toBe(0);
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatch(/^notify\.slack \(3\): .*ECONNREFUSED/);
      expect(failures[0]).not.toContain('xoxb-secret-token');
    });

    it('an unset secret is named with its field, not retried', async () => {
      const failures: string[] = [];
      const n = notifier(
        parseNotifySpec({ webhook: { url: hook.url, secret: 'env:NOT_SET_ANYWHERE' } }),
        failures,
        {} as typeof ENV,
      );
      n.send(N);
      await n.flush(5_000);
      expect(failures).toEqual([
        'notify.webhook (1): notify.webhook.secret: environment variable NOT_SET_ANYWHERE is not set: set it for every rollgate step (a CI secret), or remove the channel',
      ]);
    });

    it('in the record: a failed delivery is a warn event; flush waits at most flushTimeout for a hung one', async () => {
      hung = await httpReceiver({ host: '127.0.26.16', port: 26016, hang: true });
      const dir = await mkdtemp(join(tmpdir(), 'rollgate-notify-'));
      const logged: string[] = [];
      const logger = {
        info: () => undefined,
        warn: (l: string) => logged.push(l),
        error: () => undefined,
      };
      const file = new FileStore(dir, logger);
      try {
        const store = new NotifyingStore(file, {
          spec: parseNotifySpec({
            webhook: [
              { url: 'http://127.0.26.17:26017/down', secret: 'env:HOOK_SECRET' },
              { url: hung.url, secret: 'env:HOOK_SECRET' },
            ],
            retries: 1,
            timeout: '30s',
            flushTimeout: '700ms',
          }),
          env: ENV,
          logger,
          retryDelayMs: 50,
          environment: 'production',
        });
        const ledger: Ledger = emptyLedger('shop');
        ledger.current = newDeployment(ledger, {
          id: 'shop-20260301T120000-abcd',
          group: 'shop',
          kind: 'deploy',
          version: '2.0.0',
          package: { version: '2.0.0', path: '/dev/null', sha256: '0'.repeat(64) },
          config: {} as never,
          batches: [{ index: 0, bastion: true, targets: ['web-01'] }],
          by: 'alice',
          now: Date.parse('2026-03-01T12:00:00Z'),
        });
        ledger.current.phase = 'SMOKE_SUCCESS';
        await store.save(ledger);
        await store.append('shop', {
          at: new Date().toISOString(),
          group: 'shop',
          deployment: ledger.current.id,
          type: 'phase',
          phase: 'SMOKE_SUCCESS',
          message: 'bastion verified',
        });
        const started = performance.now();
        await store.flush();
        const waited = performance.now() - started;
        // Bounded: the hung receiver (30 s per attempt) does not hold the step past 700 ms.
        expect(waited).toBeGreaterThanOrEqual(650);
        expect(waited).toBeLessThan(3_000);
        const events = (await readFile(join(dir, 'shop', 'events.ndjson'), 'utf8'))
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { type: string; message: string });
        const warns = events.filter((e) => e.type === 'warn').map((e) => e.message);
        expect(warns).toHaveLength(2);
        expect(warns[0]).toMatch(
          /^notify: notify\.webhook\[0\] could not send "bastion verified, waiting for bake" after 2 attempts: .*ECONNREFUSED/,
        );
        expect(warns[1]).toBe(
          'notify: 1 message(s) still unsent after 0.7 s: given up, the release goes on',
        );
        expect(logged).toEqual(warns);
        expect(hung.attempts).toBe(1);
      } finally {
        await file.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
