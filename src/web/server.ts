/**
 * `rollgate serve`: the page over a fleet's record (issue 15). Hono routes; server-sent events
 * push a view's body whenever the record changes. Read-only unless allowOperations.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { getCookie, setCookie } from 'hono/cookie';
import { serve, type ServerType } from '@hono/node-server';
import { PAGE_OPERATIONS, type PageOperation } from '../app/fleet-view';
import type { FleetSource } from '../app/fleet-source';
import type { Logger } from '../model/logger';
import { InputError, PhaseError } from '../model/errors';
import { describeError } from '../report/error';
import { groupBody, homeBody, layout, type OperationFailure, type PageContext } from './pages';
import { html, type Html } from './html';

/** What the page reads and runs: FleetSource, or a test's stand-in. */
export type PageSource = Pick<
  FleetSource,
  'home' | 'group' | 'canOperate' | 'operate' | 'watch' | 'close'
> &
  Partial<Pick<FleetSource, 'problems'>>;

export interface ServeOptions {
  source: PageSource;
  logger: Logger;
  /** Who the buttons' operations are recorded as. */
  who: string;
  host: string;
  port: number;
  allowOperations: boolean;
  /** Required when `host` is not loopback: a request without it is refused. */
  token?: string;
}

export interface PageServer {
  url: string;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === 'localhost';
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

type Listener = (groups: Set<string>) => void;

export function pageApp(o: ServeOptions): { app: Hono; changed: Listener } {
  if (!isLoopback(o.host) && !o.token) {
    throw new InputError(
      '--listen',
      `${o.host} is not loopback: give --token too (or listen on 127.0.0.1 behind a reverse proxy)`,
    );
  }
  const csrf = randomBytes(24).toString('hex');
  // The last operation a button started on a group that failed: shown on its page until the
  // next one starts (the server log alone is not where a person pressing a button looks).
  const failures = new Map<string, OperationFailure>();
  const ctx: PageContext = {
    allowOperations: o.allowOperations,
    canOperate: (g) => o.source.canOperate(g),
    csrf,
    failure: (g) => failures.get(g),
  };
  const listeners = new Set<Listener>();
  // Counts the record's changes: a page drawn at generation g needs a push only after a change.
  let generation = 0;
  const changed: Listener = (groups) => {
    generation += 1;
    listeners.forEach((l) => l(groups));
  };
  const failed = (name: string, op: PageOperation, err: unknown, groupFile?: string) => {
    const { lines } = describeError(err, { debug: false, groupFile });
    const reason = lines
      .map((l) => l.replace(/^rollgate: /, '').replace(/ \(run again with --debug.*\)$/, ''))
      .join(' ');
    o.logger.error(`page: ${op} on ${name}: ${reason}`);
    failures.set(name, { op, reason, at: Date.now() });
    changed(new Set([name]));
  };
  // The operations this page started, per group: the next one waits for the last to close (a
  // bake's record says BAKE_SUCCESS a moment before its run lock is free). A stop never waits.
  const tails = new Map<string, Promise<unknown>>();
  const app = new Hono();

  if (o.token) {
    const token = o.token;
    app.use('*', async (c, next) => {
      const q = c.req.query('token');
      const bearer = c.req.header('authorization')?.replace(/^Bearer /, '');
      const given = q ?? bearer ?? getCookie(c, 'rollgate_token');
      if (!given || !same(given, token))
        return c.text('rollgate: this page needs its access token (?token=…)', 401);
      if (q) {
        setCookie(c, 'rollgate_token', token, { httpOnly: true, sameSite: 'Strict', path: '/' });
        // The cookie carries it from now on: the address without it is what history, bookmarks
        // and a Referer keep.
        if (c.req.method === 'GET') {
          const url = new URL(c.req.url);
          url.searchParams.delete('token');
          return c.redirect(`${url.pathname}${url.search}`, 303);
        }
      }
      await next();
    });
  }

  const render = async (
    view: string,
  ): Promise<{ body: Html; title: string; lastEventAt: string | null } | null> => {
    if (view === 'home') {
      const rows = await o.source.home();
      return {
        body: homeBody(rows, o.source.problems?.() ?? []),
        title: 'rollgate',
        lastEventAt: null,
      };
    }
    const name = view.startsWith('group:') ? view.slice(6) : null;
    const v = name === null ? null : await o.source.group(name);
    if (!v) return null;
    const problems = (o.source.problems?.() ?? []).filter((p) => p.repo === v.github?.repo);
    return {
      body: groupBody(v, ctx, problems),
      title: `${v.group} · rollgate`,
      lastEventAt: v.lastEventAt,
    };
  };

  const page = async (c: Context, view: string) => {
    const drawn = generation;
    const r = await render(view);
    if (!r)
      return c.html(
        layout('not found', view, html`<p>No group ${view.slice(6)} in this store.</p>`, ctx),
        404,
      );
    return c.html(layout(r.title, view, r.body, ctx, drawn));
  };

  app.get('/', (c) => page(c, 'home'));
  app.get('/g/:name', (c) => page(c, `group:${c.req.param('name')}`));

  app.get('/events', (c) => {
    const view = c.req.query('view') ?? 'home';
    return streamSSE(c, async (stream) => {
      // A reconnect says what it saw last (Last-Event-ID); a new stream, the generation drawn.
      const seen = c.req.header('last-event-id') ?? c.req.query('generation');
      let drawn = generation;
      const push = async () => {
        drawn = generation;
        const r = await render(view).catch((err: unknown) => {
          o.logger.warn(`page: ${err instanceof Error ? err.message : String(err)}`);
          return null;
        });
        if (!r || stream.aborted) return;
        await stream.writeSSE({
          event: 'render',
          id: String(drawn),
          data: JSON.stringify({ html: r.body.text, lastEventAt: r.lastEventAt }),
        });
      };
      let chain = seen === String(generation) ? Promise.resolve() : push();
      const listener: Listener = (groups) => {
        if (view === 'home' || groups.has(view.slice(6))) chain = chain.then(push);
      };
      listeners.add(listener);
      stream.onAbort(() => {
        listeners.delete(listener);
      });
      // Hold the stream open; a comment line now and then keeps proxies from closing it.
      while (!stream.aborted) {
        await stream.sleep(15_000);
        if (!stream.aborted) await stream.write(': keep-alive\n\n');
      }
      listeners.delete(listener);
    });
  });

  app.post('/g/:name/op/:op', async (c) => {
    const name = c.req.param('name');
    const op = c.req.param('op') as PageOperation;
    if (!o.allowOperations)
      return c.text('rollgate: this page is read-only (start it with --allow-operations)', 403);
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token =
      typeof form.csrf === 'string' ? form.csrf : (c.req.header('x-rollgate-csrf') ?? '');
    if (!same(token, csrf))
      return c.text('rollgate: missing or wrong CSRF token: reload the page', 403);
    if (!PAGE_OPERATIONS.includes(op)) return c.text(`rollgate: ${op} is not an operation`, 400);
    if (op === 'rollback' && form.confirm !== 'yes')
      return c.text('rollgate: tick the box to confirm the rollback', 400);
    if (!o.source.canOperate(name))
      return c.text(`rollgate: group ${name} was not given as a group file (-g)`, 404);
    const v = await o.source.group(name);
    const back = c.redirect(`/g/${encodeURIComponent(name)}`, 303);
    if (!v?.release?.buttons.includes(op)) {
      const why = `${op} is not an operation of phase ${v?.release?.phase ?? '(no release)'}`;
      // A browser's form goes back to the page, which says why; a script gets the status.
      if (v && (c.req.header('accept') ?? '').includes('text/html')) {
        failed(
          name,
          op,
          new PhaseError(`${why} (the page was older than the record)`),
          v.groupFile,
        );
        return back;
      }
      return c.text(`rollgate: ${why}`, 409);
    }
    o.logger.info(`page: ${op} on ${name} by ${o.who}`);
    if (failures.delete(name)) changed(new Set([name]));
    const before = op === 'stop' ? Promise.resolve() : (tails.get(name) ?? Promise.resolve());
    const run = before.then(() => o.source.operate(name, op, o.who));
    const ended = run
      .then((line) => o.logger.info(`page: ${op} on ${name}: ${line}`))
      .catch((err: unknown) => failed(name, op, err, v.groupFile));
    if (op !== 'stop') {
      tails.set(name, ended);
      void ended.then(() => {
        if (tails.get(name) === ended) tails.delete(name);
      });
    }
    // A stop is quick: answer once it is recorded, so the page shows it.
    if (op === 'stop') await ended;
    return back;
  });

  return { app, changed };
}

export async function startPage(o: ServeOptions): Promise<PageServer> {
  const { app, changed } = pageApp(o);
  o.source.watch(changed);
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: o.host, port: o.port }, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    async close() {
      await new Promise<void>((r) => {
        server.close(() => r());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await o.source.close();
    },
  };
}
