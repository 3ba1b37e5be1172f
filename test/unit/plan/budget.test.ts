import { describe, expect, it } from 'vitest';
import {
  brakeRulesInWords,
  budgetLeft,
  countedInBatch,
  judgeBrake,
  type BrakeInput,
} from '../../../src/plan/brake';

/** The cases of the issue: 20 hosts at 25% (brakes at 5 of 20), batches of 4 after a bastion. */
const base = { accepted: 0, total: 20, maxUnavailable: 0.25 };
const batch = (failed: number, size = 4, label = 'batch 3') => ({ label, size, failed });

describe('judgeBrake with failure budgets (F7) — which rule brakes', () => {
  it.each<{ name: string; input: BrakeInput; rules: string[] }>([
    {
      name: 'no budget: the global ratio alone, as before',
      input: { ...base, failed: 4, batch: batch(4) },
      rules: [],
    },
    {
      name: 'per-batch 50%: batch 3 lost 2 of 4 (50%), 2 of 20 is far from 25%',
      input: { ...base, failed: 2, budget: { perBatch: 0.5 }, batch: batch(2) },
      rules: ['perBatch'],
    },
    {
      name: 'per-batch 50%: 1 of 4 (25%) goes on',
      input: { ...base, failed: 1, budget: { perBatch: 0.5 }, batch: batch(1) },
      rules: [],
    },
    {
      name: 'per-batch: the failures of earlier batches are not the batch’s',
      input: { ...base, failed: 4, budget: { perBatch: 0.5 }, batch: batch(1) },
      rules: [],
    },
    {
      name: 'per-batch: a batch of 1 brakes on its one failure',
      input: { ...base, failed: 1, budget: { perBatch: 0.5 }, batch: batch(1, 1) },
      rules: ['perBatch'],
    },
    {
      name: 'per-batch 1/3 of 3: float edge, 1 of 3 reaches 33.33…%',
      input: { ...base, failed: 1, budget: { perBatch: 1 / 3 }, batch: batch(1, 3) },
      rules: ['perBatch'],
    },
    {
      name: 'per-batch without a batch to judge (the bastion, a new pass): nothing',
      input: { ...base, failed: 3, budget: { perBatch: 0.1 }, batch: null },
      rules: [],
    },
    {
      name: 'per-batch: a continue accepted the batch’s failures',
      input: { ...base, failed: 3, accepted: 3, budget: { perBatch: 0.5 }, batch: batch(3) },
      rules: [],
    },
    {
      name: 'per-batch: a batch run after the continue counts all its own failures',
      input: { ...base, failed: 5, accepted: 3, budget: { perBatch: 0.5 }, batch: batch(2) },
      rules: ['perBatch'],
    },
    {
      name: 'max failures 3: 3 counted brake',
      input: { ...base, failed: 3, budget: { maxFailures: 3 } },
      rules: ['maxFailures'],
    },
    {
      name: 'max failures 3: 2 counted go on',
      input: { ...base, failed: 2, budget: { maxFailures: 3 } },
      rules: [],
    },
    {
      name: 'max failures 3: 5 failed, 3 accepted by a continue → 2 counted go on',
      input: { ...base, failed: 5, accepted: 3, budget: { maxFailures: 3 } },
      rules: [],
    },
    {
      name: 'all three reached: named narrowest first',
      input: { ...base, failed: 5, budget: { perBatch: 0.5, maxFailures: 3 }, batch: batch(4) },
      rules: ['perBatch', 'maxFailures', 'maxUnavailable'],
    },
    {
      name: 'max failures above the group: the ratio brakes first',
      input: { ...base, failed: 5, budget: { maxFailures: 30 } },
      rules: ['maxUnavailable'],
    },
  ])('$name', ({ input, rules }) => {
    const v = judgeBrake(input);
    expect(v.rules).toEqual(rules);
    expect(v.brake).toBe(rules.length > 0);
    expect(v.rule).toBe(rules[0] ?? null);
  });

  it('says why in plain words, each rule reached', () => {
    const v = judgeBrake({
      ...base,
      failed: 5,
      budget: { perBatch: 0.5, maxFailures: 3 },
      batch: batch(4, 4, 'batch 3'),
    });
    expect(v.reason).toBe(
      'batch 3 lost 4 of 4 hosts (100%) ≥ per-batch budget 50%; ' +
        '5 failures counted ≥ max failures 3; ' +
        '5 of 20 targets failed (25%) ≥ max unavailable 25%',
    );
    expect(
      judgeBrake({ ...base, failed: 2, budget: { perBatch: 0.5 }, batch: batch(2, 4, 'batch 2') })
        .reason,
    ).toBe('batch 2 lost 2 of 4 hosts (50%) ≥ per-batch budget 50%');
  });

  it('a verdict that does not brake keeps the global line', () => {
    expect(judgeBrake({ ...base, failed: 1, budget: { maxFailures: 3 } }).reason).toBe(
      '1 of 20 targets failed (5%) < max unavailable 25%',
    );
  });
});

describe('countedInBatch — the batch’s failures a continue has not accepted', () => {
  it.each([
    { failed: 4, accepted: 0, here: 4, counted: 4 }, // no continue
    { failed: 9, accepted: 5, here: 4, counted: 4 }, // batch ran after the continue
    { failed: 5, accepted: 5, here: 2, counted: 0 }, // continue after the batch
    { failed: 6, accepted: 5, here: 3, counted: 1 }, // cannot happen in order; never negative
    { failed: 0, accepted: 0, here: 0, counted: 0 },
  ])('$failed failed, $accepted accepted, $here in the batch → $counted', (c) => {
    expect(countedInBatch(c.failed, c.accepted, c.here)).toBe(c.counted);
  });
});

describe('budgetLeft (F2, F7) — "1 more failure brakes", and which rule', () => {
  it.each<{ name: string; input: BrakeInput; left: number; rule: string }>([
    {
      name: 'global only: 3 of 20 at 25%',
      input: { ...base, failed: 3 },
      left: 2,
      rule: 'maxUnavailable',
    },
    {
      name: 'max failures 3, 2 counted',
      input: { ...base, failed: 2, budget: { maxFailures: 3 } },
      left: 1,
      rule: 'maxFailures',
    },
    {
      name: 'max failures 3, none yet',
      input: { ...base, failed: 0, budget: { maxFailures: 3 } },
      left: 3,
      rule: 'maxFailures',
    },
    {
      name: 'per-batch 50%, next batch of 4, none failed: 2 in it brake',
      input: { ...base, failed: 1, budget: { perBatch: 0.5 }, batch: batch(0) },
      left: 2,
      rule: 'perBatch',
    },
    {
      name: 'per-batch 50%, the running batch of 4 has lost 1',
      input: { ...base, failed: 1, budget: { perBatch: 0.5 }, batch: batch(1) },
      left: 1,
      rule: 'perBatch',
    },
    {
      name: 'a tie goes to the global ratio',
      input: { ...base, failed: 3, budget: { maxFailures: 5 } },
      left: 2,
      rule: 'maxUnavailable',
    },
    {
      name: 'max failures reached: 0 left',
      input: { ...base, failed: 4, budget: { maxFailures: 3 } },
      left: 0,
      rule: 'maxFailures',
    },
    {
      name: 'after a continue accepted 3: max failures 3 counts anew',
      input: { ...base, failed: 3, accepted: 3, budget: { maxFailures: 3 } },
      left: 3,
      rule: 'maxFailures',
    },
  ])('$name → $left ($rule)', ({ input, left, rule }) => {
    const got = budgetLeft(input);
    expect(got).toEqual({ left, rule });
    // Consistent with the judge: `left` more failures (in the batch, for the per-batch rule) brake.
    const more = (n: number): BrakeInput => ({
      ...input,
      failed: input.failed + n,
      ...(input.batch ? { batch: { ...input.batch, failed: input.batch.failed + n } } : {}),
    });
    if (left > 0) {
      expect(judgeBrake(more(left)).rules).toContain(rule);
      expect(judgeBrake(more(left - 1)).brake).toBe(false);
    }
  });
});

describe('brakeRulesInWords — what plan shows', () => {
  it.each([
    {
      budget: { maxFailures: 3, perBatch: 0.5 },
      words:
        'brakes at 3 failures, or when a batch loses 50% of its hosts, or at 25% of the group (5 of 20 targets)',
    },
    { budget: {}, words: 'brakes at 25% of the group (5 of 20 targets)' },
    {
      budget: { maxFailures: 1 },
      words: 'brakes at 1 failure, or at 25% of the group (5 of 20 targets)',
    },
  ])('$words', ({ budget, words }) => {
    expect(brakeRulesInWords(0.25, 20, budget)).toBe(words);
  });
});
