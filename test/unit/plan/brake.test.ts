import { describe, expect, it } from 'vitest';
import { failuresBeforeBrake, judgeBrake } from '../../../src/plan/brake';
import { estimateMs, waitBefore } from '../../../src/plan/estimate';

describe('judgeBrake (F2) — brake exactly at the ratio', () => {
  it.each([
    { failed: 0, accepted: 0, total: 20, max: 0.25, brake: false },
    { failed: 4, accepted: 0, total: 20, max: 0.25, brake: false }, // 20% < 25%
    { failed: 5, accepted: 0, total: 20, max: 0.25, brake: true }, // 25% = 25%: reached
    { failed: 6, accepted: 0, total: 20, max: 0.25, brake: true },
    { failed: 1, accepted: 0, total: 3, max: 0.3, brake: true }, // 33% ≥ 30%
    { failed: 1, accepted: 0, total: 10, max: 0.1, brake: true }, // 0.1 float edge
    { failed: 3, accepted: 0, total: 10, max: 0.3, brake: true }, // 0.3 float edge (3/10)
    { failed: 7, accepted: 5, total: 20, max: 0.25, brake: false }, // accepted by continue: 2 new
    { failed: 10, accepted: 5, total: 20, max: 0.25, brake: true }, // 5 new failures
    { failed: 0, accepted: 0, total: 0, max: 0.25, brake: false },
  ])(
    '$failed failed ($accepted accepted) of $total at $max → $brake',
    ({ failed, accepted, total, max, brake }) => {
      const v = judgeBrake({ failed, accepted, total, maxUnavailable: max });
      expect(v.brake).toBe(brake);
      expect(v.reason).toContain(`of ${total} targets failed`);
    },
  );

  it('says why in plain words', () => {
    expect(judgeBrake({ failed: 5, accepted: 0, total: 20, maxUnavailable: 0.25 }).reason).toBe(
      '5 of 20 targets failed (25%) ≥ max unavailable 25%',
    );
  });
});

describe('waits (S5) and the estimate', () => {
  const cfg = { waitBetweenBatchesMs: 60_000, waitFromBatch3Ms: 10_000 };
  // index: the batch's place in the release, 0-based (batch 3 is index 2); first: where the
  // operation started (after the bake: 1, the first roll-out batch; a rollback: 0).
  it.each([
    { i: 1, first: 1, ms: 0, why: 'batch 2, right after the bake: a person started it' },
    { i: 2, first: 1, ms: 10_000, why: 'batch 3: tail acceleration already (seed S5)' },
    { i: 7, first: 1, ms: 10_000, why: 'batch 8' },
    { i: 0, first: 0, ms: 0, why: 'no bastion: batch 1 starts at once' },
    { i: 1, first: 0, ms: 60_000, why: 'no bastion: batch 2 waits the full time' },
    { i: 2, first: 0, ms: 10_000, why: 'no bastion: batch 3 on is accelerated' },
    { i: 3, first: 3, ms: 0, why: 'continue after a brake before batch 4: no wait' },
    { i: 4, first: 3, ms: 10_000, why: 'the batch after it' },
  ])('batch index $i (operation from $first) waits $ms ms — $why', ({ i, first, ms }) => {
    expect(waitBefore(i, first, cfg)).toBe(ms);
  });

  it('the issue-13 case: 60 s between batches, 0 s from batch 3 → nothing before batch 3', () => {
    const c = { waitBetweenBatchesMs: 60_000, waitFromBatch3Ms: 0 };
    expect([1, 2, 3, 4, 5].map((i) => waitBefore(i, 1, c))).toEqual([0, 0, 0, 0, 0]);
    expect([0, 1, 2, 3].map((i) => waitBefore(i, 0, c))).toEqual([0, 60_000, 0, 0]);
  });

  it('without tail acceleration every later batch waits the same', () => {
    expect(waitBefore(5, 1, { waitBetweenBatchesMs: 30_000 })).toBe(30_000);
  });

  it('estimate = waits + batches × per-batch time', () => {
    const batches = [
      { index: 0, bastion: true, targets: ['a'] },
      { index: 1, bastion: false, targets: ['b'] },
      { index: 2, bastion: false, targets: ['c'] },
      { index: 3, bastion: false, targets: ['d'] },
    ];
    expect(estimateMs(batches, cfg, 5_000)).toBe(0 + 10_000 + 10_000 + 4 * 5_000);
  });
});

describe('failuresBeforeBrake (F2) — the budget left, as status shows it', () => {
  it.each([
    { failed: 0, accepted: 0, total: 20, max: 0.25, left: 5 },
    { failed: 3, accepted: 0, total: 20, max: 0.25, left: 2 }, // "2 more failures brake"
    { failed: 5, accepted: 0, total: 20, max: 0.25, left: 0 }, // braked
    { failed: 5, accepted: 5, total: 20, max: 0.25, left: 5 }, // continue accepted all 5
    { failed: 6, accepted: 5, total: 20, max: 0.25, left: 4 }, // the 6 of 20: 1 new
    { failed: 0, accepted: 0, total: 10, max: 0.3, left: 3 }, // 0.3 × 10 exactly 3
    { failed: 0, accepted: 0, total: 3, max: 0.1, left: 1 }, // any failure brakes a small group
  ])(
    '$failed failed ($accepted accepted) of $total at $max → $left more brake',
    ({ failed, accepted, total, max, left }) => {
      const input = { failed, accepted, total, maxUnavailable: max };
      expect(failuresBeforeBrake(input)).toBe(left);
      // Consistent with the judge: `left` more failures trip it, one fewer does not.
      if (left > 0) {
        expect(judgeBrake({ ...input, failed: failed + left }).brake).toBe(true);
        expect(judgeBrake({ ...input, failed: failed + left - 1 }).brake).toBe(false);
      } else {
        expect(judgeBrake(input).brake).toBe(true);
      }
    },
  );

  it('the README example: 20 hosts at 25%, failures in batches 2, 3 and 5', () => {
    // batch 2: 2 fail → 3 left; batch 3: 3 fail → 5 counted → brake before batch 4.
    const max = 0.25;
    expect(failuresBeforeBrake({ failed: 2, accepted: 0, total: 20, maxUnavailable: max })).toBe(3);
    expect(judgeBrake({ failed: 5, accepted: 0, total: 20, maxUnavailable: max }).brake).toBe(true);
    // continue accepts the 5; batch 4 clean; batch 5: 1 fails → 4 more would brake again.
    expect(failuresBeforeBrake({ failed: 6, accepted: 5, total: 20, maxUnavailable: max })).toBe(4);
    expect(judgeBrake({ failed: 6, accepted: 5, total: 20, maxUnavailable: max }).brake).toBe(
      false,
    );
  });
});
