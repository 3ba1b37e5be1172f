import { fmtMs } from '../engine/chain';
import type { GroupStatus } from './status';

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

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
    out.push('', '### Release log', '```');
    for (const e of s.log)
      out.push(
        `${e.at.slice(11, 19)}  ${e.target ? `${e.target} ` : ''}${e.state ?? e.phase ?? ''} ${e.message}`,
      );
    out.push('```');
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
