import { describe, expect, it } from 'vitest';
import { GroupFileError, parseGroupFile } from '../../../src/config/group-file';
import { InputError } from '../../../src/model/errors';
import { parseNotifySpec, resolveValue, NOTIFY_KINDS } from '../../../src/notify/spec';
import { SHOP_WEB_GROUP } from '../../support/group-yaml';

const HOOK = { url: 'https://hooks.example/rollgate', secret: 'env:HOOK_SECRET' };

describe('parseNotifySpec', () => {
  it('every channel, secrets kept as env references, defaults filled', () => {
    const spec = parseNotifySpec({
      environment: 'production',
      link: 'https://rollgate.example/',
      webhook: HOOK,
      slack: [{ url: 'env:SLACK_URL' }, { url: 'https://hooks.slack.com/services/T/B/x' }],
      teams: { url: 'env:TEAMS_URL' },
      email: {
        smtp: { host: 'smtp.example.com', user: 'rollgate', password: 'env:SMTP_PASSWORD' },
        from: 'rollgate@example.com',
        to: 'oncall@example.com',
      },
    });
    expect(spec).toEqual({
      environment: 'production',
      link: 'https://rollgate.example/',
      channels: [
        {
          kind: 'webhook',
          field: 'notify.webhook',
          url: { text: 'https://hooks.example/rollgate' },
          secret: { env: 'HOOK_SECRET' },
        },
        { kind: 'slack', field: 'notify.slack[0]', url: { env: 'SLACK_URL' } },
        {
          kind: 'slack',
          field: 'notify.slack[1]',
          url: { text: 'https://hooks.slack.com/services/T/B/x' },
        },
        { kind: 'teams', field: 'notify.teams', url: { env: 'TEAMS_URL' } },
        {
          kind: 'email',
          field: 'notify.email',
          host: 'smtp.example.com',
          port: 587,
          secure: false,
          user: { text: 'rollgate' },
          password: { env: 'SMTP_PASSWORD' },
          from: 'rollgate@example.com',
          to: ['oncall@example.com'],
        },
      ],
      events: [...NOTIFY_KINDS],
      timeoutMs: 5000,
      retries: 3,
      flushTimeoutMs: 10000,
    });
  });

  it('events: "waiting" stands for the three waits; the order is the kinds’ own', () => {
    expect(parseNotifySpec({ webhook: HOOK, events: ['failed', 'waiting'] }).events).toEqual([
      'bastion-verified',
      'baked',
      'paused',
      'failed',
    ]);
  });

  it.each([
    [{}, 'notify', /names no channel/],
    [{ slack: { url: 'env:X' }, colour: 'red' }, 'notify.colour', /is not a setting here/],
    [
      { webhook: { url: 'https://h.example/' } },
      'notify.webhook.secret',
      /comes from the environment/,
    ],
    [
      { webhook: { url: 'https://h.example/', secret: 'hunter2' } },
      'notify.webhook.secret',
      /never the group file: write env:NAME/,
    ],
    [{ slack: { url: 'ftp://x.example/' } }, 'notify.slack.url', /not an http\(s\) URL/],
    [{ slack: { url: 'env:1BAD' } }, 'notify.slack.url', /not an environment variable name/],
    [{ slack: [{ url: 'env:A' }, { hook: 'x' }] }, 'notify.slack[1].hook', /is not a setting here/],
    [
      { slack: { url: 'env:A' }, events: ['exploded'] },
      'notify.events[0]',
      /"exploded" is not an event/,
    ],
    [{ slack: { url: 'env:A' }, retries: -1 }, 'notify.retries', /whole number/],
    [{ slack: { url: 'env:A' }, timeout: '0s' }, 'notify.timeout', /longer than 0/],
    [{ slack: { url: 'env:A' }, link: 'rollgate.example' }, 'notify.link', /not an http\(s\) URL/],
    [
      { email: { smtp: { host: 'h', password: 'env:P' }, from: 'a@b.c', to: ['x@y.z'] } },
      'notify.email.smtp',
      /user and password together/,
    ],
    [
      { email: { smtp: { host: 'h', user: 'u', password: 'plain' }, from: 'a@b.c', to: 'x@y.z' } },
      'notify.email.smtp.password',
      /never the group file/,
    ],
    [
      { email: { smtp: { host: 'h' }, from: 'a@b.c', to: ['oncall'] } },
      'notify.email.to[0]',
      /not an e-mail address/,
    ],
    [
      { email: { smtp: { host: 'h', port: 70000 }, from: 'a@b.c', to: 'x@y.z' } },
      'notify.email.smtp.port',
      /1 to 65535/,
    ],
  ])('%j → %s', (raw, field, message) => {
    const err = (() => {
      try {
        parseNotifySpec(raw);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).field).toBe(field);
    expect((err as InputError).message).toMatch(message);
  });

  it('SMTP over TLS from the start defaults to port 465', () => {
    const spec = parseNotifySpec({
      email: { smtp: { host: 'h', secure: true }, from: 'a@b.c', to: 'x@y.z' },
    });
    expect(spec.channels[0]).toMatchObject({ port: 465, secure: true });
  });
});

describe('resolveValue: a secret is read when a message is sent', () => {
  it('the value, or the variable’s; an unset or empty variable names the field and the fix', () => {
    expect(resolveValue({ text: 'a' }, {}, 'f')).toBe('a');
    expect(resolveValue({ env: 'S' }, { S: 'v' }, 'f')).toBe('v');
    for (const env of [{}, { S: '' }]) {
      expect(() => resolveValue({ env: 'S' }, env, 'notify.slack.url')).toThrow(
        'notify.slack.url: environment variable S is not set: set it for every rollgate step (a CI secret), or remove the channel',
      );
    }
  });
});

describe('the group file', () => {
  it('loads a notify section, needing none of its secrets (status and plan run without them)', async () => {
    const text = `${SHOP_WEB_GROUP}notify:\n  slack: { url: env:SLACK_URL }\n  webhook: { url: "https://h.example/", secret: env:HOOK_SECRET }\n`;
    const loaded = await parseGroupFile(text, '/tmp', { env: { USER: 'u', HOME: '/home/u' } });
    expect(loaded.notify?.channels.map((c) => c.field)).toEqual(['notify.webhook', 'notify.slack']);
  });

  it('a bad notify section is refused with the field and its line', async () => {
    const text = `${SHOP_WEB_GROUP}notify:\n  webhook: { url: "https://h.example/", secret: hunter2 }\n`;
    const err = await parseGroupFile(text, '/tmp', { env: { USER: 'u' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GroupFileError);
    expect((err as Error).message).toContain('notify.webhook.secret');
    expect((err as Error).message).not.toContain('hunter2');
  });
});
