import { otherSlot } from '../model/slots';
import { slotsOf } from '../engine/slot-steps';
import type { Group } from '../model/types';
import type { Ports } from '../engine/ports';
import type { Ledger } from '../engine/ledger';
import { releaseFacts, rollbackTarget, RUNNING_PHASES } from '../engine/phases';
import { commandLine, judgeTarget, type WayBackCommand } from '../engine/way-back';
import {
  batchPlace,
  previousAttempts,
  stepDurations,
  summarizeRelease,
  type GroupStatus,
  type TargetStatus,
} from './status';

export interface CollectOptions {
  /** The group file as the person named it, for the commands `status` names. */
  groupFile?: string;
  /** Where the group's inventory came from, when a command or URL gave it (F5, F8). */
  inventory?: string;
}

/** Host truth next to the record: asks every host and the LB, then joins the ledger. */
export async function collectStatus(
  ports: Pick<Ports, 'transport' | 'traffic' | 'store'>,
  group: Group,
  logLines = 10,
  options: CollectOptions = {},
): Promise<GroupStatus> {
  const ledger: Ledger | null = await ports.store.load(group.name);
  const d = ledger?.current ?? null;
  // A running phase with nobody holding the run lock (or a dead holder): its process is gone.
  const holder = ports.store.runHolder ? await ports.store.runHolder(group.name) : undefined;
  const processGone =
    d !== null &&
    RUNNING_PHASES.has(d.phase) &&
    holder !== undefined &&
    (holder === null || holder.alive === false);
  const facts = ledger ? releaseFacts(ledger, processGone) : null;
  const targets = await Promise.all(
    group.targets.map(async (t): Promise<TargetStatus> => {
      const rec = d?.targets[t.id];
      const place = d && rec ? batchPlace(d, rec.batch) : null;
      const previous = previousAttempts(d, t.id);
      const base: TargetStatus = {
        id: t.id,
        address: t.address,
        running: null,
        healthy: null,
        traffic: 'unknown',
        state: rec?.state ?? null,
        // As shown everywhere: batch 1 is the bastion; a retry's batches within their pass.
        batch: place ? place.number : null,
        ...(place?.pass ? { pass: place.pass } : {}),
        steps: stepDurations(d, t.id),
        ...(previous ? { previous } : {}),
        pulledOut: t.pulledOut,
        ...(rec?.error ? { error: rec.error } : {}),
        ...(rec?.lbUnknown !== undefined ? { lbUnknown: rec.lbUnknown } : {}),
      };
      let current: string | null | undefined;
      let healthVersion: string | undefined;
      let healthDetail: string | undefined;
      try {
        const [probe, health] = await Promise.all([
          ports.transport.probe(t),
          ports.transport.health(t),
        ]);
        current = probe.current;
        base.running = probe.current;
        base.healthy = health.ok;
        healthVersion = health.version;
        healthDetail = health.detail;
        if (probe.lock) base.lock = probe.lock;
        const { serving } = slotsOf(probe);
        if (probe.slots && serving) {
          const slot = otherSlot(serving);
          const held = probe.slots[slot];
          base.slots = { serving, ...(held ? { other: { slot, ...held } } : {}) };
        }
      } catch (err) {
        base.hostError = err instanceof Error ? err.message : String(err);
      }
      base.traffic = await ports.traffic.status(t).catch(() => 'unknown' as const);
      const verdict = judgeTarget(
        facts,
        {
          id: t.id,
          pulledOut: t.pulledOut,
          bastion: rec !== undefined && d?.batches[rec.batch]?.bastion === true,
          record: rec ?? null,
        },
        {
          current,
          healthy: base.healthy,
          ...(healthVersion !== undefined ? { healthVersion } : {}),
          ...(healthDetail !== undefined ? { healthDetail } : {}),
          ...(base.hostError ? { hostError: base.hostError } : {}),
          traffic: base.traffic,
        },
      );
      const way = (why: string, action: WayBackCommand) => ({
        why,
        action,
        command: commandLine(action, options.groupFile),
      });
      if (verdict.kind === 'out') base.wayBack = way(verdict.why, verdict.command);
      else if (verdict.kind === 'restore') {
        base.wayBack = way(`${verdict.why}: reconcile puts it back in traffic`, 'reconcile');
      } else if (verdict.kind === 'clear') {
        base.wayBack = way(
          `${verdict.why}; the record still notes its LB state unknown`,
          'reconcile',
        );
      } else if (verdict.pending) {
        base.wayBack = way(verdict.pending.why, verdict.pending.command);
      } else if (verdict.failed) {
        base.wayBack = way(
          `serves, but the release recorded ${verdict.failed.why}`,
          verdict.failed.command,
        );
      }
      return base;
    }),
  );
  const events = await ports.store.events(group.name);
  const rollbackTo = ledger ? (rollbackTarget(ledger)?.version ?? null) : null;
  return {
    group: group.name,
    ...(options.inventory !== undefined ? { inventory: options.inventory } : {}),
    release: d
      ? {
          ...summarizeRelease(d, processGone, rollbackTo),
          ...(processGone && holder !== undefined
            ? {
                process: `gone: no rollgate runs it${holder ? ` (run.lock of ${holder.who} since ${holder.since}, process dead)` : ''}`,
              }
            : {}),
        }
      : null,
    targets,
    history: ledger?.history ?? [],
    rollbackTo,
    // Batch numbers as every page shows them: 1 is the bastion, a retry's within its pass.
    log: events.slice(-logLines).map((e) => {
      if (e.batch === undefined) return e;
      const place = d && e.deployment === d.id ? batchPlace(d, e.batch) : { number: e.batch + 1 };
      return { ...e, batch: place.number, ...(place.pass ? { pass: place.pass } : {}) };
    }),
  };
}
