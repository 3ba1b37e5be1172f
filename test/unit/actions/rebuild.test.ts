import { describe, expect, it } from 'vitest';
import type { getOctokit } from '@actions/github';
import { GitHubReportingStore } from '../../../src/actions/lib/github-deployments';
import {
  phaseFromStatuses,
  rebuildLedger,
  targetStateFromHost,
  type DeploymentFact,
  type HostFact,
  type PayloadForRebuild,
} from '../../../src/github/rebuild';
import { SimulatedClock } from '../../../src/engine/clock';
import { Engine } from '../../../src/engine/engine';
import type { Ledger } from '../../../src/engine/ledger';
import type { Ports } from '../../../src/engine/ports';
import type { DeploymentConfig } from '../../../src/model/types';
import {
  FakeFleet,
  FakeTraffic,
  MemoryStore,
  makeConfig,
  makeGroup,
  makeLogger,
  fakePackage,
} from '../../support/fakes';

// Issue 12 item 4: a record whose artifact is gone comes back from the GitHub deployments
// (payload + statuses) and host truth. Table-driven on fixtures, and a round trip: the real
// engine releases through GitHubReportingStore into a recording "GitHub", the record is thrown
// away, rebuilt, and the engine goes on from the rebuilt record.

const T0 = Date.UTC(2026, 0, 1);
const s = (state: string, description: string, at = T0) => ({ state, description, createdAt: at });

describe('phaseFromStatuses', () => {
  it.each([
    ['no status yet (deploy)', 'deploy', [], 'SMOKING'],
    ['no status yet (rollback)', 'rollback', [], 'ROLLING_OUT'],
    [
      'bastion chain running',
      'deploy',
      [s('in_progress', 'bastion web-01: chain up to verify')],
      'SMOKING',
    ],
    [
      'waiting for bake',
      'deploy',
      [s('in_progress', 'bastion web-01 verified on 2.0.0 — waiting for bake')],
      'SMOKE_SUCCESS',
    ],
    ['bastion failed', 'deploy', [s('failure', 'bastion failed: retry or stop')], 'SMOKE_FAILURE'],
    [
      'bake failed',
      'deploy',
      [s('failure', 'bake failed: retry the bastion or stop')],
      'SMOKE_FAILURE',
    ],
    [
      'baked',
      'deploy',
      [s('in_progress', 'bastion baked: continue rolls out the other batches')],
      'BAKE_SUCCESS',
    ],
    [
      'a monitor note during the bake watch keeps the phase',
      'deploy',
      [
        s('in_progress', 'bastion baked: continue rolls out the other batches'),
        s('in_progress', 'monitor healthy: 3 checks ok'),
      ],
      'BAKE_SUCCESS',
    ],
    [
      'between batches',
      'deploy',
      [s('in_progress', 'batch 2/4 done in 3 s: 1 ok, 0 failed')],
      'ROLLING_OUT',
    ],
    [
      'braked',
      'deploy',
      [s('in_progress', '1 of 4 targets failed (25%) ≥ max unavailable 25%: continue or stop')],
      'BRAKED',
    ],
    [
      'paused (manual)',
      'deploy',
      [s('in_progress', 'batch 2 done; manual mode: continue for batch 3')],
      'PAUSED',
    ],
    ['released', 'deploy', [s('success', 'released 2.0.0 on every target')], 'SUCCESS'],
    [
      'released, then retired by a newer success',
      'deploy',
      [s('success', 'released 2.0.0 on every target'), s('inactive', '')],
      'SUCCESS',
    ],
    [
      'released, then a degraded monitor verdict (a note, not a phase)',
      'deploy',
      [s('success', 'released 2.0.0 on every target'), s('failure', 'monitor degraded: p99 up')],
      'SUCCESS',
    ],
    ['failed', 'deploy', [s('failure', '1 of 4 targets failed: retry or rollback')], 'FAILURE'],
    ['stopped', 'deploy', [s('error', 'stopped by alice in phase SMOKE_SUCCESS')], 'ABORTED'],
  ] as const)('%s → %s', (_name, kind, statuses, phase) => {
    expect(phaseFromStatuses(kind, statuses).phase).toBe(phase);
  });

  it('a terminal phase ends at its status; a failed bastion has not ended (it waits for a retry)', () => {
    expect(phaseFromStatuses('deploy', [s('success', 'released', T0 + 5)]).endedAt).toBe(T0 + 5);
    expect(
      phaseFromStatuses('deploy', [s('failure', 'bastion failed: retry or stop', T0 + 5)]).endedAt,
    ).toBeUndefined();
  });
});

describe('targetStateFromHost', () => {
  const up = (current: string | null, ok = true, releases = ['1.0.0', '2.0.0']): HostFact => ({
    probe: { current, releases },
    ...(current ? { health: { ok, version: current } } : {}),
  });
  it.each([
    [
      'on the version, healthy (rollout batch)',
      up('2.0.0'),
      'SUCCESS',
      false,
      true,
      'MARKUP_SUCCESS',
    ],
    [
      'bastion verified, waiting for bake',
      up('2.0.0'),
      'SMOKE_SUCCESS',
      true,
      true,
      'VERIFY_SUCCESS',
    ],
    ['bastion after the bake', up('2.0.0'), 'BAKE_SUCCESS', true, true, 'BAKE_SUCCESS'],
    ['batch not run yet', up('1.0.0'), 'ROLLING_OUT', false, false, 'PENDING'],
    ['batch not run yet, stopped', up('1.0.0'), 'ABORTED', false, false, 'PENDING'],
    [
      'batch ran, on the version but unhealthy',
      up('2.0.0', false),
      'BRAKED',
      false,
      true,
      'VERIFY_FAILURE',
    ],
    [
      'batch ran, package there, not current',
      up('1.0.0'),
      'FAILURE',
      false,
      true,
      'INSTALL_FAILURE',
    ],
    [
      'batch ran, package not there',
      up('1.0.0', true, ['1.0.0']),
      'FAILURE',
      false,
      true,
      'DOWNLOAD_FAILURE',
    ],
    ['failed bastion', up('1.0.0'), 'SMOKE_FAILURE', true, true, 'INSTALL_FAILURE'],
    ['released, host changed since', up('1.0.0'), 'SUCCESS', false, true, 'PENDING'],
    ['host unreachable', { error: 'connect ETIMEDOUT' }, 'ROLLING_OUT', false, true, 'PENDING'],
  ] as const)('%s → %s', (_name, fact, phase, bastion, ran, state) => {
    expect(targetStateFromHost(fact, { version: '2.0.0', phase, bastion, ran }).state).toBe(state);
  });

  it('says why in the error when the host could not be asked', () => {
    expect(
      targetStateFromHost(
        { error: 'connect ETIMEDOUT' },
        {
          version: '2.0.0',
          phase: 'SUCCESS',
          bastion: false,
          ran: true,
        },
      ).error,
    ).toMatch(/not reachable when the record was rebuilt: connect ETIMEDOUT/);
  });
});

// ── fixtures ──────────────────────────────────────────────────────────────────────────────────

const config = makeConfig({ sizing: { kind: 'ratio', maxUnavailable: 0.5 } });

function fact(
  n: number,
  p: Partial<PayloadForRebuild> & Pick<PayloadForRebuild, 'version' | 'kind'>,
  statuses: DeploymentFact['statuses'],
): DeploymentFact {
  return {
    githubId: 1000 + n,
    createdAt: T0 + n * 1000,
    creator: 'github-actions[bot]',
    payload: {
      rollgate: 1,
      group: 'shop',
      deployment: `shop-${n}`,
      config: p.kind === 'rollback' ? { ...config, bastionCount: 0 } : config,
      batches: p.kind === 'rollback' ? [['web-01', 'web-02']] : [['web-01'], ['web-02']],
      runId: 100 + n,
      by: `person-${n}`,
      ...p,
    },
    statuses,
  };
}

const hostsOn = (current: string, releases: string[]): Record<string, HostFact> => ({
  'web-01': { probe: { current, releases }, health: { ok: true, version: current } },
  'web-02': { probe: { current, releases }, health: { ok: true, version: current } },
});

describe('rebuildLedger', () => {
  it('nothing released: no current, says so (the only case called a first release)', () => {
    const r = rebuildLedger({ group: 'shop', deployments: [], hosts: {}, now: T0, reason: 'x' });
    expect(r.ledger).toEqual({
      schemaVersion: 1,
      group: 'shop',
      current: null,
      history: [],
      quarantined: {},
    });
    expect(r.warning).toMatch(/first release/);
    expect(r.events).toEqual([]);
  });

  it('history, quarantine and current from deploy 1.0.0, deploy 2.0.0, rollback → 1.0.0', () => {
    const r = rebuildLedger({
      group: 'shop',
      deployments: [
        fact(3, { version: '1.0.0', kind: 'rollback', from: '2.0.0' }, [
          s('success', 'rolled back to 1.0.0', T0 + 3500),
        ]),
        fact(1, { version: '1.0.0', kind: 'deploy' }, [
          s('success', 'released', T0 + 1500),
          s('inactive', ''),
        ]),
        fact(2, { version: '2.0.0', kind: 'deploy' }, [
          s('success', 'released', T0 + 2500),
          s('inactive', ''),
        ]),
      ],
      hosts: hostsOn('1.0.0', ['1.0.0', '2.0.0']),
      now: T0 + 10_000,
      reason: 'its artifact expired',
    });
    expect(r.ledger.history.map((h) => `${h.kind} ${h.version} ${h.outcome} ${h.by}`)).toEqual([
      'rollback 1.0.0 success person-3',
      'deploy 2.0.0 success person-2',
      'deploy 1.0.0 success person-1',
    ]);
    expect(r.ledger.quarantined).toEqual({
      '2.0.0': { reason: 'rolled back to 1.0.0 by person-3', at: T0 + 3000 },
    });
    expect(r.ledger.current).toMatchObject({
      id: 'shop-3',
      kind: 'rollback',
      version: '1.0.0',
      fromVersion: '2.0.0',
      phase: 'SUCCESS',
      outcome: 'success',
      endedAt: T0 + 3500,
      by: 'person-3',
      nextBatch: 1,
    });
    expect(Object.values(r.ledger.current!.targets).map((t) => `${t.id} ${t.state}`)).toEqual([
      'web-01 MARKUP_SUCCESS',
      'web-02 MARKUP_SUCCESS',
    ]);
    expect(r.ids).toEqual({ 'shop-1': 1001, 'shop-2': 1002, 'shop-3': 1003 });
    expect(r.warning).toMatch(
      /^record rebuilt from 3 GitHub deployments and host truth \(its artifact expired\): release 1\.0\.0 \(rollback\) is SUCCESS; its per-target log and step timings are gone$/,
    );
    expect(r.events).toMatchObject([{ type: 'warn', deployment: 'shop-3', message: r.warning }]);
  });

  it('a rollback without `from` (older payloads) quarantines the version of the release before it', () => {
    const r = rebuildLedger({
      group: 'shop',
      deployments: [
        fact(1, { version: '1.0.0', kind: 'deploy' }, [s('success', 'released')]),
        fact(2, { version: '2.0.0', kind: 'deploy' }, [
          s('failure', '1 of 2 targets failed: retry or rollback'),
        ]),
        fact(3, { version: '1.0.0', kind: 'rollback', from: undefined }, [
          s('success', 'rolled back'),
        ]),
      ].map((f) => {
        delete f.payload.from;
        delete f.payload.by;
        return f;
      }),
      hosts: hostsOn('1.0.0', ['1.0.0', '2.0.0']),
      now: T0,
      reason: 'x',
    });
    expect(Object.keys(r.ledger.quarantined)).toEqual(['2.0.0']);
    expect(r.ledger.current?.fromVersion).toBe('2.0.0');
    // Without `by`, the deployment's creator stands in.
    expect(r.ledger.current?.by).toBe('github-actions[bot]');
  });

  it('a successful release no longer kept on the hosts is left out as a rollback target, and named', () => {
    const r = rebuildLedger({
      group: 'shop',
      deployments: [
        fact(1, { version: '0.9.0', kind: 'deploy' }, [s('success', 'released')]),
        fact(2, { version: '1.0.0', kind: 'deploy' }, [s('success', 'released')]),
        fact(3, { version: '2.0.0', kind: 'deploy' }, [s('success', 'released')]),
      ],
      hosts: hostsOn('2.0.0', ['1.0.0', '2.0.0']),
      now: T0,
      reason: 'x',
    });
    expect(r.ledger.history.map((h) => h.version)).toEqual(['2.0.0', '1.0.0']);
    expect(r.warning).toMatch(
      /left out as rollback targets \(no longer kept on the hosts\): 0\.9\.0$/,
    );
  });

  it("only this group's rollgate deployments count", () => {
    const other = fact(2, { version: '9.9.9', kind: 'deploy', group: 'cart' }, [s('success', 'x')]);
    const foreign = {
      ...fact(3, { version: '8.8.8', kind: 'deploy' }, []),
      payload: {} as PayloadForRebuild,
    };
    const r = rebuildLedger({
      group: 'shop',
      deployments: [
        fact(1, { version: '1.0.0', kind: 'deploy' }, [s('success', 'x')]),
        other,
        foreign,
      ],
      hosts: hostsOn('1.0.0', ['1.0.0']),
      now: T0,
      reason: 'x',
    });
    expect(r.ledger.history.map((h) => h.version)).toEqual(['1.0.0']);
    expect(r.ledger.current?.version).toBe('1.0.0');
  });
});

// ── round trip through the real engine ────────────────────────────────────────────────────────

/** A "GitHub" that keeps what GitHubReportingStore posts, as the deployments REST API would. */
function recordingGitHub() {
  const deployments: DeploymentFact[] = [];
  let clock = T0;
  const octokit = {
    rest: {
      repos: {
        createDeployment: async (p: { payload: PayloadForRebuild }) => {
          const id = 5000 + deployments.length;
          deployments.push({
            githubId: id,
            createdAt: ++clock,
            creator: 'bot',
            payload: p.payload,
            statuses: [],
          });
          return { status: 201, data: { id } };
        },
        createDeploymentStatus: async (p: {
          deployment_id: number;
          state: string;
          description: string;
        }) => {
          const d = deployments.find((x) => x.githubId === p.deployment_id)!;
          d.statuses.push({ state: p.state, description: p.description, createdAt: ++clock });
          return { status: 201, data: {} };
        },
      },
    },
  } as unknown as ReturnType<typeof getOctokit>;
  return { deployments, octokit };
}

function world(n: number, over: Partial<DeploymentConfig> = {}) {
  const clock = new SimulatedClock();
  const fleet = new FakeFleet(clock, 10);
  const traffic = new FakeTraffic();
  const gh = recordingGitHub();
  const group = makeGroup(n);
  const cfg = makeConfig({ sizing: { kind: 'ratio', maxUnavailable: 0.25 }, ...over });
  const open = (store: MemoryStore) => {
    const reporting = new GitHubReportingStore(store, gh.octokit, {
      owner: 'acme',
      repo: 'shop',
      environment: 'production/shop',
      ref: 'main',
      runId: 7,
      logUrl: 'https://github.com/acme/shop/actions/runs/7',
      warn: () => undefined,
    });
    const ports: Ports = {
      transport: fleet,
      traffic,
      store: reporting,
      clock,
      logger: makeLogger(),
    };
    return { engine: new Engine(ports, group, cfg, 'alice'), reporting };
  };
  const first = new MemoryStore();
  const { engine } = open(first);
  const pkg = fakePackage;
  const hosts = async (): Promise<Record<string, HostFact>> => {
    const out: Record<string, HostFact> = {};
    for (const t of group.targets) {
      const probe = await fleet.probe(t);
      const h = await fleet.health(t);
      out[t.id] = { probe, health: { ok: h.ok, ...(h.version ? { version: h.version } : {}) } };
    }
    return out;
  };
  /** The artifact is gone: a new store holding only what the rebuild gives, and an engine on it. */
  const rebuilt = async () => {
    const r = rebuildLedger({
      group: group.name,
      deployments: gh.deployments,
      hosts: await hosts(),
      now: clock.now(),
      reason: 'test',
    });
    const store = new MemoryStore();
    if (r.ledger.current?.kind === 'deploy')
      r.ledger.current.package = pkg(r.ledger.current.version);
    await store.save(r.ledger);
    const next = open(store);
    for (const [k, v] of Object.entries(r.ids)) next.reporting.ids.set(k, v);
    return { r, store, engine: next.engine };
  };
  const original = async () => (await first.load(group.name)) as Ledger;
  return { fleet, engine, pkg, rebuilt, original, gh };
}

const brief = (l: Ledger) => ({
  history: l.history.map((h) => ({
    id: h.id,
    kind: h.kind,
    version: h.version,
    outcome: h.outcome,
    by: h.by,
  })),
  quarantined: Object.keys(l.quarantined),
  current: l.current && {
    id: l.current.id,
    kind: l.current.kind,
    version: l.current.version,
    fromVersion: l.current.fromVersion,
    phase: l.current.phase,
    nextBatch: l.current.nextBatch,
  },
});

describe('round trip: engine → GitHub deployments → rebuild → engine', () => {
  it("after releases and a rollback the rebuilt record equals the engine's (what it keeps of it)", async () => {
    const w = world(4);
    for (const v of ['1.0.0', '2.0.0']) {
      await w.engine.deploy({ version: v, package: w.pkg(v) });
      await w.engine.bake();
      await w.engine.continue();
    }
    await w.engine.rollback();
    const { r } = await w.rebuilt();
    expect(brief(r.ledger)).toEqual(brief(await w.original()));
  });

  it.each([
    ['waiting for bake', 'SMOKE_SUCCESS', {}],
    ['baked, waiting for continue', 'BAKE_SUCCESS', {}],
    ['paused between batches (manual)', 'PAUSED', { manual: true }],
  ] as const)(
    '%s: rebuilt %s, and the engine finishes the release from it',
    async (_n, phase, over) => {
      const w = world(4, over);
      await w.engine.deploy({ version: '1.0.0', package: w.pkg('1.0.0') });
      if (phase !== 'SMOKE_SUCCESS') await w.engine.bake();
      if (phase === 'PAUSED') await w.engine.continue();
      const before = await w.original();
      expect(before.current!.phase).toBe(phase);
      const { r, engine, store } = await w.rebuilt();
      expect(brief(r.ledger)).toEqual(brief(before));
      expect(Object.values(r.ledger.current!.targets).map((t) => `${t.id} ${t.state}`)).toEqual(
        Object.values(before.current!.targets).map((t) => `${t.id} ${t.state}`),
      );
      if (phase === 'SMOKE_SUCCESS') await engine.bake();
      let res = await engine.continue();
      while (res.phase === 'PAUSED') res = await engine.continue();
      expect(res.phase).toBe('SUCCESS');
      const after = (await store.load('shop'))!;
      expect(after.history.map((h) => `${h.version} ${h.outcome}`)).toEqual(['1.0.0 success']);
      for (const id of ['web-01', 'web-02', 'web-03', 'web-04'])
        expect(w.fleet.host(id).current).toBe('1.0.0');
    },
  );

  it('braked: rebuilt BRAKED with the failed target failed; continue goes on', async () => {
    const w = world(4);
    await w.engine.deploy({ version: '1.0.0', package: w.pkg('1.0.0') });
    await w.engine.bake();
    w.fleet.failures.set('web-02', { op: 'install', times: 1 });
    const res = await w.engine.continue();
    expect(res.phase).toBe('BRAKED');
    const { r, engine } = await w.rebuilt();
    expect(brief(r.ledger)).toEqual(brief(await w.original()));
    const again = await engine.continue();
    expect(again.phase).toBe('FAILURE');
    const retried = await engine.retry();
    expect(retried.phase).toBe('SUCCESS');
  });

  it('failed: rebuilt FAILURE, the failed target failed, and retry re-runs only it', async () => {
    const w = world(4, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    await w.engine.deploy({ version: '1.0.0', package: w.pkg('1.0.0') });
    await w.engine.bake();
    w.fleet.failures.set('web-03', { op: 'download', times: 2 });
    expect((await w.engine.continue()).phase).toBe('FAILURE');
    const { r, engine } = await w.rebuilt();
    expect(brief(r.ledger)).toEqual(brief(await w.original()));
    expect(r.ledger.current!.targets['web-03']!.state).toMatch(/_FAILURE$/);
    expect(
      Object.values(r.ledger.current!.targets)
        .filter((t) => t.state.endsWith('_FAILURE'))
        .map((t) => t.id),
    ).toEqual(['web-03']);
    const installsBefore = w.fleet.count('install');
    expect((await engine.retry()).phase).toBe('SUCCESS');
    expect(w.fleet.count('install') - installsBefore).toBe(1);
  });

  it('stopped: rebuilt ABORTED; a rollback from it returns to the last good version', async () => {
    const w = world(4);
    await w.engine.deploy({ version: '1.0.0', package: w.pkg('1.0.0') });
    await w.engine.bake();
    await w.engine.continue();
    await w.engine.deploy({ version: '2.0.0', package: w.pkg('2.0.0') });
    await w.engine.stop();
    const { r, engine } = await w.rebuilt();
    expect(brief(r.ledger)).toEqual(brief(await w.original()));
    const rb = await engine.rollback();
    expect(rb).toMatchObject({
      phase: 'SUCCESS',
      deployment: { version: '1.0.0', fromVersion: '2.0.0' },
    });
    expect(w.fleet.host('web-01').current).toBe('1.0.0');
  });
});
