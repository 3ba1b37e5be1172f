import { describe, expect, it } from 'vitest';
import { judgeBrake } from '../../../src/plan/brake';
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
  it.each([
    { i: 0, ms: 0 }, // first roll-out batch: started by a person after the bake
    { i: 1, ms: 60_000 },
    { i: 2, ms: 10_000 }, // tail acceleration from the 3rd roll-out batch on
    { i: 7, ms: 10_000 },
  ])('roll-out batch $i waits $ms ms', ({ i, ms }) => {
    expect(waitBefore(i, cfg)).toBe(ms);
  });

  it('without tail acceleration every later batch waits the same', () => {
    expect(waitBefore(5, { waitBetweenBatchesMs: 30_000 })).toBe(30_000);
  });

  it('estimate = waits + batches × per-batch time', () => {
    const batches = [
      { index: 0, bastion: true, targets: ['a'] },
      { index: 1, bastion: false, targets: ['b'] },
      { index: 2, bastion: false, targets: ['c'] },
      { index: 3, bastion: false, targets: ['d'] },
    ];
    expect(estimateMs(batches, cfg, 5_000)).toBe(0 + 60_000 + 10_000 + 4 * 5_000);
  });
});
