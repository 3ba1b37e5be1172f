/**
 * P4: the notify section as a user writes it (group file), read into typed options. Secrets are
 * `env:NAME` references, kept as references: they are read from the environment only when a
 * message is sent, so `status` and `plan` never need them and nothing prints them.
 *
 * ```yaml
 * notify:
 *   environment: production          # named in every message (the actions: their input)
 *   link: https://rollgate.example/  # the page; the actions: the workflow run
 *   events: [waiting, braked, failed, succeeded, rolled-back, stopped, monitor]
 *   timeout: 5s                      # one attempt
 *   retries: 3                       # attempts after the first, with backoff
 *   flushTimeout: 10s                # the longest a step waits for unsent messages at its end
 *   webhook: { url: https://hooks.example/rollgate, secret: env:ROLLGATE_WEBHOOK_SECRET }
 *   slack: { url: env:SLACK_WEBHOOK_URL }
 *   teams: { url: env:TEAMS_WEBHOOK_URL }
 *   email:
 *     smtp: { host: smtp.example.com, port: 587, user: env:SMTP_USER, password: env:SMTP_PASSWORD }
 *     from: rollgate@example.com
 *     to: [oncall@example.com]
 * ```
 */
import { parseDuration } from '../model/duration';
import { InputError } from '../model/errors';

/** What a message is about; `events:` picks among them ('waiting' stands for the first three). */
export const NOTIFY_KINDS = [
  'bastion-verified',
  'baked',
  'paused',
  'braked',
  'bastion-failed',
  'failed',
  'succeeded',
  'rolled-back',
  'stopped',
  'monitor',
] as const;
export type NotifyKind = (typeof NOTIFY_KINDS)[number];

/** Names `events:` accepts beside the kinds themselves. */
const EVENT_ALIASES: Record<string, readonly NotifyKind[]> = {
  waiting: ['bastion-verified', 'baked', 'paused'],
  all: NOTIFY_KINDS,
};

/** A value written in the group file, or the name of the environment variable holding it. */
export type Value = { text: string } | { env: string };

export interface WebhookChannel {
  kind: 'webhook';
  field: string;
  url: Value;
  secret: Value;
}
export interface ChatChannel {
  kind: 'slack' | 'teams';
  field: string;
  url: Value;
}
export interface EmailChannel {
  kind: 'email';
  field: string;
  host: string;
  port: number;
  /** TLS from the start (465); otherwise STARTTLS when the server offers it. */
  secure: boolean;
  user?: Value;
  password?: Value;
  from: string;
  to: string[];
}
export type Channel = WebhookChannel | ChatChannel | EmailChannel;

export interface NotifySpec {
  channels: Channel[];
  events: NotifyKind[];
  environment?: string;
  link?: string;
  timeoutMs: number;
  retries: number;
  flushTimeoutMs: number;
}

export const DEFAULT_NOTIFY_TIMEOUT_MS = 5_000;
export const DEFAULT_NOTIFY_RETRIES = 3;
export const DEFAULT_NOTIFY_FLUSH_MS = 10_000;

const KEYS = [
  'environment',
  'link',
  'events',
  'timeout',
  'retries',
  'flushTimeout',
  'webhook',
  'slack',
  'teams',
  'email',
];

export function parseNotifySpec(raw: unknown, field = 'notify'): NotifySpec {
  const o = mapping(raw, field, KEYS);
  const channels: Channel[] = [];
  for (const [w, f] of listOf(o.webhook, `${field}.webhook`)) {
    const m = mapping(w, f, ['url', 'secret']);
    channels.push({
      kind: 'webhook',
      field: f,
      url: url(m.url, `${f}.url`),
      secret: secret(m.secret, `${f}.secret`, 'the key the receiver checks the signature with'),
    });
  }
  for (const kind of ['slack', 'teams'] as const) {
    for (const [c, f] of listOf(o[kind], `${field}.${kind}`)) {
      const m = mapping(c, f, ['url']);
      channels.push({ kind, field: f, url: url(m.url, `${f}.url`) });
    }
  }
  if (o.email !== undefined) channels.push(email(o.email, `${field}.email`));
  if (channels.length === 0) {
    throw new InputError(field, 'names no channel: add webhook, slack, teams or email');
  }
  const spec: NotifySpec = {
    channels,
    events: events(o.events, `${field}.events`),
    timeoutMs:
      o.timeout === undefined
        ? DEFAULT_NOTIFY_TIMEOUT_MS
        : positive(duration(o.timeout, `${field}.timeout`), `${field}.timeout`),
    retries:
      o.retries === undefined ? DEFAULT_NOTIFY_RETRIES : count(o.retries, `${field}.retries`),
    flushTimeoutMs:
      o.flushTimeout === undefined
        ? DEFAULT_NOTIFY_FLUSH_MS
        : duration(o.flushTimeout, `${field}.flushTimeout`),
  };
  if (o.environment !== undefined) spec.environment = text(o.environment, `${field}.environment`);
  if (o.link !== undefined) spec.link = httpUrl(text(o.link, `${field}.link`), `${field}.link`);
  return spec;
}

/** The value itself, or the environment variable's; an unset variable names the field and the fix. */
export function resolveValue(
  v: Value,
  env: Record<string, string | undefined>,
  field: string,
): string {
  if ('text' in v) return v.text;
  const value = env[v.env];
  if (value === undefined || value === '') {
    throw new InputError(
      field,
      `environment variable ${v.env} is not set: set it for every rollgate step (a CI secret), or remove the channel`,
    );
  }
  return value;
}

function email(raw: unknown, f: string): EmailChannel {
  const m = mapping(raw, f, ['smtp', 'from', 'to']);
  const smtp = mapping(m.smtp, `${f}.smtp`, ['host', 'port', 'secure', 'user', 'password']);
  const secure = smtp.secure === undefined ? false : bool(smtp.secure, `${f}.smtp.secure`);
  const port = smtp.port === undefined ? (secure ? 465 : 587) : count(smtp.port, `${f}.smtp.port`);
  if (port < 1 || port > 65535) throw new InputError(`${f}.smtp.port`, 'must be 1 to 65535');
  const to = Array.isArray(m.to) ? m.to : [m.to];
  const out: EmailChannel = {
    kind: 'email',
    field: f,
    host: text(smtp.host, `${f}.smtp.host`),
    port,
    secure,
    from: address(m.from, `${f}.from`),
    to: to.map((a, i) => address(a, `${f}.to[${i}]`)),
  };
  if (smtp.user !== undefined) out.user = value(smtp.user, `${f}.smtp.user`);
  if (smtp.password !== undefined) {
    out.password = secret(smtp.password, `${f}.smtp.password`, 'the SMTP password');
  }
  if ((out.user === undefined) !== (out.password === undefined)) {
    throw new InputError(`${f}.smtp`, 'give user and password together, or neither');
  }
  return out;
}

function events(raw: unknown, f: string): NotifyKind[] {
  if (raw === undefined) return [...NOTIFY_KINDS];
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new InputError(f, `must be a list of: waiting, all, ${NOTIFY_KINDS.join(', ')}`);
  }
  const out = new Set<NotifyKind>();
  raw.forEach((e, i) => {
    const alias = typeof e === 'string' ? EVENT_ALIASES[e] : undefined;
    if (alias) alias.forEach((k) => out.add(k));
    else if (NOTIFY_KINDS.includes(e as NotifyKind)) out.add(e as NotifyKind);
    else {
      throw new InputError(
        `${f}[${i}]`,
        `"${String(e)}" is not an event: use waiting, all, ${NOTIFY_KINDS.join(', ')}`,
      );
    }
  });
  return NOTIFY_KINDS.filter((k) => out.has(k));
}

/** One channel or a list of them, each with the field that names it. */
function listOf(raw: unknown, f: string): [unknown, string][] {
  if (raw === undefined) return [];
  if (Array.isArray(raw)) return raw.map((c, i) => [c, `${f}[${i}]`]);
  return [[raw, f]];
}

function mapping(raw: unknown, f: string, keys: string[]): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputError(f, `must be a mapping with ${keys.join(', ')}`);
  }
  for (const k of Object.keys(raw)) {
    if (!keys.includes(k)) {
      throw new InputError(`${f}.${k}`, `is not a setting here: use ${keys.join(', ')}`);
    }
  }
  return raw as Record<string, unknown>;
}

const ENV_REF = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;

function value(raw: unknown, f: string): Value {
  const t = text(raw, f);
  const ref = ENV_REF.exec(t);
  if (ref) return { env: ref[1]! };
  if (t.startsWith('env:')) {
    throw new InputError(
      f,
      `"${t}" is not an environment variable name (env:NAME, e.g. env:SLACK_WEBHOOK_URL)`,
    );
  }
  return { text: t };
}

/** Never written in the file: a group file is committed. */
function secret(raw: unknown, f: string, what: string): Value {
  const v = raw === undefined ? undefined : value(raw, f);
  if (!v || 'text' in v) {
    throw new InputError(
      f,
      `${what} comes from the environment, never the group file: write env:NAME and set NAME (a CI secret)`,
    );
  }
  return v;
}

function url(raw: unknown, f: string): Value {
  const v = value(raw, f);
  if ('text' in v) httpUrl(v.text, f);
  return v;
}

function httpUrl(u: string, f: string): string {
  try {
    const parsed = new URL(u);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return u;
  } catch {
    // reported below
  }
  throw new InputError(f, `"${u}" is not an http(s) URL (or env:NAME)`);
}

function address(raw: unknown, f: string): string {
  const t = text(raw, f);
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(t) && !/^[^<>]*<[^\s@<>]+@[^\s@<>]+>$/.test(t)) {
    throw new InputError(f, `"${t}" is not an e-mail address`);
  }
  return t;
}

function text(raw: unknown, f: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new InputError(f, 'must be a text');
  return raw.trim();
}

function bool(raw: unknown, f: string): boolean {
  if (typeof raw !== 'boolean') throw new InputError(f, 'must be true or false');
  return raw;
}

function count(raw: unknown, f: string): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0) {
    throw new InputError(f, 'must be a whole number, 0 or more');
  }
  return raw;
}

function duration(raw: unknown, f: string): number {
  if (typeof raw !== 'string' && typeof raw !== 'number') {
    throw new InputError(f, 'must be a duration such as 5s, 1m');
  }
  return parseDuration(raw, f);
}

function positive(ms: number, f: string): number {
  if (ms <= 0) throw new InputError(f, 'must be longer than 0');
  return ms;
}
