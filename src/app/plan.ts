import type { LoadedGroup } from '../config/group-file';
import { nextActions, RUNNING_PHASES } from '../engine/phases';
import type { Ledger } from '../engine/ledger';
import { PhaseError } from '../model/errors';
import type { PackageRef } from '../model/types';
import { planBatches } from '../plan/batches';
import { buildPlanReport, type PlanChecks, type PlanReport } from '../report/plan';
import { assertStoreDir, FileStore } from '../store/file/file-store';
import type { Logger } from '../model/logger';
import { fileVerdictSource, gatePackage } from './gate';
import { resolvePackage } from './runtime';
import { inventoryLine } from '../inventory/sources';
import { DEFAULT_SITE, storeUrlFor } from '../config/package-store';

export interface PlanRequest {
  version: string;
  package?: string;
  image?: string;
  overrideScan?: string;
  force?: boolean;
  /** Who an override would be recorded for (plan records nothing). */
  who: string;
}

/**
 * `rollgate plan` (issue 13 item 7): every check `deploy` runs before it touches a host, failing
 * the same way — the group file (loaded by the caller), the package and its checksum, the image's
 * scan gate, store.dir, a quarantined version — then the batches. It connects to nothing: the
 * checks that need a host or the load balancer are named as not run.
 */
export async function runPlan(
  loaded: LoadedGroup,
  req: PlanRequest,
  logger: Logger,
): Promise<PlanReport> {
  // In deploy's order: the store, then the package.
  await assertStoreDir(loaded.store.dir);
  const pkg = await resolvePackage(loaded, req.version, req.package, req.image);
  const checked = [groupFileCheck(loaded)];
  let gated: PackageRef = pkg;
  if (pkg.image) {
    const source = fileVerdictSource(loaded.store.dir);
    const override =
      req.overrideScan !== undefined ? { reason: req.overrideScan, by: req.who } : undefined;
    gated = await gatePackage(pkg, source, override);
    checked.push('the image (pinned, the scan gate)');
  } else if (pkg.store) {
    checked.push("the package store (the reference copy's sha256)");
  } else {
    checked.push('the package (present, sha256)');
  }
  checked.push('store.dir writable');
  const ledger = await new FileStore(loaded.store.dir, logger).load(loaded.group.name);
  const notes: string[] = [];
  const origin = loaded.inventoryOrigin;
  if (origin) {
    // F5: deploy would go on with the cached copy, and record it; plan says so first.
    if (origin.from === 'cache') notes.unshift(inventoryLine(origin));
    else checked.push(inventoryLine(origin));
  }
  checked.push(quarantineCheck(ledger, req));
  const busy = inProgress(ledger);
  if (busy) notes.push(busy);
  else checked.push('no release in progress');

  const plan = planBatches(loaded.group.targets, loaded.config);
  const last = ledger?.current;
  const spans = (last?.batches ?? []).filter((b) => b.startedAt && b.endedAt);
  const lastBatchMs = spans.length
    ? spans.reduce((s, b) => s + (b.endedAt! - b.startedAt!), 0) / spans.length
    : null;
  const checks: PlanChecks = { checked, notChecked: notChecked(loaded), notes };
  return buildPlanReport(
    loaded.group.name,
    req.version,
    plan,
    loaded.config,
    loaded.group.targets.length,
    lastBatchMs,
    {
      checks,
      package: gated.image
        ? { image: gated.image, gate: gateLine(gated) }
        : gated.store
          ? storeLines(loaded, gated)
          : { path: gated.path!, sha256: gated.sha256! },
    },
  );
}

function groupFileCheck(loaded: LoadedGroup): string {
  const lb = loaded.traffic.kind !== 'none';
  const parts = [
    'targets',
    'addresses',
    ...(loaded.inventory !== undefined ? ['the inventory'] : []),
    `values a host${lb ? ' or the load balancer' : ''} would refuse`,
  ];
  return `the group file (${parts.join(', ')})`;
}

/** deploy refuses a quarantined version without --force: so does plan. */
function quarantineCheck(ledger: Ledger | null, req: PlanRequest): string {
  const bad = ledger?.quarantined[req.version];
  if (!bad) return `version ${req.version} not quarantined`;
  if (!req.force) {
    throw new PhaseError(
      `version ${req.version} was quarantined by a rollback (${bad.reason}); pass --force to release it anyway`,
    );
  }
  return `version ${req.version} quarantined: --force releases it`;
}

/** A release in progress makes deploy wait; it is said, not refused (it ends before you deploy). */
function inProgress(ledger: Ledger | null): string | null {
  const d = ledger?.current;
  if (!d || d.phase === 'SUCCESS' || d.phase === 'FAILURE' || d.phase === 'ABORTED') return null;
  const gone = RUNNING_PHASES.has(d.phase) ? ' (if its process is gone: continue or stop)' : '';
  return `deploy now would be refused: release ${d.id} (${d.version}) is in phase ${d.phase}: ${nextActions(d.phase)} first${gone}`;
}

/** What plan cannot know without connecting: deploy checks these before the first markdown. */
function notChecked(loaded: LoadedGroup): string[] {
  const out = ['host reachability'];
  if (loaded.transport.kind === 'ssh') out.push('host keys');
  if (loaded.traffic.kind !== 'none') {
    out.push(
      'the load balancer (its server names, and the hosts it has out of traffic: deploy counts them against max unavailable, so its batches can be smaller)',
    );
  }
  return out;
}

function gateLine(pkg: PackageRef): string {
  const scan = pkg.scan;
  if (!scan) return 'no scan gate';
  return scan.override
    ? `scan gate: ${scan.summary}; overridden by ${scan.override.by}: "${scan.override.reason}"`
    : `scan gate: ${scan.summary}`;
}

/** Issue 17: where each site's hosts fetch the package from. */
function storeLines(loaded: LoadedGroup, pkg: PackageRef) {
  const counts = new Map<string, number>();
  for (const t of loaded.group.targets) {
    if (t.pulledOut) continue;
    const site = t.site ?? DEFAULT_SITE;
    counts.set(site, (counts.get(site) ?? 0) + 1);
  }
  return {
    sha256: pkg.sha256!,
    checksumFrom: pkg.store!.checksumFrom,
    stores: [...counts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([site, targets]) => ({
        site,
        url: storeUrlFor(pkg.store!, site === DEFAULT_SITE ? undefined : site) ?? '?',
        targets,
      })),
  };
}
