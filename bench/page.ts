/**
 * `npx tsx bench/page.ts`: first render of the page in Debian's chromium — a group of 1,000
 * targets, a home page of 50 groups — from `goto` until the page is on screen and its live
 * stream is open. Records from real releases (the engine over in-memory hosts, the file store).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { FleetSource } from '../src/app/fleet-source';
import { startPage } from '../src/web/server';
import { quietLogger } from '../test/support/fakes';
import { demoGroup } from '../scripts/screenshots';

const CHROMIUM = process.env.ROLLGATE_CHROMIUM ?? '/usr/bin/chromium';
const RUNS = 5;

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'rollgate-bench-page-'));
  try {
    await demoGroup(dir, 'big', 1000, ['1.0.0', '2.0.0']);
    for (let i = 0; i < 49; i++)
      await demoGroup(dir, `g${String(i).padStart(2, '0')}`, 20, ['1.0.0']);
    const source = await FleetSource.open({
      storeDirs: [dir],
      groupFiles: [],
      env: process.env,
      logger: quietLogger,
    });
    const page = await startPage({
      source,
      logger: quietLogger,
      who: 'bench',
      host: '127.0.0.1',
      port: 0,
      allowOperations: false,
    });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const tab = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      for (const [label, path] of [
        ['group of 1,000 targets', 'g/big'],
        ['home page, 50 groups', ''],
      ] as const) {
        const times: number[] = [];
        for (let r = 0; r < RUNS; r++) {
          const t0 = Date.now();
          await tab.goto(page.url + path, { waitUntil: 'load' });
          await tab.locator('#live', { hasText: 'live' }).waitFor();
          times.push(Date.now() - t0);
        }
        times.sort((a, b) => a - b);
        console.log(
          `${label}: first render median ${times[Math.floor(RUNS / 2)]} ms (min ${times[0]}, max ${times.at(-1)}, ${RUNS} runs)`,
        );
      }
    } finally {
      await browser.close();
      await page.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
