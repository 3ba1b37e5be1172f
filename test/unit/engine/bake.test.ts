import { describe, expect, it } from 'vitest';
import { bastionUnhealthy } from '../../../src/engine/chain';
import { SimulatedClock } from '../../../src/engine/clock';
import { Engine } from '../../../src/engine/engine';
import type { HealthResult, Ports } from '../../../src/engine/ports';
import { DependencyDownError } from '../../../src/model/errors';
import type { Target } from '../../../src/model/types';
import {
  FakeFleet,
  FakeTraffic,
  makeConfig,
  makeGroup,
  makeLogger,
  MemoryStore,
} from '../../support/fakes';

describe('bastionUnhealthy (S4): may the verified bastion bake?', () => {
  it.each<[HealthResult, string | null]>([
    [{ ok: true, version: '1.2.0', detail: 'HTTP 200' }, null],
    // An app that reports no version is judged by its health alone.
    [{ ok: true, detail: 'HTTP 200' }, null],
    [
      { ok: true, version: '1.1.0', detail: 'HTTP 200' },
      'bastion no longer healthy on 1.2.0: version 1.1.0',
    ],
    [{ ok: false, detail: 'HTTP 500' }, 'bastion no longer healthy on 1.2.0: HTTP 500'],
    // Unhealthy says why, whatever version it reports.
    [
      { ok: false, version: '1.2.0', detail: 'connection refused' },
      'bastion no longer healthy on 1.2.0: connection refused',
    ],
  ])('%j → %s', (health, problem) => {
    expect(bastionUnhealthy(health, '1.2.0')).toBe(problem);
  });
});

/** A bake pressed on a verified bastion, as a person would: deploy, then bake. */
async function verifiedBastion() {
  const clock = new SimulatedClock();
  const fleet = new FakeFleet(clock, 10);
  const traffic = new LbThatGoesDown();
  const store = new MemoryStore();
  const ports: Ports = { transport: fleet, traffic, store, clock, logger: makeLogger() };
  const group = makeGroup(4);
  const engine = new Engine(ports, group, makeConfig(), 'ann');
  const r = await engine.deploy({
    version: '1.0.0',
    package: { version: '1.0.0', path: '/p.tgz' },
  });
  expect(r.phase).toBe('SMOKE_SUCCESS');
  const bastion = async () => (await store.load(group.name))!.current!.targets['web-01']!;
  return { fleet, traffic, store, engine, bastion };
}

class LbThatGoesDown extends FakeTraffic {
  override async markup(target: Target): Promise<void> {
    if (this.down) throw new DependencyDownError('load balancer fake-lb does not answer');
    return super.markup(target);
  }
}

describe('Engine.bake: the bake is the bastion chain’s last step (S4)', () => {
  it('a healthy bastion goes into traffic: BAKE_SUCCESS', async () => {
    const s = await verifiedBastion();
    const r = await s.engine.bake();
    expect(r).toMatchObject({ status: 'waiting', phase: 'BAKE_SUCCESS' });
    expect((await s.bastion()).state).toBe('BAKE_SUCCESS');
    expect((await s.bastion()).steps.bake?.detail).toBe('back in traffic (fake-lb)');
    expect(s.traffic.state.get('web-01')).toBe('up');
  });

  it.each([
    ['turned unhealthy', (f: FakeFleet) => f.broken.add('1.0.0'), 'HTTP 500'],
    ['switched back', (f: FakeFleet) => (f.host('web-01').current = '0.9.0'), 'version 0.9.0'],
  ])(
    'a bastion that %s since verify fails the bake and stays out of traffic',
    async (_, change, why) => {
      const s = await verifiedBastion();
      change(s.fleet);
      const r = await s.engine.bake();
      expect(r).toMatchObject({ status: 'failure', phase: 'SMOKE_FAILURE' });
      expect(await s.bastion()).toMatchObject({
        state: 'BAKE_FAILURE',
        error: `bastion no longer healthy on 1.0.0: ${why}`,
      });
      expect(s.traffic.state.get('web-01')).toBe('maint');
    },
  );

  it('F5: a load balancer that is down stops the bake; the bastion stays verified, its LB state unknown', async () => {
    const s = await verifiedBastion();
    s.traffic.down = true;
    await expect(s.engine.bake()).rejects.toThrow(DependencyDownError);
    const ledger = (await s.store.load('shop'))!;
    expect(ledger.current!.phase).toBe('SMOKE_SUCCESS');
    expect(await s.bastion()).toMatchObject({
      state: 'BAKE_FAILURE',
      error: 'load balancer fake-lb does not answer',
      lbUnknown: 'bake of web-01 did not complete: load balancer fake-lb does not answer',
    });
    expect(ledger.current!.interrupted).toBe('load balancer fake-lb does not answer');
  });
});
