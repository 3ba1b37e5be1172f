import type { Phase, TargetState } from '../model/states';
import type { Step } from '../model/types';
import type { Deployment, HistoryEntry, ReleaseEvent } from '../engine/ledger';
import type { TrafficStatus } from '../engine/ports';
import { nextActions } from '../engine/engine';
import { fmtMs } from '../engine/chain';
import { table } from './table';
import { escapeControl as x } from '../model/text';

/** One target as the host, the LB and the record see it (U5: instances). */
export interface TargetStatus {
  id: string;
  address: string;
  /** Host truth: what `current` points at, or null; `error` when the host did not answer. */
  running: string | null;
  healthy: boolean | null;
  traffic: TrafficStatus;
  state: TargetState | null;
  batch: number | null;
  steps: Partial<Record<Step, number>>;
  error?: string;
  pulledOut: boolean;
  hostError?: string;
}

export interface GroupStatus {
  group: string;
  release: {
    id: string;
    kind: string;
    version: string;
    fromVersion: string | null;
    phase: Phase;
    outcome?: string;
    by: string;
    batches: { index: number; bastion: boolean; size: number; done: number; failed: number }[];
    nextBatch: number;
    degraded: string[];
    next: string;
    /** An image release: the image, pinned, and the scan gate's line. */
    image?: string;
    scan?: string;
    /** Hosts were reached without checking their keys (transport.insecureIgnoreHostKey). */
    insecureHostKey?: boolean;
  } | null;
  targets: TargetStatus[];
  history: HistoryEntry[];
  rollbackTo: string | null;
  log: ReleaseEvent[];
}

const DONE: ReadonlySet<TargetState> = new Set([
  'MARKUP_SUCCESS',
  'BAKE_SUCCESS',
  'SKIPPED',
  'VERIFY_SUCCESS',
]);

export function summarizeRelease(d: Deployment): NonNullable<GroupStatus['release']> {
  return {
    id: d.id,
    kind: d.kind,
    version: d.version,
    fromVersion: d.fromVersion,
    phase: d.phase,
    ...(d.outcome ? { outcome: d.outcome } : {}),
    by: d.by,
    batches: d.batches.map((b) => ({
      index: b.index,
      bastion: b.bastion,
      size: b.targets.length,
      done: b.targets.filter((id) => DONE.has(d.targets[id]!.state)).length,
      failed: b.targets.filter((id) => d.targets[id]!.state.endsWith('_FAILURE')).length,
    })),
    nextBatch: d.nextBatch,
    degraded: d.degraded,
    next: nextActions(d.phase),
    ...(d.package.image ? { image: d.package.image } : {}),
    ...(d.package.scan ? { scan: gateLine(d.package.scan) } : {}),
    insecureHostKey: d.config?.insecureIgnoreHostKey === true,
  };
}

function gateLine(scan: NonNullable<Deployment['package']['scan']>): string {
  const o = scan.override;
  return o ? `${scan.summary}; overridden by ${o.by}: ${o.reason}` : scan.summary;
}

export function stepDurations(d: Deployment | null, id: string): Partial<Record<Step, number>> {
  const rec = d?.targets[id];
  const out: Partial<Record<Step, number>> = {};
  for (const [step, t] of Object.entries(rec?.steps ?? {})) {
    if (t?.endedAt !== undefined) out[step as Step] = t.endedAt - t.startedAt;
  }
  return out;
}

/** The one page, as text (U1, U5): cluster, release, instances, batches, log, history, buttons. */
export function renderStatus(s: GroupStatus): string {
  const out: string[] = [];
  const r = s.release;
  out.push(`group ${x(s.group)}`);
  if (r) {
    out.push(
      `release ${x(r.id)}: ${r.kind} ${x(r.fromVersion ?? '∅')} → ${x(r.version)} by ${x(r.by)} — ${r.phase}${r.outcome ? ` (${r.outcome})` : ''}`,
    );
    if (r.image) out.push(`image ${x(r.image)}${r.scan ? ` — ${x(r.scan)}` : ''}`);
    if (r.insecureHostKey) out.push(INSECURE_LINE);
    if (r.degraded.length) out.push(`degraded: ${x(r.degraded.join('; '))}`);
    out.push(
      `batches: ${r.batches
        .map(
          (b) =>
            `${b.index + 1}${b.bastion ? ' (bastion)' : ''} ${b.done}/${b.size}${b.failed ? ` ${b.failed}✗` : ''}`,
        )
        .join(' · ')}`,
    );
  } else {
    out.push('no release yet');
  }
  out.push('');
  out.push(
    table(
      ['target', 'address', 'running', 'health', 'traffic', 'state', 'batch', 'steps'],
      s.targets.map((t) => [
        x(t.id) + (t.pulledOut ? ' (pulled out)' : ''),
        x(t.address),
        t.hostError ? `? ${x(t.hostError)}` : x(t.running ?? '-'),
        t.healthy === null ? '?' : t.healthy ? 'ok' : 'DOWN',
        t.traffic,
        t.state ?? '-',
        t.batch === null ? '-' : String(t.batch + 1),
        Object.entries(t.steps)
          .map(([k, v]) => `${k} ${fmtMs(v)}`)
          .join(', ') + (t.error ? `  ✗ ${x(t.error)}` : ''),
      ]),
    ),
  );
  if (s.log.length) {
    out.push('', 'release log (last lines):');
    for (const e of s.log)
      out.push(
        `  ${x(e.at.slice(0, 19).replace('T', ' '))}  ${e.target ? `${x(e.target)} ` : ''}${e.state ?? e.phase ?? ''} ${x(e.message)}`,
      );
  }
  out.push('', 'history:');
  if (s.history.length === 0) out.push('  none');
  for (const h of s.history.slice(0, 10)) {
    out.push(
      `  ${new Date(h.endedAt).toISOString().slice(0, 19).replace('T', ' ')}  ${h.kind.padEnd(8)} ${x(h.version).padEnd(14)} ${h.outcome.padEnd(8)} by ${x(h.by)}`,
    );
  }
  out.push(
    `rollback would return to: ${x(s.rollbackTo ?? 'nothing (no earlier successful release)')}`,
  );
  out.push(`now possible: ${r ? r.next : 'deploy'}`);
  return out.join('\n');
}

export const INSECURE_LINE =
  'host keys NOT checked: this release reached its hosts with transport.insecureIgnoreHostKey set';
