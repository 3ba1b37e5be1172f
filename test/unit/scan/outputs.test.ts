import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ComplianceResult } from '../../../src/scan/compliance/policy';
import { redactText } from '../../../src/scan/compliance/secrets';
import { renderScanMarkdown } from '../../../src/scan/markdown';
import { parseVulnerabilityReport } from '../../../src/scan/parse';
import { applyPolicy } from '../../../src/scan/policy';
import { toSarif } from '../../../src/scan/sarif';
import { scanJson, type ScanOutcome } from '../../../src/scan/scan';

/** The three outputs of a scan: Markdown summary, SARIF 2.1.0, JSON. */

const report = parseVulnerabilityReport(
  JSON.parse(
    fs.readFileSync(
      new URL('../../fixtures/clair/vulnerability-report.json', import.meta.url),
      'utf8',
    ),
  ),
);
const NOW = Date.UTC(2026, 10, 23, 12);
const DIGEST = `sha256:${'9'.repeat(64)}`;

const compliance: ComplianceResult = {
  image: `127.0.11.1:15000/acme/app@${DIGEST}`,
  digest: DIGEST,
  checked: ['non-root', 'no-secrets', 'base-image'],
  passed: false,
  findings: [
    {
      rule: 'no-secrets',
      level: 'fail',
      message:
        '/app/.env holds a secret-named variable at line 2: DB_PASSWORD=s…(11 chars) — deleted in layer 4, but still readable in layer 3',
      layer: 'layer 3/4 sha256:abcdefabcdef (COPY dir:x in /app)',
      layerDigest: `sha256:${'a'.repeat(64)}`,
      path: '/app/.env',
      fix: 'Keep it | out of the context.',
    },
    {
      rule: 'base-image',
      level: 'warn',
      message: 'the base r/b:1 is not pinned by digest',
      layer: 'layer 1 (FROM r/b:1)',
      fix: 'Use FROM r/b@sha256:<digest>.',
    },
  ],
  stats: { layers: 4, files: 120, filesRead: 80, bytes: 12345, ms: 40 },
};

function outcome(threshold: 'High' | 'Critical', withCompliance = true): ScanOutcome {
  const o: ScanOutcome = {
    image: '127.0.11.1:15000/acme/app:1.2.3',
    digest: DIGEST,
    reference: `127.0.11.1:15000/acme/app@${DIGEST}`,
    scannedAt: new Date(NOW).toISOString(),
    vulnerabilities: {
      index: { manifest: DIGEST, state: 'IndexFinished', success: true, packageCount: 8 },
      report,
      outcome: applyPolicy(
        report.findings,
        {
          threshold,
          ignore: [
            { id: 'CVE-2023-45853', reason: 'minizip is not shipped', expires: '2027-01-31' },
            { id: 'CVE-2024-2961', reason: 'old exception', expires: '2026-01-01' },
          ],
        },
        NOW,
      ),
    },
    passed: false,
    timings: { clairMs: 900, complianceMs: 1100, totalMs: 1200 },
  };
  if (withCompliance) o.compliance = compliance;
  return o;
}

describe('Markdown summary', () => {
  const md = renderScanMarkdown(outcome('High'));

  it('verdict first, then a table per check', () => {
    expect(md.split('\n').slice(0, 8)).toEqual([
      '## Image scan ❌ failed',
      '',
      `\`127.0.11.1:15000/acme/app@${DIGEST}\``,
      '',
      '| check | result |',
      '|---|---|',
      '| vulnerabilities (Clair, 8 packages) | ❌ 3 at or above High · 5 below · 1 ignored · 1 expired ignore entries |',
      '| non-root: The process does not run as root | ✅ |',
    ]);
    expect(md).toContain(
      '| no-secrets: No passwords, tokens or keys in the image | ❌ 1 finding |',
    );
    expect(md).toContain('| base-image: Base image allowed and pinned by digest | ⚠️ 1 warning |');
    expect(md).toContain('| no-privileged: No privileged run options | ➖ not checked |');
  });

  it('failing vulnerabilities with links, fixed versions and layers', () => {
    expect(md).toContain(
      '| 🟥 Critical | [CVE-2023-38545](https://security-tracker.debian.org/tracker/CVE-2023-38545) | libcurl4 | 7.88.1-10+deb12u1 | 7.88.1-10+deb12u4 | `000000000000` |',
    );
  });

  it('compliance findings name the rule, the layer and the fix; pipes are escaped', () => {
    expect(md).toContain('| no-secrets | ❌ fail | /app/.env holds');
    expect(md).toContain('layer 3/4 sha256:abcdefabcdef (COPY dir:x in /app)');
    expect(md).toContain('Keep it \\| out of the context.');
  });

  it('ignored entries with reasons and dates; expired entries called out', () => {
    expect(md).toContain('| CVE-2023-45853 | zlib1g | minizip is not shipped | 2027-01-31 |');
    expect(md).toContain('- **CVE-2024-2961** expired 2026-01-01 (“old exception”): 1 finding');
    expect(md).toContain('<details><summary>5 below High</summary>');
  });

  it('long tables are cut', () => {
    const short = renderScanMarkdown(outcome('High'), { maxRows: 1 });
    expect(short).toContain('| … | and 2 more | | | | |');
  });

  it('without Clair or compliance, says so', () => {
    const o = outcome('High', false);
    delete o.vulnerabilities;
    const text = renderScanMarkdown(o);
    expect(text).toContain(
      '| vulnerabilities | ⚠️ **NOT checked** (no Clair: compliance rules only) |',
    );
    expect(text).toContain('| compliance | not checked |');
  });
});

describe('SARIF 2.1.0', () => {
  const sarif = toSarif(outcome('High'), { artifactUri: 'deploy/Containerfile' }) as {
    version: string;
    runs: {
      tool: {
        driver: {
          name: string;
          rules: { id: string; properties: Record<string, unknown>; helpUri?: string }[];
        };
      };
      results: {
        ruleId: string;
        ruleIndex: number;
        level: string;
        message: { text: string };
        locations: {
          physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } };
        }[];
        partialFingerprints: Record<string, string>;
        suppressions?: { kind: string; justification: string }[];
      }[];
    }[];
  };
  const run = sarif.runs[0]!;

  it('has the shape code scanning needs', () => {
    expect(sarif.version).toBe('2.1.0');
    expect(run.tool.driver.name).toBe('rollgate');
    for (const r of run.results) {
      expect(run.tool.driver.rules[r.ruleIndex]!.id).toBe(r.ruleId);
      expect(r.locations[0]!.physicalLocation).toEqual({
        artifactLocation: { uri: 'deploy/Containerfile' },
        region: { startLine: 1 },
      });
      expect(Object.values(r.partialFingerprints)[0]).toMatch(/^[a-f0-9]{32}$/);
      expect(['error', 'warning', 'note']).toContain(r.level);
    }
  });

  it('one rule per vulnerability with GitHub’s security-severity; levels follow the threshold', () => {
    const rule = run.tool.driver.rules.find((r) => r.id === 'CVE-2023-38545')!;
    expect(rule.properties['security-severity']).toBe('9.5');
    expect(rule.helpUri).toBe('https://security-tracker.debian.org/tracker/CVE-2023-38545');
    const levels = Object.fromEntries(
      run.results.filter((r) => r.ruleId.startsWith('CVE')).map((r) => [r.ruleId, r.level]),
    );
    expect(levels['CVE-2023-38545']).toBe('error');
    expect(levels['CVE-2023-52425']).toBe('note');
  });

  it('ignored findings are suppressed with the reason and the expiry', () => {
    const ignored = run.results.find((r) => r.ruleId === 'CVE-2023-45853')!;
    expect(ignored.suppressions).toEqual([
      {
        kind: 'external',
        status: 'accepted',
        justification: 'minizip is not shipped (ignored until 2027-01-31)',
      },
    ]);
  });

  it('compliance results: error for fail, warning for warn', () => {
    const c = run.results.filter((r) => r.ruleId.startsWith('compliance/'));
    expect(c.map((r) => `${r.ruleId} ${r.level}`)).toEqual([
      'compliance/no-secrets error',
      'compliance/base-image warning',
    ]);
    expect(c[0]!.message.text).toContain('Where: layer 3/4');
  });

  it('fingerprints are stable across scans of new digests of the same repository', () => {
    const again = toSarif({
      ...outcome('High'),
      reference: `127.0.11.1:15000/acme/app@sha256:${'1'.repeat(64)}`,
    }) as typeof sarif;
    expect(again.runs[0]!.results.map((r) => r.partialFingerprints)).toEqual(
      run.results.map((r) => r.partialFingerprints),
    );
  });
});

describe('JSON output', () => {
  it('is plain data: verdicts, lists and timings', () => {
    const json = JSON.parse(JSON.stringify(scanJson(outcome('Critical')))) as Record<
      string,
      Record<string, unknown>
    >;
    expect(json.vulnerabilities).toMatchObject({
      threshold: 'Critical',
      passed: false,
      packages: 8,
    });
    expect((json.vulnerabilities!.failing as unknown[]).length).toBe(1);
    expect(json.vulnerabilities!.ignored).toEqual([
      expect.objectContaining({
        vulnerability: 'CVE-2023-45853',
        ignoredBy: expect.objectContaining({ reason: 'minizip is not shipped' }),
      }),
    ]);
    expect(json.vulnerabilities!.expiredIgnores).toEqual([
      expect.objectContaining({
        id: 'CVE-2024-2961',
        findings: ['CVE-2024-2961|libc6|2.36-9+deb12u1'],
      }),
    ]);
    expect(json.compliance).toMatchObject({ passed: false });
  });
});

describe('redactText', () => {
  it('hides secret values in build steps, keeps the rest', () => {
    const gh = 'ghp' + '_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
    expect(redactText('ENV DB_PASSWORD=hunter2xyz NODE_ENV=production')).toBe(
      'ENV DB_PASSWORD=… NODE_ENV=production',
    );
    expect(redactText('LABEL "ci.token"="abcdef123456"')).toBe('LABEL "ci.token"=…');
    expect(redactText(`RUN echo ${gh} > /x`)).toBe('RUN echo ghp_…(40 chars) > /x');
  });
});
