import { uncheckedParts, type ScanVerdict } from '../../scan/verdict';

/** One line: what passed or what failed, and what was not checked. */
export function verdictLine(v: ScanVerdict): string {
  const unchecked = uncheckedParts(v);
  if (v.passed) {
    if (unchecked.length === 0) {
      return `${v.reference} passed the scan (vulnerabilities and compliance)`;
    }
    const checked = v.vulnerabilities.checked ? 'vulnerabilities' : 'compliance rules';
    return `${v.reference}: ${checked} passed; ${unchecked.join('; ')}`;
  }
  const why: string[] = [];
  if (v.vulnerabilities.checked && !v.vulnerabilities.passed) {
    why.push(
      `${v.vulnerabilities.failing.length} vulnerabilities at or above ${v.vulnerabilities.threshold ?? 'the threshold'}`,
    );
  }
  if (v.compliance.failed.length > 0)
    why.push(`compliance rules failed: ${v.compliance.failed.join(', ')}`);
  why.push(...unchecked);
  return `${v.reference} failed the scan: ${why.join('; ')}`;
}

/** The closing word: PASSED only when everything was checked. */
export function verdictWord(v: ScanVerdict): string {
  if (!v.passed) return 'FAILED';
  return uncheckedParts(v).length === 0 ? 'PASSED' : 'PASSED (NOT ALL CHECKED)';
}
