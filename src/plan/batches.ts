import { InputError } from '../model/errors';
import type { BatchSizing, DeploymentConfig, Target } from '../model/types';

export interface PlannedBatch {
  index: number;
  bastion: boolean;
  targets: string[];
}

export interface Plan {
  batches: PlannedBatch[];
  /** M6: pulled out by an operator, not released. */
  excluded: string[];
  /** Eligible targets released by this plan. */
  total: number;
  /** Targets already out of service when planned (pulled out, DOWN in the load balancer). */
  outOfService: string[];
  /**
   * Per batch, how many targets of the group are out of service while it runs: the pulled-out
   * ones, those out of traffic not released yet, and the batch's own.
   */
  unavailable: number[];
  /**
   * How many targets max unavailable allows out at once, counted on the whole group; `room`: how
   * many serving targets a batch may take out (the pulled-out ones stay out); `worst`: the most
   * out at once while a batch takes serving targets out; `forcedMinimum`: the targets already out
   * leave no room, so a batch of one (or the bastion) takes more out than allowed.
   */
  capacity: { allowed: number; room: number; worst: number; forcedMinimum: boolean };
}

export interface PlanOptions {
  /** Eligible targets already out of service (e.g. DOWN in the load balancer). */
  down?: readonly string[];
}

/**
 * Pure batch planning (M4, M6).
 *
 * The bastion batch (if any) comes first and alone. The rest is cut by the sizing:
 * - ratio r: batch size = max(1, floor(r × rest)); sizes spread evenly, larger first.
 *   20 hosts at 25% → bastion 1, then 19 hosts in batches of at most floor(4.75) = 4:
 *   [1] + [4, 4, 4, 4, 3].
 * - pattern p1+p2+…: cumulative shares of the rest, rounded, each batch ≥ 1 host.
 *   11 hosts at 10%+20%+70% → [1] + [1, 2, 7].
 *
 * M6/F2: targets already out of service count against max unavailable, on the whole group (as
 * CodeDeploy's minimum healthy hosts do). Pulled-out targets stay out for the whole release: 10
 * hosts at 25% allow 2 out at once; with web-10 pulled out, batches hold 1 host, so never more
 * than 2 of 10 are out. Targets the load balancer has out of traffic (DOWN, MAINT, DRAIN) are
 * released first, right after the bastion (ratio sizing): taking them costs no serving capacity,
 * and once they serve again the other batches keep the ratio. A batch keeps at least one host;
 * `capacity.forcedMinimum` says when that exceeds the ratio (the plan and the log show it).
 */
export function planBatches(
  targets: readonly Target[],
  config: Pick<DeploymentConfig, 'sizing' | 'bastionCount' | 'bastionTargets'>,
  options: PlanOptions = {},
): Plan {
  const eligible = targets.filter((t) => !t.pulledOut);
  const excluded = targets.filter((t) => t.pulledOut).map((t) => t.id);
  const down = new Set(options.down ?? []);
  const outOfService = [...excluded, ...eligible.filter((t) => down.has(t.id)).map((t) => t.id)];
  // floor with a tiny epsilon: 0.3 × 10 must be 3, whatever the float rounding.
  const allowed = Math.floor(config.sizing.maxUnavailable * targets.length + 1e-9);
  const room = allowed - excluded.length;
  if (eligible.length === 0) {
    throw new InputError('targets', 'no target is eligible: every target is pulled out');
  }
  const bastion = pickBastion(eligible, config);
  const bastionIds = new Set(bastion.map((t) => t.id));
  const rest = eligible.filter((t) => !bastionIds.has(t.id)).map((t) => t.id);

  const groups: string[][] = [];
  if (config.sizing.kind === 'ratio') {
    const size = Math.max(1, Math.floor(config.sizing.maxUnavailable * rest.length + 1e-9));
    const first = rest.filter((id) => down.has(id));
    const serving = rest.filter((id) => !down.has(id));
    groups.push(...cut(first, spread(first.length, Math.ceil(first.length / size))));
    const capped = Math.min(size, Math.max(1, room));
    groups.push(...cut(serving, spread(serving.length, Math.ceil(serving.length / capped))));
  } else {
    groups.push(...cut(rest, batchSizes(rest.length, config.sizing)));
  }
  const batches: PlannedBatch[] = [];
  if (bastion.length > 0) {
    batches.push({ index: 0, bastion: true, targets: bastion.map((t) => t.id) });
  }
  for (const g of groups) batches.push({ index: batches.length, bastion: false, targets: g });

  // Out while each batch runs: what is out already and not released yet, and the batch. Only a
  // batch that takes serving targets out can exceed the ratio (one of targets already out cannot).
  const out = new Set(outOfService);
  let worst = 0;
  const unavailable = batches.map((b) => {
    const during = new Set([...out, ...b.targets]).size;
    if (b.targets.some((id) => !out.has(id))) worst = Math.max(worst, during);
    for (const id of b.targets) out.delete(id);
    return during;
  });
  return {
    batches,
    excluded,
    total: eligible.length,
    outOfService,
    unavailable,
    capacity: {
      allowed,
      room,
      worst,
      forcedMinimum:
        config.sizing.kind === 'ratio' ? worst > allowed : room < 1 && groups.length > 0,
    },
  };
}

/** `ids` cut into consecutive groups of the given sizes. */
function cut(ids: readonly string[], sizes: readonly number[]): string[][] {
  let start = 0;
  return sizes.map((n) => ids.slice(start, (start += n)));
}

function pickBastion(
  eligible: readonly Target[],
  config: Pick<DeploymentConfig, 'bastionCount' | 'bastionTargets'>,
): Target[] {
  if (config.bastionTargets && config.bastionTargets.length > 0) {
    const chosen = config.bastionTargets.map((id) => {
      const t = eligible.find((e) => e.id === id);
      if (!t) {
        throw new InputError(
          'deployment.bastion',
          `"${id}" is not an eligible target of the group`,
        );
      }
      return t;
    });
    return eligible.length > chosen.length ? chosen : chosen.slice(0, eligible.length - 1);
  }
  // A one-host group has nothing to roll out after the bastion: release it as a plain batch.
  const count = Math.min(config.bastionCount, eligible.length - 1);
  return eligible.slice(0, Math.max(0, count));
}

/**
 * Sizes of the non-bastion batches for `n` targets; every size ≥ 1, they sum to n. A ratio's
 * batches hold at most `cap` targets (the room the targets already out leave).
 */
export function batchSizes(n: number, sizing: BatchSizing, cap = Infinity): number[] {
  if (n === 0) return [];
  if (sizing.kind === 'ratio') {
    const size = Math.max(1, Math.min(cap, Math.floor(sizing.maxUnavailable * n + 1e-9)));
    const count = Math.ceil(n / size);
    return spread(n, count);
  }
  const sizes: number[] = [];
  let cumulative = 0;
  let placed = 0;
  for (const part of sizing.parts) {
    cumulative += part;
    const boundary = Math.min(n, Math.max(placed + 1, Math.round(cumulative * n)));
    if (boundary > placed) {
      sizes.push(boundary - placed);
      placed = boundary;
    }
    if (placed === n) break;
  }
  if (placed < n) sizes.push(n - placed);
  return sizes;
}

/** `n` items in `count` batches whose sizes differ by at most one, larger first. */
function spread(n: number, count: number): number[] {
  if (n === 0) return [];
  const base = Math.floor(n / count);
  const extra = n % count;
  return Array.from({ length: count }, (_, i) => base + (i < extra ? 1 : 0));
}

/**
 * F4: rollback ignores the group's sizing: no bastion, 50% batches.
 * F3: retry re-plans only the given targets with the release's own sizing, no bastion.
 */
export function planSubset(
  targets: readonly Target[],
  ids: ReadonlySet<string>,
  sizing: BatchSizing,
): PlannedBatch[] {
  const chosen = targets.filter((t) => ids.has(t.id)).map((t) => t.id);
  let start = 0;
  return batchSizes(chosen.length, sizing).map((size, index) => {
    const batch = { index, bastion: false, targets: chosen.slice(start, start + size) };
    start += size;
    return batch;
  });
}

export const ROLLBACK_SIZING: BatchSizing = { kind: 'ratio', maxUnavailable: 0.5 };

/**
 * F4: a rollback's settings — the group's own, but 50% batches, no bastion, no waits between
 * batches and no manual pauses: the way back is fast. Everything else (timeouts, verify, keep,
 * the LB) stays as the group says. The failure budgets (F7) stay behind too: F4 fixes a
 * rollback's shape, and a rollback restores service at any time (U4, F5) — braking it halfway
 * would leave the group split between a version being rolled back from and the one it returns
 * to. Its brake is the global ratio of its own 50%, as before.
 */
export function rollbackConfig(config: DeploymentConfig): DeploymentConfig {
  const { failureBudget: _budget, ...rest } = config;
  return {
    ...rest,
    sizing: ROLLBACK_SIZING,
    bastionCount: 0,
    bastionTargets: [],
    waitBetweenBatchesMs: 0,
    waitFromBatch3Ms: 0,
    manual: false,
  };
}
