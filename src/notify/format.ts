/**
 * What each channel receives for one notification. Pure: the senders post what these return.
 */
import type { NotifyKind } from './spec';

/** One thing that happened to a release, as every channel tells it. */
export interface Notification {
  kind: NotifyKind;
  /** "bastion verified: waiting for bake" — what happened, in a few words. */
  headline: string;
  /** The record's line for it (the event's message). */
  detail: string;
  group: string;
  environment?: string;
  version: string;
  deployment: string;
  /** Who acted last on the release (the operation that led here). */
  by: string;
  /** When the event was recorded (ISO 8601). */
  at: string;
  /** What may be pressed now, as status says it ("continue or stop"). */
  next: string;
  /** Those that are operations, at most two (U2): ["continue", "stop"]. */
  buttons: string[];
  /** The page or the workflow run. */
  link?: string;
  /** needs a person (waiting, braked, failed) rather than an end to read. */
  urgent: boolean;
}

/** The generic webhook's JSON body (its fields are the contract receivers rely on). */
export function webhookPayload(n: Notification): Record<string, unknown> {
  return {
    source: 'rollgate',
    kind: n.kind,
    headline: n.headline,
    text: plainText(n),
    group: n.group,
    environment: n.environment ?? null,
    version: n.version,
    deployment: n.deployment,
    by: n.by,
    at: n.at,
    detail: n.detail,
    next: n.next,
    buttons: n.buttons,
    link: n.link ?? null,
  };
}

/** "shop (production) 1.4.0: bastion verified: waiting for bake" */
export function subject(n: Notification): string {
  const env = n.environment ? ` (${n.environment})` : '';
  return `${n.group}${env} ${n.version}: ${n.headline}`;
}

/** The message as plain lines: the e-mail body, the webhook's `text`. */
export function plainText(n: Notification): string {
  return [
    subject(n),
    '',
    n.detail,
    '',
    `Group:       ${n.group}`,
    ...(n.environment ? [`Environment: ${n.environment}`] : []),
    `Version:     ${n.version}`,
    `Release:     ${n.deployment}`,
    `By:          ${n.by}`,
    `At:          ${n.at}`,
    `Now:         ${n.next}`,
    ...(n.link ? [`Link:        ${n.link}`] : []),
  ].join('\n');
}

/** A block of Slack's block kit, as JSON. */
export interface SlackBlock {
  type: string;
  [field: string]: unknown;
}

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** Slack's incoming webhook: `text` for notifications, blocks for the channel. */
export function slackMessage(n: Notification): SlackMessage {
  const env = n.environment ? ` · ${slackEscape(n.environment)}` : '';
  const blocks: SlackBlock[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `${n.urgent ? ':warning: ' : ''}*${slackEscape(subject(n))}*\n${slackEscape(n.detail)}`,
      },
    },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `${slackEscape(n.group)}${env} · ${slackEscape(n.version)} · by ${slackEscape(n.by)} · ${n.at}`,
        },
      ],
    },
    {
      type: 'section',
      text: { type: 'mrkdwn', text: `*Now:* ${slackEscape(n.next)}` },
    },
  ];
  if (n.link) {
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          text: {
            type: 'plain_text',
            text: n.buttons.length ? `Open: ${n.buttons.join(' / ')}` : 'Open',
          },
          url: n.link,
        },
      ],
    });
  }
  return { text: subject(n), blocks };
}

/**
 * Teams' incoming webhook (a Workflows "post to a channel when a webhook request is received"
 * flow, or a connector): a message carrying one Adaptive Card.
 */
export function teamsMessage(n: Notification): Record<string, unknown> {
  const facts = [
    { title: 'Group', value: n.group },
    ...(n.environment ? [{ title: 'Environment', value: n.environment }] : []),
    { title: 'Version', value: n.version },
    { title: 'Release', value: n.deployment },
    { title: 'By', value: n.by },
    { title: 'At', value: n.at },
    { title: 'Now', value: n.next },
  ];
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            {
              type: 'TextBlock',
              text: subject(n),
              weight: 'Bolder',
              size: 'Medium',
              wrap: true,
              ...(n.urgent ? { color: 'Attention' } : {}),
            },
            { type: 'TextBlock', text: n.detail, wrap: true },
            { type: 'FactSet', facts },
          ],
          ...(n.link
            ? {
                actions: [
                  {
                    type: 'Action.OpenUrl',
                    title: n.buttons.length ? `Open: ${n.buttons.join(' / ')}` : 'Open',
                    url: n.link,
                  },
                ],
              }
            : {}),
        },
      },
    ],
  };
}

export interface MailMessage {
  subject: string;
  text: string;
}

export function mailMessage(n: Notification): MailMessage {
  return { subject: `[rollgate] ${subject(n)}`, text: `${plainText(n)}\n` };
}

/** Slack reads &, < and > as markup. */
function slackEscape(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
