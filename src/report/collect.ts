import type { Group } from '../model/types';
import type { Ports } from '../engine/ports';
import type { Ledger } from '../engine/ledger';
import { rollbackTarget } from '../engine/engine';
import { stepDurations, summarizeRelease, type GroupStatus, type TargetStatus } from './status';

/** Host truth next to the record: asks every host and the LB, then joins the ledger. */
export async function collectStatus(
  ports: Pick<Ports, 'transport' | 'traffic' | 'store'>,
  group: Group,
  logLines = 10,
): Promise<GroupStatus> {
  const ledger: Ledger | null = await ports.store.load(group.name);
  const d = ledger?.current ?? null;
  const targets = await Promise.all(
    group.targets.map(async (t): Promise<TargetStatus> => {
      const rec = d?.targets[t.id];
      const base: TargetStatus = {
        id: t.id,
        address: t.address,
        running: null,
        healthy: null,
        traffic: 'unknown',
        state: rec?.state ?? null,
        // As shown everywhere: batch 1 is the bastion.
        batch: rec ? rec.batch + 1 : null,
        steps: stepDurations(d, t.id),
        pulledOut: t.pulledOut,
        ...(rec?.error ? { error: rec.error } : {}),
      };
      try {
        const [probe, health] = await Promise.all([
          ports.transport.probe(t),
          ports.transport.health(t),
        ]);
        base.running = probe.current;
        base.healthy = health.ok;
      } catch (err) {
        base.hostError = err instanceof Error ? err.message : String(err);
      }
      base.traffic = await ports.traffic.status(t).catch(() => 'unknown' as const);
      return base;
    }),
  );
  const events = await ports.store.events(group.name);
  const rollbackTo = ledger ? (rollbackTarget(ledger)?.version ?? null) : null;
  return {
    group: group.name,
    release: d ? summarizeRelease(d) : null,
    targets,
    history: ledger?.history ?? [],
    rollbackTo,
    log: events.slice(-logLines),
  };
}
