/**
 * S7 × F5 on the engine (in-memory side-by-side fleet, the real circuit breaker): side-by-side
 * never ends SUCCESS with nothing switched; a switch the LB could not do is named by the release
 * and by status with the one command, and that command switches the verified slot without
 * restarting it, leaving no stale error on the record.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../../src/engine/clock';
import { Engine, type EngineOptions } from '../../../src/engine/engine';
import type { Ports, Store } from '../../../src/engine/ports';
import { SIDE_BY_SIDE_OUTAGE_ADVICE } from '../../../src/engine/lb-outage';
import { servingView } from '../../../src/engine/serving-view';
import { DependencyDownError, InputError } from '../../../src/model/errors';
import type { DeploymentConfig } from '../../../src/model/types';
import { collectStatus } from '../../../src/report/collect';
import { withBreaker } from '../../../src/traffic/breaker';
import { fakePackage, makeConfig, makeGroup, makeLogger, MemoryStore } from '../../support/fakes';
import { SlotFleet, SlotTraffic } from '../../support/slot-fakes';

function setup(over: Partial<DeploymentConfig> = {}) {
  const clock = new SimulatedClock();
  const group = makeGroup(4);
  for (const t of group.targets) t.altPort = 8081;
  const fleet = new SlotFleet(clock);
  const lb = new SlotTraffic(fleet, group.targets);
  // The LB's runtime API goes away and comes back; HAProxy keeps its server states meanwhile.
  let down = false;
  const away = () => Promise.reject(new Error('connect ENOENT admin.sock'));
  const [status, markup, markdown] = [lb.status.bind(lb), lb.markup.bind(lb), lb.markdown.bind(lb)];
  lb.status = (t) => (down ? away() : status(t));
  lb.markup = (t) => (down ? away() : markup(t));
  lb.markdown = (t) => (down ? away() : markdown(t));
  // Nobody holds the run lock between operations: status judges a running phase's process gone.
  const store: Store = Object.assign(new MemoryStore(), { runHolder: async () => null });
  const logger = makeLogger();
  const config = makeConfig({
    sizing: { kind: 'ratio', maxUnavailable: 0.5 },
    strategy: 'side-by-side',
    keepWarmMs: 300_000,
    ...over,
  });
  const engine = (o: EngineOptions & { degraded?: boolean } = {}) => {
    const traffic = withBreaker(lb, {
      logger,
      degraded: o.degraded === true,
      attempts: 1,
      halfOpenAfterMs: 1,
      outageAdvice: SIDE_BY_SIDE_OUTAGE_ADVICE, // as the runtime sets it for side-by-side
    });
    const ports: Ports = { ...servingView(fleet, traffic), store, clock, logger };
    return {
      engine: new Engine(ports, group, config, 'tester', { groupFile: 'g.yml', ...o }),
      ports,
    };
  };
  const release = async (version: string) => {
    const { engine: e } = engine();
    await e.deploy({ version, package: fakePackage(version) });
    await e.bake();
    return e.continue();
  };
  return {
    group,
    fleet,
    lb,
    store,
    engine,
    release,
    setDown: (v: boolean) => (down = v),
    ledger: async () => (await store.load(group.name))!,
    starts: (id: string) => fleet.calls.filter((c) => c.op === 'start' && c.target === id).length,
  };
}

describe('side-by-side with the load balancer degraded or lost (S7 × F5)', () => {
  it('--degrade lb: every operation that could switch is refused before any host is touched', async () => {
    const s = setup();
    expect((await s.release('1.0.0')).phase).toBe('SUCCESS');
    const before = (await s.ledger()).current!.id;
    const calls = s.fleet.calls.length;
    const lbCalls = s.lb.calls.length;
    const { engine } = s.engine({ lbDegraded: '--degrade lb', degraded: true });
    const err = await engine
      .deploy({ version: '2.0.0', package: fakePackage('2.0.0') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(
      /^--degrade lb: side-by-side switches a host to another version only in the load balancer/,
    );
    expect((err as Error).message).toContain('`rollgate deploy -g g.yml`');
    await expect(engine.rollback()).rejects.toThrow(
      /^--degrade lb: .*rollback would switch nothing/,
    );
    expect(s.fleet.calls.length).toBe(calls);
    expect(s.lb.calls.length).toBe(lbCalls);
    expect((await s.ledger()).current!.id).toBe(before);

    // A release in progress: continue with the flag is refused the same way.
    const { engine: plain } = s.engine();
    expect((await plain.deploy({ version: '2.0.0', package: fakePackage('2.0.0') })).phase).toBe(
      'SMOKE_SUCCESS',
    );
    await expect(engine.bake()).rejects.toBeInstanceOf(InputError);
    await expect(engine.continue()).rejects.toThrow(/^--degrade lb: /);
    expect((await s.ledger()).current!.phase).toBe('SMOKE_SUCCESS');
  });

  it('the group file flag names itself and how to turn it off', async () => {
    const s = setup();
    const { engine } = s.engine({ lbDegraded: 'traffic.degraded', degraded: true });
    await expect(
      engine.deploy({ version: '1.0.0', package: fakePackage('1.0.0') }),
    ).rejects.toThrow(/^traffic\.degraded: .*set traffic\.degraded: false in the group file/);
  });

  it('a switch the LB skipped is never a success, whatever Traffic the engine gets', async () => {
    const s = setup();
    expect((await s.release('1.0.0')).phase).toBe('SUCCESS');
    // Degraded traffic handed to an engine that was not told: the bake's switch is skipped.
    const { engine } = s.engine({ degraded: true });
    expect((await engine.deploy({ version: '2.0.0', package: fakePackage('2.0.0') })).phase).toBe(
      'SMOKE_SUCCESS',
    );
    s.setDown(true);
    // Before the fix: BAKE_SUCCESS, then continue ended SUCCESS with every host on 1.0.0.
    await expect(engine.bake()).rejects.toBeInstanceOf(DependencyDownError);
    const d = (await s.ledger()).current!;
    expect(d.phase).toBe('SMOKE_SUCCESS');
    expect(s.fleet.current('web-01')).toBe('1.0.0');
  });

  it('LB lost at the switch: named with `continue`; continue once it answers switches without a restart, SUCCESS, no stale error', async () => {
    const s = setup();
    expect((await s.release('1.0.0')).phase).toBe('SUCCESS');
    const { engine } = s.engine();
    await engine.deploy({ version: '2.0.0', package: fakePackage('2.0.0') });
    expect((await engine.bake()).phase).toBe('BAKE_SUCCESS');
    s.setDown(true);
    const err = await engine.continue().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyDownError);
    const text = (err as Error).message;
    expect(text).not.toContain('--degrade');
    expect(text).toMatch(/Verified, not in traffic \(the load balancer was unavailable\): web-02/);
    expect(text).toContain('`rollgate continue -g g.yml` switches');

    const mid = (await s.ledger()).current!;
    expect(mid.phase).toBe('ROLLING_OUT');
    const pending = Object.values(mid.targets)
      .filter((t) => t.state === 'VERIFY_SUCCESS')
      .map((t) => t.id);
    expect(pending, JSON.stringify(mid.targets)).toEqual(['web-02']);
    for (const id of pending) expect(s.fleet.current(id)).toBe('1.0.0');

    const { ports } = s.engine();
    const down = await collectStatus(ports, s.group, 5, { groupFile: 'g.yml' });
    s.setDown(false);
    const back = await collectStatus(ports, s.group, 5, { groupFile: 'g.yml' });
    for (const st of [down, back]) {
      for (const id of pending) {
        const w = st.targets.find((t) => t.id === id)!.wayBack;
        expect(w?.why).toMatch(
          /^new slot verified on 2\.0\.0, not in traffic \(the load balancer was unavailable\)/,
        );
        expect(w?.command).toBe('rollgate continue -g g.yml');
      }
    }
    const starts = new Map(pending.map((id) => [id, s.starts(id)]));
    const r = await s.engine().engine.continue();
    expect(r.phase).toBe('SUCCESS');
    expect(r.message).not.toMatch(/unavailable|unknown/);
    for (const t of Object.values(r.deployment.targets)) {
      expect(t.error, t.id).toBeUndefined();
      expect(t.lbUnknown, t.id).toBeUndefined();
    }
    for (const id of pending) {
      expect(s.starts(id), id).toBe(starts.get(id)); // switched, not restarted
      expect(s.fleet.current(id)).toBe('2.0.0');
    }
    const end = await collectStatus(ports, s.group, 5, { groupFile: 'g.yml' });
    expect(end.targets.filter((t) => t.wayBack)).toEqual([]);
  });

  it('LB lost at the bake: the bastion is named with `bake`; bake once it answers switches it, no restart, no stale error', async () => {
    const s = setup();
    expect((await s.release('1.0.0')).phase).toBe('SUCCESS');
    const { engine, ports } = s.engine();
    expect((await engine.deploy({ version: '2.0.0', package: fakePackage('2.0.0') })).phase).toBe(
      'SMOKE_SUCCESS',
    );
    s.setDown(true);
    const err = await engine.bake().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyDownError);
    expect((err as Error).message).toContain(
      'Verified, not in traffic (the load balancer was unavailable): web-01.',
    );
    expect((err as Error).message).toContain('`rollgate bake -g g.yml` switches it');
    expect((err as Error).message).not.toContain('--degrade');
    s.setDown(false);
    const st = await collectStatus(ports, s.group, 5, { groupFile: 'g.yml' });
    expect(st.targets[0]!.wayBack).toMatchObject({ command: 'rollgate bake -g g.yml' });
    const starts = s.starts('web-01');
    const r = await s.engine().engine.bake();
    expect(r.phase).toBe('BAKE_SUCCESS');
    expect(s.starts('web-01')).toBe(starts);
    expect(s.fleet.current('web-01')).toBe('2.0.0');
    const t = r.deployment.targets['web-01']!;
    expect(t.state).toBe('BAKE_SUCCESS');
    expect(t.error).toBeUndefined();
    expect(t.lbUnknown).toBeUndefined();
  });

  it('a resumed switch asks the host first: a verified slot that died meanwhile is not put in', async () => {
    const s = setup();
    expect((await s.release('1.0.0')).phase).toBe('SUCCESS');
    const { engine } = s.engine();
    await engine.deploy({ version: '2.0.0', package: fakePackage('2.0.0') });
    await engine.bake();
    s.setDown(true);
    await engine.continue().catch(() => undefined);
    s.setDown(false);
    // web-02's new slot (b) stopped while the LB was away.
    s.fleet.host('web-02').slots.b!.running = false;
    const r = await s.engine().engine.continue();
    expect(r.phase).toBe('FAILURE');
    const t = r.deployment.targets['web-02']!;
    expect(t.state).toBe('MARKUP_FAILURE');
    expect(t.error).toMatch(/slot b .*verified earlier, no longer healthy on 2\.0\.0/);
    expect(s.fleet.current('web-02')).toBe('1.0.0');
    expect(s.lb.get({ ...s.group.targets[1]!, lbName: 'web-02-b' })).toBe('maint');
    expect(s.lb.get(s.group.targets[1]!)).toBe('up');
  });
});
