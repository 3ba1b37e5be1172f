/**
 * Issue 13 item 13: a scan without Clair (compliance only) and a scan whose Clair failed keep and
 * write the compliance results — table, JSON, SARIF, Markdown, verdict — and say what was not
 * checked; neither is ever a plain "passed".
 */
import { describe, expect, it } from 'vitest';
import { verdictLine, verdictWord } from '../../../src/app/scan/verdict-text';
import { renderScanText } from '../../../src/cli/scan/render';
import { renderScanMarkdown } from '../../../src/scan/markdown';
import { toSarif } from '../../../src/scan/sarif';
import { scanJson, type ScanOutcome } from '../../../src/scan/scan';
import { verdictOf } from '../../../src/scan/verdict';

const D = `sha256:${'e'.repeat(64)}`;

function outcome(over: Partial<ScanOutcome> = {}, rootFinding = true): ScanOutcome {
  return {
    image: 'r.io/acme/app:1',
    digest: D,
    reference: `r.io/acme/app@${D}`,
    scannedAt: '2026-02-03T04:05:06.000Z',
    passed: !rootFinding,
    timings: { totalMs: 5, complianceMs: 4 },
    compliance: {
      image: `r.io/acme/app@${D}`,
      digest: D,
      checked: ['non-root', 'no-secrets', 'base-image', 'no-privileged'],
      passed: !rootFinding,
      findings: rootFinding
        ? [
            {
              rule: 'non-root',
              level: 'fail',
              message: 'the image runs as root (no USER)',
              layer: 'image config',
              fix: 'add USER 10001',
            },
          ]
        : [],
      stats: { layers: 4, files: 9, filesRead: 2, bytes: 100, ms: 4 },
    },
    ...over,
  };
}

describe('Clair unreachable: the compliance results are kept and written, the failure stated', () => {
  const o = outcome({ clairError: 'fetch failed', passed: false });

  it('the table has the compliance findings and the Clair failure', () => {
    const text = renderScanText(o);
    expect(text).toMatch(/^vulnerabilities +ERROR +NOT checked: Clair failed: fetch failed$/m);
    expect(text).toMatch(/^non-root +FAILED +1 finding\(s\)$/m);
    expect(text).toContain('  FAIL non-root: the image runs as root (no USER) (image config)');
  });

  it('the verdict: not passed, vulnerabilities not checked with the error, the rule that failed', () => {
    const v = verdictOf(o);
    expect(v.passed).toBe(false);
    expect(v.vulnerabilities).toEqual({
      checked: false,
      passed: false,
      failing: [],
      error: 'fetch failed',
    });
    expect(v.compliance).toMatchObject({ checked: true, passed: false, failed: ['non-root'] });
    expect(verdictWord(v)).toBe('FAILED');
    expect(verdictLine(v)).toBe(
      `r.io/acme/app@${D} failed the scan: compliance rules failed: non-root; vulnerabilities NOT checked (Clair failed: fetch failed)`,
    );
  });

  it('even with every rule passed, a failed Clair does not pass', () => {
    const clean = outcome({ clairError: 'Clair answered 503', passed: false }, false);
    expect(verdictOf(clean).passed).toBe(false);
    expect(verdictLine(verdictOf(clean))).toMatch(
      /failed the scan: vulnerabilities NOT checked \(Clair failed: Clair answered 503\)$/,
    );
  });

  it('JSON, SARIF and Markdown carry the findings and the failure', () => {
    const json = scanJson(o) as Record<string, unknown>;
    expect(json).toMatchObject({
      passed: false,
      clairError: 'fetch failed',
      checked: { vulnerabilities: false, compliance: true },
      vulnerabilities: null,
      compliance: { passed: false },
    });
    const sarif = toSarif(o) as {
      runs: { results: { ruleId: string }[]; invocations: Record<string, unknown>[] }[];
    };
    expect(sarif.runs[0]!.results.map((r) => r.ruleId)).toEqual(['compliance/non-root']);
    expect(sarif.runs[0]!.invocations[0]).toEqual({
      executionSuccessful: false,
      toolExecutionNotifications: [
        {
          level: 'error',
          message: { text: 'Vulnerabilities NOT checked: Clair failed: fetch failed' },
        },
      ],
    });
    const md = renderScanMarkdown(o);
    expect(md).toContain('## Image scan ❌ failed');
    expect(md).toContain('| vulnerabilities | ❌ **NOT checked**: Clair failed: fetch failed |');
    expect(md).toContain('| non-root | ❌ fail | the image runs as root (no USER) |');
  });
});

describe('compliance only (no Clair): passes on the rules, never a plain "passed"', () => {
  const o = outcome({}, false);

  it('verdict, its words, the table, SARIF and Markdown say the vulnerabilities were not checked', () => {
    const v = verdictOf(o);
    expect(v).toMatchObject({
      passed: true,
      vulnerabilities: { checked: false, passed: true },
      compliance: { checked: true, passed: true },
    });
    expect(verdictWord(v)).toBe('PASSED (NOT ALL CHECKED)');
    expect(verdictLine(v)).toBe(
      `r.io/acme/app@${D}: compliance rules passed; vulnerabilities NOT checked (no Clair)`,
    );
    expect(renderScanText(o)).toMatch(
      /^vulnerabilities +- +NOT checked \(no Clair: --clair <url>\)$/m,
    );
    const sarif = toSarif(o) as { runs: { invocations: unknown[]; properties: unknown }[] };
    expect(sarif.runs[0]!.invocations[0]).toMatchObject({
      executionSuccessful: true,
      toolExecutionNotifications: [{ level: 'warning' }],
    });
    expect(sarif.runs[0]!.properties).toMatchObject({ vulnerabilitiesChecked: false });
    expect(renderScanMarkdown(o)).toContain('## Image scan ⚠️ passed, not everything checked');
  });

  it('with everything checked, the words are a plain PASSED', () => {
    const v = verdictOf(o);
    const full = {
      ...v,
      vulnerabilities: { checked: true, passed: true, threshold: 'High', failing: [] },
    };
    expect(verdictWord(full)).toBe('PASSED');
    expect(verdictLine(full)).toBe(
      `r.io/acme/app@${D} passed the scan (vulnerabilities and compliance)`,
    );
  });
});
