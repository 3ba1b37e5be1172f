import type { ReconcileReport } from '../engine/reconcile';
import { table } from './table';

/** `rollgate reconcile` as text: one row per target, then locks and drift, then the verdict. */
export function renderReconcile(r: ReconcileReport): string {
  const out: string[] = [];
  const rel = r.release;
  out.push(
    `reconcile ${r.group}${r.dryRun ? ' (dry run: nothing changed)' : ''} — ${rel ? `release ${rel.id} (${rel.version}), ${rel.phase}` : 'no release yet'}`,
    '',
  );
  out.push(
    table(
      ['target', 'running', 'health', 'traffic', 'state', 'action'],
      r.targets.map((t) => [
        t.id,
        t.hostError ? '?' : (t.running ?? '-'),
        t.healthy === null ? '?' : t.healthy ? 'ok' : 'DOWN',
        t.traffic,
        t.state ?? '-',
        t.action,
      ]),
    ),
  );
  const notes = r.targets.filter((t) => t.why || t.command);
  if (notes.length) {
    out.push('');
    for (const t of notes) {
      out.push(`  ${t.id}: ${t.why ?? ''}`);
      if (t.command) out.push(`    → ${t.command}`);
    }
  }
  const locks = r.targets.filter((t) => t.lock);
  if (locks.length) {
    out.push('', 'host locks:');
    for (const t of locks) {
      const l = t.lock!;
      out.push(
        `  ${t.id}: ${l.deploymentId ?? 'unreadable'}${l.who ? ` by ${l.who}` : ''}${l.since ? ` since ${l.since}` : ''} — ${l.action}`,
      );
    }
  }
  const drift = r.targets.filter((t) => t.drift);
  if (drift.length) {
    out.push('', 'drift (record vs host; logged, not changed):');
    for (const t of drift) out.push(`  ${t.id}: ${t.drift}`);
  }
  const left = r.targets.filter(
    (t) => t.action === 'left out' || t.action === 'could not put back',
  );
  out.push(
    '',
    !r.ok
      ? `something reconcile tried failed (see above); ${left.length} targets out`
      : left.length
        ? `every other target serves; ${left.length} left out, each with why: ${left.map((t) => t.id).join(', ')}`
        : 'every target serves',
  );
  return out.join('\n');
}
