import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { SimulatedClock } from '../../../src/engine/clock';
import type { DeploymentConfig, Group } from '../../../src/model/types';
import { LockHeldError, PhaseError } from '../../../src/model/errors';
import { summarizeRelease } from '../../../src/report/status';
import { makeConfig, makeGroup, fakePackage, releaseThrough, fakePorts } from '../../support/fakes';

function setup(n: number, over: Partial<DeploymentConfig> = {}, group: Group = makeGroup(n)) {
  const clock = new SimulatedClock();
  const { fleet, traffic, store, logger, ports } = fakePorts(clock);
  const config = makeConfig(over);
  const engine = new Engine(ports, group, config, 'tester');
  const pkg = fakePackage;
  const release = (version: string) => releaseThrough(engine, version);
  const ledger = async () => (await store.load(group.name))!;
  return {
    clock,
    fleet,
    traffic,
    store,
    logger,
    engine,
    config,
    group,
    pkg,
    release,
    ledger,
    ports,
  };
}

describe('Engine — a release, bastion first (M4, S1–S4)', () => {
  it('deploy stops at VERIFY_SUCCESS with the bastion out of traffic; bake and continue finish it', async () => {
    const s = setup(6, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    const r1 = await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(r1).toMatchObject({ status: 'waiting', phase: 'SMOKE_SUCCESS' });
    const d1 = (await s.ledger()).current!;
    expect(d1.targets['web-01']!.state).toBe('VERIFY_SUCCESS');
    expect(Object.values(d1.targets).filter((t) => t.state === 'PENDING')).toHaveLength(5);
    expect(s.traffic.state.get('web-01')).toBe('maint'); // S4: not marked up
    expect(s.fleet.host('web-02').current).toBeNull(); // no other batch started

    const r2 = await s.engine.bake();
    expect(r2).toMatchObject({ status: 'waiting', phase: 'BAKE_SUCCESS' });
    expect((await s.ledger()).current!.targets['web-01']!.state).toBe('BAKE_SUCCESS');
    expect(s.traffic.state.get('web-01')).toBe('up');

    const r3 = await s.engine.continue();
    expect(r3).toMatchObject({ status: 'success', phase: 'SUCCESS' });
    const d3 = (await s.ledger()).current!;
    expect(
      Object.values(d3.targets).every((t) => ['BAKE_SUCCESS', 'MARKUP_SUCCESS'].includes(t.state)),
    ).toBe(true);
    expect([...s.fleet.hosts.values()].every((h) => h.current === '1.0.0')).toBe(true);
    expect([...s.traffic.state.values()].every((v) => v === 'up')).toBe(true);
    expect((await s.ledger()).history[0]).toMatchObject({ version: '1.0.0', outcome: 'success' });
  });

  it('S3: targets of a batch run in parallel, batches in series', async () => {
    const s = setup(7, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    await s.release('1.0.0');
    const d = (await s.ledger()).current!;
    const span = (i: number) => d.batches[i]!;
    for (let i = 1; i < d.batches.length; i++) {
      expect(span(i).startedAt!).toBeGreaterThanOrEqual(span(i - 1).endedAt!);
    }
    // Three targets of batch 2 each take 3 × 100 ms steps: in parallel the batch takes ~300 ms, not 900.
    const b = span(1);
    expect(b.targets).toHaveLength(3);
    expect(b.endedAt! - b.startedAt!).toBeLessThan(600);
  });

  it('bake and continue refuse to run out of order, naming the phase', async () => {
    const s = setup(4);
    await expect(s.engine.bake()).rejects.toThrow(/no release of shop yet/);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await expect(s.engine.continue()).rejects.toThrow(
      /phase SMOKE_SUCCESS; possible now: bake or stop/,
    );
    await expect(s.engine.deploy({ version: '2.0.0', package: s.pkg('2.0.0') })).rejects.toThrow(
      PhaseError,
    );
  });

  it('a 30-batch release with 60 s waits runs on the simulated clock in milliseconds', async () => {
    const s = setup(31, {
      sizing: { kind: 'ratio', maxUnavailable: 0.01 },
      waitBetweenBatchesMs: 60_000,
    });
    const t0 = performance.now();
    const start = s.clock.now();
    const r = await s.release('1.0.0');
    expect(r.status).toBe('success');
    expect((await s.ledger()).current!.batches).toHaveLength(31);
    expect(s.clock.now() - start).toBeGreaterThanOrEqual(29 * 60_000); // 29 waits of simulated time
    expect(s.logger.lines.filter((l) => l.includes('waiting 1m'))).toHaveLength(29);
    expect(performance.now() - t0).toBeLessThan(5_000); // generous: it is ~100 ms
  });

  it("S5: tail acceleration — from the release's 3rd batch on (the bastion is batch 1) the shorter wait applies", async () => {
    const s = setup(5, {
      sizing: { kind: 'ratio', maxUnavailable: 0.25 },
      waitBetweenBatchesMs: 60_000,
      waitFromBatch3Ms: 5_000,
    });
    await s.release('1.0.0');
    const waits = s.logger.lines
      .filter((l) => /waiting \d/.test(l))
      .map((l) => l.replace(/^\S+\s+/, ''));
    // Batch 2 starts at once: the bake (a person) started it; 60 s never applies with a bastion.
    expect(waits).toEqual([
      'waiting 5s before batch 3',
      'waiting 5s before batch 4',
      'waiting 5s before batch 5',
    ]);
  });

  it('S5: manual mode pauses after each batch until continue', async () => {
    const s = setup(4, { sizing: { kind: 'ratio', maxUnavailable: 0.34 }, manual: true });
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.engine.bake();
    expect((await s.engine.continue()).phase).toBe('PAUSED');
    expect((await s.engine.continue()).phase).toBe('PAUSED');
    expect((await s.engine.continue()).phase).toBe('SUCCESS');
  });

  it('M6: a pulled-out host is not touched', async () => {
    const s = setup(4, {}, makeGroup(4, [3]));
    await s.release('1.0.0');
    expect(s.fleet.host('web-03').current).toBeNull();
    expect(s.fleet.calls.some((c) => c.target === 'web-03')).toBe(false);
    expect(s.logger.lines.join('\n')).toContain('pulled out, not released: web-03');
  });
});

describe('Engine — failures, brake, retry (F1–F3)', () => {
  it('F1: a failed target does not stop its batch; the release ends FAILURE', async () => {
    const s = setup(6, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    s.fleet.failures.set('web-03', { op: 'install', times: 1 });
    const r = await s.release('1.0.0');
    expect(r).toMatchObject({ status: 'failure', phase: 'FAILURE' });
    const d = (await s.ledger()).current!;
    expect(d.targets['web-03']!.state).toBe('INSTALL_FAILURE');
    expect(d.targets['web-03']!.error).toContain('install failed on web-03');
    expect(d.targets['web-02']!.state).toBe('MARKUP_SUCCESS'); // same batch, went on
    expect(d.targets['web-06']!.state).toBe('MARKUP_SUCCESS'); // later batch, went on
  });

  it('F2: the brake trips exactly when failures reach the ratio, before the next batch', async () => {
    // 9 targets at 25%: bastion + batches of 2. Two failures = 22% < 25%; three = 33% → brake.
    const s = setup(9, { sizing: { kind: 'ratio', maxUnavailable: 0.25 } });
    s.fleet.broken.add('2.0.0');
    await s.release('1.0.0');
    s.fleet.broken.clear();
    for (const id of ['web-02', 'web-03']) s.fleet.failures.set(id, { op: 'install', times: 1 });
    s.fleet.failures.set('web-04', { op: 'install', times: 1 });
    const r = await s.release('2.0.0');
    // batch 2 = web-02, web-03 (2 failed: 22%) → batch 3 runs (web-04 fails: 33%) → brake before batch 4
    expect(r).toMatchObject({ status: 'waiting', phase: 'BRAKED' });
    const d = (await s.ledger()).current!;
    expect(d.nextBatch).toBe(3);
    expect(d.targets['web-06']!.state).toBe('PENDING');
    expect(s.logger.lines.join('\n')).toContain(
      '3 of 9 targets failed (33.3%) ≥ max unavailable 25%',
    );

    // continue accepts the failures; the rest rolls on; retry then fixes the three.
    const r2 = await s.engine.continue();
    expect(r2.phase).toBe('FAILURE');
    const r3 = await s.engine.retry();
    expect(r3.phase).toBe('SUCCESS');
    expect([...s.fleet.hosts.values()].every((h) => h.current === '2.0.0')).toBe(true);
  });

  it('F2 after a continue (README worked example): 20 hosts at 25%, failures in batches 2, 3 and 5', async () => {
    // bastion + 4, 4, 4, 4, 3. Batch 2 (web-02..05): 2 fail; batch 3 (web-06..09): 3 fail →
    // 5 of 20 = 25% → brake before batch 4. continue accepts the 5; batch 4 is clean; batch 5
    // (web-14..17): 1 fails — 1 new failure (5%), no brake; the release ends FAILURE, 6 failed.
    const s = setup(20, { sizing: { kind: 'ratio', maxUnavailable: 0.25 } });
    for (const id of ['web-02', 'web-03', 'web-06', 'web-07', 'web-08', 'web-14']) {
      s.fleet.failures.set(id, { op: 'install', times: 1 });
    }
    const r = await s.release('1.0.0');
    expect(r.phase).toBe('BRAKED');
    const braked = summarizeRelease(r.deployment);
    expect(braked.batches.map((b) => b.failed)).toEqual([0, 2, 3, 0, 0, 0]);
    // status --json: the record's 0-based index, and the number every line shows.
    expect(braked).toMatchObject({ nextBatch: 3, nextBatchNumber: 4 });
    expect(braked.nextBatchPass).toBeUndefined();
    expect(braked.brake).toEqual({
      counted: 5,
      accepted: 0,
      left: 0,
      maxUnavailable: 0.25,
      braked: {
        rule: 'maxUnavailable',
        rules: ['maxUnavailable'],
        reason: '5 of 20 targets failed (25%) ≥ max unavailable 25%',
      },
    });

    const r2 = await s.engine.continue();
    expect(r2.phase).toBe('FAILURE');
    expect(summarizeRelease(r2.deployment).batches.map((b) => b.failed)).toEqual([
      0, 2, 3, 0, 1, 0,
    ]);
    expect(r2.deployment.brakeAccepted).toBe(5);
    expect(summarizeRelease(r2.deployment).nextBatchNumber).toBeUndefined();
    // In a retry, the number within its pass.
    const retrying = structuredClone(r2.deployment);
    retrying.batches.push(
      { index: 6, bastion: false, targets: ['web-02', 'web-03'], pass: 1 },
      { index: 7, bastion: false, targets: ['web-06'], pass: 1 },
    );
    retrying.nextBatch = 7;
    expect(summarizeRelease(retrying)).toMatchObject({
      nextBatch: 7,
      nextBatchNumber: 2,
      nextBatchPass: 1,
    });
    // No failure budget: one rule, the line as it always was (the event still names the rule).
    expect(s.logger.lines.filter((l) => l.includes('brake before'))).toEqual([
      expect.stringMatching(
        /brake before batch 4: 5 of 20 targets failed \(25%\) ≥ max unavailable 25%$/,
      ),
    ]);
    expect(s.logger.lines.join('\n')).toContain(
      'brake released by tester: 5 failed targets accepted',
    );
  });

  it('F2: the budget left is what status shows mid-release', async () => {
    const s = setup(20, { sizing: { kind: 'ratio', maxUnavailable: 0.25 }, manual: true });
    s.fleet.failures.set('web-02', { op: 'install', times: 1 });
    s.fleet.failures.set('web-03', { op: 'install', times: 1 });
    s.fleet.failures.set('web-04', { op: 'install', times: 1 });
    const r = await s.release('1.0.0'); // manual: pauses after batch 2
    expect(r.phase).toBe('PAUSED');
    expect(summarizeRelease(r.deployment).brake).toMatchObject({ counted: 3, left: 2 });
  });

  it('F2: one failure fewer than the ratio does not brake', async () => {
    const s = setup(9, { sizing: { kind: 'ratio', maxUnavailable: 0.25 } });
    s.fleet.failures.set('web-02', { op: 'install', times: 1 });
    s.fleet.failures.set('web-03', { op: 'install', times: 1 });
    expect((await s.release('1.0.0')).phase).toBe('FAILURE'); // 2/9 = 22%: never braked
    expect(s.logger.lines.join('\n')).not.toContain('brake before');
  });

  it('F3: retry re-runs only failed targets and skips those already on the version and healthy', async () => {
    const s = setup(6, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    // web-04's copy fails twice: once staged ahead during batch 2, once in its own chain.
    s.fleet.failures.set('web-04', { op: 'download', times: 2 });
    s.fleet.failures.set('web-05', { op: 'install', times: 1 });
    expect((await s.release('1.0.0')).phase).toBe('FAILURE');
    // Someone fixed web-05 by hand: it now runs 1.0.0, healthy, in traffic.
    const h5 = s.fleet.host('web-05');
    h5.releases.push('1.0.0');
    h5.current = '1.0.0';
    h5.running = true;
    s.traffic.state.set('web-05', 'up');
    const before = s.fleet.calls.length;
    const r = await s.engine.retry();
    expect(r.phase).toBe('SUCCESS');
    const touched = new Set(s.fleet.calls.slice(before).map((c) => c.target));
    expect([...touched].sort()).toEqual(['web-04', 'web-05']); // only the failures were looked at
    const d = (await s.ledger()).current!;
    expect(d.targets['web-05']!.state).toBe('SKIPPED');
    expect(d.targets['web-04']!.state).toBe('MARKUP_SUCCESS');
    expect(d.targets['web-04']!.attempts).toBe(1);
    expect(s.fleet.count('install', '1.0.0')).toBe(6); // web-05's injected failure counted once; no new install for it
  });

  it('a failed bastion stops the release before any other batch (M4); retry fixes it', async () => {
    const s = setup(4);
    s.fleet.failures.set('web-01', { op: 'install', times: 1 });
    const r = await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(r).toMatchObject({ status: 'failure', phase: 'SMOKE_FAILURE' });
    expect(s.fleet.host('web-02').current).toBeNull();
    await expect(s.engine.bake()).rejects.toThrow(/SMOKE_FAILURE; possible now: retry or stop/);
    expect((await s.engine.retry()).phase).toBe('SMOKE_SUCCESS');
  });

  it('verify fails after the start timeout when the new version never becomes healthy', async () => {
    const s = setup(3, { startTimeoutMs: 30_000 });
    s.fleet.broken.add('1.0.0');
    const t0 = s.clock.now();
    const r = await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(r.phase).toBe('SMOKE_FAILURE');
    const t = (await s.ledger()).current!.targets['web-01']!;
    expect(t.state).toBe('VERIFY_FAILURE');
    expect(t.error).toMatch(/not healthy within 30s: HTTP 500/);
    expect(s.clock.now() - t0).toBeGreaterThanOrEqual(30_000);
  });
});

describe('Engine — rollback (F4), stop (U4), resume', () => {
  it('F4: rollback returns to the last successful version without download, no bastion, 50% batches', async () => {
    const s = setup(6, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    await s.release('1.0.0');
    await s.release('2.0.0');
    const downloads = s.fleet.count('download');
    const r = await s.engine.rollback();
    expect(r).toMatchObject({ status: 'success', phase: 'SUCCESS' });
    const d = (await s.ledger()).current!;
    expect(d.kind).toBe('rollback');
    expect(d.version).toBe('1.0.0');
    expect(d.batches.map((b) => b.targets.length)).toEqual([3, 3]);
    expect(d.batches.some((b) => b.bastion)).toBe(false);
    expect(s.fleet.count('download')).toBe(downloads); // no download at all
    expect([...s.fleet.hosts.values()].every((h) => h.current === '1.0.0')).toBe(true);
    expect((await s.ledger()).quarantined['2.0.0']?.reason).toContain('rolled back to 1.0.0');
    await expect(s.engine.deploy({ version: '2.0.0', package: s.pkg('2.0.0') })).rejects.toThrow(
      /quarantined/,
    );
  });

  it('F4: a later rollback never returns to a version an earlier rollback quarantined', async () => {
    const s = setup(4, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    await s.release('1.0.0');
    await s.release('2.0.0');
    expect((await s.engine.rollback()).deployment.version).toBe('1.0.0'); // 2.0.0 quarantined
    s.fleet.broken.add('3.0.0');
    expect((await s.release('3.0.0')).phase).not.toBe('SUCCESS');
    const r = await s.engine.rollback();
    expect(r.deployment.version).toBe('1.0.0'); // not 2.0.0, the last successful deploy
    // Released again on purpose (--force) and successful: 2.0.0 is a rollback target again.
    await s.engine.deploy({ version: '2.0.0', package: s.pkg('2.0.0'), force: true });
    await s.engine.bake();
    expect((await s.engine.continue()).phase).toBe('SUCCESS');
    await s.release('4.0.0');
    expect((await s.engine.rollback()).deployment.version).toBe('2.0.0');
  });

  it('F4: rollback after a brake ends the braked release ABORTED and skips hosts never touched', async () => {
    const s = setup(9, { sizing: { kind: 'ratio', maxUnavailable: 0.25 } });
    await s.release('1.0.0');
    s.fleet.broken.add('2.0.0');
    expect((await s.engine.deploy({ version: '2.0.0', package: s.pkg('2.0.0') })).phase).toBe(
      'SMOKE_FAILURE',
    );
    const r = await s.engine.rollback();
    expect(r.phase).toBe('SUCCESS');
    const ledger = await s.ledger();
    expect(ledger.history.map((h) => `${h.kind} ${h.version} ${h.outcome}`)).toEqual([
      'rollback 1.0.0 success',
      'deploy 2.0.0 aborted',
      'deploy 1.0.0 success',
    ]);
    const states = Object.values(ledger.current!.targets).map((t) => t.state);
    expect(states.filter((x) => x === 'SKIPPED')).toHaveLength(8); // only the bastion changed
  });

  it('rollback with no earlier success is refused', async () => {
    const s = setup(3);
    await expect(s.engine.rollback()).rejects.toThrow(/no earlier successful release/);
  });

  it('U4: stop mid-batch starts no new target; those out of traffic finish their chain', async () => {
    const s = setup(6, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.engine.bake();
    s.fleet.onInstall = async (t) => {
      if (t.id === 'web-02') await s.store.requestStop('shop', 'operator');
    };
    const r = await s.engine.continue();
    expect(r).toMatchObject({ status: 'aborted', phase: 'ABORTED' });
    const d = (await s.ledger()).current!;
    // Batch 2 (web-02, web-03) was out of traffic, installing: both finish, back in traffic.
    expect(d.targets['web-02']!.state).toBe('MARKUP_SUCCESS');
    expect(d.targets['web-03']!.state).toBe('MARKUP_SUCCESS');
    expect(s.traffic.state.get('web-02')).toBe('up');
    expect(d.targets['web-04']!.state).toBe('PENDING');
    expect(d.outcome).toBe('aborted');
    await expect(s.engine.continue()).rejects.toThrow(PhaseError);
  });

  it('stop from another process while nothing runs ends the release ABORTED at once', async () => {
    const s = setup(4);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    const r = await s.engine.stop();
    expect(r).toMatchObject({ status: 'aborted', phase: 'ABORTED' });
    expect((await s.ledger()).current!.targets['web-01']!.state).toBe('VERIFY_SUCCESS');
  });

  it('resume after a killed run: continue resets interrupted targets and finishes correctly', async () => {
    const s = setup(6, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.engine.bake();
    // "Kill" the run: an install that never returns, then a second engine on the same record.
    s.fleet.onInstall = (t) => (t.id === 'web-03' ? new Promise<void>(() => undefined) : undefined);
    void s.engine.continue();
    await new Promise((r) => setTimeout(r, 50));
    const killed = await s.ledger();
    expect(killed.current!.targets['web-03']!.state).toBe('INSTALL_RUNNING');
    s.store.shared.runLock.clear(); // the killed process's lock is gone with it
    s.fleet.onInstall = () => undefined;
    s.fleet.host('web-03').lock = null;
    const engine2 = new Engine(s.ports, s.group, s.config, 'second run');
    const r = await engine2.continue();
    expect(r.phase).toBe('SUCCESS');
    const d = (await s.ledger()).current!;
    expect(d.targets['web-03']!.attempts).toBe(1);
    expect([...s.fleet.hosts.values()].every((h) => h.current === '1.0.0')).toBe(true);
    expect(
      (await s.store.events('shop')).some((e) => e.message.includes('interrupted by a killed run')),
    ).toBe(true);
  });

  it('a second run of the same group is refused with who holds it', async () => {
    const s = setup(4);
    s.store.shared.runLock.set('shop', 'alice (pid 42)');
    await expect(s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') })).rejects.toThrow(
      LockHeldError,
    );
    await expect(s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') })).rejects.toThrow(
      /alice/,
    );
  });

  it('a host locked by another release fails the run, not the target', async () => {
    const s = setup(4);
    s.fleet.host('web-01').lock = { deploymentId: 'other', who: 'bob' };
    await expect(s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') })).rejects.toThrow(
      /host web-01 is locked by bob/,
    );
  });

  it('refuses an injected version before anything runs', async () => {
    const s = setup(3);
    await expect(s.engine.deploy({ version: '1.0;rm -rf /', package: s.pkg('x') })).rejects.toThrow(
      /version: "1.0;rm -rf \/" is not a valid version/,
    );
    expect(s.fleet.calls).toHaveLength(0);
  });

  it('the event log has one line per transition, in order, for every target', async () => {
    const s = setup(3);
    await s.release('1.0.0');
    const events = await s.store.events('shop');
    const web2 = events
      .filter((e) => e.target === 'web-02' && e.type === 'target')
      .map((e) => e.state);
    expect(web2).toEqual([
      'DOWNLOAD_RUNNING',
      'DOWNLOAD_SUCCESS',
      'MARKDOWN_RUNNING',
      'MARKDOWN_SUCCESS',
      'INSTALL_RUNNING',
      'INSTALL_SUCCESS',
      'VERIFY_RUNNING',
      'VERIFY_SUCCESS',
      'MARKUP_RUNNING',
      'MARKUP_SUCCESS',
    ]);
    expect(events.filter((e) => e.type === 'phase').map((e) => e.phase)).toEqual([
      'SMOKING',
      'SMOKE_SUCCESS',
      'BAKING',
      'BAKE_SUCCESS',
      'ROLLING_OUT',
      'SUCCESS',
    ]);
  });
});

describe('Engine — history', () => {
  it('a retried release has one history entry, with its latest outcome', async () => {
    const s = setup(4, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    s.fleet.failures.set('web-03', { op: 'install', times: 2 });
    expect((await s.release('1.0.0')).phase).toBe('FAILURE');
    expect((await s.engine.retry()).phase).toBe('FAILURE');
    expect((await s.engine.retry()).phase).toBe('SUCCESS');
    expect((await s.ledger()).history.map((h) => `${h.version} ${h.outcome}`)).toEqual([
      '1.0.0 success',
    ]);
  });
});

describe('Engine — staging the next batch', () => {
  it('copies the package to batch k+1 while batch k runs; their chains find it complete', async () => {
    const s = setup(7, { sizing: { kind: 'ratio', maxUnavailable: 0.34 } });
    const r = await s.release('1.0.0');
    expect(r.phase).toBe('SUCCESS');
    const d = (await s.ledger()).current!;
    // bastion + 3 batches of 2: the downloads of batches 3 and 4 happened during batches 2 and 3.
    expect(d.batches.map((b) => b.targets.length)).toEqual([1, 2, 2, 2]);
    const events = await s.store.events('shop');
    const staged = events.filter((e) => e.type === 'stage').map((e) => e.message);
    expect(staged).toEqual([
      'package staged on batch 3 while it still serves: 2 of 2',
      'package staged on batch 4 while it still serves: 2 of 2',
    ]);
    for (const id of d.batches[3]!.targets) {
      expect(d.targets[id]!.steps.download?.detail).toBe('release 1.0.0 already complete on host');
    }
    expect(s.fleet.count('download', '1.0.0')).toBe(7); // each host received it exactly once
  });

  it('an image package is staged too (the hosts pull ahead while they serve)', async () => {
    const s = setup(7, { sizing: { kind: 'ratio', maxUnavailable: 0.34 } });
    const image = `127.0.0.1:5000/acme/shop@sha256:${'e'.repeat(64)}`;
    const r1 = await s.engine.deploy({ version: '1.0.0', package: { version: '1.0.0', image } });
    expect(r1.phase).toBe('SMOKE_SUCCESS');
    await s.engine.bake();
    expect((await s.engine.continue()).phase).toBe('SUCCESS');
    const staged = (await s.store.events('shop')).filter((e) => e.type === 'stage');
    expect(staged).toHaveLength(2);
    expect(s.fleet.count('download', '1.0.0')).toBe(7);
  });

  it('a package from a store is staged too (the next batch fetches while the current one runs)', async () => {
    const s = setup(7, { sizing: { kind: 'ratio', maxUnavailable: 0.34 } });
    const url = 'http://pkgs.example.com/shop-1.0.0.tar.gz';
    const store = { kind: 'http' as const, urls: { default: url }, checksumFrom: url };
    const pkg = { version: '1.0.0', sha256: 'f'.repeat(64), store };
    const r1 = await s.engine.deploy({ version: '1.0.0', package: pkg });
    expect(r1.phase).toBe('SMOKE_SUCCESS');
    await s.engine.bake();
    expect((await s.engine.continue()).phase).toBe('SUCCESS');
    const staged = (await s.store.events('shop')).filter((e) => e.type === 'stage');
    expect(staged.map((e) => e.message)).toEqual([
      'package staged on batch 3 while it still serves: 2 of 2',
      'package staged on batch 4 while it still serves: 2 of 2',
    ]);
    expect(s.fleet.count('download', '1.0.0')).toBe(7);
  });

  it('says when a batch waits for the package still on its way to it (a slow link), and how long', async () => {
    const s = setup(7, { sizing: { kind: 'ratio', maxUnavailable: 0.34 } });
    // Batch 4's copy (staged during batch 3) takes a minute; everything else is instant.
    const download = s.fleet.download.bind(s.fleet);
    s.fleet.download = async (target, pkg, signal) => {
      if (target.id === 'web-06' || target.id === 'web-07') await s.clock.sleep(60_000, signal);
      return download(target, pkg, signal);
    };
    const r = await s.release('1.0.0');
    expect(r.phase).toBe('SUCCESS');
    const events = (await s.store.events('shop')).filter((e) => e.type !== 'target');
    const at = (i: number) => Date.parse(events[i]!.at);
    const wait = events.findIndex((e) => e.type === 'wait');
    expect(events[wait]?.message).toBe(
      'waiting for the package to reach batch 4: still on its way while those targets serve',
    );
    expect(events[wait + 1]?.message).toBe(
      'package staged on batch 4 while it still serves: 2 of 2',
    );
    expect(events[wait + 2]?.message).toMatch(/^batch 4\/4: /);
    expect(at(wait + 1) - at(wait)).toBeGreaterThan(0);
    // Copies that are done in time make no wait line.
    expect(events.filter((e) => e.type === 'wait')).toHaveLength(1);
  });

  it('a rollback copies nothing', async () => {
    const s = setup(5, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    await s.release('1.0.0');
    await s.release('2.0.0');
    const before = s.fleet.count('download');
    await s.engine.rollback();
    expect(s.fleet.count('download')).toBe(before);
    const id = (await s.ledger()).current!.id;
    const events = await s.store.events('shop');
    expect(events.filter((e) => e.type === 'stage' && e.deployment === id)).toHaveLength(0);
  });
});

describe('Engine — the scan gate record (B4)', () => {
  it("keeps the gate's decision with the release and logs an override with who and why", async () => {
    const s = setup(3);
    const digest = `sha256:${'c'.repeat(64)}`;
    const scan = {
      digest,
      passed: false,
      summary: `scan of ${digest.slice(0, 19)} failed (compliance rules failed: non-root)`,
      override: { reason: 'hotfix for INC-7, root needed until 1.5', by: 'alice' },
    };
    const r = await s.engine.deploy({ version: '1.0.0', package: { ...s.pkg('1.0.0'), scan } });
    expect(r.phase).toBe('SMOKE_SUCCESS');
    expect((await s.ledger()).current!.package.scan).toEqual(scan);
    const gate = (await s.store.events(s.group.name)).filter((e) => e.type === 'gate');
    expect(gate.map((e) => e.message)).toEqual([
      `scan gate overridden by alice: "hotfix for INC-7, root needed until 1.5" (${scan.summary})`,
    ]);
    // An override is a warning wherever the log has levels (the CLI's stderr, an annotation).
    expect(gate[0]!.level).toBe('warn');
  });

  it('a passed scan is an ordinary line of the log', async () => {
    const s = setup(3);
    const digest = `sha256:${'c'.repeat(64)}`;
    const scan = { digest, passed: true, summary: `scan of ${digest.slice(0, 19)} passed` };
    await s.engine.deploy({ version: '1.0.0', package: { ...s.pkg('1.0.0'), scan } });
    const gate = (await s.store.events(s.group.name)).filter((e) => e.type === 'gate');
    expect(gate.map((e) => [e.message, e.level])).toEqual([
      [`scan gate: ${scan.summary}`, undefined],
    ]);
  });

  it('a tarball release has no gate event', async () => {
    const s = setup(3);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect((await s.store.events(s.group.name)).some((e) => e.type === 'gate')).toBe(false);
  });
});
