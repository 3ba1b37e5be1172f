/**
 * `rollgate serve`, the real command, in Chromium: a read-only page writes nothing (not even the
 * repair of a damaged record), and a page opened with `?token=` keeps the token out of the
 * address bar and history. A local fleet on 127.0.23.11-12 released by the real CLI.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { makeCliFleet, type CliFleet } from '../../support/cli-fleet';

const CHROMIUM = process.env.ROLLGATE_CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'page-token-5f2c9a';

describe('rollgate serve in Chromium: read-only and the token', () => {
  let f: CliFleet;
  let browser: Browser;
  const servers: ChildProcess[] = [];
  const groupDir = () => join(f.dir, 'state/cli-shop');

  /** Starts `rollgate serve` and resolves with its URL once it listens. */
  async function serve(args: string[]): Promise<string> {
    const child = f.spawn(['serve', '--store', join(f.dir, 'state'), ...args]);
    servers.push(child);
    const until = Date.now() + 30_000;
    for (;;) {
      const m = /the page is at (\S+)/.exec(child.output());
      if (m) return m[1]!;
      if (child.exitCode !== null || Date.now() > until) {
        throw new Error(`rollgate serve did not start: ${child.output()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: run scripts/test-env/setup.sh (installs Debian's chromium)`,
      );
    }
    f = await makeCliFleet({ addresses: ['127.0.23.11', '127.0.23.12'], port: 23090 });
    await f.build('1.0.0', { startDelayMs: 50 });
    expect((await f.run(['deploy', '--version', '1.0.0'])).code).toBe(3);
    expect((await f.run(['bake'])).code).toBe(3);
    expect((await f.run(['continue'])).code).toBe(0);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) s.kill('SIGTERM');
    await browser?.close();
    await f?.cleanup();
  });

  it('a read-only page leaves a damaged state.json as it is and says it rebuilt it in memory', async () => {
    const state = join(groupDir(), 'state.json');
    const damaged = readFileSync(state, 'utf8').slice(0, 200);
    writeFileSync(state, damaged);
    const files = readdirSync(groupDir()).sort();
    const url = await serve(['--listen', '127.0.23.21', '--port', '23210']);
    expect(url).toBe('http://127.0.23.21:23210/');
    const page = await browser.newPage();
    await page.goto(url);
    await page.locator('tr.group-row[data-group="cli-shop"]').waitFor();
    await page.goto(`${url}g/cli-shop`);
    await page.locator('#live', { hasText: 'live' }).waitFor();
    // Nothing written, nothing moved aside.
    expect(readFileSync(state, 'utf8')).toBe(damaged);
    expect(readdirSync(groupDir()).sort()).toEqual(files);
    const notice = page.locator('#record-repaired');
    const text = (await notice.textContent())!.replace(/\s+/g, ' ');
    expect(text).toContain('Record damaged, rebuilt from the log in memory');
    expect(text).toContain(`the record ${state} is damaged (not JSON`);
    expect(text).toContain(`run rollgate reconcile -g ${f.groupFile} to write it`);
    // What the log holds is shown all the same.
    expect(await page.locator('.release-line').textContent()).toContain('1.0.0');
    expect(await page.locator('button').count()).toBe(0);

    // The command the notice names writes it; the open page sees the record sound again.
    await page.evaluate(() => ((globalThis as unknown as { __same: number }).__same = 3));
    const reconcile = await f.run(['reconcile']);
    expect(reconcile.code, reconcile.stderr).toBe(0);
    expect(JSON.parse(readFileSync(state, 'utf8')).current.phase).toBe('SUCCESS');
    await notice.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => (globalThis as unknown as { __same?: number }).__same)).toBe(
      3,
    );
    await page.close();
  });

  it('?token= is swapped for an HttpOnly SameSite=Strict cookie and dropped from the address', async () => {
    const url = await serve(['--listen', '127.0.23.22', '--port', '23211', '--token', TOKEN]);
    const context = await browser.newContext();
    const page = await context.newPage();
    const first = await page.goto(`${url}g/cli-shop?token=${TOKEN}`);
    expect(first?.status()).toBe(200);
    expect(page.url()).toBe(`${url}g/cli-shop`);
    // The browser's own history (as Chromium keeps it) never held the address with the token.
    const cdp = await context.newCDPSession(page);
    const { entries } = (await cdp.send('Page.getNavigationHistory')) as {
      entries: { url: string }[];
    };
    expect(entries.map((e) => e.url)).toEqual(['about:blank', `${url}g/cli-shop`]);
    await page.locator('#live', { hasText: 'live' }).waitFor();
    expect(await page.locator('h1').textContent()).toBe('cli-shop');
    const cookies = await context.cookies(url);
    expect(cookies.map((c) => [c.name, c.value, c.httpOnly, c.sameSite])).toEqual([
      ['rollgate_token', TOKEN, true, 'Strict'],
    ]);
    expect(
      await page.evaluate(
        () => (globalThis as unknown as { document: { cookie: string } }).document.cookie,
      ),
    ).toBe('');
    const again = await page.reload();
    expect(again?.status()).toBe(200);
    expect(page.url()).toBe(`${url}g/cli-shop`);
    await page.locator('#live', { hasText: 'live' }).waitFor();
    // Another browser, without the cookie, is refused.
    const stranger = await browser.newPage();
    expect((await stranger.goto(`${url}g/cli-shop`))?.status()).toBe(401);
    await stranger.close();
    await context.close();
  });
});
