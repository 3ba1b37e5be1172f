import { brakeLine, health, INSECURE_LINE, opsLine, trafficCell, type GroupStatus } from './status';
import { escapeControl, formatMs } from '../model/text';
import { batchName, batchRows, batchTime } from './batch-rows';
import { versionGrid } from './version-grid';

/** Table-safe and one line: control characters shown escaped, `|` escaped. */
const esc = (s: string) => escapeControl(s).replace(/\|/g, '\\|');

/**
 * Bounds for a page that must stay readable and under GitHub's 1 MiB job summary limit even
 * when every one of 10,000 targets failed with a long error. Absent: no bound.
 */
export interface SummaryLimits {
  /** Longest text of one cell or log line; the rest is in the job log. */
  cellChars: number;
  /** Instance rows; targets that need attention come first. */
  maxTargets: number;
  /** Batch rows; the rest are summed up in one row per gap. */
  maxBatches: number;
  /** Version map cells; past it each batch row counts its versions instead of drawing them. */
  maxGridCells: number;
}

/** What the actions use: measured < 1 MiB at 10,000 failed targets (test/unit/report). */
export const JOB_SUMMARY_LIMITS: SummaryLimits = {
  cellChars: 200,
  maxTargets: 500,
  maxBatches: 60,
  maxGridCells: 1000,
};

export interface Buttons {
  /** What a person can press now, and where (U2: at most two). */
  live: string[];
  where?: string;
}

/**
 * The one page as Markdown for the job summary (G4, U1, U5): cluster, instances, batches,
 * release log, history, and the buttons that are live now.
 */
export function renderStatusMarkdown(
  s: GroupStatus,
  buttons: Buttons,
  limits: Partial<SummaryLimits> = {},
): string {
  const cellChars = limits.cellChars ?? Infinity;
  const cut = (text: string): string =>
    text.length > cellChars
      ? `${text.slice(0, cellChars)}… (cut: the whole text is in the job log)`
      : text;
  const out: string[] = [];
  const r = s.release;
  out.push(`## rollgate · ${esc(s.group)}`);
  if (r) {
    const icon =
      r.outcome === 'success'
        ? '✅'
        : r.outcome === 'failure'
          ? '❌'
          : r.outcome === 'aborted'
            ? '⏹️'
            : '⏳';
    out.push(
      `${icon} **${r.kind} ${esc(r.fromVersion ?? '∅')} → ${esc(r.version)}** by ${esc(r.by)} — \`${r.phase}\``,
    );
    if (r.ops?.length) out.push('', esc(opsLine(r.ops)));
    if (r.image) out.push(`image \`${esc(r.image)}\`${r.scan ? ` — ${esc(r.scan)}` : ''}`);
    if (r.insecureHostKey) out.push(`> ⚠️ ${INSECURE_LINE}`);
    if (r.degraded.length) out.push(`> ⚠️ degraded: ${esc(r.degraded.join('; '))}`);
    // F2, F7: which rule braked, or how many more failures brake.
    if (r.brake) out.push('', `${r.brake.braked ? '🛑 ' : ''}${esc(brakeLine(r.brake))}`);
  } else {
    out.push('No release yet.');
  }
  out.push(
    '',
    '### Now',
    buttons.live.length ? buttons.live.map((b) => `- **${b}**`).join('\n') : '- nothing to press',
  );
  if (buttons.where) out.push('', buttons.where);
  if (r) {
    out.push(
      '',
      '### Batches',
      '| batch | hosts | started (UTC) | took | done | failed |',
      '|---|---:|---|---|---:|---:|',
    );
    for (const row of batchRows(r.batches, r.nextBatch, limits.maxBatches ?? Infinity)) {
      if ('gap' in row) {
        const g = row.gap;
        const sum = (k: 'size' | 'done' | 'failed') => g.reduce((n, b) => n + b[k], 0);
        const t = batchTime(g);
        out.push(
          `| ${batchName(g[0]!)}–${batchName(g.at(-1)!)} (${g.length} batches) | ${sum('size')} | ${t.started} | ${t.took} | ${sum('done')} | ${sum('failed')} |`,
        );
        continue;
      }
      const b = row.batch;
      const mark = b.index < r.nextBatch ? '' : b.index === r.nextBatch ? ' ◀ next' : '';
      const t = batchTime([b]);
      out.push(
        `| ${batchName(b)}${b.bastion ? ' (bastion)' : ''}${mark} | ${b.size} | ${t.started} | ${t.took} | ${b.done} | ${b.failed} |`,
      );
    }
  }
  const grid = versionGrid(s, {
    ...(limits.maxGridCells !== undefined ? { maxCells: limits.maxGridCells } : {}),
    ...(limits.maxBatches !== undefined ? { maxRows: limits.maxBatches } : {}),
  });
  if (grid.length) out.push('', ...grid);
  out.push(
    '',
    '### Instances',
    '| target | address | running | health | traffic | state | steps |',
    '|---|---|---|---|---|---|---|',
  );
  const maxTargets = limits.maxTargets ?? Infinity;
  const shown =
    s.targets.length > maxTargets
      ? [...s.targets.filter(needsAttention), ...s.targets.filter((t) => !needsAttention(t))].slice(
          0,
          maxTargets,
        )
      : s.targets;
  for (const t of shown) {
    const steps = Object.entries(t.steps)
      .map(([k, v]) => `${k} ${formatMs(v)}`)
      .join(', ');
    out.push(
      `| ${esc(t.id)}${t.pulledOut ? ' (pulled out)' : ''} | ${esc(t.address)} | ${esc(t.hostError ? `? ${cut(t.hostError)}` : cut(t.running ?? '-'))} | ${healthCell(t)} | ${trafficCell(t.traffic)} | \`${t.state ?? '-'}\` | ${esc(steps)}${t.error ? ` ✗ ${esc(cut(t.error))}` : ''} |`,
    );
  }
  if (shown.length < s.targets.length) {
    const hidden = s.targets.length - shown.length;
    const failed = s.targets.filter(needsAttention).length - shown.filter(needsAttention).length;
    out.push(
      '',
      `… ${hidden} more targets not shown${failed ? ` (${failed} of them need attention)` : ''}: the job log and \`rollgate status\` list every one.`,
    );
  }
  // T1: every target out of traffic or failed, with why and the one command that restores it.
  const ways = s.targets.filter((t) => t.wayBack);
  if (ways.length) {
    out.push(
      '',
      '### Out of traffic or failed: the way back',
      '| target | why | the one command |',
      '|---|---|---|',
    );
    for (const t of ways.slice(0, maxTargets)) {
      const w = t.wayBack!;
      out.push(
        `| ${esc(t.id)} | ${esc(cut(w.why))} | ${w.command ? `\`${esc(w.command)}\`` : 'not rollgate’s to do'} |`,
      );
    }
    if (ways.length > maxTargets) {
      out.push('', `… ${ways.length - maxTargets} more: \`rollgate status\` lists every one.`);
    }
  }
  if (s.log.length) {
    const lines = s.log.map((e) =>
      cut(
        `${esc(e.at.slice(11, 19))}  ${e.target ? `${esc(e.target)} ` : ''}${e.state ?? e.phase ?? ''} ${escapeControl(e.message)}`,
      ),
    );
    // A fence longer than any run of backticks inside, so a message cannot close it.
    const longest = Math.max(
      0,
      ...lines.map((l) => Math.max(0, ...[...l.matchAll(/`+/g)].map((m) => m[0].length))),
    );
    const fence = '`'.repeat(Math.max(3, longest + 1));
    out.push('', '### Release log', fence, ...lines, fence);
  }
  out.push('', '### History', '| ended | kind | version | outcome | by |', '|---|---|---|---|---|');
  for (const h of s.history.slice(0, 10)) {
    out.push(
      `| ${new Date(h.endedAt).toISOString().slice(0, 16).replace('T', ' ')} | ${h.kind} | ${esc(h.version)} | ${h.outcome} | ${esc(h.by)} |`,
    );
  }
  out.push('', `Rollback would return to: **${esc(s.rollbackTo ?? 'nothing yet')}**`);
  return out.join('\n');
}

/** As the text page: a host with nothing installed is "-", not down. */
function healthCell(t: GroupStatus['targets'][number]): string {
  const h = health(t);
  return h === 'DOWN' ? '**down**' : h;
}

function needsAttention(t: GroupStatus['targets'][number]): boolean {
  return (
    Boolean(t.state?.endsWith('_FAILURE')) ||
    t.error !== undefined ||
    t.hostError !== undefined ||
    t.healthy === false ||
    t.wayBack !== undefined
  );
}
