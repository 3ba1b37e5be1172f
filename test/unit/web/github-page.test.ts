/**
 * A GitHub group on the page (no network): the home page's environment columns, the buttons as
 * links to GitHub (never a form, even with --allow-operations), GitHub's refusals as named
 * problems, and the route keys `owner/repo:environment/group` carry through the URL.
 */
import { describe, expect, it } from 'vitest';
import { groupView, type GroupView } from '../../../src/app/fleet-view';
import type { Ledger } from '../../../src/engine/ledger';
import type { Phase } from '../../../src/model/states';
import type { RepoProblem } from '../../../src/github/problems';
import { pageApp, type PageSource } from '../../../src/web/server';
import { makeConfig, quietLogger } from '../../support/fakes';
import { viewSource } from '../../support/page-views';

const RUN = 'https://github.com/acme/shop/actions/runs/77';
const OPERATE = 'https://github.com/acme/shop/actions/workflows/operate.yml';

function ledger(group: string, version: string, phase: Phase): Ledger {
  return {
    schemaVersion: 1,
    group,
    history: [],
    quarantined: {},
    current: {
      id: `${group}-${version}`,
      group,
      kind: 'deploy',
      version,
      fromVersion: '1.0.0',
      package: { version },
      config: makeConfig(),
      phase,
      by: 'alice',
      createdAt: 1,
      updatedAt: 2,
      batches: [
        { index: 0, bastion: true, targets: ['web-01'] },
        { index: 1, bastion: false, targets: ['web-02'] },
      ],
      nextBatch: 1,
      targets: {
        'web-01': { id: 'web-01', batch: 0, state: 'VERIFY_SUCCESS', steps: {}, attempts: 1 },
        'web-02': { id: 'web-02', batch: 1, state: 'PENDING', steps: {}, attempts: 0 },
      },
      brakeAccepted: 0,
      degraded: [],
    },
  };
}

function gh(env: string, version: string, phase: Phase): GroupView {
  return groupView({
    name: `acme/shop:${env}/web`,
    group: 'web',
    environment: env,
    ledger: ledger('web', version, phase),
    events: [],
    github: { repo: 'acme/shop', runUrl: RUN, operateUrl: OPERATE, source: 'artifact x' },
  });
}

function fileGroup(): GroupView {
  return groupView({
    name: 'cli-shop',
    ledger: ledger('cli-shop', '3.0.0', 'SUCCESS'),
    events: [],
  });
}

function source(views: GroupView[], problems: RepoProblem[] = []): PageSource {
  return {
    ...viewSource(views),
    canOperate: () => true,
    operate: async () => {
      throw new Error('a GitHub group is never operated from the page');
    },
    watch: () => undefined,
    close: async () => undefined,
    problems: () => problems,
  };
}

const base = {
  logger: quietLogger,
  who: 'tester',
  host: '127.0.0.1',
  port: 0,
  allowOperations: true,
};

describe('a GitHub group on the page', () => {
  it('home: one row per group, one column per environment (file groups: "no environment")', async () => {
    const views = [
      gh('production', '2.0.0', 'SMOKE_SUCCESS'),
      gh('staging', '3.0.0', 'SUCCESS'),
      fileGroup(),
    ];
    const { app } = pageApp({ ...base, source: source(views) });
    const home = await (await app.request('/')).text();
    const heads = [...home.matchAll(/<th class="env" data-env="([^"]*)"/g)].map((m) => m[1]);
    expect(heads).toEqual(['', 'production', 'staging']);
    const row = /<tr class="group-row" data-group="web">([\s\S]*?)<\/tr>/.exec(home)![1]!;
    const cells = [...row.matchAll(/<td class="env" data-env="([^"]*)">([\s\S]*?)<\/td>/g)].map(
      (m) => [m[1], /class="ver"[^>]*>([^<]*)</.exec(m[2]!)?.[1] ?? '—'],
    );
    expect(cells).toEqual([
      ['', '—'],
      ['production', '2.0.0'],
      ['staging', '3.0.0'],
    ]);
    expect(row).toContain(`href="/g/${encodeURIComponent('acme/shop:production/web')}"`);
    expect(home).toMatch(/data-group="cli-shop">[\s\S]*?data-env="">[\s\S]*?3\.0\.0/);
  });

  it('the group page: environment shown, buttons are links to the run and the operate workflow', async () => {
    const { app } = pageApp({
      ...base,
      source: source([gh('production', '2.0.0', 'SMOKE_SUCCESS')]),
    });
    const res = await app.request(`/g/${encodeURIComponent('acme/shop:production/web')}`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('<b class="environment">production</b>');
    const links = [...page.matchAll(/<a\s+class="op op-link op-(\w+)"[\s\S]*?href="([^"]+)"/g)].map(
      (m) => [m[1], m[2]],
    );
    expect(links).toEqual([
      ['bake', RUN],
      ['stop', OPERATE],
    ]);
    expect(page).not.toMatch(/<form/);
  });

  it('refuses a POST for a GitHub group, even with the page CSRF token (nothing goes to GitHub)', async () => {
    const { app } = pageApp({
      ...base,
      source: { ...source([gh('production', '2.0.0', 'SMOKE_SUCCESS')]), canOperate: () => false },
    });
    const key = encodeURIComponent('acme/shop:production/web');
    const page = await (await app.request(`/g/${key}`)).text();
    const csrf = /name="rollgate-csrf" content="([0-9a-f]+)"/.exec(page)![1]!;
    const res = await app.request(`/g/${key}/op/bake`, {
      method: 'POST',
      body: new URLSearchParams({ csrf }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(404);
  });

  it('a problem of a repository is named on the home page and its groups, escaped; the rest stays', async () => {
    const problem: RepoProblem = {
      repo: 'acme/shop',
      kind: 'bad-token',
      message: 'GitHub refused the token (401 Bad credentials): set GITHUB_TOKEN <now>',
      at: 0,
    };
    const { app } = pageApp({
      ...base,
      source: source([gh('production', '2.0.0', 'SUCCESS'), fileGroup()], [problem]),
    });
    const home = await (await app.request('/')).text();
    expect(home).toContain('data-kind="bad-token"');
    expect(home).toContain(
      'GitHub refused the token (401 Bad credentials): set GITHUB_TOKEN &lt;now&gt;',
    );
    expect(home).toContain('data-group="cli-shop"');
    const page = await (
      await app.request(`/g/${encodeURIComponent('acme/shop:production/web')}`)
    ).text();
    expect(page).toContain('data-kind="bad-token"');
    const other = await (await app.request('/g/cli-shop')).text();
    expect(other).not.toContain('data-kind="bad-token"');
  });
});
