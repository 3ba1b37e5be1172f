/**
 * Stop (U4) on the simulated clock: a soft stop starts nothing and takes nothing out of traffic,
 * a target already out finishes its chain; a hard stop cuts every wait and remote command at
 * once and records the step interrupted. After each: every target serves, or `judgeTarget`
 * lists it with why and one command.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { rollbackTarget } from '../../../src/engine/phases';
import { SimulatedClock } from '../../../src/engine/clock';
import type { ReleaseEvent } from '../../../src/engine/ledger';
import { judgeTarget } from '../../../src/engine/way-back';
import { AbortedError, LockHeldError, PhaseError } from '../../../src/model/errors';
import type { DeploymentConfig } from '../../../src/model/types';
import { makeConfig, makeGroup, fakePackage, onceAppended, fakePorts } from '../../support/fakes';

function setup(n: number, over: Partial<DeploymentConfig> = {}) {
  const clock = new SimulatedClock();
  const { fleet, traffic, store, logger, ports } = fakePorts(clock);
  const group = makeGroup(n);
  const config = makeConfig({ sizing: { kind: 'ratio', maxUnavailable: 0.5 }, ...over });
  const engine = new Engine(ports, group, config, 'tester', { groupFile: 'web.yml' });
  const pkg = fakePackage;
  const at = (when: (e: ReleaseEvent) => boolean, fn: () => void | Promise<void>) =>
    onceAppended(store, when, fn);
  const ledger = async () => (await store.load(group.name))!;
  /** Released 1.0.0 everywhere, then 2.0.0 deployed and baked. */
  const baked = async () => {
    await engine.deploy({ version: '1.0.0', package: pkg('1.0.0') });
    await engine.bake();
    await engine.continue();
    await engine.deploy({ version: '2.0.0', package: pkg('2.0.0') });
    await engine.bake();
  };
  return {
    clock,
    fleet,
    traffic,
    store,
    logger,
    engine,
    group,
    config,
    pkg,
    at,
    ledger,
    baked,
    ports,
  };
}

type S = ReturnType<typeof setup>;

/** THE INVARIANT on fakes: every target serves, or is listed with why and one command. */
async function expectEveryTargetServesOrListed(s: S) {
  const ledger = await s.ledger();
  const d = ledger.current!;
  const facts = {
    phase: d.phase,
    kind: d.kind,
    version: d.version,
    fromVersion: d.fromVersion,
    processGone: false,
    rollbackTo: rollbackTarget(ledger)?.version ?? null,
  };
  const problems: string[] = [];
  for (const t of s.group.targets) {
    const h = s.fleet.host(t.id);
    const health = await s.fleet.health(t);
    const rec = d.targets[t.id] ?? null;
    const j = judgeTarget(
      facts,
      {
        id: t.id,
        pulledOut: false,
        bastion: rec !== null && d.batches[rec.batch]!.bastion,
        record: rec,
      },
      {
        current: h.current,
        healthy: health.ok,
        ...(health.version ? { healthVersion: health.version } : {}),
        traffic: s.traffic.state.get(t.id) ?? 'up',
      },
    );
    if (j.kind === 'serving') continue;
    if (j.kind === 'out' && j.why && j.command) continue;
    if (j.kind === 'restore') continue; // listed: reconcile puts it back
    problems.push(`${t.id}: ${JSON.stringify(j)}`);
  }
  for (const [id, h] of s.fleet.hosts) {
    if (h.lock) problems.push(`${id}: lock of ${h.lock.deploymentId} outlived the operation`);
  }
  expect(problems).toEqual([]);
}

describe('soft stop: stop starting things (U4)', () => {
  it.each([
    // The stop arrives while web-02 (batch 2) is still in traffic: it is not taken out.
    { at: 'DOWNLOAD_RUNNING', web02: 'DOWNLOAD_SUCCESS', lb: 'up', current: '1.0.0' },
    // Out of traffic already: its chain finishes, it is back in on the new version.
    { at: 'MARKDOWN_RUNNING', web02: 'MARKUP_SUCCESS', lb: 'up', current: '2.0.0' },
    { at: 'INSTALL_RUNNING', web02: 'MARKUP_SUCCESS', lb: 'up', current: '2.0.0' },
    { at: 'VERIFY_RUNNING', web02: 'MARKUP_SUCCESS', lb: 'up', current: '2.0.0' },
  ])(
    'stop at web-02 $at → web-02 $web02, in traffic on $current; batch 3 not started',
    async (c) => {
      const s = setup(6);
      await s.baked();
      s.at(
        (e) => e.target === 'web-02' && e.state === c.at,
        () => s.engine.requestStop('operator (Ctrl-C)'),
      );
      const r = await s.engine.continue();
      expect(r).toMatchObject({ status: 'aborted', phase: 'ABORTED' });
      const d = (await s.ledger()).current!;
      expect(d.targets['web-02']!.state).toBe(c.web02);
      expect(s.traffic.state.get('web-02') ?? 'up').toBe(c.lb);
      expect(s.fleet.host('web-02').current).toBe(c.current);
      // Batch 3 (web-04, web-05) never started: PENDING, untouched, in traffic on 1.0.0.
      for (const id of ['web-04', 'web-05', 'web-06']) {
        expect(d.targets[id]!.state).toBe('PENDING');
        expect(s.fleet.host(id).current).toBe('1.0.0');
      }
      expect(d.stop).toEqual({ by: 'operator (Ctrl-C)', hard: false });
      await expectEveryTargetServesOrListed(s);
    },
  );

  it('the batch line says "not started", never "ok", for targets that did not run', async () => {
    const s = setup(6);
    await s.baked();
    s.at(
      (e) => e.target === 'web-02' && e.state === 'DOWNLOAD_RUNNING',
      () => s.engine.requestStop('operator'),
    );
    await s.engine.continue();
    const lines = (await s.store.events('shop')).map((e) => e.message);
    const line = lines.find((l) => /^batch 2\/\d+ done in .* \(stopped\)/.test(l));
    expect(line, lines.join('\n')).toMatch(/: 0 ok, 0 failed, 2 not started$/);
  });

  it('a stop during the wait between batches ends the wait at once (no 10 minutes of waiting)', async () => {
    const s = setup(6, { waitBetweenBatchesMs: 600_000 });
    await s.baked();
    const t0 = s.clock.now();
    s.at(
      (e) => e.type === 'wait',
      () => s.engine.requestStop('operator'),
    );
    const r = await s.engine.continue();
    expect(r.phase).toBe('ABORTED');
    expect(s.clock.now() - t0).toBeLessThan(600_000);
  });

  it('`rollgate stop` from another shell during the wait is seen within a second of waiting', async () => {
    const s = setup(6, { waitBetweenBatchesMs: 600_000 });
    await s.baked();
    let asked = 0;
    s.at(
      (e) => e.type === 'wait',
      async () => {
        asked = s.clock.now();
        await s.store.requestStop('shop', 'other shell');
      },
    );
    const r = await s.engine.continue();
    expect(r.phase).toBe('ABORTED');
    expect(s.clock.now() - asked).toBeLessThanOrEqual(1_000);
    expect((await s.ledger()).current!.stop!.by).toBe('other shell');
  });

  it('the bastion already out of traffic finishes at VERIFY_SUCCESS; the release ends ABORTED', async () => {
    const s = setup(4);
    s.at(
      (e) => e.target === 'web-01' && e.state === 'INSTALL_RUNNING',
      () => s.engine.requestStop('operator'),
    );
    const r = await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(r.phase).toBe('ABORTED');
    expect((await s.ledger()).current!.targets['web-01']!.state).toBe('VERIFY_SUCCESS');
  });
});

describe('hard stop: every wait and remote command cut at once', () => {
  it('mid-verify of an app that never gets healthy (10 min start timeout): ABORTED at once, VERIFY_FAILURE interrupted', async () => {
    const s = setup(6, { startTimeoutMs: 600_000, verifyIntervalMs: 1000 });
    await s.baked();
    s.fleet.broken.add('2.0.0');
    let t0 = 0;
    s.at(
      (e) => e.target === 'web-02' && e.state === 'VERIFY_RUNNING',
      () => {
        t0 = s.clock.now();
        setImmediate(() => s.engine.abort('operator (Ctrl-C twice)'));
      },
    );
    const r = await s.engine.continue();
    expect(r).toMatchObject({ status: 'aborted', phase: 'ABORTED' });
    expect(s.clock.now() - t0).toBeLessThan(5_000);
    const d = (await s.ledger()).current!;
    expect(d.targets['web-02']!.state).toBe('VERIFY_FAILURE');
    expect(d.targets['web-02']!.error).toMatch(
      /^verify interrupted by a hard stop \(operator \(Ctrl-C twice\)\): host truth decides on the next operation$/,
    );
    expect(d.stop).toEqual({ by: 'operator (Ctrl-C twice)', hard: true });
    expect(r.message).toContain('`rollgate reconcile -g web.yml`');
    await expectEveryTargetServesOrListed(s);
  });

  it('mid-install: the install is cut (its signal aborted), INSTALL_FAILURE interrupted', async () => {
    const s = setup(6);
    await s.baked();
    let seen: AbortSignal | undefined;
    const install = s.fleet.install.bind(s.fleet);
    s.fleet.install = (t, v, signal) => {
      if (t.id === 'web-02') seen = signal;
      return install(t, v, signal);
    };
    s.at(
      (e) => e.target === 'web-02' && e.state === 'INSTALL_RUNNING',
      () => {
        setImmediate(() => s.engine.abort('SIGTERM'));
      },
    );
    const r = await s.engine.continue();
    expect(r.phase).toBe('ABORTED');
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBeInstanceOf(AbortedError);
    const d = (await s.ledger()).current!;
    expect(d.targets['web-02']!.state).toBe('INSTALL_FAILURE');
    await expectEveryTargetServesOrListed(s);
  });

  it('during a 10-minute wait between batches: ABORTED without waiting', async () => {
    const s = setup(6, { waitBetweenBatchesMs: 600_000 });
    await s.baked();
    const t0 = s.clock.now();
    s.at(
      (e) => e.type === 'wait',
      () => s.engine.abort('SIGTERM'),
    );
    const r = await s.engine.continue();
    expect(r.phase).toBe('ABORTED');
    expect(s.clock.now() - t0).toBeLessThan(1_000);
  });

  it('cuts the package copy staged on the next batch too (the operation does not wait for it)', async () => {
    const s = setup(6);
    await s.baked();
    const download = s.fleet.download.bind(s.fleet);
    s.fleet.download = async (t, pkg, signal) => {
      // Batch 3's staged copy: ten minutes of a slow link.
      if (t.id === 'web-04') await s.clock.sleep(600_000, signal);
      return download(t, pkg, signal);
    };
    const t0 = s.clock.now();
    s.at(
      (e) => e.target === 'web-02' && e.state === 'VERIFY_RUNNING',
      () => {
        setImmediate(() => s.engine.abort('SIGTERM'));
      },
    );
    const r = await s.engine.continue();
    expect(r.phase).toBe('ABORTED');
    expect(s.clock.now() - t0).toBeLessThan(60_000);
  });

  it('a hard stop asked before the operation starts ends it before any target starts', async () => {
    const s = setup(4);
    s.engine.abort('SIGTERM');
    const r = await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(r.phase).toBe('ABORTED');
    expect((await s.ledger()).current!.targets['web-01']!.state).toBe('PENDING');
    expect(s.fleet.count('install')).toBe(0);
  });
});

describe('SimulatedClock.sleep with a signal', () => {
  it('rejects with the reason and leaves the queue (time does not jump to it)', async () => {
    const c = new SimulatedClock(0);
    const ctl = new AbortController();
    const long = c.sleep(60_000, ctl.signal);
    const short = c.sleep(10);
    ctl.abort(new AbortedError('hard stop'));
    await expect(long).rejects.toThrow('hard stop');
    await short;
    expect(c.now()).toBe(10);
  });
});

describe('host locks: no lock outlives the release that took it', () => {
  it('stop after a killed run releases the host locks the aborted release holds', async () => {
    const s = setup(6);
    await s.baked();
    // "kill -9" mid-install of batch 2: an install that never returns, then another process.
    s.fleet.onInstall = (t) => (t.id === 'web-02' ? new Promise<void>(() => undefined) : undefined);
    void s.engine.continue();
    await new Promise((r) => setTimeout(r, 50));
    const id = (await s.ledger()).current!.id;
    expect(s.fleet.host('web-02').lock?.deploymentId).toBe(id);
    s.store.shared.runLock.clear();
    const other = new Engine(s.ports, s.group, s.config, 'second shell', { groupFile: 'web.yml' });
    const r = await other.stop();
    expect(r!.phase).toBe('ABORTED');
    const d = (await s.ledger()).current!;
    expect(d.targets['web-02']!.state).toBe('INSTALL_FAILURE');
    expect(d.targets['web-02']!.error).toMatch(
      /install interrupted: the process running it is gone/,
    );
    for (const [hid, h] of s.fleet.hosts) expect(h.lock, hid).toBeNull();
    expect(
      (await s.store.events('shop')).some((e) => e.type === 'lock' && /web-02/.test(e.message)),
    ).toBe(true);
  });

  it('a new release takes over a host lock of an ABORTED release of the group, with a warning naming it', async () => {
    const s = setup(4);
    await s.baked();
    const aborted = (await s.ledger()).current!.id;
    await s.engine.stop();
    // An older rollgate left the lock behind (before stop released locks).
    s.fleet.host('web-03').lock = { deploymentId: aborted, who: 'tester' };
    const r = await s.engine.deploy({ version: '3.0.0', package: s.pkg('3.0.0') });
    expect(r.phase).toBe('SMOKE_SUCCESS');
    await s.engine.bake();
    const done = await s.engine.continue();
    expect(done.phase).toBe('SUCCESS');
    const warn = (await s.store.events('shop')).find(
      (e) => e.type === 'lock' && e.target === 'web-03',
    );
    expect(warn?.message).toContain(`took over the lock of deploy ${aborted} of 2.0.0 (ABORTED)`);
    expect(warn?.level).toBe('warn');
  });

  it('a lock of another group’s deployment is still refused (it may be running)', async () => {
    const s = setup(4);
    await s.baked();
    s.fleet.host('web-03').lock = { deploymentId: 'other-20260101T000000-beef', who: 'alice' };
    const err = await s.engine.continue().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as LockHeldError).deploymentId).toBe('other-20260101T000000-beef');
  });
});

describe('deploy over an interrupted release (issue 13, item 2)', () => {
  it('a running phase whose process is gone names continue and stop', async () => {
    const s = setup(4);
    s.fleet.onInstall = (t) => (t.id === 'web-01' ? new Promise<void>(() => undefined) : undefined);
    void s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await new Promise((r) => setTimeout(r, 50));
    s.store.shared.runLock.clear();
    const other = new Engine(s.ports, s.group, s.config, 'second', { groupFile: 'web.yml' });
    const err = await other
      .deploy({ version: '1.0.0', package: s.pkg('1.0.0') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PhaseError);
    expect((err as Error).message).toMatch(
      /was interrupted in phase SMOKING; the process that ran it is gone\. `rollgate continue -g web\.yml` resumes it, or `rollgate stop -g web\.yml` ends it$/,
    );
  });
});
