import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/model/errors';
import {
  parseIndexReport,
  parseVulnerabilityReport,
  ReportError,
  type VulnerabilityFinding,
} from '../../../src/scan/parse';
import {
  applyPolicy,
  expiryEnd,
  parseIgnoreFile,
  parseIgnoreList,
  parseSeverity,
} from '../../../src/scan/policy';

const fixture = (name: string) =>
  JSON.parse(
    fs.readFileSync(new URL(`../../fixtures/clair/${name}`, import.meta.url), 'utf8'),
  ) as Record<string, unknown>;

const report = parseVulnerabilityReport(fixture('vulnerability-report.json'));
const NOW = Date.UTC(2026, 10, 23, 12);

describe('parseVulnerabilityReport (fixture: Debian 12, 8 packages, 10 records)', () => {
  it('one finding per vulnerability × package × version, most severe first', () => {
    expect(report.packageCount).toBe(8);
    expect(report.distributions).toEqual(['Debian GNU/Linux 12 (bookworm)']);
    expect(report.findings.map((f) => `${f.severity} ${f.vulnerability} ${f.package}`)).toEqual([
      'Critical CVE-2023-38545 libcurl4',
      'Critical CVE-2023-45853 zlib1g',
      'High CVE-2023-4911 libc6',
      'High CVE-2024-2961 libc6',
      'Medium CVE-2023-52425 libexpat1',
      'Medium CVE-2024-5535 libssl3',
      'Low CVE-2023-50495 ncurses-base',
      'Negligible CVE-2011-4116 perl-base',
      'Unknown TEMP-0517018-A83CE6 perl-base',
    ]);
  });

  it('merges the same CVE from two updaters, keeping the higher severity and both ids', () => {
    const f = report.findings.find((x) => x.vulnerability === 'CVE-2023-4911')!;
    expect(f).toMatchObject({
      key: 'CVE-2023-4911|libc6|2.36-9+deb12u1',
      clairIds: ['1001', '1009'],
      severity: 'High',
      vendorSeverity: 'high',
      fixedIn: '2.36-9+deb12u3',
      layers: [`sha256:${'0'.repeat(63)}1`],
      distribution: 'Debian GNU/Linux 12 (bookworm)',
      updater: 'debian/updater/bookworm',
    });
    expect(f.links).toEqual([
      'https://security-tracker.debian.org/tracker/CVE-2023-4911',
      'https://nvd.nist.gov/vuln/detail/CVE-2023-4911',
    ]);
  });

  it('names the layer a package came in with (environment introduced_in)', () => {
    const curl = report.findings.find((x) => x.package === 'libcurl4')!;
    expect(curl.layers).toEqual([`sha256:${'0'.repeat(63)}2`]);
  });

  it('an empty report has no findings', () => {
    expect(parseVulnerabilityReport(fixture('vulnerability-report-empty.json')).findings).toEqual(
      [],
    );
  });

  it.each([
    [null, /not an object/],
    [{ manifest_hash: 'sha256:x' }, /\/packages/],
    [
      { ...fixture('vulnerability-report.json'), package_vulnerabilities: { '99': ['1001'] } },
      /unknown package/,
    ],
    [
      { ...fixture('vulnerability-report.json'), package_vulnerabilities: { '10': ['nope'] } },
      /unknown vulnerability nope/,
    ],
  ])('refuses a malformed report (%#)', (input, message) => {
    expect(() => parseVulnerabilityReport(input)).toThrow(ReportError);
    expect(() => parseVulnerabilityReport(input)).toThrow(message);
  });

  it('index reports', () => {
    expect(parseIndexReport(fixture('index-report.json'))).toEqual({
      manifest: `sha256:${'f'.repeat(64)}`,
      state: 'IndexFinished',
      success: true,
      packageCount: 8,
    });
    expect(
      parseIndexReport({
        manifest_hash: 'sha256:1',
        state: 'IndexError',
        success: false,
        err: 'x',
      }),
    ).toMatchObject({ success: false, error: 'x' });
    expect(() => parseIndexReport({})).toThrow(ReportError);
  });
});

describe('policy: threshold and ignore list with reason and expiry', () => {
  it('threshold High: Critical and High fail, the rest is reported below', () => {
    const o = applyPolicy(report.findings, { threshold: 'High', ignore: [] }, NOW);
    expect(o.failing.map((f) => f.vulnerability)).toEqual([
      'CVE-2023-38545',
      'CVE-2023-45853',
      'CVE-2023-4911',
      'CVE-2024-2961',
    ]);
    expect(o.belowThreshold).toHaveLength(5);
    expect(o.passed).toBe(false);
  });

  it('threshold Critical with the two Critical ones ignored passes', () => {
    const o = applyPolicy(
      report.findings,
      {
        threshold: 'Critical',
        ignore: [
          { id: 'cve-2023-38545', reason: 'no SOCKS5 proxy is used', expires: '2026-12-31' },
          {
            id: 'CVE-2023-45853',
            package: 'zlib1g',
            reason: 'minizip not shipped',
            expires: '2026-11-23',
          },
        ],
      },
      NOW,
    );
    expect(o.passed).toBe(true);
    expect(o.ignored.map((i) => i.entry.reason)).toEqual([
      'no SOCKS5 proxy is used',
      'minizip not shipped',
    ]);
  });

  it('an expired entry ignores nothing and is reported with the findings it no longer covers', () => {
    const entry = { id: 'CVE-2023-38545', reason: 'temporary', expires: '2026-11-22' };
    const o = applyPolicy(report.findings, { threshold: 'Critical', ignore: [entry] }, NOW);
    expect(o.failing.map((f) => f.vulnerability)).toContain('CVE-2023-38545');
    expect(o.expired).toEqual([
      { entry, findings: [expect.objectContaining({ vulnerability: 'CVE-2023-38545' })] },
    ]);
    expect(o.ignored).toEqual([]);
  });

  it('the expiry day is valid until its end (UTC)', () => {
    const entry = { id: 'CVE-2023-38545', reason: 'until today', expires: '2026-11-23' };
    const lastMs = Date.UTC(2026, 10, 24) - 1;
    expect(
      applyPolicy(report.findings, { threshold: 'Critical', ignore: [entry] }, lastMs).ignored,
    ).toHaveLength(1);
    expect(
      applyPolicy(report.findings, { threshold: 'Critical', ignore: [entry] }, lastMs + 1).ignored,
    ).toHaveLength(0);
  });

  it('a package-scoped entry does not cover another package; unused entries are listed', () => {
    const entry = {
      id: 'CVE-2023-4911',
      package: 'musl',
      reason: 'wrong package',
      expires: '2030-01-01',
    };
    const o = applyPolicy(report.findings, { threshold: 'High', ignore: [entry] }, NOW);
    expect(o.ignored).toEqual([]);
    expect(o.unused).toEqual([entry]);
  });

  it('Clair ids match too', () => {
    const o = applyPolicy(
      report.findings,
      {
        threshold: 'Unknown',
        ignore: [{ id: '1010', reason: 'no CVE yet', expires: '2030-01-01' }],
      },
      NOW,
    );
    expect(o.ignored.map((i) => i.finding.vulnerability)).toEqual(['TEMP-0517018-A83CE6']);
  });

  it('no findings pass any threshold', () => {
    const none: VulnerabilityFinding[] = [];
    expect(applyPolicy(none, { threshold: 'Unknown', ignore: [] }, NOW).passed).toBe(true);
  });
});

describe('policy input', () => {
  it('severities, case-insensitive', () => {
    expect(parseSeverity('critical')).toBe('Critical');
    expect(parseSeverity(' HIGH ')).toBe('High');
    expect(() => parseSeverity('severe')).toThrow(InputError);
  });

  it('ignore list from YAML/JSON: id, reason and expires are required', () => {
    expect(
      parseIgnoreList([
        { id: 'CVE-1', reason: 'not reachable', expires: '2027-01-31' },
        {
          id: 'CVE-2',
          package: 'zlib1g',
          reason: 'vendor says no',
          expires: new Date('2027-02-01'),
        },
      ]),
    ).toEqual([
      { id: 'CVE-1', reason: 'not reachable', expires: '2027-01-31' },
      { id: 'CVE-2', package: 'zlib1g', reason: 'vendor says no', expires: '2027-02-01' },
    ]);
    expect(parseIgnoreList(undefined)).toEqual([]);
  });

  it.each([
    ['not a list', {}, /must be a list/],
    ['no id', [{ reason: 'x y z', expires: '2027-01-01' }], /ignore\[0\]\.id/],
    ['no reason', [{ id: 'CVE-1', expires: '2027-01-01' }], /ignore\[0\]\.reason: CVE-1: say why/],
    ['no expiry', [{ id: 'CVE-1', reason: 'because' }], /expires: CVE-1: needs a date/],
    ['bad date', [{ id: 'CVE-1', reason: 'because', expires: '2027-02-30' }], /needs a date/],
    [
      'unknown key',
      [{ id: 'CVE-1', reason: 'because', expires: '2027-01-01', until: 'x' }],
      /unknown key/,
    ],
  ])('%s', (_name, input, message) => {
    expect(() => parseIgnoreList(input)).toThrow(message);
  });

  it('expiryEnd', () => {
    expect(expiryEnd('2026-12-31')).toBe(Date.UTC(2027, 0, 1));
    expect(expiryEnd('2026-13-01')).toBeNaN();
    expect(expiryEnd('tomorrow')).toBeNaN();
  });
});

describe('parseIgnoreFile', () => {
  it('reads YAML (dates as dates or strings), a bare list or { ignore: [...] }', () => {
    const yaml = [
      'ignore:',
      '  - id: CVE-2023-45853',
      '    package: zlib1g',
      '    reason: minizip is not shipped',
      '    expires: 2026-12-31',
      '',
    ].join('\n');
    expect(parseIgnoreFile(yaml)).toEqual([
      {
        id: 'CVE-2023-45853',
        package: 'zlib1g',
        reason: 'minizip is not shipped',
        expires: '2026-12-31',
      },
    ]);
    expect(
      parseIgnoreFile('[{"id":"CVE-1","reason":"why not","expires":"2027-01-01"}]'),
    ).toHaveLength(1);
    expect(parseIgnoreFile('')).toEqual([]);
    expect(() => parseIgnoreFile('- id: CVE-1\n  reason: x y\n', 'ignore-file')).toThrow(
      /ignore-file\[0\]\.expires/,
    );
    expect(() => parseIgnoreFile('a: [')).toThrow(/not YAML/);
  });
});
