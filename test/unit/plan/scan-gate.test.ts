import { describe, expect, it } from 'vitest';
import { judgeScanGate } from '../../../src/plan/scan-gate';
import type { ScanVerdict } from '../../../src/scan/verdict';

// B4: deploy-bastion refuses a digest whose scan or compliance did not pass, unless overridden
// with a recorded reason.
const D = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;

function verdict(over: Partial<ScanVerdict> = {}): ScanVerdict {
  return {
    rollgateScan: 1,
    digest: D,
    reference: `127.0.0.1:5000/acme/app@${D}`,
    passed: true,
    scannedAt: '2026-11-23T10:00:00.000Z',
    vulnerabilities: { checked: true, passed: true, threshold: 'high', failing: [] },
    compliance: { checked: true, passed: true, failed: [], warned: [] },
    ...over,
  };
}

const failedVulns = verdict({
  passed: false,
  vulnerabilities: {
    checked: true,
    passed: false,
    threshold: 'high',
    failing: ['CVE-1|openssl|1.0', 'CVE-2|zlib|1.2'],
  },
});
const failedRules = verdict({
  passed: false,
  compliance: { checked: true, passed: false, failed: ['non-root', 'secrets'], warned: [] },
});
// Issue 13 item 13: no Clair (compliance only), Clair unreachable, vulnerabilities only.
const complianceOnly = verdict({
  vulnerabilities: { checked: false, passed: true, failing: [] },
});
const clairFailed = verdict({
  passed: false,
  vulnerabilities: { checked: false, passed: false, failing: [], error: 'fetch failed' },
});
const vulnerabilitiesOnly = verdict({
  compliance: { checked: false, passed: true, failed: [], warned: [] },
});
const override = { reason: 'CVE-1 is not reachable; fix in 1.4 (INC-42)', by: 'alice' };

describe('judgeScanGate (B4)', () => {
  const cases: {
    name: string;
    verdict: ScanVerdict | null;
    override?: { reason: string; by: string };
    allowed: boolean;
    passed: boolean | null;
    summary: RegExp;
  }[] = [
    {
      name: 'passed scan',
      verdict: verdict(),
      allowed: true,
      passed: true,
      summary: /passed \(2026-11-23/,
    },
    {
      name: 'no verdict',
      verdict: null,
      allowed: false,
      passed: null,
      summary: /^no scan verdict for sha256:aaaaaaaaaaa/,
    },
    {
      name: 'vulnerabilities at or above the threshold',
      verdict: failedVulns,
      allowed: false,
      passed: false,
      summary: /failed \(2 vulnerabilities at or above high\)/,
    },
    {
      name: 'compliance rules failed',
      verdict: failedRules,
      allowed: false,
      passed: false,
      summary: /compliance rules failed: non-root, secrets/,
    },
    {
      name: 'compliance only (no Clair): allowed, never a plain "passed"',
      verdict: complianceOnly,
      allowed: true,
      passed: true,
      summary:
        /^scan of sha256:aaaaaaaaaaaa: compliance rules passed, vulnerabilities NOT checked \(no Clair\) \(2026-11-23/,
    },
    {
      name: 'Clair failed: refused, the failure named',
      verdict: clairFailed,
      allowed: false,
      passed: false,
      summary: /failed \(vulnerabilities NOT checked \(Clair failed: fetch failed\)\)/,
    },
    {
      name: 'Clair failed and a rule failed: both named',
      verdict: { ...clairFailed, compliance: failedRules.compliance },
      allowed: false,
      passed: false,
      summary:
        /failed \(compliance rules failed: non-root, secrets; vulnerabilities NOT checked \(Clair failed: fetch failed\)\)/,
    },
    {
      name: 'vulnerabilities only (--no-compliance): allowed, says the rules were not checked',
      verdict: vulnerabilitiesOnly,
      allowed: true,
      passed: true,
      summary: /: vulnerabilities passed, compliance rules NOT checked \(/,
    },
    {
      name: 'a verdict of another digest counts as none',
      verdict: verdict({ digest: OTHER }),
      allowed: false,
      passed: null,
      summary: /^no scan verdict/,
    },
    {
      name: 'failed + override',
      verdict: failedVulns,
      override,
      allowed: true,
      passed: false,
      summary: /failed/,
    },
    {
      name: 'none + override',
      verdict: null,
      override,
      allowed: true,
      passed: null,
      summary: /no scan verdict/,
    },
    {
      name: 'a blank reason is no override',
      verdict: failedRules,
      override: { reason: '   ', by: 'bob' },
      allowed: false,
      passed: false,
      summary: /failed/,
    },
  ];

  it.each(cases)('$name', (c) => {
    const d = judgeScanGate(D, c.verdict, c.override);
    expect(d.allowed).toBe(c.allowed);
    expect(d.record.passed).toBe(c.passed);
    expect(d.record.digest).toBe(D);
    expect(d.record.summary).toMatch(c.summary);
    if (d.allowed && c.override?.reason.trim() && c.verdict?.passed !== true) {
      expect(d.record.override).toEqual({ reason: c.override.reason, by: c.override.by });
    } else {
      expect(d.record.override).toBeUndefined();
    }
    if (!d.allowed) {
      expect(d.reason).toMatch(/the release is refused/);
      expect(d.reason).toMatch(/--override-scan/);
    }
  });

  it('only a scan that checked everything says a plain "passed"', () => {
    for (const v of [complianceOnly, vulnerabilitiesOnly]) {
      expect(judgeScanGate(D, v, undefined).record.summary).not.toMatch(/ passed \(/);
    }
    expect(judgeScanGate(D, verdict(), undefined).record.summary).toMatch(/ passed \(/);
  });

  it('a passed scan is not marked overridden even when a reason is given', () => {
    const d = judgeScanGate(D, verdict(), override);
    expect(d).toMatchObject({ allowed: true, record: { passed: true } });
    expect(d.record.override).toBeUndefined();
  });
});
