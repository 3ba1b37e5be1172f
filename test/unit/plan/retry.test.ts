import { describe, expect, it } from 'vitest';
import { planRetryPass } from '../../../src/plan/retry';
import type { BatchSizing } from '../../../src/model/types';
import { makeTargets } from '../../support/fakes';

const ratio = (r: number): BatchSizing => ({ kind: 'ratio', maxUnavailable: r });
const release = (n: number, passes: (number | undefined)[] = []) =>
  Array.from({ length: n }, (_, i) => ({ pass: passes[i] }));

describe('planRetryPass (F3) — worked examples', () => {
  it.each([
    {
      what: 'first retry of two failed targets, 50%: one each, after batches 0–3',
      earlier: release(4),
      failed: ['web-07', 'web-02'],
      sizing: ratio(0.5),
      pass: 1,
      batches: [
        [4, ['web-02']],
        [5, ['web-07']],
      ],
    },
    {
      what: 'second retry: pass 2, numbered after pass 1',
      earlier: release(6, [undefined, undefined, undefined, undefined, 1, 1]),
      failed: ['web-07'],
      sizing: ratio(0.5),
      pass: 2,
      batches: [[6, ['web-07']]],
    },
    {
      what: 'four failed at 50%: two batches of two, in group order',
      earlier: release(3),
      failed: ['web-06', 'web-01', 'web-04', 'web-03'],
      sizing: ratio(0.5),
      pass: 1,
      batches: [
        [3, ['web-01', 'web-03']],
        [4, ['web-04', 'web-06']],
      ],
    },
    {
      what: 'the release’s own sizing: 100% takes them all at once',
      earlier: release(2),
      failed: ['web-02', 'web-05', 'web-08'],
      sizing: ratio(1),
      pass: 1,
      batches: [[2, ['web-02', 'web-05', 'web-08']]],
    },
    {
      what: 'a failed target no longer in the group file is not planned',
      earlier: release(2),
      failed: ['web-02', 'web-99'],
      sizing: ratio(0.5),
      pass: 1,
      batches: [[2, ['web-02']]],
    },
  ])('$what', ({ earlier, failed, sizing, pass, batches }) => {
    const r = planRetryPass(earlier, makeTargets(8), new Set(failed), sizing);
    expect(r.pass).toBe(pass);
    expect(r.batches.map((b) => [b.index, b.targets])).toEqual(batches);
    // No bastion in a retry; every batch carries its pass; moveTo names each target's batch.
    expect(r.batches.every((b) => !b.bastion && b.pass === pass)).toBe(true);
    expect([...r.moveTo]).toEqual(
      (batches as [number, string[]][]).flatMap(([i, ids]) => ids.map((id) => [id, i])),
    );
  });
});
