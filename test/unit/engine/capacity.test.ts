/**
 * Issue 13 item 5 (M6, F2): hosts the load balancer reports out of traffic count against max
 * unavailable when deploy and rollback cut their batches: they are released first (right after
 * the bastion — taking them costs no serving capacity), then the serving hosts in batches that
 * keep the ratio. One status read per eligible target; an LB that cannot say (unknown,
 * unreachable) counts nobody as out. When the hosts already out leave no room, the release log
 * says so.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { SimulatedClock } from '../../../src/engine/clock';
import type { Ports, TrafficStatus } from '../../../src/engine/ports';
import type { Target } from '../../../src/model/types';
import { rebuildLedger } from '../../../src/store/record-repair';
import {
  FakeFleet,
  FakeTraffic,
  MemoryStore,
  makeConfig,
  makeGroup,
  makeLogger,
  fakePackage,
} from '../../support/fakes';

class CountingTraffic extends FakeTraffic {
  readonly asked: string[] = [];
  unreachableStatus = false;
  override async status(target: Target): Promise<TrafficStatus> {
    this.asked.push(target.id);
    if (this.unreachableStatus) throw new Error('LB unreachable');
    return super.status(target);
  }
}

function setup(n: number, maxUnavailable = 0.25, pulledOut: number[] = []) {
  const clock = new SimulatedClock();
  const fleet = new FakeFleet(clock, 100);
  const traffic = new CountingTraffic();
  const store = new MemoryStore();
  const ports: Ports = { transport: fleet, traffic, store, clock, logger: makeLogger() };
  const group = makeGroup(n, pulledOut);
  const config = makeConfig({ sizing: { kind: 'ratio', maxUnavailable } });
  const engine = new Engine(ports, group, config, 'tester');
  const pkg = fakePackage;
  const ledger = async () => (await store.load(group.name))!;
  const sizes = async () => (await ledger()).current!.batches.map((b) => b.targets.length);
  const releaseLine = async () =>
    (await store.events('shop')).filter((e) => e.type === 'release').at(-1)!;
  return { fleet, traffic, store, engine, pkg, ledger, sizes, releaseLine };
}

describe('deploy counts the hosts the LB has out of traffic (issue 13 item 5)', () => {
  it('one host DOWN in the LB: released first, so the serving hosts never leave more than 2 of 10 out', async () => {
    const s = setup(10);
    s.traffic.state.set('web-10', 'down');
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    const d = (await s.ledger()).current!;
    expect(d.batches.map((b) => b.targets.join(' '))).toEqual([
      'web-01',
      'web-10',
      'web-02 web-03',
      'web-04 web-05',
      'web-06 web-07',
      'web-08 web-09',
    ]);
    // One status read per eligible target, before any host is touched.
    const all = Array.from({ length: 10 }, (_, i) => `web-${String(i + 1).padStart(2, '0')}`);
    expect([...s.traffic.asked.slice(0, 10)].sort()).toEqual(all);
    const line = await s.releaseLine();
    expect(line.outOfService).toEqual(['web-10']);
    expect(line.message).toContain(
      'out of traffic in the load balancer, counted against max unavailable 25% (2 of 10 out at once), released first: web-10 (down)',
    );
    const saved = await s.ledger();
    delete saved.openRun;
    const rebuilt = rebuildLedger('shop', await s.store.events('shop'));
    expect(rebuilt.kind === 'rebuilt' && rebuilt.ledger).toEqual(saved);
  });

  it('without hosts out, the same group gets batches of 2', async () => {
    const s = setup(10);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(await s.sizes()).toEqual([1, 2, 2, 2, 2, 1]);
    expect((await s.releaseLine()).outOfService).toBeUndefined();
  });

  it('MAINT and DRAIN are out of traffic too; a bastion that takes one more out than allowed is said in the log', async () => {
    const s = setup(10);
    s.traffic.state.set('web-09', 'maint');
    s.traffic.state.set('web-10', 'drain');
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(await s.sizes()).toEqual([1, 2, 2, 2, 2, 1]);
    const warn = (await s.store.events('shop')).find((e) => e.type === 'warn')!;
    expect(warn.message).toBe(
      '3 of 10 out of service at once: more than max unavailable 25% allows (2) — web-09 (maint), web-10 (drain) are already out and a batch holds at least 1; those out of traffic go first, after the bastion',
    );
  });

  it('a pulled-out host and one DOWN leave no room: batches of one, said in the log', async () => {
    const s = setup(10, 0.25, [10]);
    s.traffic.state.set('web-05', 'down');
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    const d = (await s.ledger()).current!;
    expect(d.batches.map((b) => b.targets.join(' '))).toEqual([
      'web-01',
      'web-05',
      'web-02',
      'web-03',
      'web-04',
      'web-06',
      'web-07',
      'web-08',
      'web-09',
    ]);
    const warn = (await s.store.events('shop')).find((e) => e.type === 'warn')!;
    expect(warn.message).toMatch(
      /^3 of 10 out of service at once: .* — web-10 \(pulled out\), web-05 \(down\) are already out/,
    );
  });

  it("a first release: every host DOWN (nothing runs yet) — the ratio's batches, no warning", async () => {
    const s = setup(10);
    for (let i = 1; i <= 10; i++) s.traffic.state.set(`web-${String(i).padStart(2, '0')}`, 'down');
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(await s.sizes()).toEqual([1, 2, 2, 2, 2, 1]);
    expect((await s.store.events('shop')).filter((e) => e.type === 'warn')).toEqual([]);
  });

  it('an LB that cannot say counts nobody as out: unknown, or unreachable', async () => {
    const s = setup(10);
    s.traffic.state.set('web-10', 'unknown');
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(await s.sizes()).toEqual([1, 2, 2, 2, 2, 1]);
    const t = setup(10);
    t.traffic.unreachableStatus = true;
    await t.engine.deploy({ version: '1.0.0', package: t.pkg('1.0.0') });
    expect(await t.sizes()).toEqual([1, 2, 2, 2, 2, 1]);
  });

  it('pulled-out hosts are not asked (they count anyway)', async () => {
    const s = setup(10, 0.25, [10]);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(s.traffic.asked).not.toContain('web-10');
    expect(await s.sizes()).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('rollback counts them too: 10 hosts at 50% with one DOWN: it first, then 5 and 4', async () => {
    const s = setup(10, 1);
    for (const v of ['1.0.0', '2.0.0']) {
      await s.engine.deploy({ version: v, package: s.pkg(v) });
      await s.engine.bake();
      await s.engine.continue();
    }
    s.traffic.state.set('web-10', 'down');
    await s.engine.rollback();
    expect(await s.sizes()).toEqual([1, 5, 4]);
    expect((await s.releaseLine()).outOfService).toEqual(['web-10']);
  });
});
