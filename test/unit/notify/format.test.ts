import { describe, expect, it } from 'vitest';
import {
  mailMessage,
  plainText,
  slackMessage,
  teamsMessage,
  webhookPayload,
  type Notification,
} from '../../../src/notify/format';
import type { NotifyKind } from '../../../src/notify/spec';

const base: Notification = {
  kind: 'bastion-verified',
  headline: 'bastion verified, waiting for bake',
  detail: 'bastion web-01 verified',
  group: 'shop',
  environment: 'production',
  version: '2.0.0',
  deployment: 'shop-20260301T120000-abcd',
  by: 'alice',
  at: '2026-03-01T12:00:05.000Z',
  next: 'bake or stop',
  buttons: ['bake', 'stop'],
  link: 'https://ci.example/runs/7',
  urgent: true,
};

/** One row per kind: what a person reads first on each channel. */
const KINDS: [NotifyKind, string, string, string[], boolean][] = [
  [
    'bastion-verified',
    'bastion verified, waiting for bake',
    'bake or stop',
    ['bake', 'stop'],
    true,
  ],
  ['baked', 'baked, waiting for continue', 'continue or stop', ['continue', 'stop'], true],
  ['paused', 'batch done, waiting for continue', 'continue or stop', ['continue', 'stop'], true],
  ['braked', 'braked: too many targets failed', 'continue or stop', ['continue', 'stop'], true],
  ['bastion-failed', 'bastion failed', 'retry or stop', ['retry', 'stop'], true],
  ['failed', 'failed', 'retry or rollback', ['retry', 'rollback'], true],
  ['succeeded', 'succeeded', 'rollback (to 1.0.0) at any time', ['rollback'], false],
  ['rolled-back', 'rolled back from 2.0.0', 'a new release', [], false],
  ['stopped', 'stopped', 'rollback or a new release', ['rollback'], false],
  ['monitor', 'monitor: degraded', 'rollback (to 1.0.0) at any time', ['rollback'], true],
];

describe.each(KINDS)('%s', (kind, headline, next, buttons, urgent) => {
  const n: Notification = { ...base, kind, headline, next, buttons, urgent };
  const title = `shop (production) 2.0.0: ${headline}`;
  const open = buttons.length ? `Open: ${buttons.join(' / ')}` : 'Open';

  it('webhook: the JSON contract', () => {
    expect(webhookPayload(n)).toEqual({
      source: 'rollgate',
      kind,
      headline,
      text: plainText(n),
      group: 'shop',
      environment: 'production',
      version: '2.0.0',
      deployment: 'shop-20260301T120000-abcd',
      by: 'alice',
      at: '2026-03-01T12:00:05.000Z',
      detail: 'bastion web-01 verified',
      next,
      buttons,
      link: 'https://ci.example/runs/7',
    });
  });

  it('slack: the title as text, what happened, who, now, a button to the link', () => {
    const m = slackMessage(n);
    expect(m.text).toBe(title);
    expect(m.blocks.map((b) => b.type)).toEqual(['section', 'context', 'section', 'actions']);
    expect(m.blocks[0]).toEqual({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `${urgent ? ':warning: ' : ''}*${title}*\nbastion web-01 verified`,
      },
    });
    expect(JSON.stringify(m.blocks[1])).toContain('by alice');
    expect(m.blocks[2]).toEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: `*Now:* ${next}` },
    });
    expect(m.blocks[3]).toEqual({
      type: 'actions',
      elements: [
        {
          type: 'button',
          text: { type: 'plain_text', text: open },
          url: 'https://ci.example/runs/7',
        },
      ],
    });
  });

  it('teams: an Adaptive Card with the facts and an Open button', () => {
    const card = (teamsMessage(n).attachments as { content: Record<string, unknown> }[])[0]!
      .content as {
      body: {
        type: string;
        text?: string;
        color?: string;
        facts?: { title: string; value: string }[];
      }[];
      actions: unknown[];
    };
    expect(card.body[0]).toMatchObject({ text: title, ...(urgent ? { color: 'Attention' } : {}) });
    expect(card.body[0]!.color).toBe(urgent ? 'Attention' : undefined);
    expect(card.body[2]!.facts).toEqual([
      { title: 'Group', value: 'shop' },
      { title: 'Environment', value: 'production' },
      { title: 'Version', value: '2.0.0' },
      { title: 'Release', value: 'shop-20260301T120000-abcd' },
      { title: 'By', value: 'alice' },
      { title: 'At', value: '2026-03-01T12:00:05.000Z' },
      { title: 'Now', value: next },
    ]);
    expect(card.actions).toEqual([
      { type: 'Action.OpenUrl', title: open, url: 'https://ci.example/runs/7' },
    ]);
  });

  it('e-mail: [rollgate] subject, the facts as lines', () => {
    expect(mailMessage(n)).toEqual({
      subject: `[rollgate] ${title}`,
      text: [
        title,
        '',
        'bastion web-01 verified',
        '',
        'Group:       shop',
        'Environment: production',
        'Version:     2.0.0',
        'Release:     shop-20260301T120000-abcd',
        'By:          alice',
        'At:          2026-03-01T12:00:05.000Z',
        `Now:         ${next}`,
        'Link:        https://ci.example/runs/7',
        '',
      ].join('\n'),
    });
  });
});

describe('without environment or link', () => {
  const { environment: _e, link: _l, ...n } = base;
  it('no Environment line, no button, link null in the webhook', () => {
    expect(slackMessage(n).blocks.map((b) => b.type)).toEqual(['section', 'context', 'section']);
    expect(teamsMessage(n).attachments).toMatchObject([{ content: { body: expect.any(Array) } }]);
    expect(
      'actions' in ((teamsMessage(n).attachments as { content: object }[])[0]!.content as object),
    ).toBe(false);
    expect(mailMessage(n).text).not.toMatch(/Environment|Link/);
    expect(webhookPayload(n)).toMatchObject({ environment: null, link: null });
    expect(mailMessage(n).subject).toBe(
      '[rollgate] shop 2.0.0: bastion verified, waiting for bake',
    );
  });

  it('slack: <, > and & in a message are text, not markup', () => {
    const m = slackMessage({ ...n, detail: 'web-01 verify: HTTP 500 <html> & more' });
    expect(JSON.stringify(m.blocks[0])).toContain('HTTP 500 &lt;html&gt; &amp; more');
  });
});
