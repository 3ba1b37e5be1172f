import type { ScanGateRecord } from '../model/types';
import { uncheckedParts, type ScanVerdict } from '../model/scan-verdict';

/**
 * The deploy-bastion gate (B4): an image release goes out only with a passed scan of the very
 * digest it deploys, unless a person overrides with a reason, which the record keeps.
 *
 * A compliance-only verdict (no Clair) that passed its rules lets the release through — a team
 * without Clair can still release images — but its line, in the release log and in `status`,
 * says the vulnerabilities were NOT checked. A verdict whose Clair failed did not pass.
 */

export type ScanGateDecision =
  | { allowed: true; record: ScanGateRecord }
  | { allowed: false; record: ScanGateRecord; reason: string };

export function judgeScanGate(
  digest: string,
  verdict: ScanVerdict | null,
  override: { reason: string; by: string } | undefined,
): ScanGateDecision {
  const summary = summarize(digest, verdict);
  const base: ScanGateRecord = {
    digest,
    passed: verdict ? verdict.passed : null,
    summary,
    ...(verdict ? { scannedAt: verdict.scannedAt } : {}),
  };
  if (verdict && verdict.digest !== digest) {
    // A verdict for another digest says nothing about this one.
    return judgeScanGate(digest, null, override);
  }
  if (verdict?.passed) return { allowed: true, record: base };
  const reason = override?.reason.trim();
  if (override && reason) {
    return { allowed: true, record: { ...base, override: { reason, by: override.by } } };
  }
  return {
    allowed: false,
    record: base,
    reason:
      `${summary}: the release is refused. Scan the image (rollgate scan / the clair-scan step) ` +
      'and fix what it reports, or override with a reason (--override-scan "<why>" / input scan-override), which is recorded',
  };
}

function summarize(digest: string, verdict: ScanVerdict | null): string {
  const short = digest.slice(0, 19);
  if (!verdict || verdict.digest !== digest) return `no scan verdict for ${short}`;
  const unchecked = uncheckedParts(verdict);
  if (verdict.passed) {
    if (unchecked.length === 0) return `scan of ${short} passed (${verdict.scannedAt})`;
    const checked = verdict.vulnerabilities.checked ? 'vulnerabilities' : 'compliance rules';
    return `scan of ${short}: ${checked} passed, ${unchecked.join(', ')} (${verdict.scannedAt})`;
  }
  const parts: string[] = [];
  const v = verdict.vulnerabilities;
  if (v.checked && !v.passed) {
    parts.push(`${v.failing.length} vulnerabilities at or above ${v.threshold ?? 'the threshold'}`);
  }
  const c = verdict.compliance;
  if (c.checked && !c.passed) parts.push(`compliance rules failed: ${c.failed.join(', ')}`);
  parts.push(...unchecked);
  return `scan of ${short} failed (${parts.join('; ') || 'see the scan report'})`;
}
