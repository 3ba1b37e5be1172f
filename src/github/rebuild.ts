import type { DeploymentConfig, DeploymentKind, PackageRef } from '../model/types';
import type { Outcome, Phase, TargetState } from '../model/states';
import type {
  BatchRecord,
  Deployment,
  HistoryEntry,
  Ledger,
  ReleaseEvent,
  TargetRecord,
} from '../engine/ledger';
import type { HostProbe } from '../engine/ports';

/**
 * A record rebuilt when its artifact is gone (expired past the repository's retention, or never
 * uploaded): the GitHub deployments of `<environment>/<group>` are the durable history (payload:
 * version, kind, config, batches, who; statuses: how each release went), the hosts say where
 * each target is. Pure: the caller fetches both.
 *
 * What comes back: the history and the quarantined versions as the engine would have kept them,
 * and the newest release as `current` with its phase read from its statuses and each target's
 * state from host truth. What cannot come back: the per-target log and step timings.
 */

/** The rollgate part of a deployment's payload the rebuild reads. */
export interface PayloadForRebuild {
  rollgate: 1;
  group: string;
  deployment: string;
  version: string;
  kind: DeploymentKind;
  config: DeploymentConfig;
  batches: string[][];
  runId: number;
  image?: string;
  scan?: PackageRef['scan'];
  /** Who started it (payloads before this field: the deployment's creator stands in). */
  by?: string;
  /** What the group ran before (a rollback's from-version: the version it quarantined). */
  from?: string | null;
}

export interface DeploymentStatusFact {
  state: string;
  description: string;
  /** ms since the epoch */
  createdAt: number;
}

export interface DeploymentFact {
  githubId: number;
  /** ms since the epoch */
  createdAt: number;
  creator: string;
  payload: PayloadForRebuild;
  /** Oldest first. */
  statuses: DeploymentStatusFact[];
}

/** What one target's host said when asked. */
export interface HostFact {
  probe?: HostProbe;
  health?: { ok: boolean; version?: string };
  /** The host could not be asked. */
  error?: string;
}

export interface RebuildInput {
  group: string;
  /** Any order; only rollgate deployments of this group count. */
  deployments: DeploymentFact[];
  /** By target id. */
  hosts: Record<string, HostFact>;
  /**
   * The hosts were not asked (the page reads GitHub only): which versions they keep is not
   * known, so no successful release is left out of the history for it.
   */
  hostsNotAsked?: boolean;
  /** ms since the epoch: the time of the warning. */
  now: number;
  /** Why the record had to be rebuilt, for the warning ("its artifact expired"). */
  reason: string;
}

export interface Rebuilt {
  ledger: Ledger;
  /** engine deployment id → GitHub deployment id (github.json). */
  ids: Record<string, number>;
  /** The one release-log line the rebuilt record starts with. */
  events: ReleaseEvent[];
  warning: string;
}

const HISTORY_MAX = 50;

/**
 * The phase a release was in from the description of its newest status. The descriptions are
 * the engine's own phase messages (engine.ts); an in-progress status matching none of them is
 * a release between batches.
 */
const IN_PROGRESS_PHASES: readonly [RegExp, Phase][] = [
  [/ — waiting for bake$/, 'SMOKE_SUCCESS'],
  [/^bastion baked:/, 'BAKE_SUCCESS'],
  [/; manual mode: continue for batch \d+$/, 'PAUSED'],
  [/: continue or stop$/, 'BRAKED'],
  [/: chain up to verify$/, 'SMOKING'],
  [/^baking bastion /, 'BAKING'],
];

/** The phase and, when it ended, when: from a deployment's statuses (oldest first). */
export function phaseFromStatuses(
  kind: DeploymentKind,
  statuses: readonly DeploymentStatusFact[],
): { phase: Phase; endedAt?: number; updatedAt?: number } {
  // `inactive` is GitHub retiring a success when a newer one succeeds; a monitor verdict is a
  // note on a release, not a phase of it.
  const phased = statuses.filter(
    (s) => s.state !== 'inactive' && !s.description.startsWith('monitor '),
  );
  const last = phased.at(-1);
  const updatedAt = statuses.at(-1)?.createdAt;
  const at = (p: Phase, endedAt?: number) => ({
    phase: p,
    ...(endedAt !== undefined ? { endedAt } : {}),
    ...(updatedAt !== undefined ? { updatedAt } : {}),
  });
  if (!last) return at(kind === 'rollback' ? 'ROLLING_OUT' : 'SMOKING');
  switch (last.state) {
    case 'success':
      return at('SUCCESS', last.createdAt);
    case 'error':
      return at('ABORTED', last.createdAt);
    case 'failure':
      // A failed bastion waits for a retry; it has not ended (the engine sets no endedAt).
      return /^(bastion|bake) failed/.test(last.description)
        ? at('SMOKE_FAILURE')
        : at('FAILURE', last.createdAt);
    default: {
      const hit = IN_PROGRESS_PHASES.find(([re]) => re.test(last.description));
      return at(hit ? hit[1] : 'ROLLING_OUT');
    }
  }
}

function outcomeOf(phase: Phase): Outcome | undefined {
  return phase === 'SUCCESS'
    ? 'success'
    : phase === 'FAILURE'
      ? 'failure'
      : phase === 'ABORTED'
        ? 'aborted'
        : undefined;
}

function hasBastion(p: PayloadForRebuild): boolean {
  return (
    p.kind === 'deploy' && (p.config.bastionCount > 0 || (p.config.bastionTargets ?? []).length > 0)
  );
}

/** Bastion phases before the bake: a verified bastion waits out of traffic. */
const BEFORE_BAKE: ReadonlySet<Phase> = new Set([
  'SMOKING',
  'SMOKE_SUCCESS',
  'SMOKE_FAILURE',
  'BAKING',
]);

/**
 * One target's state from what its host says, in a release of `version` now in `phase`; `ran`:
 * its batch has run (a target of a batch that ran and is not there failed).
 */
export function targetStateFromHost(
  fact: HostFact | undefined,
  o: { version: string; phase: Phase; bastion: boolean; ran: boolean },
): { state: TargetState; error?: string } {
  if (!fact || fact.error !== undefined || !fact.probe) {
    return {
      state: 'PENDING',
      error: `host not reachable when the record was rebuilt: ${fact?.error ?? 'not asked'}`,
    };
  }
  const onVersion = fact.probe.current === o.version;
  const healthy =
    fact.health?.ok === true &&
    (fact.health.version === undefined || fact.health.version === o.version);
  if (onVersion && healthy) {
    if (!o.bastion) return { state: 'MARKUP_SUCCESS' };
    return { state: BEFORE_BAKE.has(o.phase) ? 'VERIFY_SUCCESS' : 'BAKE_SUCCESS' };
  }
  // Not reached yet: the chain runs there when the release goes on, host truth decides (F3).
  if (!o.ran) return { state: 'PENDING' };
  const runs = `runs ${fact.probe.current ?? 'nothing'}`;
  // A released group whose host has changed since: the release did not leave it like this.
  if (o.phase === 'SUCCESS') return { state: 'PENDING', error: `${runs} now` };
  // Its batch ran and it is not there: it failed; what failed is gone with the log, host truth
  // says how far it got.
  if (onVersion) return { state: 'VERIFY_FAILURE', error: `runs ${o.version} but is not healthy` };
  const kept = fact.probe.releases.includes(o.version);
  return {
    state: kept ? 'INSTALL_FAILURE' : 'DOWNLOAD_FAILURE',
    error: `${runs}${kept ? `; ${o.version} is there but not current` : ''}`,
  };
}

/**
 * The index of the next batch to run, as the engine keeps it: past the bastion once it was
 * verified, past each roll-out batch its "batch k/n done" status reports.
 */
export function nextBatchFromStatuses(
  statuses: readonly DeploymentStatusFact[],
  batches: number,
  bastion: boolean,
): number {
  let next = 0;
  for (const st of statuses) {
    const done = /^batch (\d+)\/\d+ done/.exec(st.description);
    if (done) next = Math.max(next, Number(done[1]));
    else if (
      bastion &&
      / — waiting for bake$|^baking bastion |^bastion baked:/.test(st.description)
    ) {
      next = Math.max(next, 1);
    }
  }
  return Math.min(next, batches);
}

/** The newest release as the engine would hold it, from its deployment and host truth. */
function rebuildDeployment(
  f: DeploymentFact,
  fromVersion: string | null,
  hosts: Record<string, HostFact>,
): Deployment {
  const p = f.payload;
  const read = phaseFromStatuses(p.kind, f.statuses);
  const { endedAt, updatedAt } = read;
  const bastion = hasBastion(p);
  const ended = read.phase === 'SUCCESS' || read.phase === 'FAILURE';
  const nextBatch = ended
    ? p.batches.length
    : nextBatchFromStatuses(f.statuses, p.batches.length, bastion);
  // Between batches before the bastion was ever verified: its chain comes first.
  const phase: Phase =
    read.phase === 'ROLLING_OUT' && bastion && nextBatch === 0 ? 'SMOKING' : read.phase;
  const batches: BatchRecord[] = p.batches.map((targets, index) => ({
    index,
    bastion: bastion && index === 0,
    targets: [...targets],
  }));
  const targets: Record<string, TargetRecord> = {};
  for (const b of batches) {
    for (const id of b.targets) {
      const { state, error } = targetStateFromHost(hosts[id], {
        version: p.version,
        phase,
        bastion: b.bastion,
        ran: b.index < nextBatch || (phase === 'SMOKE_FAILURE' && b.bastion),
      });
      targets[id] = {
        id,
        batch: b.index,
        state,
        steps: {},
        attempts: 0,
        ...(error !== undefined ? { error } : {}),
      };
    }
  }
  const outcome = outcomeOf(phase);
  const pkg: PackageRef = {
    version: p.version,
    ...(p.image ? { image: p.image } : {}),
    ...(p.scan ? { scan: p.scan } : {}),
  };
  return {
    id: p.deployment,
    group: p.group,
    kind: p.kind,
    version: p.version,
    fromVersion,
    package: pkg,
    config: p.config,
    phase,
    ...(outcome ? { outcome } : {}),
    by: p.by ?? f.creator,
    createdAt: f.createdAt,
    updatedAt: updatedAt ?? f.createdAt,
    ...(endedAt !== undefined && outcome ? { endedAt } : {}),
    batches,
    nextBatch,
    targets,
    brakeAccepted: 0,
    degraded: [],
  };
}

/** A version every host that answered still keeps (a rollback switches to it, F4). */
function keptEverywhere(version: string, hosts: Record<string, HostFact>): boolean {
  const answered = Object.values(hosts).filter((h) => h.probe);
  return answered.length > 0 && answered.every((h) => h.probe!.releases.includes(version));
}

export function rebuildLedger(input: RebuildInput): Rebuilt {
  const mine = input.deployments
    .filter((d) => d.payload?.rollgate === 1 && d.payload.group === input.group)
    .sort((a, b) => a.createdAt - b.createdAt || a.githubId - b.githubId);
  const ids: Record<string, number> = {};
  const quarantined: Ledger['quarantined'] = {};
  const entries: (HistoryEntry & { kept: boolean })[] = [];
  let lastOk: string | null = null;
  let current: Deployment | null = null;
  for (const [i, f] of mine.entries()) {
    const p = f.payload;
    ids[p.deployment] = f.githubId;
    const before = i > 0 ? mine[i - 1]!.payload.version : null;
    // Older payloads have no `from`: a rollback left the version of the release before it, a
    // release came from the last successful one.
    const from: string | null =
      p.from !== undefined ? p.from : p.kind === 'rollback' ? before : lastOk;
    if (p.kind === 'rollback' && from && from !== p.version) {
      quarantined[from] = {
        reason: `rolled back to ${p.version} by ${p.by ?? f.creator}`,
        at: f.createdAt,
      };
    }
    const { phase, endedAt } = phaseFromStatuses(p.kind, f.statuses);
    const outcome = outcomeOf(phase);
    if (outcome) {
      entries.push({
        id: p.deployment,
        kind: p.kind,
        version: p.version,
        outcome,
        createdAt: f.createdAt,
        endedAt: endedAt ?? f.createdAt,
        by: p.by ?? f.creator,
        kept: input.hostsNotAsked === true || keptEverywhere(p.version, input.hosts),
      });
      if (outcome === 'success') lastOk = p.version;
    }
    if (i === mine.length - 1) current = rebuildDeployment(f, from, input.hosts);
  }
  // A successful release whose version the hosts no longer keep cannot be rolled back to: it
  // stays out of the history the rollback target is chosen from (the deployments keep it).
  const gone = entries.filter(
    (e) => e.outcome === 'success' && !e.kept && e.version !== current?.version,
  );
  const history = entries
    .filter((e) => !gone.includes(e))
    .reverse()
    .slice(0, HISTORY_MAX)
    .map(({ kept: _kept, ...h }) => h);
  const ledger: Ledger = { schemaVersion: 1, group: input.group, current, history, quarantined };
  const goneText = gone.length
    ? `; left out as rollback targets (no longer kept on the hosts): ${[...new Set(gone.map((e) => e.version))].join(', ')}`
    : '';
  const warning = current
    ? `record rebuilt from ${mine.length} GitHub deployment${mine.length === 1 ? '' : 's'} and host truth (${input.reason}): release ${current.version} (${current.kind}) is ${current.phase}; its per-target log and step timings are gone${goneText}`
    : `no record and no rollgate deployment of ${input.group}: first release of this group`;
  const events: ReleaseEvent[] = current
    ? [
        {
          at: new Date(input.now).toISOString(),
          group: input.group,
          deployment: current.id,
          type: 'warn',
          message: warning,
        },
      ]
    : [];
  return { ledger, ids, events, warning };
}
