import { RULE_IDS } from '../../scan/compliance/policy';
import type { ScanOutcome } from '../../scan/scan';

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}

/** The scan for a terminal: the checks, then what fails. */
export function renderScanText(outcome: ScanOutcome, maxRows = 30): string {
  const out = [`image   ${outcome.image}`, `digest  ${outcome.digest}`, ''];
  const v = outcome.vulnerabilities;
  const c = outcome.compliance;
  const rows = [['check', 'result', 'details']];
  if (v) {
    const o = v.outcome;
    rows.push([
      'vulnerabilities',
      o.passed ? 'passed' : 'FAILED',
      `${o.failing.length} at or above ${o.threshold}, ${o.belowThreshold.length} below, ${o.ignored.length} ignored (${v.report.packageCount} packages)`,
    ]);
  } else if (outcome.clairError) {
    rows.push(['vulnerabilities', 'ERROR', `NOT checked: Clair failed: ${outcome.clairError}`]);
  } else {
    rows.push(['vulnerabilities', '-', 'NOT checked (no Clair: --clair <url>)']);
  }
  if (c) {
    for (const id of RULE_IDS) {
      const mine = c.findings.filter((f) => f.rule === id);
      const fails = mine.filter((f) => f.level === 'fail').length;
      const result = !c.checked.includes(id)
        ? '-'
        : fails > 0
          ? 'FAILED'
          : mine.length > 0
            ? 'warning'
            : 'passed';
      rows.push([id, result, mine.length ? `${mine.length} finding(s)` : '']);
    }
  } else if (outcome.complianceError) {
    rows.push(['compliance', 'ERROR', `NOT checked: ${outcome.complianceError}`]);
  } else {
    rows.push(['compliance', '-', 'not checked']);
  }
  out.push(...table(rows));
  if (v && v.outcome.failing.length > 0) {
    out.push('', `vulnerabilities at or above ${v.outcome.threshold}:`);
    const list = [['severity', 'vulnerability', 'package', 'installed', 'fixed in']];
    for (const f of v.outcome.failing.slice(0, maxRows)) {
      list.push([f.severity, f.vulnerability, f.package, f.version, f.fixedIn ?? '-']);
    }
    out.push(...table(list).map((l) => `  ${l}`));
    if (v.outcome.failing.length > maxRows)
      out.push(`  … and ${v.outcome.failing.length - maxRows} more`);
  }
  if (c && c.findings.length > 0) {
    out.push('', 'compliance findings:');
    for (const f of c.findings.slice(0, maxRows)) {
      out.push(
        `  ${f.level === 'fail' ? 'FAIL' : 'warn'} ${f.rule}: ${f.message} (${f.layer})`,
        `       fix: ${f.fix}`,
      );
    }
  }
  return out.join('\n');
}
