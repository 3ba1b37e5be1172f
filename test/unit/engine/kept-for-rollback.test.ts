import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { SimulatedClock } from '../../../src/engine/clock';
import { keptForRollback } from '../../../src/engine/chain';
import { emptyLedger, type Deployment, type HistoryEntry } from '../../../src/engine/ledger';
import {
  FakeFleet,
  FakeTraffic,
  MemoryStore,
  makeConfig,
  makeGroup,
  makeLogger,
} from '../../support/fakes';

const h = (version: string, outcome: HistoryEntry['outcome']): HistoryEntry => ({
  id: `shop-${version}`,
  kind: 'deploy',
  version,
  outcome,
  createdAt: 0,
  endedAt: 0,
  by: 'alice',
});

describe('keptForRollback (F4): what a host keeps whatever `keep` says', () => {
  it.each([
    { history: [], from: null, version: '1.0.0', kept: [] },
    { history: [h('1.0.0', 'success')], from: '1.0.0', version: '2.0.0', kept: ['1.0.0'] },
    // Two releases aborted since the last good one: the good one is still kept.
    {
      history: [h('3.0.0', 'aborted'), h('2.0.0', 'failure'), h('1.0.0', 'success')],
      from: '1.0.0',
      version: '4.0.0',
      kept: ['1.0.0'],
    },
    // Released again: the newest good release of another version.
    {
      history: [h('2.0.0', 'success'), h('1.0.0', 'success')],
      from: '2.0.0',
      version: '2.0.0',
      kept: ['1.0.0'],
    },
  ])('history $history.length, from $from, releasing $version → $kept', (c) => {
    const ledger = { ...emptyLedger('shop'), history: c.history };
    const d = { version: c.version, fromVersion: c.from } as Deployment;
    expect(keptForRollback(ledger, d)).toEqual(c.kept);
  });

  it('the engine tells every install what to keep', async () => {
    const clock = new SimulatedClock();
    const fleet = new FakeFleet(clock, 100);
    const ports = {
      transport: fleet,
      traffic: new FakeTraffic(),
      store: new MemoryStore(),
      clock,
      logger: makeLogger(),
    };
    const engine = new Engine(ports, makeGroup(3), makeConfig(), 'alice');
    const pkg = (v: string) => ({ version: v, path: `/p/${v}.tgz` });
    await engine.deploy({ version: '1.0.0', package: pkg('1.0.0') });
    await engine.bake();
    await engine.continue();
    await engine.deploy({ version: '2.0.0', package: pkg('2.0.0') });
    await engine.stop();
    await engine.deploy({ version: '3.0.0', package: pkg('3.0.0') });
    expect(fleet.protectedAt.get('web-01')).toEqual(['1.0.0']);
  });
});
