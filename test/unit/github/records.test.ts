import { describe, expect, it } from 'vitest';
import {
  environmentColumn,
  factOf,
  groupsOf,
  ledgerOf,
  operationLinks,
  runUrlOf,
  webUrlOf,
  type DeploymentJson,
  type StatusJson,
} from '../../../src/github/records';
import type { PayloadForRebuild } from '../../../src/github/rebuild';
import type { Ledger } from '../../../src/engine/ledger';
import type { DeploymentConfig } from '../../../src/model/types';
import { groupView } from '../../../src/app/fleet-view';

const CONFIG: DeploymentConfig = {
  sizing: { maxUnavailable: 0.5 },
  bastionCount: 1,
  waitBetweenBatchesMs: 0,
  manual: false,
  startTimeoutMs: 5000,
  verifyIntervalMs: 50,
} as DeploymentConfig;

function payload(over: Partial<PayloadForRebuild> = {}): PayloadForRebuild {
  return {
    rollgate: 1,
    group: 'web',
    deployment: 'd1',
    version: '1.0.0',
    kind: 'deploy',
    config: CONFIG,
    batches: [['web-01'], ['web-02', 'web-03']],
    runId: 401,
    by: 'alice',
    from: null,
    ...over,
  };
}

let nextId = 1000;
function dep(env: string, p: unknown, at: string): DeploymentJson {
  return {
    id: nextId++,
    environment: env,
    created_at: at,
    updated_at: at,
    creator: { login: 'github-actions[bot]' },
    payload: p,
  };
}

const status = (state: string, description: string, at: string, log = ''): StatusJson => ({
  state,
  description,
  created_at: at,
  log_url: log,
});

describe('environmentColumn: the home page column of a deployment environment', () => {
  it.each([
    ['production/web', 'web', 'production'],
    ['staging/eu/web', 'web', 'staging/eu'],
    ['production', 'web', 'production'],
    ['web', 'web', 'web'],
    ['production/web-api', 'web', 'production/web-api'],
  ])('%s of group %s → %s', (env, group, column) => {
    expect(environmentColumn(env, group)).toBe(column);
  });
});

describe('groupsOf: rollgate deployments by group and environment', () => {
  it('keeps rollgate payloads only, one group per deployment environment, newest first', () => {
    const a = dep('production/web', payload({ deployment: 'd1' }), '2026-12-01T10:00:00Z');
    const b = dep('production/web', payload({ deployment: 'd2' }), '2026-12-02T10:00:00Z');
    const c = dep(
      'staging/web',
      JSON.stringify(payload({ deployment: 'd3' })),
      '2026-12-01T09:00:00Z',
    );
    const other = dep('production', { something: 'else' }, '2026-12-03T10:00:00Z');
    const text = dep('production', 'not json', '2026-12-03T10:00:00Z');
    const groups = groupsOf('acme/shop', [a, other, c, b, text]);
    expect(groups.map((g) => [g.key, g.group, g.environment])).toEqual([
      ['acme/shop:production/web', 'web', 'production'],
      ['acme/shop:staging/web', 'web', 'staging'],
    ]);
    expect(groups[0]!.deployments.map((d) => d.payload.deployment)).toEqual(['d2', 'd1']);
  });
});

describe('webUrlOf and runUrlOf: where a person reviews the run', () => {
  it.each([
    ['https://api.github.com', 'https://github.com'],
    ['https://ghe.example.com/api/v3', 'https://ghe.example.com'],
    ['https://api.acme.ghe.com', 'https://acme.ghe.com'],
    ['http://127.0.21.5:21001', 'http://127.0.21.5:21001'],
  ])('%s → %s', (api, web) => expect(webUrlOf(api)).toBe(web));

  const web = { webUrl: 'https://github.com', repo: 'acme/shop' };
  it.each([
    [
      'the newest status with a run log_url',
      [
        status(
          'in_progress',
          'b',
          '2026-12-01T10:05:00Z',
          'https://github.com/acme/shop/actions/runs/502',
        ),
        status(
          'in_progress',
          'a',
          '2026-12-01T10:00:00Z',
          'https://github.com/acme/shop/actions/runs/401',
        ),
      ],
      'https://github.com/acme/shop/actions/runs/502',
    ],
    [
      'a status without a run link: the payload run',
      [status('in_progress', 'a', '2026-12-01T10:00:00Z', 'https://example.com/log')],
      'https://github.com/acme/shop/actions/runs/401',
    ],
    ['no status yet: the payload run', [], 'https://github.com/acme/shop/actions/runs/401'],
  ])('%s', (_n, statuses, url) => {
    expect(runUrlOf(statuses, payload(), web)).toBe(url);
  });
  it('no run known: none', () => {
    expect(runUrlOf([], payload({ runId: 0 }), web)).toBeNull();
  });
});

describe('operationLinks: the phase buttons as links to GitHub', () => {
  const where = {
    runUrl: 'https://gh/acme/shop/actions/runs/7',
    operateUrl: 'https://gh/acme/shop/actions/workflows/operate.yml',
  };
  it.each([
    [
      ['bake', 'stop'],
      [
        ['bake', where.runUrl],
        ['stop', where.operateUrl],
      ],
    ],
    [
      ['continue', 'stop'],
      [
        ['continue', where.runUrl],
        ['stop', where.operateUrl],
      ],
    ],
    [
      ['retry', 'rollback'],
      [
        ['retry', where.operateUrl],
        ['rollback', where.operateUrl],
      ],
    ],
    [['rollback'], [['rollback', where.operateUrl]]],
    [[], []],
    [
      ['bake', 'stop', 'rollback'],
      [
        ['bake', where.runUrl],
        ['stop', where.operateUrl],
      ],
    ],
  ])('%j', (buttons, links) => {
    expect(operationLinks(buttons, where).map((l) => [l.op, l.href])).toEqual(links);
  });
  it('without a run to review, bake goes to the operate workflow', () => {
    expect(operationLinks(['bake'], { ...where, runUrl: null })[0]!.href).toBe(where.operateUrl);
  });
});

describe('ledgerOf: the artifact when it knows the newest release, else the deployments', () => {
  const d1 = dep('production/web', payload({ deployment: 'd1' }), '2026-12-01T10:00:00Z');
  const d2 = dep(
    'production/web',
    payload({ deployment: 'd2', version: '2.0.0', from: '1.0.0' }),
    '2026-12-02T10:00:00Z',
  );
  const [g] = groupsOf('acme/shop', [d1, d2]);
  const facts = [
    factOf(g!.deployments[0]!, [status('success', 'released 2.0.0', '2026-12-02T10:09:00Z')]),
    factOf(g!.deployments[1]!, [status('success', 'released 1.0.0', '2026-12-01T10:09:00Z')]),
  ];
  const artifactLedger = (id: string): Ledger =>
    ({
      schemaVersion: 1,
      group: 'web',
      current: { id } as Ledger['current'],
      history: [],
      quarantined: {},
    }) as Ledger;

  it('an artifact of the newest release is the record', () => {
    const r = ledgerOf(
      g!,
      facts,
      { name: 'rollgate-web-a1-roll-1', ledger: artifactLedger('d2'), events: [] },
      0,
    );
    expect(r.source).toBe('artifact rollgate-web-a1-roll-1');
    expect(r.ledger!.current!.id).toBe('d2');
  });

  it.each([
    [
      'an artifact that predates the newest release',
      { name: 'old', ledger: artifactLedger('d1'), events: [] },
      /predates release d2/,
    ],
    ['no artifact left', null, /no record artifact of run 401 is left/],
  ])('%s: rebuilt from the deployments, said in the log', (_n, record, why) => {
    const r = ledgerOf(g!, facts, record, Date.parse('2026-12-03T00:00:00Z'));
    expect(r.source).toBe('deployments');
    expect(r.ledger!.current).toMatchObject({ id: 'd2', version: '2.0.0', phase: 'SUCCESS' });
    expect(r.ledger!.history.map((h) => h.version)).toEqual(['2.0.0', '1.0.0']);
    expect(r.events[0]!.message).toMatch(why);
    // A success status says every target was released: the page shows them on 2.0.0.
    const v = groupView({ name: g!.key, group: 'web', ledger: r.ledger, events: r.events });
    expect(v.targets.map((t) => [t.id, t.version, t.error])).toEqual([
      ['web-01', '2.0.0', undefined],
      ['web-02', '2.0.0', undefined],
      ['web-03', '2.0.0', undefined],
    ]);
    expect(v.version).toBe('2.0.0');
  });
});
