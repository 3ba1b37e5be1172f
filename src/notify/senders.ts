/**
 * The transports: a signed JSON webhook, Slack and Teams incoming webhooks, SMTP. Each sends
 * one notification once; retries, time limits and warnings are the Notifier's.
 */
import { IncomingWebhook } from '@slack/webhook';
import { createTransport } from 'nodemailer';
import {
  mailMessage,
  slackMessage,
  teamsMessage,
  webhookPayload,
  type Notification,
} from './format';
import { signature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './sign';
import { resolveValue, type Channel, type Value } from './spec';

export interface Sender {
  /** The channel as the group file names it: `notify.slack`, `notify.webhook[1]`. */
  readonly name: string;
  send(n: Notification, signal: AbortSignal): Promise<void>;
}

export interface SenderOptions {
  env: Record<string, string | undefined>;
  /** Per attempt. */
  timeoutMs: number;
  /** The webhook's timestamp, in seconds (a clock of the caller's). */
  nowS?: () => number;
  fetch?: typeof fetch;
}

/**
 * A failed delivery. Its message never carries a secret: the channel's URL, signing key and
 * password are cut out of whatever the transport said.
 */
export class DeliveryError extends Error {
  constructor(message: string, secrets: readonly string[]) {
    super(redact(message, secrets));
    this.name = 'DeliveryError';
  }
}

export function createSender(c: Channel, o: SenderOptions): Sender {
  switch (c.kind) {
    case 'webhook':
      return webhookSender(c.field, c.url, c.secret, o);
    case 'slack':
      return slackSender(c.field, c.url, o);
    case 'teams':
      return jsonSender(c.field, c.url, o, (n) => teamsMessage(n));
    case 'email':
      return emailSender(c, o);
  }
}

function webhookSender(field: string, url: Value, key: Value, o: SenderOptions): Sender {
  const nowS = o.nowS ?? (() => Math.floor(Date.now() / 1000));
  return jsonSender(
    field,
    url,
    o,
    (n) => webhookPayload(n),
    (body) => {
      const secret = resolveValue(key, o.env, `${field}.secret`);
      const ts = nowS();
      return {
        secrets: [secret],
        headers: {
          [TIMESTAMP_HEADER]: String(ts),
          [SIGNATURE_HEADER]: signature(secret, ts, body),
        },
      };
    },
  );
}

function jsonSender(
  field: string,
  url: Value,
  o: SenderOptions,
  payload: (n: Notification) => unknown,
  sign?: (body: string) => { secrets: string[]; headers: Record<string, string> },
): Sender {
  const fetchFn = o.fetch ?? fetch;
  return {
    name: field,
    async send(n, signal) {
      const target = resolveValue(url, o.env, `${field}.url`);
      const body = JSON.stringify(payload(n));
      const signed = sign?.(body) ?? { secrets: [], headers: {} };
      const secrets = [target, ...signed.secrets];
      let res: Response;
      try {
        res = await fetchFn(target, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signed.headers },
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs)]),
          redirect: 'error',
        });
      } catch (err) {
        throw new DeliveryError(transportError(err), secrets);
      }
      // The body is read so the connection is reused or closed, never left half-read.
      const text = await res.text().catch(() => '');
      if (!res.ok) {
        throw new DeliveryError(
          `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
          secrets,
        );
      }
    },
  };
}

function slackSender(field: string, url: Value, o: SenderOptions): Sender {
  return {
    name: field,
    async send(n, signal) {
      const target = resolveValue(url, o.env, `${field}.url`);
      const fetchFn = o.fetch ?? fetch;
      const hook = new IncomingWebhook(target, {
        timeout: o.timeoutMs,
        // Slack's client takes no signal: ours is added to each of its requests.
        fetch: (u, init) =>
          fetchFn(u, {
            ...init,
            signal: AbortSignal.any([signal, ...(init?.signal ? [init.signal] : [])]),
          }),
      });
      try {
        await hook.send(slackMessage(n));
      } catch (err) {
        throw new DeliveryError(transportError(err), [target]);
      }
    },
  };
}

function emailSender(c: Extract<Channel, { kind: 'email' }>, o: SenderOptions): Sender {
  return {
    name: c.field,
    async send(n, signal) {
      const user = c.user && resolveValue(c.user, o.env, `${c.field}.smtp.user`);
      const pass = c.password && resolveValue(c.password, o.env, `${c.field}.smtp.password`);
      const transport = createTransport({
        host: c.host,
        port: c.port,
        secure: c.secure,
        ...(user && pass ? { auth: { user, pass } } : {}),
        connectionTimeout: o.timeoutMs,
        greetingTimeout: o.timeoutMs,
        socketTimeout: o.timeoutMs,
      });
      const abort = () => transport.close();
      signal.addEventListener('abort', abort, { once: true });
      try {
        const mail = mailMessage(n);
        await transport.sendMail({
          from: c.from,
          to: c.to,
          subject: mail.subject,
          text: mail.text,
        });
      } catch (err) {
        throw new DeliveryError(transportError(err), [pass ?? ''].filter(Boolean));
      } finally {
        signal.removeEventListener('abort', abort);
        transport.close();
      }
    },
  };
}

/** What went wrong, with the causes Node's fetch keeps apart ("fetch failed: connect ECONNREFUSED …"). */
function transportError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return 'no answer in time';
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 5; e = e.cause) {
    if (e.name === 'TimeoutError') return 'no answer in time';
    const text = e.message.replace(/^A request error occurred: /, '');
    if (!parts.some((p) => p.includes(text))) parts.push(text);
  }
  return parts.join(': ');
}

function redact(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const s of secrets) if (s.length >= 4) out = out.replaceAll(s, '***');
  return out;
}
