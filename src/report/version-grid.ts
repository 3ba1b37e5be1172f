/**
 * The version map for the job summary: every target a cell marked by the version it runs (host
 * truth), one row per batch so the batch boundaries show, and a legend. Markdown has no colour:
 * the cells are coloured squares. Bounded: past `maxCells` targets a row counts its marks
 * instead of drawing them, and past `maxRows` batches the rows between are summed.
 */
import { escapeControl } from '../model/text';
import { batchName, batchRows, type Batch } from './batch-rows';
import type { GroupStatus, TargetStatus } from './status';

/** Versions in order: the release's, the one it replaces, then the others by count. */
const VERSION_MARKS = ['🟩', '🟦', '🟪', '🟧', '🟨', '🟫'];
const OTHER = '⬛';
const NOTHING = '⬜';
const UNKNOWN = '❔';
const FAILED = '🟥';

export interface GridLimits {
  /** Most cells drawn; past it each row counts its marks. */
  maxCells: number;
  /** Most batch rows; the rest summed up in one row per gap. */
  maxRows: number;
}

type Cell = Pick<TargetStatus, 'running' | 'hostError' | 'state' | 'batch' | 'pass'>;

const tableSafe = (s: string) => escapeControl(s).replace(/\|/g, '\\|');

/** Each target's mark, and the legend's entries in order (mark, label, count). */
export function gridMarks(s: Pick<GroupStatus, 'targets' | 'release'>): {
  mark: (t: Cell) => string;
  legend: { mark: string; label: string; count: number }[];
} {
  const r = s.release;
  const counts = new Map<string, number>();
  for (const t of s.targets) {
    if (t.running !== null && !t.hostError) counts.set(t.running, (counts.get(t.running) ?? 0) + 1);
  }
  const order = [
    ...new Set(
      [
        r?.version,
        r?.fromVersion,
        ...[...counts.entries()]
          .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
          .map(([v]) => v),
      ].filter((v): v is string => typeof v === 'string' && counts.has(v)),
    ),
  ];
  const byVersion = new Map(order.map((v, i) => [v, VERSION_MARKS[i] ?? OTHER]));
  const mark = (t: Cell): string => {
    if (t.state?.endsWith('_FAILURE')) return FAILED;
    if (t.hostError) return UNKNOWN;
    if (t.running === null) return NOTHING;
    return byVersion.get(t.running) ?? OTHER;
  };
  const tally = new Map<string, number>();
  // Cells a version's mark stands for (a failed target shows as failed, whatever it runs).
  const shown = new Map<string, number>();
  for (const t of s.targets) {
    const m = mark(t);
    tally.set(m, (tally.get(m) ?? 0) + 1);
    if (t.running !== null && m === byVersion.get(t.running)) {
      shown.set(t.running, (shown.get(t.running) ?? 0) + 1);
    }
  }
  const legend: { mark: string; label: string; count: number }[] = [];
  const others: string[] = [];
  for (const v of order.filter((x) => shown.has(x))) {
    const m = byVersion.get(v)!;
    if (m === OTHER) {
      others.push(v);
      continue;
    }
    const note = v === r?.version ? ' (the release)' : v === r?.fromVersion ? ' (before)' : '';
    legend.push({ mark: m, label: `${v}${note}`, count: shown.get(v)! });
  }
  const rest = (m: string, label: string) => {
    const n = tally.get(m);
    if (n) legend.push({ mark: m, label, count: n });
  };
  rest(OTHER, `other versions: ${others.join(', ')}`);
  rest(FAILED, 'failed (its version is in Instances)');
  rest(UNKNOWN, 'host did not answer');
  rest(NOTHING, 'nothing installed');
  return { mark, legend };
}

/** Marks drawn in tens (a space between), so a row of 200 can be counted. */
function drawn(marks: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < marks.length; i += 10) out.push(marks.slice(i, i + 10).join(''));
  return out.join(' ');
}

/** Marks counted, in the legend's order: `🟩×180 🟦×20`. */
function counted(marks: string[], order: string[]): string {
  const n = new Map<string, number>();
  for (const m of marks) n.set(m, (n.get(m) ?? 0) + 1);
  return order
    .filter((m) => n.has(m))
    .map((m) => `${m}×${n.get(m)}`)
    .join(' ');
}

const key = (number: number | null, pass: number | undefined) => `${pass ?? 0}:${number}`;

/** The version map as Markdown lines (a heading, a table, a legend). */
export function versionGrid(
  s: Pick<GroupStatus, 'targets' | 'release'>,
  limits: Partial<GridLimits> = {},
): string[] {
  if (s.targets.length === 0) return [];
  const { mark, legend } = gridMarks(s);
  const order = legend.map((l) => l.mark);
  const draw = s.targets.length <= (limits.maxCells ?? Infinity);
  const cells = (ts: Cell[]) => (draw ? drawn(ts.map(mark)) : counted(ts.map(mark), order));
  const inBatch = new Map<string, Cell[]>();
  for (const t of s.targets) {
    const k = key(t.batch, t.pass);
    inBatch.set(k, [...(inBatch.get(k) ?? []), t]);
  }
  const out = ['### Version map', '| batch | targets |', '|---|---|'];
  const r = s.release;
  const batches: Batch[] = r?.batches ?? [];
  for (const row of batchRows(batches, r?.nextBatch ?? 0, limits.maxRows ?? Infinity)) {
    if ('gap' in row) {
      const g = row.gap;
      const ts = g.flatMap((b) => inBatch.get(key(b.number, b.pass)) ?? []);
      out.push(
        `| ${batchName(g[0]!)}–${batchName(g.at(-1)!)} (${g.length} batches) | ${counted(ts.map(mark), order)} |`,
      );
      continue;
    }
    const b = row.batch;
    const mark_ = r && b.index === r.nextBatch ? ' ◀ next' : '';
    const ts = inBatch.get(key(b.number, b.pass)) ?? [];
    // A retry takes a batch's failed targets into a pass of its own: they show in its rows.
    const drawnCells = ts.length === 0 && b.size > 0 ? '(retried: see the retry rows)' : cells(ts);
    out.push(`| ${batchName(b)}${b.bastion ? ' (bastion)' : ''}${mark_} | ${drawnCells} |`);
  }
  const outside = s.targets.filter((t) => t.batch === null);
  if (outside.length) {
    out.push(`| ${r ? 'not in the release' : 'every target'} | ${cells(outside)} |`);
  }
  out.push(
    '',
    legend.map((l) => `${l.mark} ${tableSafe(l.label)} (${l.count})`).join(' · ') +
      (draw ? '' : ` — ${s.targets.length} targets: each row counts its marks`),
  );
  return out;
}
