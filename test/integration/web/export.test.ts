/**
 * `rollgate page --out` run as a person runs it (the real `rollgate` command, tsx on the sources)
 * over a local fleet released by the CLI (127.0.22.x), the export opened from disk in Debian's
 * chromium: the groups, their versions, no button, no live script, no error.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { makeCliFleet, type CliFleet } from '../../support/cli-fleet';

const CHROMIUM = process.env.ROLLGATE_CHROMIUM ?? '/usr/bin/chromium';
const HOSTILE = '<img src=x onerror=alert(1)>';

describe('rollgate page --out, opened in Chromium', () => {
  let f: CliFleet;
  let browser: Browser;
  let out: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: run scripts/test-env/setup.sh (installs Debian's chromium)`,
      );
    }
    f = await makeCliFleet({
      addresses: ['127.0.22.1', '127.0.22.2', '127.0.22.3', '127.0.22.4'],
      port: 22010,
    });
    await f.build('1.0.0', { startDelayMs: 50 });
    await f.build('2.0.0', { startDelayMs: 50 });
    expect((await f.run(['deploy', '--version', '1.0.0'])).code).toBe(3);
    expect((await f.run(['bake'])).code).toBe(3);
    expect((await f.run(['continue'])).code).toBe(0);
    // 2.0.0 on the bastion, waiting for the bake: two versions on the map, and the phase's
    // buttons (bake, stop) that a static page must not draw.
    expect((await f.run(['deploy', '--version', '2.0.0'])).code).toBe(3);
    // A second group in the store whose name and log line are markup.
    const hostile = join(f.dir, 'state', HOSTILE);
    await mkdir(hostile, { recursive: true });
    await writeFile(
      join(hostile, 'state.json'),
      JSON.stringify({
        schemaVersion: 1,
        group: HOSTILE,
        history: [],
        quarantined: {},
        current: null,
      }),
    );
    await writeFile(
      join(hostile, 'events.ndjson'),
      JSON.stringify({
        at: new Date().toISOString(),
        group: HOSTILE,
        deployment: 'x',
        type: 'warn',
        message: '<script>alert(2)</script>',
      }) + '\n',
    );
    out = join(f.dir, 'site');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await f?.cleanup();
  });

  it('a bad call exits 2 with a message naming the flag', async () => {
    const r = await f.run(['page']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('rollgate: --out: give the directory to write the page into');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('writes index.html, a page per group and the assets, and says where', async () => {
    const r = await f.run(['page', '--out', out, '--store', join(f.dir, 'state')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`rollgate: wrote the page (3 pages) to ${out}`);
    expect((await readdir(out)).sort()).toEqual(['assets', 'g', 'index.html']);
    expect(await readdir(join(out, 'g'))).toContain('cli-shop.html');
  });

  it('opened from disk: the groups and versions, one click to a group, no button, no error', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    page.on('request', (q) => requests.push(q.url()));

    await page.goto(pathToFileURL(join(out, 'index.html')).href);
    const row = page.locator('tr.group-row[data-group="cli-shop"]');
    expect(await row.locator('.ver').first().textContent()).toBe('1.0.0');
    expect(await row.locator('.release').textContent()).toContain('SMOKE_SUCCESS');
    expect(await row.locator('.minimap i').count()).toBe(4);
    const hostile = page.locator('tr.group-row').filter({ hasText: 'img src' }).locator('a');
    expect(await hostile.textContent()).toBe(HOSTILE);
    expect(await page.locator('main img').count()).toBe(0);
    // The filter works without a server.
    await page.locator('#filter').fill('shop');
    expect(await page.locator('tr.group-row:visible').count()).toBe(1);
    expect(await page.locator('header .live').textContent()).toMatch(/^exported \d{4}-/);

    await row.locator('a').click();
    await page.locator('h1[data-group="cli-shop"]').waitFor();
    expect(page.url()).toMatch(/\/g\/cli-shop\.html$/);
    const cells = await page
      .locator('#version-map .cell')
      .evaluateAll((cs) => cs.map((c) => c.getAttribute('title')!.split(' ')[1]));
    expect(cells.sort()).toEqual(['1.0.0', '1.0.0', '1.0.0', '2.0.0']);
    expect(await page.locator('#history').textContent()).toContain('1.0.0');
    expect(await page.locator('button, form').count()).toBe(0);
    expect(await page.locator('#operations').textContent()).toContain('rollgate bake -g');
    // Styled by the copied stylesheet: the header is the page's dark band.
    const band = await page.locator('header').evaluate((h) => {
      const w = globalThis as unknown as {
        getComputedStyle(e: unknown): { backgroundColor: string };
      };
      return w.getComputedStyle(h).backgroundColor;
    });
    expect(band).toBe('rgb(29, 36, 48)');

    await page.locator('header a').click();
    await page.locator('tr.group-row').first().waitFor();
    await hostile.click();
    await page.locator('#log li').first().waitFor();
    expect(await page.locator('#log li').first().textContent()).toContain(
      '<script>alert(2)</script>',
    );
    expect(await page.locator('main script').count()).toBe(0);

    const live = await page.evaluate(
      () => 'EventSource' in globalThis && '__rollgate' in globalThis,
    );
    expect(live).toBe(false);
    expect(problems).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
    await page.close();
  });
});
