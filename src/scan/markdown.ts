import { RULES, type ComplianceFinding } from './compliance/policy';
import type { VulnerabilityFinding } from './parse';
import type { ScanOutcome } from './scan';

/** The scan as Markdown for the job summary: a verdict table, then the details that matter. */

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

const SEVERITY_ICON: Record<string, string> = {
  Critical: '🟥',
  High: '🟧',
  Medium: '🟨',
  Low: '🟦',
  Negligible: '⬜',
  Unknown: '⬜',
};

export interface MarkdownOptions {
  /** Rows per table before "… and N more" (default 50). */
  maxRows?: number;
}

function vulnRows(findings: readonly VulnerabilityFinding[], max: number): string[] {
  const out = [
    '| severity | vulnerability | package | installed | fixed in | layer |',
    '|---|---|---|---|---|---|',
  ];
  for (const f of findings.slice(0, max)) {
    const link = f.links[0] ? `[${esc(f.vulnerability)}](${f.links[0]})` : esc(f.vulnerability);
    out.push(
      `| ${SEVERITY_ICON[f.severity] ?? ''} ${f.severity} | ${link} | ${esc(f.package)} | ${esc(f.version)} | ${esc(f.fixedIn ?? '—')} | ${f.layers.map((l) => `\`${short(l)}\``).join(' ') || '—'} |`,
    );
  }
  if (findings.length > max) out.push(`| … | and ${findings.length - max} more | | | | |`);
  return out;
}

function complianceRows(findings: readonly ComplianceFinding[], max: number): string[] {
  const out = ['| rule | level | finding | where | fix |', '|---|---|---|---|---|'];
  for (const f of findings.slice(0, max)) {
    out.push(
      `| ${f.rule} | ${f.level === 'fail' ? '❌ fail' : '⚠️ warn'} | ${esc(f.message)} | ${esc(f.layer)} | ${esc(f.fix)} |`,
    );
  }
  if (findings.length > max) out.push(`| … | | and ${findings.length - max} more | | |`);
  return out;
}

export function renderScanMarkdown(outcome: ScanOutcome, options: MarkdownOptions = {}): string {
  const max = options.maxRows ?? 50;
  const out: string[] = [];
  const unchecked = !outcome.vulnerabilities || !outcome.compliance;
  out.push(
    `## Image scan ${outcome.passed ? (unchecked ? '⚠️ passed, not everything checked' : '✅ passed') : '❌ failed'}`,
  );
  out.push('', `\`${esc(outcome.reference)}\``, '');
  out.push('| check | result |', '|---|---|');
  const v = outcome.vulnerabilities;
  if (v) {
    const o = v.outcome;
    const parts = [
      `${o.failing.length} at or above ${o.threshold}`,
      `${o.belowThreshold.length} below`,
      `${o.ignored.length} ignored`,
    ];
    if (o.expired.length > 0) parts.push(`${o.expired.length} expired ignore entries`);
    out.push(
      `| vulnerabilities (Clair, ${v.report.packageCount} packages) | ${o.passed ? '✅' : '❌'} ${parts.join(' · ')} |`,
    );
  } else if (outcome.clairError) {
    out.push(`| vulnerabilities | ❌ **NOT checked**: Clair failed: ${esc(outcome.clairError)} |`);
  } else {
    out.push('| vulnerabilities | ⚠️ **NOT checked** (no Clair: compliance rules only) |');
  }
  const c = outcome.compliance;
  if (c) {
    for (const [id, rule] of Object.entries(RULES)) {
      const checked = c.checked.includes(id as keyof typeof RULES);
      const mine = c.findings.filter((f) => f.rule === id);
      const fails = mine.filter((f) => f.level === 'fail').length;
      const verdict = !checked
        ? '➖ not checked'
        : fails > 0
          ? `❌ ${mine.length} finding${mine.length === 1 ? '' : 's'}`
          : mine.length > 0
            ? `⚠️ ${mine.length} warning${mine.length === 1 ? '' : 's'}`
            : '✅';
      out.push(`| ${id}: ${rule.title} | ${verdict} |`);
    }
  } else {
    out.push(
      outcome.complianceError
        ? `| compliance | ❌ **NOT checked**: ${esc(outcome.complianceError)} |`
        : '| compliance | not checked |',
    );
  }

  if (v && v.outcome.failing.length > 0) {
    out.push('', `### Vulnerabilities at or above ${v.outcome.threshold}`, '');
    out.push(...vulnRows(v.outcome.failing, max));
  }
  if (c && c.findings.length > 0) {
    out.push('', '### Compliance findings', '');
    out.push(...complianceRows(c.findings, max));
  }
  if (v && v.outcome.ignored.length > 0) {
    out.push(
      '',
      '### Ignored',
      '',
      '| vulnerability | package | reason | until |',
      '|---|---|---|---|',
    );
    for (const { finding, entry } of v.outcome.ignored.slice(0, max)) {
      out.push(
        `| ${esc(finding.vulnerability)} | ${esc(finding.package)} | ${esc(entry.reason)} | ${entry.expires} |`,
      );
    }
  }
  if (v && v.outcome.expired.length > 0) {
    out.push('', '### Expired ignore entries (their findings count again)', '');
    for (const { entry, findings } of v.outcome.expired) {
      out.push(
        `- **${esc(entry.id)}** expired ${entry.expires} (“${esc(entry.reason)}”): ${findings.length} finding${findings.length === 1 ? '' : 's'}`,
      );
    }
  }
  if (v && v.outcome.belowThreshold.length > 0) {
    out.push(
      '',
      `<details><summary>${v.outcome.belowThreshold.length} below ${v.outcome.threshold}</summary>`,
      '',
    );
    out.push(...vulnRows(v.outcome.belowThreshold, max), '', '</details>');
  }
  const t = outcome.timings;
  const times = [
    t.clairMs !== undefined ? `Clair ${(t.clairMs / 1000).toFixed(1)} s` : '',
    t.complianceMs !== undefined ? `compliance ${(t.complianceMs / 1000).toFixed(1)} s` : '',
    c ? `${c.stats.layers} layers, ${c.stats.files} files` : '',
  ].filter(Boolean);
  out.push('', `<sub>scanned ${outcome.scannedAt} · ${times.join(' · ')}</sub>`);
  return out.join('\n') + '\n';
}
