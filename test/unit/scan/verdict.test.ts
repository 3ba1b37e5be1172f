import { describe, expect, it } from 'vitest';
import {
  parseVerdict,
  verdictArtifactName,
  verdictFileName,
  verdictOf,
} from '../../../src/scan/verdict';
import type { ScanOutcome } from '../../../src/scan/scan';
import { InputError } from '../../../src/model/errors';

const D = `sha256:${'0123456789abcdef'.repeat(4)}`;

function outcome(over: Partial<ScanOutcome> = {}): ScanOutcome {
  return {
    image: '127.0.0.1:5000/acme/app:1.0.0',
    digest: D,
    reference: `127.0.0.1:5000/acme/app@${D}`,
    scannedAt: '2026-11-23T10:00:00.000Z',
    passed: true,
    timings: { totalMs: 5 },
    ...over,
  };
}

describe('scan verdicts (B4)', () => {
  it('names files and artifacts by digest', () => {
    expect(verdictFileName(D)).toBe(`sha256-${'0123456789abcdef'.repeat(4)}.json`);
    expect(verdictArtifactName(D)).toBe('rollgate-scan-0123456789abcdef');
    expect(() => verdictFileName('sha256:xyz')).toThrow(InputError);
  });

  it('a scan without Clair or rules: nothing checked, passed', () => {
    expect(verdictOf(outcome())).toEqual({
      rollgateScan: 1,
      digest: D,
      reference: `127.0.0.1:5000/acme/app@${D}`,
      passed: true,
      scannedAt: '2026-11-23T10:00:00.000Z',
      vulnerabilities: { checked: false, passed: true, failing: [] },
      compliance: { checked: false, passed: true, failed: [], warned: [] },
    });
  });

  it('keeps failing findings and the rules that failed or warned, once each', () => {
    const finding = (rule: string, level: 'fail' | 'warn') =>
      ({ rule, level, message: '', layer: 'image config', fix: '' }) as never;
    const v = verdictOf(
      outcome({
        passed: false,
        compliance: {
          image: 'x',
          digest: D,
          findings: [
            finding('secrets', 'fail'),
            finding('non-root', 'fail'),
            finding('secrets', 'fail'),
            finding('base-pinned', 'warn'),
          ],
          checked: [],
          passed: false,
          stats: { layers: 1, files: 1, filesRead: 1, bytes: 1, ms: 1 },
        },
      }),
    );
    expect(v.passed).toBe(false);
    expect(v.compliance).toEqual({
      checked: true,
      passed: false,
      failed: ['non-root', 'secrets'],
      warned: ['base-pinned'],
    });
  });

  it('round-trips, and refuses what is not a verdict naming where it came from', () => {
    const v = verdictOf(outcome());
    expect(parseVerdict(JSON.stringify(v), 'f.json')).toEqual(v);
    expect(() => parseVerdict('{', 'f.json')).toThrow(/f.json: is not JSON/);
    expect(() => parseVerdict('{"digest":"x"}', 'f.json')).toThrow(/not a rollgate scan verdict/);
    expect(() => parseVerdict(JSON.stringify({ ...v, passed: 'yes' }), 'f.json')).toThrow(/passed/);
  });
});
