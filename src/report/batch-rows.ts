/** The job summary's batch rows: which batches a bounded page shows, and their times. */
import { formatMs } from '../model/text';
import type { GroupStatus } from './status';

export type Batch = NonNullable<GroupStatus['release']>['batches'][number];

/** "4", or "retry 1 · 2" for a retry pass's batch. */
export const batchName = (b: Pick<Batch, 'number' | 'pass'>): string =>
  `${b.pass ? `retry ${b.pass} · ` : ''}${b.number}`;

export type BatchRow = { batch: Batch } | { gap: Batch[] };

/** Batch rows to show: the first and last, those around the next one and with failures; gaps summed. */
export function batchRows(batches: Batch[], next: number, max: number): BatchRow[] {
  if (batches.length <= max) return batches.map((batch) => ({ batch }));
  const keep = new Set<number>();
  const add = (i: number) => {
    if (i >= 0 && i < batches.length && keep.size < max) keep.add(i);
  };
  const edge = Math.max(1, Math.floor(max / 5));
  for (let i = 0; i < edge; i++) add(i);
  for (let i = next - edge; i <= next + edge; i++) add(i);
  for (let i = batches.length - edge; i < batches.length; i++) add(i);
  batches.forEach((b, i) => b.failed > 0 && add(i));
  const rows: BatchRow[] = [];
  let gap: Batch[] = [];
  batches.forEach((b, i) => {
    if (keep.has(i)) {
      if (gap.length) rows.push({ gap });
      gap = [];
      rows.push({ batch: b });
    } else gap.push(b);
  });
  if (gap.length) rows.push({ gap });
  return rows;
}

/**
 * When a batch (or a run of them) started, UTC, and how long it took: from the first start to
 * the last end; "running" while one has started and not ended; empty before any started.
 */
export function batchTime(bs: readonly Pick<Batch, 'startedAt' | 'endedAt'>[]): {
  started: string;
  took: string;
} {
  const starts = bs.flatMap((b) => (b.startedAt === undefined ? [] : [b.startedAt]));
  if (starts.length === 0) return { started: '', took: '' };
  const first = Math.min(...starts);
  const started = new Date(first).toISOString().slice(11, 19);
  const open = bs.some((b) => b.startedAt !== undefined && b.endedAt === undefined);
  if (open) return { started, took: 'running' };
  const last = Math.max(...bs.flatMap((b) => (b.endedAt === undefined ? [] : [b.endedAt])));
  return { started, took: formatMs(last - first) };
}
