/**
 * Real receivers for notifications on loopback: an HTTP server that records each POST (and can
 * fail the first ones, or never answer), and a real SMTP server (smtp-server) that keeps each
 * mail it is given.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { SMTPServer } from 'smtp-server';

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  /** The raw body, as the signature covers it. */
  body: string;
  receivedAt: number;
}

export interface HttpReceiver {
  url: string;
  received: Received[];
  /** POSTs answered, failed ones included. */
  attempts: number;
  close(): Promise<void>;
}

export async function httpReceiver(o: {
  host: string;
  port: number;
  /** Answer the first `failFirst` requests with HTTP 503. */
  failFirst?: number;
  /** Never answer (a receiver that hangs). */
  hang?: boolean;
  /** What a good answer says (Slack answers "ok"). */
  reply?: { status: number; body: string };
}): Promise<HttpReceiver> {
  const r: HttpReceiver = {
    url: `http://${o.host}:${o.port}/hook/T0001/B0001/secret-path-token`,
    received: [],
    attempts: 0,
    close: () => close(server),
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      r.attempts += 1;
      if (o.hang) return;
      if (r.attempts <= (o.failFirst ?? 0)) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('try later');
        return;
      }
      r.received.push({ path: req.url ?? '', headers: req.headers, body, receivedAt: Date.now() });
      const reply = o.reply ?? { status: 200, body: 'ok' };
      res.writeHead(reply.status, { 'content-type': 'text/plain' }).end(reply.body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return r;
}

export interface Mail {
  from: string;
  to: string[];
  user?: string;
  password?: string;
  subject: string;
  text: string;
  raw: string;
  receivedAt: number;
}

export interface SmtpReceiver {
  host: string;
  port: number;
  mails: Mail[];
  close(): Promise<void>;
}

/** A real SMTP server on loopback; AUTH PLAIN/LOGIN accepted for `user`/`password`. */
export async function smtpReceiver(o: {
  host: string;
  port: number;
  user: string;
  password: string;
}): Promise<SmtpReceiver> {
  const r: SmtpReceiver = { host: o.host, port: o.port, mails: [], close: async () => {} };
  const server = new SMTPServer({
    // Loopback only, no certificate: plain SMTP, and AUTH allowed on it.
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === o.user && auth.password === o.password)
        cb(null, { user: auth.username });
      else cb(new Error('535 bad credentials'));
    },
    onData(stream, session, cb) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (raw += c));
      stream.on('end', () => {
        const [head = '', ...rest] = raw.split(/\r?\n\r?\n/);
        const headers = head.replace(/\r?\n[ \t]+/g, ' ');
        const subject = /^Subject: (.*)$/im.exec(headers)?.[1] ?? '';
        const qp = /^Content-Transfer-Encoding: quoted-printable/im.test(headers);
        const body = rest.join('\n\n');
        r.mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((a) => a.address),
          ...(typeof session.user === 'string' ? { user: session.user } : {}),
          subject: decodeWord(subject),
          text: (qp ? decodeQuotedPrintable(body) : body).replace(/\r\n/g, '\n'),
          raw,
          receivedAt: Date.now(),
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  r.close = () => new Promise((resolve) => server.close(() => resolve()));
  return r;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function decodeQuotedPrintable(s: string): string {
  const bytes = s
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** `=?UTF-8?Q?…?=` words in a header (a subject with a dash or an accent). */
function decodeWord(s: string): string {
  return s.replace(/=\?utf-8\?([QB])\?(.*?)\?=\s*/gi, (_, enc: string, text: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : decodeQuotedPrintable(text.replace(/_/g, ' ')),
  );
}
