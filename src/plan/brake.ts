/**
 * F2: before each batch, the failure rate so far is compared with the max-unavailable ratio;
 * when it is reached the release stops (BRAKED). Failures accepted by a `continue` after a
 * brake no longer count, so the brake trips again only on new failures.
 *
 * 20 targets at 25%: 4 failures → 20% → go on; 5 failures → 25% → brake.
 */
export interface BrakeInput {
  failed: number;
  accepted: number;
  total: number;
  maxUnavailable: number;
}

export interface BrakeVerdict {
  brake: boolean;
  rate: number;
  reason: string;
}

export function judgeBrake({ failed, accepted, total, maxUnavailable }: BrakeInput): BrakeVerdict {
  const counted = Math.max(0, failed - accepted);
  const rate = total === 0 ? 0 : counted / total;
  const pct = (x: number) => `${(x * 100).toFixed(1).replace(/\.0$/, '')}%`;
  // A tiny epsilon: 5/20 must equal 0.25 exactly, whatever the float rounding.
  const brake = counted > 0 && rate + 1e-9 >= maxUnavailable;
  return {
    brake,
    rate,
    reason: `${counted} of ${total} targets failed (${pct(rate)}) ${brake ? '≥' : '<'} max unavailable ${pct(maxUnavailable)}`,
  };
}

/**
 * How many more failures trip the brake (F2), counting only failures a `continue` has not
 * accepted. 20 targets at 25% brake at 5 counted failures: with 3 so far, 2 more brake; after
 * a continue accepted 5, the next 5 brake again (failures in batches 2, 3 and 5 of the README's
 * worked example).
 */
export function failuresBeforeBrake({
  failed,
  accepted,
  total,
  maxUnavailable,
}: BrakeInput): number {
  if (total === 0) return 0;
  const counted = Math.max(0, failed - accepted);
  const threshold = Math.max(1, Math.ceil(maxUnavailable * total - 1e-9));
  return Math.max(0, threshold - counted);
}
