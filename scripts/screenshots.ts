/**
 * `npx tsx scripts/screenshots.ts`: the README's pictures of the page, regenerated. Real
 * releases (the engine over in-memory hosts, the file store in a temp dir) make a demo store of
 * three groups; `rollgate serve` shows it; Debian's chromium photographs the home page, a braked
 * release and an idle group into docs/img/. Also prints the first render of each page.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { Engine } from '../src/engine/engine';
import { FileStore } from '../src/store/file/file-store';
import { realClock } from '../src/clock/real';
import { FleetSource } from '../src/app/fleet-source';
import { startPage } from '../src/web/server';
import {
  FakeFleet,
  FakeTraffic,
  fakePackage,
  makeConfig,
  makeGroup,
  quietLogger,
  releaseThrough,
} from '../test/support/fakes';

const OUT = resolve('docs/img');
const CHROMIUM = process.env.ROLLGATE_CHROMIUM ?? '/usr/bin/chromium';

export async function demoGroup(
  dir: string,
  name: string,
  hosts: number,
  releases: string[],
  broken?: { version: string; targets: number[] },
  running?: string,
): Promise<{ done: Promise<unknown> } | undefined> {
  const store = new FileStore(dir, quietLogger);
  const fleet = new FakeFleet(realClock, 5);
  const g = { ...makeGroup(hosts), name };
  const config = makeConfig({ verifyIntervalMs: 10 });
  const who = ['alice@ops', 'bob@ci', 'jenkins'][name.length % 3]!;
  const engine = () =>
    new Engine(
      {
        transport: fleet,
        traffic: new FakeTraffic(),
        store,
        clock: realClock,
        logger: quietLogger,
      },
      g,
      config,
      who,
    );
  for (const v of releases) await releaseThrough(engine(), v);
  if (broken) {
    for (const i of broken.targets) {
      fleet.failures.set(g.targets[i]!.id, { op: 'install', times: 9 });
    }
    const e = engine();
    await e.deploy({ version: broken.version, package: fakePackage(broken.version) });
    await e.bake();
    await e.continue();
  }
  if (running) {
    // Left running (3 s an install) for the picture of a release under way.
    const e = engine();
    await e.deploy({ version: running, package: fakePackage(running) });
    await e.bake();
    fleet.onInstall = () => realClock.sleep(3000);
    // Wrapped: an async function's returned promise would be awaited with it.
    return { done: e.continue().finally(() => store.close()) };
  }
  await store.close();
  return undefined;
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'rollgate-shots-'));
  try {
    // Two stores, labelled with their environments: the home page's two columns.
    const prod = join(dir, 'production');
    const staging = join(dir, 'staging');
    await demoGroup(staging, 'shop', 6, ['1.2.0', '1.3.0']);
    await demoGroup(staging, 'api', 8, ['3.6.0', '3.6.1']);
    await demoGroup(staging, 'checkout', 6, ['5.1.0']);
    await demoGroup(prod, 'shop', 24, ['1.0.0', '1.1.0', '1.2.0']);
    await demoGroup(prod, 'api', 40, ['3.4.0', '3.5.0'], {
      version: '3.6.0',
      targets: [7, 12, 19],
    });
    await demoGroup(prod, 'search', 8, ['0.9.0']);
    const rolling = await demoGroup(prod, 'checkout', 30, ['5.0.0'], undefined, '5.1.0');
    await realClock.sleep(1000);
    const source = await FleetSource.open({
      storeDirs: [`staging=${staging}`, `production=${prod}`],
      groupFiles: [],
      env: process.env,
      logger: quietLogger,
    });
    const page = await startPage({
      source,
      logger: quietLogger,
      who: 'screenshots',
      host: '127.0.0.1',
      port: 0,
      allowOperations: false,
    });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      await mkdir(OUT, { recursive: true });
      const tab = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      for (const [file, path] of [
        ['page-running.png', 'g/production%2Fcheckout'],
        ['page-home.png', ''],
        ['page-failed.png', 'g/production%2Fapi'],
        ['page-idle.png', 'g/production%2Fshop'],
      ] as const) {
        const t0 = Date.now();
        await tab.goto(page.url + path);
        await tab.locator('#live', { hasText: 'live' }).waitFor();
        console.log(`${path || 'home'}: on screen in ${Date.now() - t0} ms`);
        await tab.screenshot({ path: join(OUT, file), fullPage: true });
        console.log(`wrote docs/img/${file}`);
      }
    } finally {
      await browser.close();
      await rolling?.done;
      await page.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('screenshots.ts')) {
  void main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
