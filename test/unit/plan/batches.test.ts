import { describe, expect, it } from 'vitest';
import {
  batchSizes,
  planBatches,
  planSubset,
  rollbackConfig,
  ROLLBACK_SIZING,
} from '../../../src/plan/batches';
import type { BatchSizing } from '../../../src/model/types';
import { InputError } from '../../../src/model/errors';
import { makeConfig, makeTargets } from '../../support/fakes';

const ratio = (r: number): BatchSizing => ({ kind: 'ratio', maxUnavailable: r });
const pattern = (...p: number[]): BatchSizing => ({
  kind: 'pattern',
  parts: p,
  maxUnavailable: Math.max(...p),
});

describe('planBatches (M4, M6) — worked examples', () => {
  it.each([
    // hosts, sizing, bastion, expected batch sizes (bastion first)
    { n: 20, sizing: ratio(0.25), bastion: 1, sizes: [1, 4, 4, 4, 4, 3] }, // the example: bastion + 5
    { n: 6, sizing: ratio(0.5), bastion: 1, sizes: [1, 2, 2, 1] }, // floor(0.5 × 5) = 2
    { n: 6, sizing: ratio(0.6), bastion: 1, sizes: [1, 3, 2] },
    { n: 6, sizing: ratio(0.25), bastion: 1, sizes: [1, 1, 1, 1, 1, 1] }, // floor(0.25 × 5) = 1
    { n: 10, sizing: ratio(0.3), bastion: 1, sizes: [1, 2, 2, 2, 2, 1] }, // floor(2.7) = 2
    { n: 100, sizing: ratio(0.25), bastion: 1, sizes: [1, 20, 20, 20, 20, 19] }, // floor(24.75)=24 → 5 batches, spread evenly
    { n: 11, sizing: pattern(0.1, 0.2, 0.7), bastion: 1, sizes: [1, 1, 2, 7] },
    { n: 3, sizing: pattern(0.1, 0.2, 0.7), bastion: 1, sizes: [1, 1, 1] }, // every batch ≥ 1 host
    { n: 2, sizing: ratio(0.25), bastion: 1, sizes: [1, 1] },
    { n: 1, sizing: ratio(0.25), bastion: 1, sizes: [1] }, // one host: no bastion, plain batch
    { n: 8, sizing: ratio(0.5), bastion: 0, sizes: [4, 4] }, // rollback shape: no bastion, 50%
    { n: 5, sizing: ratio(0.5), bastion: 0, sizes: [2, 2, 1] }, // never more than 50% out
    { n: 7, sizing: ratio(1), bastion: 2, sizes: [2, 5] },
  ])(
    '$n hosts, $sizing.kind $sizing.maxUnavailable, bastion $bastion → $sizes',
    ({ n, sizing, bastion, sizes }) => {
      const plan = planBatches(makeTargets(n), { sizing, bastionCount: bastion });
      expect(plan.batches.map((b) => b.targets.length)).toEqual(sizes);
      expect(plan.total).toBe(n);
      // Every target exactly once, every batch non-empty, indexes in order.
      const ids = plan.batches.flatMap((b) => b.targets);
      expect(new Set(ids).size).toBe(n);
      expect(plan.batches.every((b, i) => b.index === i && b.targets.length >= 1)).toBe(true);
      // The bastion is batch 1 and alone.
      expect(plan.batches.filter((b) => b.bastion).map((b) => b.index)).toEqual(
        bastion > 0 && n > 1 ? [0] : [],
      );
    },
  );

  it('M6: pulled-out targets are left out of every batch and listed', () => {
    const plan = planBatches(makeTargets(6, [2, 5]), { sizing: ratio(0.5), bastionCount: 1 });
    expect(plan.excluded).toEqual(['web-02', 'web-05']);
    expect(plan.batches.flatMap((b) => b.targets)).toEqual([
      'web-01',
      'web-03',
      'web-04',
      'web-06',
    ]);
    expect(plan.total).toBe(4);
  });

  it('a pinned bastion is used, wherever it is in the list', () => {
    const plan = planBatches(makeTargets(4), {
      sizing: ratio(0.5),
      bastionCount: 1,
      bastionTargets: ['web-03'],
    });
    expect(plan.batches[0]).toEqual({ index: 0, bastion: true, targets: ['web-03'] });
    expect(plan.batches.slice(1).flatMap((b) => b.targets)).toEqual(['web-01', 'web-02', 'web-04']);
  });

  it('refuses a pinned bastion that is pulled out or unknown, naming the field', () => {
    expect(() =>
      planBatches(makeTargets(4, [3]), {
        sizing: ratio(0.5),
        bastionCount: 1,
        bastionTargets: ['web-03'],
      }),
    ).toThrow(/deployment.bastion: "web-03"/);
  });

  it('refuses a group where every target is pulled out', () => {
    expect(() =>
      planBatches(makeTargets(2, [1, 2]), { sizing: ratio(0.5), bastionCount: 1 }),
    ).toThrow(InputError);
  });
});

describe('batchSizes', () => {
  it.each([
    { n: 0, sizing: ratio(0.25), sizes: [] },
    { n: 19, sizing: ratio(0.25), sizes: [4, 4, 4, 4, 3] },
    { n: 10, sizing: pattern(0.5, 0.5), sizes: [5, 5] },
    { n: 10, sizing: pattern(0.25, 0.25, 0.5), sizes: [3, 2, 5] }, // cumulative rounding: 2.5→3, 5, 10
    { n: 1000, sizing: ratio(0.01), sizes: Array(100).fill(10) },
  ])('$n at $sizing.kind → $sizes', ({ n, sizing, sizes }) => {
    const got = batchSizes(n, sizing);
    expect(got).toEqual(sizes);
    expect(got.reduce((a, b) => a + b, 0)).toBe(n);
  });
});

describe('planSubset (F3 retry, F4 rollback)', () => {
  it('re-plans only the chosen targets, in group order, without a bastion', () => {
    const batches = planSubset(makeTargets(8), new Set(['web-07', 'web-02', 'web-05']), ratio(0.5));
    expect(batches).toEqual([
      { index: 0, bastion: false, targets: ['web-02'] },
      { index: 1, bastion: false, targets: ['web-05'] },
      { index: 2, bastion: false, targets: ['web-07'] },
    ]);
  });

  it('F4: rollback sizing is 50% — six hosts in two batches', () => {
    expect(batchSizes(6, ROLLBACK_SIZING)).toEqual([3, 3]);
  });
});

describe('planBatches — hosts already out count against max unavailable (M6, F2)', () => {
  const cfg = (r: number) => ({ sizing: ratio(r), bastionCount: 1 });
  it.each([
    // n hosts, pulled out (1-based), out of traffic in the LB, ratio → roll-out batches, room,
    // the most out at once, forced
    {
      n: 10,
      pulled: [],
      down: [],
      r: 0.25,
      batches: ['02 03', '04 05', '06 07', '08 09', '10'],
      room: 2,
      worst: 2,
      forced: false,
    },
    {
      n: 10,
      pulled: [10],
      down: [],
      r: 0.25,
      batches: ['02', '03', '04', '05', '06', '07', '08', '09'],
      room: 1,
      worst: 2,
      forced: false,
    },
    {
      // web-05 out of traffic goes first; while the bastion runs 3 of 10 are out.
      n: 10,
      pulled: [10],
      down: ['web-05'],
      r: 0.25,
      batches: ['05', '02', '03', '04', '06', '07', '08', '09'],
      room: 1,
      worst: 3,
      forced: true,
    },
    {
      // Issue 13 item 5: one DOWN of 10 at 25% — released first, then batches of 2.
      n: 10,
      pulled: [],
      down: ['web-10'],
      r: 0.25,
      batches: ['10', '02 03', '04 05', '06 07', '08 09'],
      room: 2,
      worst: 2,
      forced: false,
    },
    {
      n: 20,
      pulled: [],
      down: ['web-20'],
      r: 0.25,
      batches: ['20', '02 03 04 05', '06 07 08 09', '10 11 12 13', '14 15 16', '17 18 19'],
      room: 5,
      worst: 4,
      forced: false,
    },
    {
      n: 20,
      pulled: [19, 20],
      down: [],
      r: 0.25,
      batches: ['02 03 04', '05 06 07', '08 09 10', '11 12 13', '14 15 16', '17 18'],
      room: 3,
      worst: 5,
      forced: false,
    },
    {
      // A first release: nothing runs, the LB has every host DOWN — nothing serves, nothing
      // to keep: the batches are the ratio's (not batches of one).
      n: 10,
      pulled: [],
      down: Array.from({ length: 10 }, (_, i) => `web-${String(i + 1).padStart(2, '0')}`),
      r: 0.25,
      batches: ['02 03', '04 05', '06 07', '08 09', '10'],
      room: 2,
      worst: 0, // no batch takes a serving host out
      forced: false,
    },
    {
      n: 10,
      pulled: [],
      down: [],
      r: 0.3,
      batches: ['02 03', '04 05', '06 07', '08 09', '10'],
      room: 3,
      worst: 2,
      forced: false,
    }, // room 0.3 × 10 = 3, floor(0.3 × 9) = 2
  ])(
    '$n hosts at $r, pulled out $pulled, down $down → $batches',
    ({ n, pulled, down, r, batches, room, worst, forced }) => {
      const plan = planBatches(makeTargets(n, pulled), cfg(r), { down });
      const rollout = plan.batches.filter((b) => !b.bastion);
      expect(rollout.map((b) => b.targets.map((id) => id.slice(4)).join(' '))).toEqual(batches);
      expect(plan.capacity).toMatchObject({ room, worst, forcedMinimum: forced });
      expect(Math.max(...plan.unavailable)).toBeGreaterThanOrEqual(worst);
      // Every eligible target is released exactly once.
      expect(plan.batches.flatMap((b) => b.targets).sort()).toEqual(
        makeTargets(n, pulled)
          .filter((t) => !t.pulledOut)
          .map((t) => t.id),
      );
      // Never more out at once than allowed, unless the plan says it is forced.
      if (!forced) expect(worst).toBeLessThanOrEqual(plan.capacity.allowed);
    },
  );

  it('a DOWN target is still released (in its batch), only counted', () => {
    const plan = planBatches(makeTargets(6), cfg(0.5), { down: ['web-04'] });
    expect(plan.batches.flatMap((b) => b.targets)).toContain('web-04');
    expect(plan.outOfService).toEqual(['web-04']);
  });

  it('a pattern keeps its shares and its order; hosts out still count', () => {
    const plan = planBatches(
      makeTargets(11),
      { sizing: { kind: 'pattern', parts: [0.1, 0.2, 0.7], maxUnavailable: 0.7 }, bastionCount: 1 },
      { down: ['web-11'] },
    );
    expect(plan.batches.map((b) => b.targets.length)).toEqual([1, 1, 2, 7]);
    expect(plan.batches.at(-1)!.targets.at(-1)).toBe('web-11');
    expect(plan.outOfService).toEqual(['web-11']);
  });
});

describe("rollbackConfig (F4): the group's settings, made fast", () => {
  const group = makeConfig({
    sizing: pattern(0.1, 0.2, 0.7),
    bastionCount: 2,
    bastionTargets: ['web-03'],
    waitBetweenBatchesMs: 60_000,
    waitFromBatch3Ms: 10_000,
    manual: true,
    startTimeoutMs: 45_000,
    verifyIntervalMs: 500,
    warmupMs: 2_000,
    skipVerify: true,
    prefetch: false,
  });
  it.each([
    ['sizing', ROLLBACK_SIZING],
    ['bastionCount', 0],
    ['bastionTargets', []],
    ['waitBetweenBatchesMs', 0],
    ['waitFromBatch3Ms', 0],
    ['manual', false],
    // What the group says about verifying and fetching holds for the way back too.
    ['startTimeoutMs', 45_000],
    ['verifyIntervalMs', 500],
    ['warmupMs', 2_000],
    ['skipVerify', true],
    ['prefetch', false],
  ] as const)('%s → %j', (key, value) => {
    expect(rollbackConfig(group)[key]).toEqual(value);
  });

  it("leaves the group's settings as they were", () => {
    const before = structuredClone(group);
    rollbackConfig(group);
    expect(group).toEqual(before);
  });

  it('ten hosts roll back in two batches of five', () => {
    const plan = planBatches(makeTargets(10), rollbackConfig(group));
    expect(plan.batches.map((b) => [b.bastion, b.targets.length])).toEqual([
      [false, 5],
      [false, 5],
    ]);
  });
});
