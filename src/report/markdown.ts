import { fmtMs } from '../engine/chain';
import { INSECURE_LINE, type GroupStatus } from './status';
import { escapeControl } from '../model/text';

/** Table-safe and one line: control characters shown escaped, `|` escaped. */
const esc = (s: string) => escapeControl(s).replace(/\|/g, '\\|');

export interface Buttons {
  /** What a person can press now, and where (U2: at most two). */
  live: string[];
  where?: string;
}

/**
 * The one page as Markdown for the job summary (G4, U1, U5): cluster, instances, batches,
 * release log, history, and the buttons that are live now.
 */
export function renderStatusMarkdown(s: GroupStatus, buttons: Buttons): string {
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
    if (r.image) out.push(`image \`${esc(r.image)}\`${r.scan ? ` — ${esc(r.scan)}` : ''}`);
    if (r.insecureHostKey) out.push(`> ⚠️ ${INSECURE_LINE}`);
    if (r.degraded.length) out.push(`> ⚠️ degraded: ${esc(r.degraded.join('; '))}`);
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
    out.push('', '### Batches', '| batch | hosts | done | failed |', '|---|---:|---:|---:|');
    for (const b of r.batches) {
      const mark = b.index < r.nextBatch ? '' : b.index === r.nextBatch ? ' ◀ next' : '';
      out.push(
        `| ${b.index + 1}${b.bastion ? ' (bastion)' : ''}${mark} | ${b.size} | ${b.done} | ${b.failed} |`,
      );
    }
  }
  out.push(
    '',
    '### Instances',
    '| target | address | running | health | traffic | state | steps |',
    '|---|---|---|---|---|---|---|',
  );
  for (const t of s.targets) {
    const steps = Object.entries(t.steps)
      .map(([k, v]) => `${k} ${fmtMs(v)}`)
      .join(', ');
    out.push(
      `| ${esc(t.id)}${t.pulledOut ? ' (pulled out)' : ''} | ${esc(t.address)} | ${esc(t.hostError ? `? ${t.hostError}` : (t.running ?? '-'))} | ${t.healthy === null ? '?' : t.healthy ? 'ok' : '**down**'} | ${t.traffic} | \`${t.state ?? '-'}\` | ${esc(steps)}${t.error ? ` ✗ ${esc(t.error)}` : ''} |`,
    );
  }
  if (s.log.length) {
    const lines = s.log.map(
      (e) =>
        `${esc(e.at.slice(11, 19))}  ${e.target ? `${esc(e.target)} ` : ''}${e.state ?? e.phase ?? ''} ${escapeControl(e.message)}`,
    );
    // A fence longer than any run of backticks in the log: a message cannot close it.
    const longest = Math.max(
      2,
      ...lines.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((m) => m.length))),
    );
    const fence = '`'.repeat(longest + 1);
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
