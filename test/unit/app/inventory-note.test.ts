import { describe, expect, it } from 'vitest';
import { InventoryNoteStore } from '../../../src/app/inventory-note';
import { SimulatedClock } from '../../../src/engine/clock';
import { Engine } from '../../../src/engine/engine';
import { fakePackage, fakePorts, makeConfig, makeGroup } from '../../support/fakes';

const REASON =
  'inventory from cache, 2h old: https://cmdb.example.com/x is down (HTTP 503 Service Unavailable)';

describe('F5: an operation on a cached inventory says so in the record', () => {
  it('one warning right after the release line, and the reason in degraded, per release', async () => {
    const clock = new SimulatedClock();
    const { ports, store } = fakePorts(clock);
    const noted = { ...ports, store: new InventoryNoteStore(store, REASON, clock) };
    const group = makeGroup(4);
    const engine = new Engine(noted, group, makeConfig(), 'alice');
    const deployed = await engine.deploy({ version: '1.1.0', package: fakePackage('1.1.0') });
    expect(deployed.phase).toBe('SMOKE_SUCCESS');
    expect((await engine.bake()).phase).toBe('BAKE_SUCCESS');

    const events = store.shared.events;
    expect(events[0]!.type).toBe('release');
    expect(events[1]).toMatchObject({
      type: 'warn',
      level: 'warn',
      deployment: events[0]!.deployment,
      message: `degraded: ${REASON}`,
    });
    // The bake is another operation of the same release: said once per release.
    expect(events.filter((e) => e.type === 'warn' && e.message.includes('inventory'))).toHaveLength(
      1,
    );
    const ledger = await store.load(group.name);
    expect(ledger!.current!.degraded).toEqual([REASON]);
  });
});
