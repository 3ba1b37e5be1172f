import { describe, expect, it } from 'vitest';
import { chainFor } from '../../../src/engine/chain';
import { SimulatedClock } from '../../../src/engine/clock';
import { Engine } from '../../../src/engine/engine';
import type { HostProbe } from '../../../src/engine/ports';
import { bestStatus } from '../../../src/engine/serving-view';
import { slotHolding, slotsOf } from '../../../src/engine/slot-steps';
import { transition } from '../../../src/engine/target-machine';
import type { DeploymentConfig, Step } from '../../../src/model/types';
import { collectStatus } from '../../../src/report/collect';
import { renderStatus } from '../../../src/report/status';
import { fakePackage, makeConfig, makeGroup, onceAppended } from '../../support/fakes';
import { slotPorts } from '../../support/slot-fakes';

describe('side-by-side chains (S7)', () => {
  type Row = [string, 'bastion' | 'rollout', 'deploy' | 'rollback', Step[]];
  const rows: Row[] = [
    ['bastion deploy', 'bastion', 'deploy', ['download', 'install', 'verify']],
    ['roll-out deploy', 'rollout', 'deploy', ['download', 'install', 'verify', 'markup']],
    [
      'rollback (kept release, no download)',
      'rollout',
      'rollback',
      ['install', 'verify', 'markup'],
    ],
  ];
  it.each(rows)('%s: no markdown, markup is the flip', (_n, role, kind, steps) => {
    expect(chainFor(role, kind, true, 'side-by-side')).toEqual(steps);
    expect(chainFor(role, kind, false, 'side-by-side')).toEqual(steps);
  });

  it('in-place chains are unchanged, with or without the strategy named', () => {
    expect(chainFor('rollout', 'deploy', true)).toEqual([
      'download',
      'markdown',
      'install',
      'verify',
      'markup',
    ]);
    expect(chainFor('rollout', 'deploy', true, 'in-place')).toEqual(
      chainFor('rollout', 'deploy', true),
    );
    expect(chainFor('rollout', 'rollback', false)).toEqual([
      'markdown',
      'install',
      'verify',
      'markup',
    ]);
  });

  it('a side-by-side rollback starts at install: PENDING → INSTALL_RUNNING is legal', () => {
    expect(transition('PENDING', { type: 'start', step: 'install' })).toBe('INSTALL_RUNNING');
  });

  const probe = (p: Partial<HostProbe>): HostProbe => ({ current: null, releases: [], ...p });
  type SlotRow = [string, HostProbe, string, ReturnType<typeof slotsOf>, 'a' | 'b' | null];
  const slotRows: SlotRow[] = [
    ['a fresh host', probe({}), '1.0.0', { serving: null, idle: 'a' }, null],
    [
      'an in-place host (current, no slots yet)',
      probe({ current: '1.0.0' }),
      '2.0.0',
      { serving: 'a', idle: 'b' },
      null,
    ],
    [
      'started in b, before the flip',
      probe({
        current: '1.0.0',
        slots: { a: { version: '1.0.0', running: true }, b: { version: '2.0.0', running: true } },
      }),
      '2.0.0',
      { serving: 'a', idle: 'b' },
      'b',
    ],
    [
      'after the flip (a markup pressed again)',
      probe({
        current: '2.0.0',
        serving: 'b',
        slots: { a: { version: '1.0.0', running: true }, b: { version: '2.0.0', running: true } },
      }),
      '2.0.0',
      { serving: 'b', idle: 'a' },
      'b',
    ],
    [
      'rollback in the window: the idle slot still holds the old version',
      probe({
        current: '2.0.0',
        serving: 'b',
        slots: { a: { version: '1.0.0', running: true }, b: { version: '2.0.0', running: true } },
      }),
      '1.0.0',
      { serving: 'b', idle: 'a' },
      'a',
    ],
  ];
  it.each(slotRows)(
    '%s: serving/idle and the slot holding the version',
    (_n, p, v, slots, holds) => {
      expect(slotsOf(p)).toEqual(slots);
      expect(slotHolding(p, v)).toBe(holds);
    },
  );

  it('a target is as much in traffic as its best slot', () => {
    expect(bestStatus('maint', 'up')).toBe('up');
    expect(bestStatus('drain', 'maint')).toBe('drain');
    expect(bestStatus('unknown', 'maint')).toBe('maint');
    expect(bestStatus('none', 'none')).toBe('none');
  });
});

function setup(n: number, over: Partial<DeploymentConfig> = {}) {
  const clock = new SimulatedClock();
  const group = makeGroup(n);
  for (const t of group.targets) t.altPort = 8081;
  const { fleet, traffic, store, ports } = slotPorts(clock, group.targets);
  const config = makeConfig({
    sizing: { kind: 'ratio', maxUnavailable: 0.5 },
    strategy: 'side-by-side',
    keepWarmMs: 300_000,
    ...over,
  });
  const engine = new Engine(ports, group, config, 'tester');
  const release = async (version: string) => {
    const r = await engine.deploy({ version, package: fakePackage(version) });
    if (r.phase !== 'SMOKE_SUCCESS') return r;
    await engine.bake();
    return engine.continue();
  };
  const ledger = async () => (await store.load(group.name))!;
  return { clock, group, fleet, traffic, store, engine, release, ledger, ports };
}

describe('Engine — side-by-side (S7)', () => {
  it('a release keeps every host serving: 6 of 6 in traffic throughout, old slot drained after the new one is in', async () => {
    const s = setup(6);
    expect((await s.release('1.0.0')).phase).toBe('SUCCESS');
    s.traffic.minServing = Infinity;
    s.traffic.calls.length = 0;
    expect((await s.release('2.0.0')).phase).toBe('SUCCESS');
    expect(s.traffic.lowest()).toBe(6);
    for (const t of s.group.targets) {
      expect(s.fleet.current(t.id)).toBe('2.0.0');
      expect(s.fleet.host(t.id).serving).toBe('b');
      // Kept warm, out of traffic: what a rollback in the window flips back to.
      expect(s.fleet.host(t.id).slots.a).toEqual({ version: '1.0.0', running: true });
    }
    // Per host: the new server goes in before the old one comes out.
    const web02 = s.traffic.calls.filter((c) => / web-02(-b)?$/.test(c));
    expect(web02).toEqual(['markup web-02-b', 'markdown web-02']);
    const d = (await s.ledger()).current!;
    expect(Object.keys(d.targets['web-02']!.steps)).toEqual([
      'download',
      'install',
      'verify',
      'markup',
    ]);
  });

  it('rollback in the warm window asks each host once per chain which slot holds what (under its lock), not once per step (plus the look at who is out)', async () => {
    const s = setup(4);
    await s.release('1.0.0');
    await s.release('2.0.0');
    const probes = new Map<string, number>();
    const probe = s.fleet.probe.bind(s.fleet);
    s.fleet.probe = (t) => {
      probes.set(t.id, (probes.get(t.id) ?? 0) + 1);
      return probe(t);
    };
    const r = await s.engine.rollback();
    expect(r.phase).toBe('SUCCESS');
    for (const t of s.group.targets) {
      expect(s.fleet.current(t.id)).toBe('1.0.0');
      expect(probes.get(t.id) ?? 0, t.id).toBeLessThanOrEqual(2);
    }
  });

  it('rollback in the warm window: two host round trips per target — the lock answers with the probe, the flip releases the lock', async () => {
    const s = setup(6);
    await s.release('1.0.0');
    await s.release('2.0.0');
    s.fleet.trips.length = 0;
    const r = await s.engine.rollback();
    expect(r.phase).toBe('SUCCESS');
    const d = r.deployment;
    const [first, second] = d.batches.map((b) => b.targets);
    const trips = (id: string) =>
      s.fleet.trips.filter((t) => t.endsWith(` ${id}`)).map((t) => t.split(' ')[0]);
    // The first batch's hosts: lock (+ probe under it), then serve (+ unlock).
    for (const id of first!) expect(trips(id), id).toEqual(['lock', 'serve']);
    // The second batch's connections are opened while the first runs (nothing run on the
    // host), once the first batch's hosts are locked and ready to flip; then the same.
    for (const id of second!) expect(trips(id), id).toEqual(['connect', 'lock', 'serve']);
    const lastFirstLock = Math.max(...first!.map((id) => s.fleet.trips.indexOf(`lock ${id}`)));
    const firstConnect = Math.min(...second!.map((id) => s.fleet.trips.indexOf(`connect ${id}`)));
    expect(firstConnect).toBeGreaterThan(lastFirstLock);
    for (const t of s.group.targets) {
      expect(s.fleet.current(t.id)).toBe('1.0.0');
      expect(s.fleet.host(t.id).lock).toBeNull();
    }
  });

  it('a transport whose lock does not probe and whose serve does not unlock: the chain probes and unlocks itself', async () => {
    const s = setup(2);
    await s.release('1.0.0');
    await s.release('2.0.0');
    s.fleet.lockProbes = false;
    const serve = s.fleet.serve.bind(s.fleet);
    s.fleet.serve = (t, v, k, sig) => serve(t, v, k, sig).then(() => undefined);
    s.fleet.trips.length = 0;
    expect((await s.engine.rollback()).phase).toBe('SUCCESS');
    expect(s.fleet.trips.filter((t) => t.endsWith(' web-01'))).toEqual([
      'lock web-01',
      'probe web-01',
      'serve web-01',
      'unlock web-01',
    ]);
    for (const t of s.group.targets) expect(s.fleet.host(t.id).lock).toBeNull();
  });

  it('S4: the bastion ends verified with its new slot out of traffic; bake flips it', async () => {
    const s = setup(4);
    await s.release('1.0.0');
    const r = await s.engine.deploy({ version: '2.0.0', package: fakePackage('2.0.0') });
    expect(r.phase).toBe('SMOKE_SUCCESS');
    const bastion = s.group.targets[0]!;
    expect(s.fleet.host(bastion.id).slots.b).toEqual({ version: '2.0.0', running: true });
    expect(s.traffic.get({ ...bastion, lbName: `${bastion.id}-b` })).toBe('maint');
    expect(s.traffic.get(bastion)).toBe('up');
    expect(s.fleet.current(bastion.id)).toBe('1.0.0');
    await s.engine.bake();
    expect(s.traffic.get({ ...bastion, lbName: `${bastion.id}-b` })).toBe('up');
    expect(s.traffic.get(bastion)).toBe('maint');
    expect(s.fleet.current(bastion.id)).toBe('2.0.0');
  });

  it('a new slot that never gets healthy leaves the old slot in traffic; the brake works as before', async () => {
    const s = setup(6, { sizing: { kind: 'ratio', maxUnavailable: 0.25 } });
    await s.release('1.0.0');
    s.fleet.broken.add('2.0.0');
    s.traffic.minServing = Infinity;
    const r = await s.engine.deploy({ version: '2.0.0', package: fakePackage('2.0.0') });
    expect(r.phase).toBe('SMOKE_FAILURE');
    const d = (await s.ledger()).current!;
    expect(d.targets['web-01']!.state).toBe('VERIFY_FAILURE');
    expect(s.traffic.lowest()).toBe(6);
    expect(s.fleet.current('web-01')).toBe('1.0.0');
    expect(s.traffic.get(s.group.targets[0]!)).toBe('up');
  });

  it('F2: a roll-out batch whose new slots fail brakes the release; every host still serves the old version', async () => {
    const s = setup(8, { sizing: { kind: 'ratio', maxUnavailable: 0.25 } });
    await s.release('1.0.0');
    await s.engine.deploy({ version: '2.0.0', package: fakePackage('2.0.0') });
    await s.engine.bake();
    s.fleet.broken.add('2.0.0');
    s.traffic.minServing = Infinity;
    const r = await s.engine.continue();
    expect(r.phase).toBe('BRAKED');
    // The bastion was flipped before 2.0.0 broke; the rest serve 1.0.0 from slot a.
    expect(s.traffic.lowest()).toBe(7);
    for (const t of s.group.targets.slice(1)) expect(s.fleet.current(t.id)).toBe('1.0.0');
  });

  it('F4: rollback in the keep-warm window is one flip per host — nothing starts, 50% batches', async () => {
    const s = setup(6);
    await s.release('1.0.0');
    await s.release('2.0.0');
    const starts = s.fleet.count('start');
    const downloads = s.fleet.count('download');
    const began = s.clock.now();
    s.traffic.minServing = Infinity;
    const r = await s.engine.rollback();
    expect(r.phase).toBe('SUCCESS');
    const d = (await s.ledger()).current!;
    expect(d.batches.map((b) => b.targets.length)).toEqual([3, 3]);
    expect(s.fleet.count('start')).toBe(starts);
    expect(s.fleet.count('download')).toBe(downloads);
    expect(s.traffic.lowest()).toBe(6);
    for (const t of s.group.targets) {
      expect(s.fleet.current(t.id)).toBe('1.0.0');
      expect(s.fleet.host(t.id).serving).toBe('a');
    }
    // F4 as in-place: the version rolled back from is quarantined.
    expect((await s.ledger()).quarantined['2.0.0']?.reason).toContain('rolled back to 1.0.0');
    expect(d.targets['web-01']!.steps.install?.detail).toMatch(
      /still runs 1.0.0, warm: nothing to start/,
    );
    return began;
  });

  it('F4: rollback after the window starts the kept release in the idle slot (no download), then flips', async () => {
    const s = setup(4, { keepWarmMs: 60_000 });
    await s.release('1.0.0');
    await s.release('2.0.0');
    await s.clock.sleep(61_000);
    expect(s.fleet.host('web-01').slots.a).toEqual({ version: '1.0.0', running: false });
    const starts = s.fleet.count('start');
    const downloads = s.fleet.count('download');
    s.traffic.minServing = Infinity;
    expect((await s.engine.rollback()).phase).toBe('SUCCESS');
    expect(s.fleet.count('start') - starts).toBe(4);
    expect(s.fleet.count('download')).toBe(downloads);
    expect(s.traffic.lowest()).toBe(4);
    for (const t of s.group.targets) expect(s.fleet.current(t.id)).toBe('1.0.0');
  });

  it('keepWarm 0: the old slot is stopped at the flip', async () => {
    const s = setup(2, { keepWarmMs: 0, bastionCount: 0 });
    await s.release('1.0.0');
    await s.release('2.0.0');
    expect(s.fleet.host('web-01').slots.a).toEqual({ version: '1.0.0', running: false });
  });

  it('U4: a stop asked for during a batch starts no new slot; started ones flip; every host serves', async () => {
    const s = setup(6);
    await s.release('1.0.0');
    await s.engine.deploy({ version: '2.0.0', package: fakePackage('2.0.0') });
    await s.engine.bake();
    onceAppended(
      s.store,
      (e) => e.target === 'web-02' && e.state === 'DOWNLOAD_RUNNING',
      () => s.engine.requestStop('operator'),
    );
    const r = await s.engine.continue();
    expect(r.phase).toBe('ABORTED');
    const d = (await s.ledger()).current!;
    for (const t of s.group.targets) {
      const state = d.targets[t.id]!.state;
      expect(['PENDING', 'DOWNLOAD_SUCCESS', 'MARKUP_SUCCESS', 'BAKE_SUCCESS']).toContain(state);
      // Never a host without a serving slot, whatever the record says.
      expect(s.fleet.current(t.id)).toBe(
        state === 'MARKUP_SUCCESS' || state === 'BAKE_SUCCESS' ? '2.0.0' : '1.0.0',
      );
    }
    expect(d.targets['web-02']!.state).toBe('DOWNLOAD_SUCCESS');
    expect(s.traffic.serving()).toBe(6);
  });

  it('F3: retry re-runs only the failed targets; a target already serving the version is skipped', async () => {
    const s = setup(4, { bastionCount: 0 });
    await s.release('1.0.0');
    s.fleet.brokenHosts.add('web-04');
    expect((await s.release('2.0.0')).phase).toBe('FAILURE');
    expect(s.fleet.current('web-04')).toBe('1.0.0');
    s.fleet.brokenHosts.delete('web-04');
    const starts = s.fleet.count('start');
    const r = await s.engine.retry();
    // Its new slot still runs 2.0.0 and now answers healthy: nothing to restart, only the flip.
    expect(s.fleet.count('start') - starts).toBe(0);
    expect(r.phase).toBe('SUCCESS');
    expect((await s.ledger()).current!.targets['web-04']!.state).toBe('MARKUP_SUCCESS');
    expect(r.phase).toBe('SUCCESS');
    for (const t of s.group.targets) expect(s.fleet.current(t.id)).toBe('2.0.0');
    // A deploy of what already serves skips every target.
    await s.engine.deploy({ version: '2.0.0', package: fakePackage('2.0.0'), force: true });
    const d = (await s.ledger()).current!;
    expect(Object.values(d.targets).every((t) => t.state === 'SKIPPED')).toBe(true);
  });

  it('status shows which slot serves and what the other slot holds (host truth)', async () => {
    const s = setup(2, { bastionCount: 0 });
    await s.release('1.0.0');
    await s.release('2.0.0');
    const st = await collectStatus(s.ports, s.group, 5);
    expect(st.targets[0]).toMatchObject({
      running: '2.0.0',
      healthy: true,
      traffic: 'up',
      slots: { serving: 'b', other: { slot: 'a', version: '1.0.0', running: true } },
    });
    expect(renderStatus(st)).toContain('2.0.0 (slot b; a: 1.0.0 warm)');
  });
});
