/**
 * Issue 13 item 9: a retry is a pass of its own over the failed targets ("retry 1: 2 targets in
 * 2 batches"), numbered within the pass; the first attempt's batch outcomes stay visible in
 * `status` and the job summary; a retried target shows its current attempt's timings and keeps
 * the earlier attempt's in the record. The record rebuilt from the log is the same.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { SimulatedClock } from '../../../src/engine/clock';
import type { Ports } from '../../../src/engine/ports';
import type { ReleaseEvent } from '../../../src/engine/ledger';
import { collectStatus } from '../../../src/report/collect';
import { renderStatus, summarizeRelease, type GroupStatus } from '../../../src/report/status';
import { renderStatusMarkdown } from '../../../src/report/markdown';
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

/** 10 hosts at 30%: bastion web-01, then 9 in batches of 2: [02 03] [04 05] [06 07] [08 09] [10]. */
function setup() {
  const clock = new SimulatedClock();
  const fleet = new FakeFleet(clock, 100);
  const store = new MemoryStore();
  const ports: Ports = {
    transport: fleet,
    traffic: new FakeTraffic(),
    store,
    clock,
    logger: makeLogger(),
  };
  const group = makeGroup(10);
  const config = makeConfig({ sizing: { kind: 'ratio', maxUnavailable: 0.3 } });
  const engine = new Engine(ports, group, config, 'dave');
  const pkg = fakePackage;
  const ledger = async () => (await store.load(group.name))!;
  return { clock, fleet, store, ports, group, engine, pkg, ledger };
}

describe('retry is a pass of its own (issue 13 item 9)', () => {
  it('keeps the ✗ of the first pass, numbers its own batches, shows each attempt', async () => {
    const s = setup();
    s.fleet.failures.set('web-06', { op: 'install', times: 1 });
    s.fleet.failures.set('web-07', { op: 'install', times: 2 });
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.engine.bake();
    expect((await s.engine.continue()).phase).toBe('FAILURE');
    const before = (await s.ledger()).current!;
    expect(before.batches).toHaveLength(6);

    // A look at the record the moment the retry's second batch starts: web-07 waits its turn.
    let midway: GroupStatus | null = null;
    const append = s.store.append.bind(s.store);
    s.store.append = async (g: string, e: ReleaseEvent) => {
      await append(g, e);
      if (!midway && e.type === 'batch' && e.message.startsWith('retry 1, batch 2/2:')) {
        midway = await collectStatus(s.ports, s.group);
      }
    };
    const r = await s.engine.retry();
    expect(r.phase).toBe('FAILURE'); // web-07 fails a second time

    const events = (await s.store.events('shop')).filter((e) => e.deployment === before.id);
    expect(events.map((e) => e.message)).toContain(
      'retry 1 by dave: 2 targets in 2 batches (web-06, web-07)',
    );
    const lines = events.filter((e) => e.type === 'batch').map((e) => e.message);
    expect(lines.filter((l) => l.startsWith('retry 1, '))).toEqual([
      'retry 1, batch 1/2: web-06',
      expect.stringMatching(/^retry 1, batch 1\/2 done in .*: 1 ok, 0 failed$/),
      'retry 1, batch 2/2: web-07',
      expect.stringMatching(/^retry 1, batch 2\/2 done in .*: 0 ok, 1 failed$/),
    ]);
    // Never "batch 7/8": the first pass keeps its numbers.
    expect(lines.some((l) => /^batch [78]\//.test(l))).toBe(false);

    const d = (await s.ledger()).current!;
    const sum = summarizeRelease(d);
    expect(sum.batches.map((b) => [b.pass ?? 0, b.number, b.done, b.failed])).toEqual([
      [0, 1, 1, 0],
      [0, 2, 2, 0],
      [0, 3, 2, 0],
      [0, 4, 0, 2], // the first pass's ✗ stays
      [0, 5, 2, 0],
      [0, 6, 1, 0],
      [1, 1, 1, 0],
      [1, 2, 0, 1],
    ]);

    // web-06: its current attempt's timings (retry 1, batch 1), the earlier one kept.
    const w6 = d.targets['web-06']!;
    expect(w6.state).toBe('MARKUP_SUCCESS');
    expect(w6.attempts).toBe(1);
    expect(w6.steps.install!.detail).toMatch(/^switched current to 1\.0\.0/);
    expect(w6.previous).toEqual([
      expect.objectContaining({ batch: 3, error: 'install failed on web-06 (injected)' }),
    ]);
    expect(w6.previous![0]!.steps.install!.endedAt).toBeGreaterThan(
      w6.previous![0]!.steps.install!.startedAt,
    );
    expect(w6.previous![0]!.steps.install!.endedAt).toBeLessThan(w6.steps.install!.startedAt);

    // Midway, web-07 waited PENDING with no timings of the earlier attempt beside it.
    const w7mid = midway!.targets.find((t) => t.id === 'web-07')!;
    expect(w7mid.state).toBe('PENDING');
    expect(w7mid.steps).toEqual({});
    expect(w7mid).toMatchObject({ batch: 2, pass: 1 });
    expect(w7mid.previous).toEqual([
      expect.objectContaining({ batch: 4, error: 'install failed on web-07 (injected)' }),
    ]);

    const st = await collectStatus(s.ports, s.group);
    const text = renderStatus(st);
    expect(text).toContain(
      'batches: 1 (bastion) 1/1 · 2 2/2 · 3 2/2 · 4 0/2 2✗ · 5 2/2 · 6 1/1 — retry 1: 1 1/1 · 2 0/1 1✗',
    );
    expect(text).toMatch(/web-07 .* INSTALL_FAILURE\s+retry 1: 2 /);
    const md = renderStatusMarkdown(st, { live: [] });
    // batch | hosts | started | took | done | failed
    expect(md).toMatch(/\| 4 \| 2 \| [\d:]{8} \| \d+m?s \| 0 \| 2 \|/);
    expect(md).toMatch(/\| retry 1 · 1 \| 1 \| [\d:]{8} \| \d+m?s \| 1 \| 0 \|/);
    expect(md).toMatch(/\| retry 1 · 2 \| 1 \| [\d:]{8} \| \d+m?s \| 0 \| 1 \|/);
    // The version map: batch 4's targets moved into the retry pass.
    expect(md).toContain('| 4 | (retried: see the retry rows) |');
    expect(md).toContain('| retry 1 · 2 | 🟥 |');

    const saved = await s.ledger();
    delete saved.openRun;
    const rebuilt = rebuildLedger('shop', await s.store.events('shop'));
    expect(rebuilt.kind === 'rebuilt' && rebuilt.ledger).toEqual(saved);

    // A second retry is pass 2; pass 1's outcome stays too.
    expect((await s.engine.retry()).phase).toBe('SUCCESS');
    const d2 = (await s.ledger()).current!;
    expect(
      summarizeRelease(d2)
        .batches.filter((b) => b.pass)
        .map((b) => [b.pass, b.number, b.done, b.failed]),
    ).toEqual([
      [1, 1, 1, 0],
      [1, 2, 0, 1],
      [2, 1, 1, 0],
    ]);
    expect(d2.targets['web-07']!.previous!.map((p) => p.batch)).toEqual([3, 7]); // record indexes
    const again = rebuildLedger('shop', await s.store.events('shop'));
    const saved2 = await s.ledger();
    delete saved2.openRun;
    expect(again.kind === 'rebuilt' && again.ledger).toEqual(saved2);
  });
});
