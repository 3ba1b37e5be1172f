/**
 * `rollgate serve` in Chromium over a real fleet: four sshd hosts on 127.0.23.1-4 behind HAProxy,
 * maxUnavailable 50% → batches [web-01] (bastion), [web-02], [web-03], [web-04]. A release brakes
 * because two hosts cannot serve it; the page shows the brake live and its buttons act: continue
 * past it, retry the failed hosts once they are fixed, roll back behind the confirmation.
 */
import type { Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { FleetSource } from '../../../src/app/fleet-source';
import { FileStore } from '../../../src/store/file/file-store';
import { buttonsOf } from '../../../src/app/fleet-view';
import { nextActions } from '../../../src/engine/phases';
import { startPage, type PageServer } from '../../../src/web/server';
import {
  describeTargets,
  expectFleetInvariant,
  lbStatus,
  packageOf,
  readLedger,
  releaseOnFleet,
} from '../../support/fleet-invariant';
import { killApp } from '../../support/kill-app';
import { closeServer, squat } from '../../support/port-squatter';
import { quietLogger } from '../../support/fakes';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';

const CHROMIUM = process.env.ROLLGATE_CHROMIUM ?? '/usr/bin/chromium';
const APP_PORT = 23080;

describe('rollgate serve in Chromium: the brake and its buttons on a real fleet', () => {
  let f: RealFleet;
  let browser: Browser;
  let page: Page;
  let server: PageServer;
  let group: string;
  const squatters: Server[] = [];
  const appPid = (id: string): number =>
    Number(
      readFileSync(join(f.hosts.find((h) => h.id === id)!.docBase, '.rollgate/app.pid'), 'utf8'),
    );
  const versions = async () => Promise.all(f.hosts.map((h) => f.current(h.id)));

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: run scripts/test-env/setup.sh (installs Debian's chromium)`,
      );
    }
    f = await startRealFleet({
      n: 4,
      first: 1,
      net: '127.0.23',
      sshPort: 23022,
      appPort: APP_PORT,
      frontend: '127.0.23.100:23100',
      deployment: '  maxUnavailable: 50%\n  startTimeout: 2s\n  verifyInterval: 20ms',
    });
    await f.build('1.0.0', { startDelayMs: 100 });
    await f.build('2.0.0', { startDelayMs: 100 });
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    group = r.deployment.group;
    const rt = await f.runtime({ who: 'cli-user' });
    try {
      const smoke = await rt.engine.deploy({ version: '2.0.0', package: packageOf(f, '2.0.0') });
      expect(smoke.phase, describeTargets(smoke.deployment)).toBe('SMOKE_SUCCESS');
      expect((await rt.engine.bake()).phase).toBe('BAKE_SUCCESS');
    } finally {
      await rt.close();
    }
    server = await startPage({
      source: await FleetSource.open({
        storeDirs: [],
        groupFiles: [f.groupFile],
        env: process.env,
        logger: quietLogger,
      }),
      logger: quietLogger,
      who: 'page-tester',
      host: '127.0.23.200',
      port: 23200,
      allowOperations: true,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage();
  }, 120_000);

  afterAll(async () => {
    for (const s of squatters) await closeServer(s).catch(() => undefined);
    await browser?.close();
    await server?.close();
    await f?.stop();
  });

  it('a release that brakes shows the brake and exactly its two buttons, live, without a reload', async () => {
    await page.goto(`${server.url}g/${group}`);
    await page.locator('#live', { hasText: 'live' }).waitFor();
    await page.evaluate(() => ((globalThis as unknown as { __same: number }).__same = 42));
    // web-02's and web-03's apps died and another process holds their port: 2.0.0 cannot
    // become healthy there (HTTP 503 from the squatter).
    for (const h of f.hosts.slice(1, 3)) {
      killApp(join(h.docBase, '.rollgate/app.pid'));
      squatters.push(await squat(h.address, APP_PORT));
    }
    // The continue runs elsewhere (a CLI, a job): the page only watches the record.
    const rt = await f.runtime({ who: 'cli-user' });
    let braked;
    try {
      braked = await rt.engine.continue();
    } finally {
      await rt.close();
    }
    expect(braked.phase, describeTargets(braked.deployment)).toBe('BRAKED');
    await page.locator('.phase[data-phase="BRAKED"]').waitFor();
    const buttons = await page
      .locator('#operations button')
      .evaluateAll((b) => b.map((x) => x.textContent));
    expect(buttons).toEqual(buttonsOf(nextActions('BRAKED', false, '1.0.0')));
    expect(buttons).toEqual(['continue', 'stop']);
    expect(await page.locator('#batches .tl-brake').count()).toBe(1);
    expect(await page.locator('#instances tr[data-target="web-02"]').textContent()).toContain(
      'VERIFY_FAILURE',
    );
    expect(await page.evaluate(() => (globalThis as unknown as { __same?: number }).__same)).toBe(
      42,
    );

    // Continue past the brake (the page's button): web-04 gets 2.0.0, the release fails.
    await page.locator('button[data-op="continue"]').click();
    await page.locator('.phase[data-phase="FAILURE"]').waitFor({ timeout: 30_000 });
    expect(
      await page.locator('#operations button').evaluateAll((b) => b.map((x) => x.textContent)),
    ).toEqual(['retry', 'rollback']);
    // 2.0.0 is installed everywhere, but web-02 and web-03 are kept out of traffic.
    expect(await versions()).toEqual(['2.0.0', '2.0.0', '2.0.0', '2.0.0']);
    const lb = await lbStatus(f);
    expect(
      [lb['web-01'], lb['web-02'], lb['web-03'], lb['web-04']].map((s) => s?.split(' ')[0]),
    ).toEqual(['UP', 'MAINT', 'MAINT', 'UP']);
  });

  it('a button whose operation fails says why on the page, with the CLI command, live', async () => {
    // Another rollgate holds the group's run lock (a CLI started a moment ago).
    const store = new FileStore(join(f.dir, 'state'));
    const unlock = await store.acquireRun(group, 'alice (rollgate retry)');
    const viewer = await browser.newPage();
    try {
      await viewer.goto(`${server.url}g/${group}`);
      await viewer.locator('#live', { hasText: 'live' }).waitFor();
      await viewer.evaluate(() => ((globalThis as unknown as { __same: number }).__same = 7));
      await page.goto(`${server.url}g/${group}`);
      await page.locator('button[data-op="retry"]').click();
      // The other tab, never reloaded, shows it as the pressing one does.
      for (const tab of [viewer, page]) {
        const banner = tab.locator('#op-failure');
        await banner.waitFor();
        const text = (await banner.textContent())!.replace(/\s+/g, ' ');
        expect(text).toMatch(
          new RegExp(
            `retry failed at .*: group ${group} is locked by alice \\(rollgate retry\\) \\(pid \\d+ on .+\\) since `,
          ),
        );
        expect(text).toContain(`The same from a shell: rollgate retry -g ${f.groupFile}`);
      }
      expect(
        await viewer.evaluate(() => (globalThis as unknown as { __same?: number }).__same),
      ).toBe(7);
      const d = (await readLedger(f))!.current!;
      expect(d.phase).toBe('FAILURE');
      expect(d.ops?.map((o) => o.op)).not.toContain('retry');
    } finally {
      await unlock();
      await store.close();
      await viewer.close();
    }
  });

  it('retry pressed in the page retries only the failed targets', async () => {
    // The port is free again: what an operator fixes before pressing retry.
    for (const s of squatters.splice(0)) await closeServer(s);
    const untouched = { 'web-01': appPid('web-01'), 'web-04': appPid('web-04') };
    const before = (await readLedger(f))!.current!;
    await page.goto(`${server.url}g/${group}`);
    await page.locator('button[data-op="retry"]').click();
    await page.locator('.phase[data-phase="SUCCESS"]').waitFor({ timeout: 30_000 });
    // The failure shown before is gone once an operation starts again.
    expect(await page.locator('#op-failure').count()).toBe(0);

    const d = (await readLedger(f))!.current!;
    expect(d.phase, describeTargets(d)).toBe('SUCCESS');
    expect(d.ops?.map((o) => `${o.op} ${o.by}`)).toEqual([
      'deploy cli-user',
      'bake cli-user',
      'continue cli-user',
      'continue page-tester',
      'retry page-tester',
    ]);
    const pass = d.batches.filter((b) => b.pass === 1);
    expect(pass.flatMap((b) => b.targets).sort()).toEqual(['web-02', 'web-03']);
    for (const id of ['web-01', 'web-04']) {
      expect(d.targets[id]).toEqual(before.targets[id]);
      expect(appPid(id)).toBe(untouched[id as 'web-01' | 'web-04']);
    }
    for (const id of ['web-02', 'web-03']) {
      expect(d.targets[id]).toMatchObject({ state: 'MARKUP_SUCCESS' });
      expect(d.targets[id]!.previous).toHaveLength(1);
    }
    expect(await versions()).toEqual(['2.0.0', '2.0.0', '2.0.0', '2.0.0']);
    await expectFleetInvariant(f);
  });

  it('rollback pressed in the page (behind its confirmation) returns every host to the kept version', async () => {
    await page.goto(`${server.url}g/${group}`);
    expect(
      await page.locator('#operations button').evaluateAll((b) => b.map((x) => x.textContent)),
    ).toEqual(['rollback']);
    // Without the box ticked the browser does not send it.
    await page.locator('button[data-op="rollback"]').click();
    await page.waitForTimeout(300);
    expect((await readLedger(f))!.current!.kind).toBe('deploy');
    await page.locator('#operations input[name="confirm"]').check();
    await page.locator('button[data-op="rollback"]').click();
    await page
      .locator('.release-line', { hasText: 'rollback' })
      .locator('.phase[data-phase="SUCCESS"]')
      .waitFor({ timeout: 30_000 });
    const d = (await readLedger(f))!.current!;
    expect(d).toMatchObject({ kind: 'rollback', version: '1.0.0', fromVersion: '2.0.0' });
    expect(d.ops?.map((o) => `${o.op} ${o.by}`)).toEqual(['rollback page-tester']);
    expect(await versions()).toEqual(['1.0.0', '1.0.0', '1.0.0', '1.0.0']);
    await expectFleetInvariant(f);
  });
});
