/**
 * `rollgate serve` in a real browser: Debian's chromium driven by playwright-core, the page over
 * a local fleet released by the real `rollgate` command (127.0.10.x).
 */
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { makeCliFleet, type CliFleet } from '../../support/cli-fleet';
import { FleetSource } from '../../../src/app/fleet-source';
import { startPage, type PageServer } from '../../../src/web/server';
import { quietLogger } from '../../support/fakes';
import type { Ledger } from '../../../src/engine/ledger';

const CHROMIUM = process.env.ROLLGATE_CHROMIUM ?? '/usr/bin/chromium';
const HOSTILE = '<img src=x onerror=alert(1)>';

describe('rollgate serve in Chromium', () => {
  let f: CliFleet;
  let browser: Browser;
  let page: Page;
  let operating: PageServer;
  let readOnly: PageServer;
  const dialogs: string[] = [];
  const record = (): Ledger =>
    JSON.parse(readFileSync(join(f.dir, 'state/cli-shop/state.json'), 'utf8'));

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: run scripts/test-env/setup.sh (installs Debian's chromium)`,
      );
    }
    f = await makeCliFleet({
      addresses: ['127.0.10.1', '127.0.10.2', '127.0.10.3', '127.0.10.4'],
      port: 18610,
    });
    await f.build('1.0.0', { startDelayMs: 50 });
    await f.build('2.0.0', { startDelayMs: 300 });
    await f.build('3.0.0', { startDelayMs: 50 });
    expect((await f.run(['deploy', '--version', '1.0.0'])).code).toBe(3);
    expect((await f.run(['bake'])).code).toBe(3);
    expect((await f.run(['continue'])).code).toBe(0);
    // A second group in the same store whose name and log are hostile markup.
    const hostile = join(f.dir, 'state', HOSTILE);
    await mkdir(hostile, { recursive: true });
    const l = record();
    await writeFile(
      join(hostile, 'state.json'),
      JSON.stringify({ ...l, group: HOSTILE, current: null }),
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
    const open = () =>
      FleetSource.open({
        storeDirs: [join(f.dir, 'state')],
        groupFiles: [f.groupFile],
        env: process.env,
        logger: quietLogger,
      });
    operating = await startPage({
      source: await open(),
      logger: quietLogger,
      who: 'page-tester',
      host: '127.0.10.100',
      port: 0,
      allowOperations: true,
    });
    readOnly = await startPage({
      source: await open(),
      logger: quietLogger,
      who: 'nobody',
      host: '127.0.10.101',
      port: 0,
      allowOperations: false,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  });
  afterAll(async () => {
    await browser?.close();
    await operating?.close();
    await readOnly?.close();
    await f?.cleanup();
  });

  it('home lists every group of the store with the version it runs', async () => {
    const t0 = Date.now();
    await page.goto(operating.url);
    const row = page.locator('tr.group-row[data-group="cli-shop"]');
    await row.waitFor();
    const firstRender = Date.now() - t0;
    expect(await row.locator('.ver').first().textContent()).toBe('1.0.0');
    expect(await row.locator('.release').textContent()).toContain('SUCCESS');
    expect(await row.locator('.minimap i').count()).toBe(4);
    console.log(`page: first render of the home page (2 groups) in Chromium: ${firstRender} ms`);
  });

  it('shows a hostile group name and log line as text, never as markup', async () => {
    await page.goto(operating.url);
    const cell = page.locator('tr.group-row').filter({ hasText: 'img src' }).locator('a');
    expect(await cell.textContent()).toBe(HOSTILE);
    expect(await page.locator('main img').count()).toBe(0);
    await cell.click();
    await page.locator('#log li').first().waitFor();
    expect(await page.locator('#log li').first().textContent()).toContain(
      '<script>alert(2)</script>',
    );
    expect(await page.locator('main script').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('a release started by the CLI appears live, without a reload, and ends at the bake buttons', async () => {
    await page.goto(`${operating.url}g/cli-shop`);
    await page.locator('#live', { hasText: 'live' }).waitFor();
    await page.evaluate(() => ((globalThis as unknown as { __same: number }).__same = 42));
    const deploy = f.run(['deploy', '--version', '2.0.0']);
    await page.locator('.phase[data-phase="SMOKING"]').waitFor();
    await page.locator('#instances .step.running, #instances .step.done').first().waitFor();
    expect((await deploy).code).toBe(3);
    await page.locator('.phase[data-phase="SMOKE_SUCCESS"]').waitFor();
    const seen = await page.evaluate(() => {
      const w = globalThis as unknown as {
        __same?: number;
        __rollgate: { renders: number; latencies: number[] };
      };
      return { same: w.__same, renders: w.__rollgate.renders, latencies: w.__rollgate.latencies };
    });
    expect(seen.same).toBe(42); // the same document: no reload
    expect(seen.renders).toBeGreaterThan(2);
    const sorted = [...seen.latencies].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const max = sorted.at(-1)!;
    console.log(
      `page: event-to-screen over ${sorted.length} updates: median ${median} ms, max ${max} ms`,
    );
    expect(median).toBeLessThan(1000);
    expect(
      await page.locator('#operations button').evaluateAll((b) => b.map((x) => x.textContent)),
    ).toEqual(['bake', 'stop']);
  });

  it('a read-only server draws no buttons and refuses the POST', async () => {
    const ro = await browser.newPage();
    await ro.goto(`${readOnly.url}g/cli-shop`);
    await ro.locator('#operations').waitFor();
    expect(await ro.locator('button').count()).toBe(0);
    expect(await ro.locator('#operations').textContent()).toContain('rollgate bake -g');
    const r = await fetch(`${readOnly.url}g/cli-shop/op/bake`, {
      method: 'POST',
      body: new URLSearchParams({ csrf: 'anything' }),
      redirect: 'manual',
    });
    expect(r.status).toBe(403);
    expect(record().current?.phase).toBe('SMOKE_SUCCESS');
    await ro.close();
  });

  it('bake, continue and stop pressed in the page move the release, recorded with the name', async () => {
    await page.goto(`${operating.url}g/cli-shop`);
    await page.locator('button[data-op="bake"]').click();
    await page.locator('.phase[data-phase="BAKE_SUCCESS"]').waitFor();
    await page.locator('button[data-op="continue"]').click();
    await page.locator('.phase[data-phase="SUCCESS"]').waitFor({ timeout: 30_000 });
    const done = record();
    expect(done.current?.phase).toBe('SUCCESS');
    expect(done.current?.ops?.map((o) => `${o.op} ${o.by}`)).toEqual([
      'deploy cli-test',
      'bake page-tester',
      'continue page-tester',
    ]);
    expect(f.hosts.map((h) => f.current(h.host))).toEqual(Array(4).fill('2.0.0'));
    await page.locator('#history', { hasText: 'rollback would return to 1.0.0' }).waitFor();

    expect((await f.run(['deploy', '--version', '3.0.0'])).code).toBe(3);
    await page.locator('.phase[data-phase="SMOKE_SUCCESS"]').waitFor();
    await page.locator('button[data-op="stop"]').click();
    await page.locator('.phase[data-phase="ABORTED"]').waitFor();
    const stopped = record();
    expect(stopped.current?.phase).toBe('ABORTED');
    expect(stopped.current?.stop?.by).toBe('page-tester');
  });
  it('reconnects on its own when the server comes back, and goes on updating', async () => {
    const open = async (port: number) =>
      startPage({
        source: await FleetSource.open({
          storeDirs: [join(f.dir, 'state')],
          groupFiles: [],
          env: process.env,
          logger: quietLogger,
        }),
        logger: quietLogger,
        who: 'nobody',
        host: '127.0.10.102',
        port,
        allowOperations: false,
      });
    const first = await open(0);
    const port = Number(new URL(first.url).port);
    const tab = await browser.newPage();
    await tab.goto(first.url);
    await tab.locator('#live', { hasText: 'live' }).waitFor();
    await first.close();
    await tab.locator('#live', { hasText: 'reconnecting' }).waitFor();
    const second = await open(port);
    try {
      await tab.locator('#live', { hasText: /^live/ }).waitFor({ timeout: 15_000 });
      const before = await tab.evaluate(
        () => (globalThis as unknown as { __rollgate: { renders: number } }).__rollgate.renders,
      );
      const line = {
        at: new Date().toISOString(),
        group: HOSTILE,
        deployment: 'x',
        type: 'warn',
        message: 'again',
      };
      await appendFile(join(f.dir, 'state', HOSTILE, 'events.ndjson'), JSON.stringify(line) + '\n');
      await tab.waitForFunction(
        (n) =>
          (globalThis as unknown as { __rollgate: { renders: number } }).__rollgate.renders > n,
        before,
      );
    } finally {
      await tab.close();
      await second.close();
    }
  });
});
