import { formatMs } from '../model/text';
import type { DeploymentConfig } from '../model/types';
import type { Plan } from '../plan/batches';
import { brakeRulesInWords, failuresToReach } from '../plan/brake';
import { estimateMs, waitBefore } from '../plan/estimate';
import { table } from './table';

/** What `plan` checked, what it could not (it connects to nothing), and what deploy would say now. */
export interface PlanChecks {
  checked: string[];
  notChecked: string[];
  notes: string[];
}

export interface PlanReport {
  group: string;
  version: string;
  /** The package deploy would release: its path and sha256, or the image and the scan gate's line. */
  package?:
    | { path: string; sha256: string }
    | { image: string; gate: string }
    | {
        sha256: string;
        /** Issue 17: each site's store, and how many targets fetch from it. */
        stores: Array<{ site: string; url: string; targets: number }>;
        checksumFrom: string;
      };
  checks?: PlanChecks;
  /** S7: how each target takes the version (absent: in-place, as before strategies). */
  strategy?: { kind: 'side-by-side'; keepWarmMs: number };
  total: number;
  excluded: string[];
  /** Already out of service when planned: pulled out, or DOWN in the load balancer. */
  outOfService: string[];
  batches: {
    batch: number;
    bastion: boolean;
    targets: string[];
    /** Share of the group still serving while this batch is out (capacity kept). */
    capacityKept: number;
    waitBeforeMs: number;
    /**
     * F7, with a per-batch budget: the failed hosts of this batch that brake the release before
     * the next one. Absent on the bastion (any failure stops it, S4) and the last batch (nothing
     * after it to hold back: its failures end the release FAILURE).
     */
    brakesAt?: number;
  }[];
  /** F2, F7: what brakes the release, in words and as numbers. */
  brake: {
    words: string;
    maxUnavailable: number;
    /** Counted failures that reach the global ratio. */
    atFailures: number;
    perBatch?: number;
    maxFailures?: number;
  };
  perBatchMs: number;
  perBatchSource: 'last release' | 'assumed';
  expectedMs: number;
  notes: string[];
}

export function buildPlanReport(
  group: string,
  version: string,
  plan: Plan,
  config: DeploymentConfig,
  groupSize: number,
  lastBatchMs: number | null,
  extra: Pick<PlanReport, 'package' | 'checks'> = {},
): PlanReport {
  const perBatchMs = lastBatchMs ?? 10_000;
  const firstRollout = plan.batches.find((b) => !b.bastion)?.index ?? 0;
  const notes = ['the bake after the bastion waits for a person: not counted'];
  if (config.manual) notes.push('manual mode: each batch waits for continue: not counted');
  const { allowed, forcedMinimum } = plan.capacity;
  const already = plan.outOfService.length;
  if (already > 0) {
    notes.unshift(
      `max unavailable ${pct(config.sizing.maxUnavailable)} allows ${allowed} of ${groupSize} out at once; ${already} already out (${plan.outOfService.join(', ')}) count against it`,
    );
  }
  if (forcedMinimum) {
    notes.unshift(
      `batches of 1 (the minimum) take ${plan.capacity.worst} of ${groupSize} out at once: more than max unavailable allows — bring the hosts already out back, or raise maxUnavailable`,
    );
  }
  const budget = config.failureBudget ?? {};
  const last = plan.batches.at(-1)?.index;
  const sideBySide = config.strategy === 'side-by-side';
  if (sideBySide) {
    notes.push(
      'side-by-side: each host serves while its new slot starts; a batch costs no capacity',
    );
  }
  return {
    group,
    version,
    ...extra,
    ...(sideBySide
      ? { strategy: { kind: 'side-by-side' as const, keepWarmMs: config.keepWarmMs ?? 0 } }
      : {}),
    total: plan.total,
    excluded: plan.excluded,
    outOfService: plan.outOfService,
    batches: plan.batches.map((b) => ({
      batch: b.index + 1,
      bastion: b.bastion,
      targets: b.targets,
      capacityKept: sideBySide
        ? (groupSize - already) / groupSize
        : (groupSize - (plan.unavailable[b.index] ?? already + b.targets.length)) / groupSize,
      waitBeforeMs: b.bastion ? 0 : waitBefore(b.index, firstRollout, config),
      ...(budget.perBatch !== undefined && !b.bastion && b.index !== last
        ? { brakesAt: failuresToReach(budget.perBatch, b.targets.length) }
        : {}),
    })),
    brake: {
      words: brakeRulesInWords(config.sizing.maxUnavailable, plan.total, budget),
      maxUnavailable: config.sizing.maxUnavailable,
      atFailures: failuresToReach(config.sizing.maxUnavailable, plan.total),
      ...budget,
    },
    perBatchMs,
    perBatchSource: lastBatchMs === null ? 'assumed' : 'last release',
    expectedMs: estimateMs(plan.batches, config, perBatchMs),
    notes,
  };
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

export function renderPlan(p: PlanReport): string {
  const perBatch = p.brake.perBatch !== undefined;
  const rows = p.batches.map((b) => [
    `${b.batch}${b.bastion ? ' (bastion)' : ''}`,
    String(b.targets.length),
    pct(b.capacityKept),
    b.waitBeforeMs ? formatMs(b.waitBeforeMs) : '-',
    b.targets.length > 6
      ? `${b.targets.slice(0, 6).join(', ')}, … (+${b.targets.length - 6})`
      : b.targets.join(', '),
    ...(perBatch ? [b.brakesAt === undefined ? '-' : `${b.brakesAt} failed`] : []),
  ]);
  const pkg = p.package;
  const c = p.checks;
  return [
    `plan: ${p.group} → ${p.version}: ${p.total} targets in ${p.batches.length} batches`,
    ...(pkg ? packageLines(pkg) : []),
    p.strategy
      ? `strategy: side-by-side — the new version starts on each host's second slot while the old one serves, then the load balancer flips; the old slot stays warm for ${formatMs(p.strategy.keepWarmMs)} (a rollback in that window is a flip)`
      : 'strategy: in-place — each target leaves traffic while it is stopped, replaced and started',
    ...(p.excluded.length ? [`pulled out, not released: ${p.excluded.join(', ')}`] : []),
    '',
    table(
      ['batch', 'hosts', 'serving', 'wait before', 'targets', ...(perBatch ? ['brakes at'] : [])],
      rows,
    ),
    '',
    `brake: ${p.brake.words}${p.brake.maxFailures !== undefined && p.brake.maxFailures > p.total ? ` — max failures ${p.brake.maxFailures} is more than the ${p.total} targets: only the other rules can brake` : ''}`,
    `expected time: ~${formatMs(p.expectedMs)} (${formatMs(p.perBatchMs)} per batch, ${p.perBatchSource}); ${p.notes.join('; ')}`,
    ...(c
      ? [
          `checked: ${c.checked.join(', ')}`,
          `not checked (plan connects to nothing): ${c.notChecked.join(', ')} — deploy checks ${c.notChecked.length === 1 ? 'it' : 'them'} before the first markdown`,
          ...c.notes,
        ]
      : []),
    'nothing was touched.',
  ].join('\n');
}

function packageLines(pkg: NonNullable<PlanReport['package']>): string[] {
  if ('path' in pkg) return [`package: ${pkg.path} (sha256 ${pkg.sha256})`];
  if ('image' in pkg) return [`image: ${pkg.image}`, pkg.gate];
  return [
    `package: fetched by each host from its site's store, sha256 ${pkg.sha256} (from ${pkg.checksumFrom}); rollgate sends no package bytes`,
    ...pkg.stores.map(
      (s) => `  ${s.site}: ${s.targets} target${s.targets === 1 ? ' fetches' : 's fetch'} ${s.url}`,
    ),
  ];
}
