/**
 * Issue 18 end to end: releases through the real `rollgate` command on a local fleet
 * (127.0.26.1–6), with a notify: section pointing at real receivers on loopback. Measures the
 * time from an event (its `at` in the record) to its arrival at the webhook.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCliFleet, type CliFleet } from '../../support/cli-fleet';
import {
  httpReceiver,
  smtpReceiver,
  type HttpReceiver,
  type SmtpReceiver,
} from '../../support/notify-receivers';

const SECRET = 'whsec-e2e-5a5a5a';
const LINK = 'http://127.0.26.1:26090/groups/cli-shop';

interface Payload {
  kind: string;
  group: string;
  environment: string | null;
  version: string;
  by: string;
  at: string;
  next: string;
  buttons: string[];
  link: string | null;
}

describe('rollgate CLI sends notifications to real receivers', () => {
  let f: CliFleet;
  let hook: HttpReceiver;
  let slack: HttpReceiver;
  let teams: HttpReceiver;
  let smtp: SmtpReceiver;
  beforeAll(async () => {
    hook = await httpReceiver({ host: '127.0.26.20', port: 26020 });
    slack = await httpReceiver({ host: '127.0.26.21', port: 26021 });
    teams = await httpReceiver({ host: '127.0.26.22', port: 26022 });
    smtp = await smtpReceiver({
      host: '127.0.26.23',
      port: 26023,
      user: 'rollgate',
      password: 'smtp-e2e',
    });
    f = await makeCliFleet({
      addresses: ['127.0.26.1', '127.0.26.2', '127.0.26.3'],
      port: 26080,
      sections: [
        [
          'notify:',
          '  environment: staging',
          `  webhook: { url: "${hook.url}", secret: env:E2E_HOOK_SECRET }`,
          '  slack: { url: env:E2E_SLACK_URL }',
          `  teams: { url: "${teams.url}" }`,
          '  email:',
          `    smtp: { host: ${smtp.host}, port: ${smtp.port}, user: rollgate, password: env:E2E_SMTP_PASSWORD }`,
          '    from: rollgate@example.com',
          '    to: [oncall@example.com]',
        ].join('\n'),
        // Nothing listens there: the watch ends "unknown", a verdict people act on.
        [
          'monitor:',
          '  prometheus: http://127.0.26.31:26031',
          '  window: 2s',
          '  interval: 1s',
          '  retries: 0',
          '  checks:',
          '    - { name: errors, kind: user, query: "sum(rate(http_requests_total[1m]))", rule: { threshold: { above: 1 } } }',
        ].join('\n'),
      ],
      env: { E2E_HOOK_SECRET: SECRET, E2E_SLACK_URL: slack.url, E2E_SMTP_PASSWORD: 'smtp-e2e' },
    });
    await f.build('1.0.0');
    await f.build('2.0.0');
  });
  afterAll(async () => {
    await f?.cleanup();
    await Promise.all([hook?.close(), slack?.close(), teams?.close(), smtp?.close()]);
  });

  it('deploy, bake, continue: "waiting for bake", "waiting for continue", "succeeded" on every channel', async () => {
    const flags = ['--notify-link', LINK];
    const deploy = await f.run(['deploy', '--version', '1.0.0', ...flags]);
    expect(deploy.code, deploy.stdout + deploy.stderr).toBe(3);
    // Delivered before the command ended: the end of the operation waits for its messages.
    const first = hook.received.map((r) => JSON.parse(r.body) as Payload);
    expect(first.map((p) => p.kind)).toEqual(['bastion-verified']);
    expect(first[0]).toMatchObject({
      group: 'cli-shop',
      environment: 'staging',
      version: '1.0.0',
      by: 'cli-test',
      next: 'bake or stop',
      buttons: ['bake', 'stop'],
      link: LINK,
    });

    expect((await f.run(['bake', ...flags])).code).toBe(3);
    const cont = await f.run(['continue', ...flags]);
    expect(cont.code, cont.stdout + cont.stderr).toBe(0);

    const payloads = hook.received.map((r) => JSON.parse(r.body) as Payload);
    expect(payloads.map((p) => p.kind)).toEqual(['bastion-verified', 'baked', 'succeeded']);
    expect(payloads[2]).toMatchObject({
      next: 'a new release (no earlier version to roll back to)',
    });
    expect(payloads[1]!.next).toBe('continue or stop');
    expect(slack.received.map((r) => (JSON.parse(r.body) as { text: string }).text)).toEqual([
      'cli-shop (staging) 1.0.0: bastion verified, waiting for bake',
      'cli-shop (staging) 1.0.0: baked, waiting for continue',
      'cli-shop (staging) 1.0.0: succeeded',
    ]);
    expect(teams.received).toHaveLength(3);
    expect(smtp.mails.map((m) => m.subject)).toEqual([
      '[rollgate] cli-shop (staging) 1.0.0: bastion verified, waiting for bake',
      '[rollgate] cli-shop (staging) 1.0.0: baked, waiting for continue',
      '[rollgate] cli-shop (staging) 1.0.0: succeeded',
    ]);
    // The secrets never reach the console or the record.
    const everything = JSON.stringify(f.events()) + cont.stdout + cont.stderr;
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('smtp-e2e');
    expect(f.events().filter((e) => e.type === 'warn')).toEqual([]);

    // From the event in the record to its arrival at the webhook.
    const latency = hook.received.map((r, i) => r.receivedAt - Date.parse(payloads[i]!.at));
    console.log(`notify latency, event → webhook (ms): ${latency.join(', ')}`);
    const mailLatency = smtp.mails.map((m, i) => m.receivedAt - Date.parse(payloads[i]!.at));
    console.log(`notify latency, event → SMTP server (ms): ${mailLatency.join(', ')}`);
    for (const ms of [...latency, ...mailLatency]) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it("the monitor's verdict: unknown when Prometheus never answers", async () => {
    hook.received.length = 0;
    const r = await f.run(['monitor']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const [p, ...more] = hook.received.map(
      (x) => JSON.parse(x.body) as Payload & { headline: string },
    );
    expect(more).toEqual([]);
    expect(p).toMatchObject({
      kind: 'monitor',
      headline: 'monitor: unknown',
      version: '1.0.0',
      next: 'a new release (no earlier version to roll back to)',
    });
  });

  it('a stopped release says who stopped it; the rollback after it says "rolled back"', async () => {
    hook.received.length = 0;
    expect((await f.run(['deploy', '--version', '2.0.0'])).code).toBe(3);
    const stop = await f.run(['stop', '--who', 'dave']);
    expect(stop.code, stop.stdout + stop.stderr).toBe(4);
    const back = await f.run(['rollback']);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    const payloads = hook.received.map((r) => JSON.parse(r.body) as Payload & { headline: string });
    expect(payloads.map((p) => [p.kind, p.version, p.by, p.headline, p.next])).toEqual([
      [
        'bastion-verified',
        '2.0.0',
        'cli-test',
        'bastion verified, waiting for bake',
        'bake or stop',
      ],
      ['stopped', '2.0.0', 'dave', 'stopped', 'rollback or a new release'],
      // A rollback is a release of 1.0.0; 2.0.0 is quarantined, so nothing is left to roll back to.
      [
        'rolled-back',
        '1.0.0',
        'cli-test',
        'rolled back from 2.0.0',
        'a new release (no earlier version to roll back to)',
      ],
    ]);
  });
});

describe('a notification receiver that is down never fails the release', () => {
  let f: CliFleet;
  beforeAll(async () => {
    f = await makeCliFleet({
      addresses: ['127.0.26.4', '127.0.26.5', '127.0.26.6'],
      port: 26081,
      // Nothing listens on 127.0.26.30:26030.
      sections: [
        'notify:\n  retries: 1\n  webhook: { url: "http://127.0.26.30:26030/hook", secret: env:E2E_HOOK_SECRET }',
      ],
      env: { E2E_HOOK_SECRET: SECRET },
    });
    await f.build('1.0.0');
  });
  afterAll(async () => f?.cleanup());

  it('deploy, bake, continue end SUCCESS; each lost message is a warning in the record', async () => {
    expect((await f.run(['deploy', '--version', '1.0.0'])).code).toBe(3);
    expect((await f.run(['bake'])).code).toBe(3);
    const cont = await f.run(['continue']);
    expect(cont.code, cont.stdout + cont.stderr).toBe(0);
    expect(cont.stdout).toMatch(/^SUCCESS — /m);
    const warns = f
      .events()
      .filter((e) => e.type === 'warn')
      .map((e) => e.message);
    expect(warns).toHaveLength(3);
    for (const [i, headline] of [
      'bastion verified, waiting for bake',
      'baked, waiting for continue',
      'succeeded',
    ].entries()) {
      expect(warns[i]).toMatch(
        new RegExp(
          `^notify: notify\\.webhook could not send "${headline}" after 2 attempts: .*ECONNREFUSED`,
        ),
      );
    }
    expect(cont.stderr).toContain('notify: notify.webhook could not send "succeeded"');
    const status = JSON.parse((await f.run(['status', '--json'])).stdout);
    expect(status.release.phase).toBe('SUCCESS');
  });
});
