/**
 * `reconcile`, F5's honesty about a degraded LB, and the bastion's F3 skip, on the simulated
 * clock with in-memory hosts and LB.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { SimulatedClock } from '../../../src/engine/clock';
import type { ReleaseEvent } from '../../../src/engine/ledger';
import type { Ports, Traffic } from '../../../src/engine/ports';
import { withBreaker } from '../../../src/traffic/breaker';
import { collectStatus } from '../../../src/report/collect';
import { rebuildLedger } from '../../../src/store/record-repair';
import { renderStatus } from '../../../src/report/status';
import { DependencyDownError, LockHeldError, PhaseError } from '../../../src/model/errors';
import type { DeploymentConfig } from '../../../src/model/types';
import {
  FakeFleet,
  FakeTraffic,
  MemoryStore,
  makeConfig,
  makeGroup,
  makeLogger,
  fakePackage,
  releaseThrough,
  onceAppended,
} from '../../support/fakes';

function setup(n: number, over: Partial<DeploymentConfig> = {}) {
  const clock = new SimulatedClock();
  const fleet = new FakeFleet(clock, 100);
  const lb = new FakeTraffic();
  const store = new MemoryStore();
  const logger = makeLogger();
  const group = makeGroup(n);
  const config = makeConfig({ sizing: { kind: 'ratio', maxUnavailable: 0.5 }, ...over });
  const breaker = { failures: 100, attempts: 1, retryDelayMs: 0, halfOpenAfterMs: 0 };
  /** An engine as a fresh process would build it: `degrade` as `--degrade lb`. */
  const engine = (o: { degrade?: boolean; who?: string } = {}) => {
    let e: Engine | null = null;
    const traffic: Traffic = withBreaker(lb, {
      ...breaker,
      logger,
      degraded: o.degrade === true,
      onDegraded: (reason) => e?.recordDegraded(reason),
    });
    const ports: Ports = { transport: fleet, traffic, store, clock, logger };
    e = new Engine(ports, group, config, o.who ?? 'tester', { groupFile: 'web.yml' });
    return { engine: e, ports };
  };
  const pkg = fakePackage;
  const at = (when: (e: ReleaseEvent) => boolean, fn: () => void | Promise<void>) =>
    onceAppended(store, when, fn);
  const ledger = async () => (await store.load(group.name))!;
  const release = (e: Engine, version: string) => releaseThrough(e, version);
  /** The record rebuilt from the log alone equals the saved one (T2), LB notes included. */
  const expectRebuildsSaved = async () => {
    const saved = await ledger();
    delete saved.openRun;
    const rebuilt = rebuildLedger(group.name, await store.events(group.name));
    expect(rebuilt.kind === 'rebuilt' && rebuilt.ledger).toEqual(saved);
  };
  return {
    clock,
    fleet,
    lb,
    store,
    logger,
    group,
    config,
    engine,
    pkg,
    at,
    ledger,
    release,
    expectRebuildsSaved,
  };
}

describe('reconcile: capacity back without a release', () => {
  it('after a hard stop mid-verify: the healthy host goes back in traffic, recorded; nothing else moves', async () => {
    // A 30 s warm-up after the first healthy answer: the hard stop lands in it.
    const s = setup(6, { warmupMs: 30_000 });
    const { engine } = s.engine();
    await s.release(engine, '1.0.0');
    await engine.deploy({ version: '2.0.0', package: s.pkg('2.0.0') });
    await engine.bake();
    s.at(
      (e) => e.target === 'web-02' && e.state === 'VERIFY_RUNNING',
      () => {
        setImmediate(() => engine.abort('SIGTERM'));
      },
    );
    await engine.continue();
    expect(s.lb.state.get('web-02')).toBe('maint');
    expect((await s.ledger()).current!.targets['web-02']!.state).toBe('VERIFY_FAILURE');

    const dry = await s.engine().engine.reconcile({ dryRun: true });
    expect(dry.targets.find((t) => t.id === 'web-02')).toMatchObject({
      action: 'would put back in traffic',
    });
    expect(s.lb.state.get('web-02')).toBe('maint');

    const installs = s.fleet.count('install');
    const r = await s.engine({ who: 'ops' }).engine.reconcile();
    expect(r.ok).toBe(true);
    expect(r.targets.find((t) => t.id === 'web-02')).toMatchObject({
      action: 'put back in traffic',
      state: 'MARKUP_SUCCESS',
    });
    expect(s.lb.state.get('web-02')).toBe('up');
    expect(s.fleet.count('install')).toBe(installs); // never a version change
    const d = (await s.ledger()).current!;
    expect(d.phase).toBe('ABORTED');
    expect(d.targets['web-02']!.state).toBe('MARKUP_SUCCESS');
    const log = await s.store.events('shop');
    expect(
      log.some(
        (e) =>
          e.target === 'web-02' && /^reconcile by ops: back in traffic on 2\.0\.0/.test(e.message),
      ),
    ).toBe(true);
    // web-03, in the same batch, was cut too — mid-verify on 2.0.0, or before its switch (the
    // interleaving of the simulated steps decides): put back in traffic on what it runs.
    expect(s.lb.state.get('web-03')).toBe('up');
    expect(d.targets['web-03']!.state).toBe(
      s.fleet.host('web-03').current === '2.0.0' ? 'MARKUP_SUCCESS' : 'PENDING',
    );
    expect(log.at(-1)!.message).toBe(
      'reconcile by ops: 2 put back or confirmed in traffic, 0 host locks released, 0 left out',
    );
  });

  it('leaves an unhealthy host out with why and the command; the bastion waiting for bake stays out', async () => {
    const s = setup(4);
    const { engine } = s.engine();
    await s.release(engine, '1.0.0');
    await engine.deploy({ version: '2.0.0', package: s.pkg('2.0.0') });
    const r = await s.engine().engine.reconcile();
    const bastion = r.targets.find((t) => t.id === 'web-01')!;
    expect(bastion).toMatchObject({ action: 'left out', command: 'rollgate bake -g web.yml' });
    expect(bastion.why).toMatch(/waiting for its bake/);
    expect(s.lb.state.get('web-01')).toBe('maint');
  });

  it('releases the host locks of deployments that run nowhere; another group’s lock is left', async () => {
    const s = setup(4);
    const { engine } = s.engine();
    await s.release(engine, '1.0.0');
    const old = (await s.ledger()).current!.id;
    s.fleet.host('web-02').lock = { deploymentId: old, who: 'tester' };
    s.fleet.host('web-03').lock = { deploymentId: 'other-20260101T000000-beef', who: 'alice' };
    const r = await s.engine().engine.reconcile();
    expect(r.targets.find((t) => t.id === 'web-02')!.lock!.action).toMatch(/^released \(deploy /);
    expect(r.targets.find((t) => t.id === 'web-03')!.lock!.action).toMatch(/another group/);
    expect(s.fleet.host('web-02').lock).toBeNull();
    expect(s.fleet.host('web-03').lock).not.toBeNull();
  });

  it('reports drift and logs it; never changes a version', async () => {
    const s = setup(4);
    const { engine } = s.engine();
    await s.release(engine, '1.0.0');
    s.fleet.host('web-04').current = '0.9.0';
    const r = await s.engine().engine.reconcile();
    expect(r.targets.find((t) => t.id === 'web-04')!.drift).toMatch(/runs 0\.9\.0/);
    expect((await s.store.events('shop')).some((e) => e.type === 'drift')).toBe(true);
    expect(s.fleet.host('web-04').current).toBe('0.9.0');
  });

  it('is refused while an operation holds the group (exit 5)', async () => {
    const s = setup(4);
    s.store.shared.runLock.set('shop', 'someone running');
    await expect(s.engine().engine.reconcile()).rejects.toBeInstanceOf(LockHeldError);
  });
});

describe('F5 degraded: honest log, hosts with an unknown LB state listed, settled once it answers', () => {
  it('LB lost at markup: the error names `continue --degrade lb`; deploy explains; continue degraded ends listing the hosts', async () => {
    const s = setup(4);
    const first = s.engine();
    await s.release(first.engine, '1.0.0');
    await first.engine.deploy({ version: '2.0.0', package: s.pkg('2.0.0') });
    await first.engine.bake();
    s.at(
      (e) => e.target === 'web-02' && e.state === 'MARKUP_RUNNING',
      () => {
        s.lb.down = true;
      },
    );
    const err = await first.engine.continue().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyDownError);
    expect((err as Error).message).toContain(
      'The release waits in phase ROLLING_OUT: `rollgate continue -g web.yml --degrade lb` goes on without the load balancer',
    );
    let d = (await s.ledger()).current!;
    // Verified, out of traffic, its LB state unknown: not PENDING (that would be a lie).
    expect(d.targets['web-02']!.state).toBe('VERIFY_SUCCESS');
    expect(d.targets['web-02']!.lbUnknown).toBeDefined();
    expect(d.interrupted).toContain('load balancer (fake-lb) is unavailable');
    await s.expectRebuildsSaved();

    // The advice a person follows first: deploy again → explained, not "stop first".
    const again = await s
      .engine({ degrade: true })
      .engine.deploy({ version: '2.0.0', package: s.pkg('2.0.0') })
      .catch((e: unknown) => e);
    expect(again).toBeInstanceOf(PhaseError);
    expect((again as Error).message).toMatch(
      /`rollgate continue -g web\.yml` resumes it \(add --degrade lb to go on without the load balancer, recorded\), or `rollgate stop -g web\.yml` ends it/,
    );

    const r = await s.engine({ degrade: true }).engine.continue();
    expect(r.phase).toBe('SUCCESS');
    expect(r.message).toMatch(/load balancer \(fake-lb\) state unknown for web-02, web-03, web-04/);
    expect(r.message).toContain('`rollgate reconcile -g web.yml`');
    await s.expectRebuildsSaved();
    d = (await s.ledger()).current!;
    const log = (await s.store.events('shop')).filter((e) => e.deployment === d.id);
    // Skipped steps say so; never "out of/back in traffic" for a step that did not happen.
    for (const id of ['web-03', 'web-04']) {
      const lines = log.filter(
        (e) => e.target === id && /^(MARKDOWN|MARKUP)_SUCCESS$/.test(e.state ?? ''),
      );
      expect(lines.length).toBe(2);
      for (const e of lines) expect(e.message).toMatch(/^skipped \(LB degraded\): /);
    }
    expect(
      log.some(
        (e) =>
          e.target === 'web-02' &&
          e.state === 'MARKUP_SUCCESS' &&
          /skipped \(LB degraded\)/.test(e.message),
      ),
    ).toBe(true);

    // status (text and JSON) lists them and names reconcile.
    const st = await collectStatus(s.engine().ports, s.group, 10, { groupFile: 'web.yml' });
    expect(st.release!.lbUnknown).toEqual(['web-02', 'web-03', 'web-04']);
    const w2 = st.targets.find((t) => t.id === 'web-02')!;
    expect(w2.wayBack).toMatchObject({
      action: 'reconcile',
      command: 'rollgate reconcile -g web.yml',
    });
    expect(renderStatus(st)).toMatch(/load balancer state unknown: web-02, web-03, web-04/);

    // The LB comes back, web-02 still in MAINT (it was marked down before the outage).
    s.lb.down = false;
    expect(s.lb.state.get('web-02')).toBe('maint');
    const rec = await s.engine().engine.reconcile();
    expect(rec.targets.find((t) => t.id === 'web-02')!.action).toBe('put back in traffic');
    expect(rec.targets.find((t) => t.id === 'web-03')!.action).toBe('LB note cleared');
    expect(s.lb.state.get('web-02')).toBe('up');
    d = (await s.ledger()).current!;
    expect(Object.values(d.targets).every((t) => t.lbUnknown === undefined)).toBe(true);
    await s.expectRebuildsSaved();
  });

  it('the next operation that reaches the LB puts verified hosts back in (no reconcile needed)', async () => {
    const s = setup(4);
    await s.release(s.engine().engine, '1.0.0');
    const deg = s.engine({ degrade: true }).engine;
    await deg.deploy({ version: '2.0.0', package: s.pkg('2.0.0') });
    await deg.bake();
    s.at(
      (e) => e.target === 'web-02' && e.state === 'MARKUP_RUNNING',
      () => {
        s.lb.down = true;
      },
    );
    const r = await deg.continue();
    expect(r.phase).toBe('SUCCESS');
    expect(s.lb.state.get('web-02')).toBe('maint');
    s.lb.down = false;
    // The next release: its first act is to settle what the record does not know.
    await s.expectRebuildsSaved();
    const next = await s.engine().engine.deploy({ version: '3.0.0', package: s.pkg('3.0.0') });
    expect(next.phase).toBe('SMOKE_SUCCESS');
    expect(s.lb.state.get('web-02')).toBe('up');
    await s.expectRebuildsSaved();
    const log = await s.store.events('shop');
    expect(
      log.some((e) => e.target === 'web-02' && /back in traffic on 2\.0\.0/.test(e.message)),
    ).toBe(true);
  });

  it('F3 does not take an LB that could not answer for "in traffic": the chain runs and says what it skipped', async () => {
    const s = setup(4);
    await s.release(s.engine().engine, '1.0.0');
    s.lb.down = true;
    // Same version again, degraded: nothing may be SKIPPED on an unknown LB state.
    const r = await s.release(s.engine({ degrade: true }).engine, '1.0.0');
    expect(r.phase).toBe('SUCCESS');
    const d = (await s.ledger()).current!;
    expect(Object.values(d.targets).some((t) => t.state === 'SKIPPED')).toBe(false);
  });
});

describe('F3 on the bastion (issue 13, item 6)', () => {
  it('the version a healthy bastion already serves in traffic: SKIPPED, no markdown, straight to BAKE_SUCCESS', async () => {
    const s = setup(4);
    const { engine } = s.engine();
    await s.release(engine, '1.0.0');
    const before = s.lb.calls.length;
    const r = await engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(r).toMatchObject({ status: 'waiting', phase: 'BAKE_SUCCESS' });
    expect(r.deployment.targets['web-01']!.state).toBe('SKIPPED');
    expect(s.lb.calls.slice(before)).toEqual([]);
    // The bake button (a workflow's gate) says so and changes nothing.
    const bake = await engine.bake();
    expect(bake).toMatchObject({ status: 'waiting', phase: 'BAKE_SUCCESS' });
    expect(bake.message).toMatch(/already baked/);
    const done = await engine.continue();
    expect(done.phase).toBe('SUCCESS');
    expect(s.lb.calls.slice(before)).toEqual([]);
  });
});
