import { describe, expect, it } from 'vitest';
import type { GroupView, PageOperation } from '../../../src/app/fleet-view';
import { pageApp, type PageSource } from '../../../src/web/server';
import { escapeHtml, html } from '../../../src/web/html';
import { quietLogger } from '../../support/fakes';
import { brakedView, HOSTILE, viewSource } from '../../support/page-views';
import { LockHeldError } from '../../../src/model/errors';

function source(
  views: GroupView[],
  ops: string[] = [],
  fail?: (op: PageOperation) => Error | undefined,
): PageSource {
  return {
    ...viewSource(views),
    canOperate: () => true,
    operate: async (n: string, op: PageOperation) => {
      ops.push(`${op} ${n}`);
      const err = fail?.(op);
      if (err) throw err;
      return 'ok';
    },
    watch: () => undefined,
    close: async () => undefined,
  };
}

const base = { logger: quietLogger, who: 'tester', host: '127.0.0.1', port: 0 };

describe('the page server (hono app, no network)', () => {
  it('escapes a hostile group name and log line everywhere', async () => {
    const { app } = pageApp({
      ...base,
      source: source([brakedView(HOSTILE)]),
      allowOperations: true,
    });
    const home = await (await app.request('/')).text();
    expect(home).not.toContain(HOSTILE);
    expect(home).toContain(escapeHtml(HOSTILE));
    const group = await (await app.request(`/g/${encodeURIComponent(HOSTILE)}`)).text();
    expect(group).not.toContain('<script>alert(2)');
    expect(group).toContain('&lt;/li&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
    expect(group).not.toContain(HOSTILE);
  });

  it('html`` escapes values and keeps nested html as markup', () => {
    expect(html`<b>${'"&<'}</b>${html`<i>${"'"}</i>`}`.text).toBe(
      '<b>&quot;&amp;&lt;</b><i>&#39;</i>',
    );
  });

  it('read-only: no buttons, and a POST is refused (403) without running anything', async () => {
    const ops: string[] = [];
    const { app } = pageApp({
      ...base,
      source: source([brakedView('shop')], ops),
      allowOperations: false,
    });
    const page = await (await app.request('/g/shop')).text();
    expect(page).not.toContain('<button');
    expect(page).toContain('rollgate continue -g');
    const r = await app.request('/g/shop/op/continue', {
      method: 'POST',
      body: new URLSearchParams({ csrf: 'x' }),
    });
    expect(r.status).toBe(403);
    expect(ops).toEqual([]);
  });

  it('with --allow-operations: two buttons; a POST without the CSRF token is refused, with it runs', async () => {
    const ops: string[] = [];
    const { app } = pageApp({
      ...base,
      source: source([brakedView('shop')], ops),
      allowOperations: true,
    });
    const page = await (await app.request('/g/shop')).text();
    expect(page.match(/<button/g)).toHaveLength(2);
    const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(page)![1]!;
    const bad = await app.request('/g/shop/op/continue', {
      method: 'POST',
      body: new URLSearchParams({ csrf: 'nope' }),
    });
    expect(bad.status).toBe(403);
    const notNow = await app.request('/g/shop/op/bake', {
      method: 'POST',
      body: new URLSearchParams({ csrf }),
    });
    expect(notNow.status).toBe(409); // not a button of BRAKED
    const ok = await app.request('/g/shop/op/continue', {
      method: 'POST',
      body: new URLSearchParams({ csrf }),
    });
    expect(ok.status).toBe(303);
    expect(ops).toEqual(['continue shop']);
  });

  it('listening beyond loopback needs a token; a request without it is refused', async () => {
    expect(() =>
      pageApp({ ...base, host: '0.0.0.0', source: source([]), allowOperations: false }),
    ).toThrow(/--listen: 0.0.0.0 is not loopback: give --token/);
    const { app } = pageApp({
      ...base,
      host: '0.0.0.0',
      token: 's3cret',
      source: source([]),
      allowOperations: false,
    });
    expect((await app.request('/')).status).toBe(401);
    expect((await app.request('/?token=wrong')).status).toBe(401);
    // The right one is swapped for a cookie and dropped from the address.
    const swap = await app.request('/g/shop?view=1&token=s3cret');
    expect(swap.status).toBe(303);
    expect(swap.headers.get('location')).toBe('/g/shop?view=1');
    const cookie = swap.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^rollgate_token=s3cret; Path=\/; HttpOnly; SameSite=Strict$/);
    expect((await app.request('/', { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(
      200,
    );
    expect((await app.request('/', { headers: { authorization: 'Bearer s3cret' } })).status).toBe(
      200,
    );
  });

  it('an operation a button started that fails is shown on the page, escaped, with the CLI command', async () => {
    const ops: string[] = [];
    const { app } = pageApp({
      ...base,
      source: source([brakedView('shop')], ops, (op) =>
        op === 'continue'
          ? new LockHeldError('group shop', `${HOSTILE} (pid 1 on h)`, 'now')
          : undefined,
      ),
      allowOperations: true,
    });
    const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(
      await (await app.request('/g/shop')).text(),
    )![1]!;
    const before = (await (await app.request('/g/shop')).text()).match(
      /data-generation="(\d+)"/,
    )![1];
    const r = await app.request('/g/shop/op/continue', {
      method: 'POST',
      body: new URLSearchParams({ csrf }),
    });
    expect(r.status).toBe(303);
    await new Promise((ok) => setImmediate(ok));
    const page = await (await app.request('/g/shop')).text();
    const banner = /<section id="op-failure"[\s\S]*?<\/section>/.exec(page)?.[0] ?? '';
    expect(banner).toContain('continue failed');
    expect(banner).toContain(`group shop is locked by ${escapeHtml(HOSTILE)} (pid 1 on h)`);
    expect(banner).not.toContain(HOSTILE);
    expect(banner).toContain('rollgate continue -g');
    // The failure counts as a change: open pages get it pushed.
    expect(page.match(/data-generation="(\d+)"/)![1]).not.toBe(before);

    // A stale page's button (not an operation of BRAKED) sends a browser back with the reason.
    const stale = await app.request('/g/shop/op/bake', {
      method: 'POST',
      headers: { accept: 'text/html' },
      body: new URLSearchParams({ csrf }),
    });
    expect(stale.status).toBe(303);
    const again = await (await app.request('/g/shop')).text();
    expect(again).toContain('bake failed');
    expect(again).toContain('bake is not an operation of phase BRAKED');
    expect(ops).toEqual(['continue shop']);

    // The next operation started clears it.
    await app.request('/g/shop/op/stop', { method: 'POST', body: new URLSearchParams({ csrf }) });
    expect(await (await app.request('/g/shop')).text()).not.toContain('id="op-failure"');
    expect(ops).toEqual(['continue shop', 'stop shop']);
  });
});
