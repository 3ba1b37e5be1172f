/**
 * `rollgate serve --github` in Chromium, over the GitHub double: a group released by the real
 * action bundles (deploy-bastion, bake, roll-batches on a local fleet, 127.0.21.11-13:21010)
 * writes its deployments and record artifacts into the double; the page, a `rollgate serve`
 * child process (127.0.21.100:21020), reads them through the REST API with conditional GETs,
 * shows the version, the environment column and the phase's buttons as links to GitHub, moves
 * live when the release moves, and never writes to GitHub. A second page with a revoked token
 * (127.0.21.101:21021) names the 401 instead of crashing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { makeActionsFleet, ROOT, runAction, type ActionsFleet } from '../../support/actions-runner';
import { approveGate } from '../../support/github-double/approvals';
import {
  startGitHubDouble,
  violationLines,
  type GitHubDouble,
} from '../../support/github-double/github-double';

const CHROMIUM = process.env.ROLLGATE_CHROMIUM ?? '/usr/bin/chromium';
const CLI = join(ROOT, 'src/cli/bin.ts');
const KEY = encodeURIComponent('acme/shop:production/gshop');
const REVOKED = 'ghs_revoked_token_of_the_test';

interface Served {
  url: string;
  child: ChildProcess;
  stderr: () => string;
}

function serve(args: string[], token: string, port: number, host: string): Promise<Served> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'serve', ...args, '--listen', host, '--port', String(port)],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        GITHUB_TOKEN: token,
        GITHUB_SERVER_URL: 'https://github.com',
      },
    },
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serve did not start: ${out}\n${err}`)),
      60_000,
    );
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /the page is at (http:\/\/\S+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, stderr: () => err });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${out}\n${err}`));
    });
  });
}

async function step(
  double: GitHubDouble,
  fleet: ActionsFleet,
  name: string,
  runId: number,
  version?: string,
): Promise<void> {
  const r = await runAction(name, {
    double,
    ids: { runId, jobId: name },
    job: name,
    cwd: fleet.workspace,
    inputs: {
      'group-file': fleet.groupFile,
      environment: 'production',
      ...(version ? { version } : {}),
    },
    timeoutMs: 180_000,
  });
  expect(r.code, `${name}\n${r.stdout.slice(-3000)}\n${r.stderr}`).toBe(0);
}

describe('rollgate serve --github in Chromium', () => {
  let double: GitHubDouble;
  let fleet: ActionsFleet;
  let page: Served;
  let revoked: Served;
  let browser: Browser;
  let tab: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: run scripts/test-env/setup.sh (installs Debian's chromium)`,
      );
    }
    double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: '127.0.21.1' });
    await double.storage();
    fleet = await makeActionsFleet({
      group: 'gshop',
      addresses: ['127.0.21.11', '127.0.21.12', '127.0.21.13'],
      port: 21010,
      deployment: '  maxUnavailable: 50%\n  startTimeout: 10s\n  verifyInterval: 50ms',
    });
    await fleet.build('1.0.0', { startDelayMs: 50 });
    await fleet.build('2.0.0', { startDelayMs: 50 });
    // 1.0.0 released through the whole workflow (run 2101), then 2.0.0's bastion (run 2102),
    // which waits for its bake: the gate a person approves under "Review deployments".
    for (const env of ['production-bake', 'production']) approveGate(double.state, 2101, env);
    await step(double, fleet, 'deploy-bastion', 2101, '1.0.0');
    await step(double, fleet, 'bake', 2101);
    await step(double, fleet, 'roll-batches', 2101);
    await step(double, fleet, 'deploy-bastion', 2102, '2.0.0');
    double.resetCalls();
    double.state.revokedTokens.add(REVOKED);
    const args = ['--github', 'acme/shop', '--github-api-url', double.url, '--github-poll', '1'];
    [page, revoked] = await Promise.all([
      serve(args, double.token, 21020, '127.0.21.100'),
      serve(args, REVOKED, 21021, '127.0.21.101'),
    ]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    tab = await browser.newPage();
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    page?.child.kill('SIGTERM');
    revoked?.child.kill('SIGTERM');
    await fleet?.cleanup();
    await double?.stop();
  });

  it('home: the group in its environment column, with the version it runs', async () => {
    await tab.goto(page.url);
    const row = tab.locator('tr.group-row[data-group="gshop"]');
    await row.waitFor();
    expect(await tab.locator('th.env').allInnerTexts()).toEqual(['production']);
    const cell = row.locator('td.env[data-env="production"]');
    // Two of three hosts run 1.0.0; the bastion runs 2.0.0, waiting for its bake.
    expect(await cell.locator('.ver').textContent()).toBe('1.0.0');
    expect(await cell.locator('.minimap i').count()).toBe(3);
    expect(await row.locator('.release').textContent()).toMatch(/deploy 2\.0\.0\s+SMOKE_SUCCESS/);
    expect(await tab.locator('.problem').count()).toBe(0);
  });

  it('the group: read from the record artifact, buttons are links to the run and the operate workflow', async () => {
    await tab.goto(`${page.url}g/${KEY}`);
    await tab.locator('#operations').waitFor();
    expect(await tab.locator('.where .environment').textContent()).toBe('production');
    expect(await tab.locator('.where').textContent()).toMatch(/record: artifact rollgate-gshop-/);
    const links = tab.locator('#operations a.op-link');
    expect(await links.count()).toBe(2);
    expect(await links.nth(0).getAttribute('data-op')).toBe('bake');
    expect(await links.nth(0).getAttribute('href')).toBe(
      'https://github.com/acme/shop/actions/runs/2102',
    );
    expect(await links.nth(1).getAttribute('data-op')).toBe('stop');
    expect(await links.nth(1).getAttribute('href')).toBe(
      'https://github.com/acme/shop/actions/workflows/operate.yml',
    );
    expect(await tab.locator('#operations form, #operations button').count()).toBe(0);
    // Each target as the artifact recorded it (the per-target states are not in the deployments).
    expect(await tab.locator('#instances tr[data-target="web-01"]').textContent()).toContain(
      'VERIFY_SUCCESS',
    );
  });

  it('moves live when the release moves on GitHub (poll + SSE, no reload); reads are conditional', async () => {
    await tab.goto(`${page.url}g/${KEY}`);
    await tab.locator('#operations').waitFor();
    await tab.locator('#live', { hasText: /^live/ }).waitFor();
    await tab.evaluate('window.__sameDocument = 42');
    // So far only the two pages spoke to the double: GETs only, unchanged answers 304 (from the
    // first poll after the first read on; the page can be open before that poll, so wait for it).
    const pagesAsked = () => double.requests.filter((r) => !r.operationId?.includes('Service/'));
    for (let waited = 0; waited < 5000; waited += 100) {
      if (pagesAsked().some((r) => r.status === 304)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const byPages = pagesAsked();
    expect(byPages.filter((r) => r.method !== 'GET')).toEqual([]);
    const notModified = byPages.filter((r) => r.status === 304).length;
    expect(notModified).toBeGreaterThan(0);
    console.log(
      `serve --github: ${byPages.length} REST requests by two pages polling every 1 s, ${notModified} answered 304`,
    );
    // Idle: each poll is the deployment list and the run's artifact list, both 304.
    double.resetCalls();
    await new Promise((r) => setTimeout(r, 3500));
    const idle = double.requests;
    expect(idle.length).toBeGreaterThan(0);
    expect(idle.filter((r) => r.status !== 304)).toEqual([]);
    expect([...new Set(idle.map((r) => r.operationId))].sort()).toEqual([
      'actions/list-workflow-run-artifacts',
      'repos/list-deployments',
    ]);
    console.log(
      `serve --github: idle, ${idle.length} requests in 3.5 s at --github-poll 1 (one group), all 304`,
    );
    approveGate(double.state, 2102, 'production-bake');
    await step(double, fleet, 'bake', 2102);
    const t0 = Date.now();
    await tab.waitForFunction(
      "document.querySelector('[data-phase]')?.getAttribute('data-phase') === 'BAKE_SUCCESS'",
      undefined,
      { timeout: 20_000 },
    );
    console.log(`serve --github: the bake on screen ${Date.now() - t0} ms after the step ended`);
    expect(await tab.locator('#operations a.op-link').first().getAttribute('data-op')).toBe(
      'continue',
    );
    expect(await tab.evaluate('window.__sameDocument')).toBe(42); // no reload
  });

  it('a revoked token: the page names the 401 and how to fix it, no stack trace', async () => {
    await tab.goto(revoked.url);
    const problem = tab.locator('.problem[data-repo="acme/shop"]');
    await problem.waitFor();
    expect(await problem.getAttribute('data-kind')).toBe('bad-token');
    const text = (await problem.textContent()) ?? '';
    expect(text).toMatch(
      /GitHub refused the token \(401 Bad credentials\): set GITHUB_TOKEN or ROLLGATE_GITHUB_TOKEN/,
    );
    expect(await tab.locator('main').textContent()).not.toMatch(
      /at .*\.(ts|js):\d+|RequestError|HttpError/,
    );
    expect(revoked.child.exitCode).toBeNull();
  });

  it('a spent rate limit: named with its reset time; the last figures stay on the page', async () => {
    double.state.rateLimitedUntil = new Date(Date.now() + 600_000);
    await tab.goto(page.url);
    const problem = tab.locator('.problem[data-kind="rate-limited"]');
    await problem.waitFor({ timeout: 20_000 });
    expect(await problem.textContent()).toMatch(
      /rate limit is spent \(403\); it resets at \d\d:\d\d:\d\d UTC/,
    );
    const cell = tab.locator('tr.group-row[data-group="gshop"] td.env[data-env="production"]');
    expect(await cell.locator('.ver').textContent()).toBe('1.0.0');
    // Nothing more is asked until the reset GitHub named.
    const asked = double.requests.length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(double.requests.length - asked).toBe(0);
    double.state.rateLimitedUntil = null;
  });

  it('the double saw only valid GitHub requests', () => {
    expect(violationLines(double)).toEqual([]);
  });
});
