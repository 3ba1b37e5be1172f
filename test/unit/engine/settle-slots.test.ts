import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../../src/engine/clock';
import type { TrafficStatus } from '../../../src/engine/ports';
import { settleSlots } from '../../../src/engine/slot-steps';
import type { Slot } from '../../../src/model/types';
import { makeGroup } from '../../support/fakes';
import { slotPorts } from '../../support/slot-fakes';

/** A flip cut in the middle is settled by host truth: the host's serving slot in, the other out. */
describe('settleSlots (S7)', () => {
  type Row = [
    string,
    { serving: Slot; a: TrafficStatus; b: TrafficStatus; servingRuns?: boolean },
    string[],
    'did' | 'left' | null,
  ];
  const rows: Row[] = [
    ['settled: a serves, b out', { serving: 'a', a: 'up', b: 'maint' }, [], null],
    ['settled: b serves, a out', { serving: 'b', a: 'maint', b: 'up' }, [], null],
    [
      'killed after the new slot went in: both in traffic → the new one out',
      { serving: 'a', a: 'up', b: 'up' },
      ['markdown web-01-b'],
      'did',
    ],
    [
      'killed mid-drain of the old slot → the drain reversed',
      { serving: 'a', a: 'drain', b: 'up' },
      ['markup web-01', 'markdown web-01-b'],
      'did',
    ],
    [
      'killed before the host named the new slot: LB flipped, host not → back to the host',
      { serving: 'a', a: 'maint', b: 'up' },
      ['markup web-01', 'markdown web-01-b'],
      'did',
    ],
    [
      'the serving slot is not running: nothing changed, said why',
      { serving: 'a', a: 'maint', b: 'up', servingRuns: false },
      [],
      'left',
    ],
    [
      'host serves b, a still draining from the flip → a out',
      { serving: 'b', a: 'drain', b: 'up' },
      ['markdown web-01'],
      'did',
    ],
  ];
  it.each(rows)('%s', async (_name, s, calls, outcome) => {
    const group = makeGroup(1);
    for (const t of group.targets) t.altPort = 8081;
    const { fleet, traffic, ports } = slotPorts(new SimulatedClock(), group.targets);
    const h = fleet.host('web-01');
    h.serving = s.serving;
    h.slots = {
      a: { version: s.serving === 'a' ? '1.0.0' : '2.0.0', running: true },
      b: { version: s.serving === 'a' ? '2.0.0' : '1.0.0', running: true },
    };
    if (s.servingRuns === false) h.slots[s.serving]!.running = false;
    traffic.state.set('web-01', s.a);
    traffic.state.set('web-01-b', s.b);
    const said = await settleSlots(ports, group.targets[0]!);
    expect(traffic.calls).toEqual(calls);
    expect(said === null ? null : 'did' in said ? 'did' : 'left').toBe(outcome);
    if (outcome === 'did') {
      expect(
        traffic.get({ ...group.targets[0]!, lbName: s.serving === 'a' ? 'web-01' : 'web-01-b' }),
      ).toBe('up');
    }
  });
});
