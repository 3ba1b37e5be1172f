import { describe, expect, it } from 'vitest';
import { MonitorQueryError } from '../../../src/monitor/ports';
import { parseApiResponse, toSamples } from '../../../src/monitor/prometheus/parse';
import { meanOverTime, readPlain, readRatio, samplesByTime } from '../../../src/monitor/read';
import { fixture, sample } from '../../support/prometheus-fakes';

const samplesOf = (name: string) => toSamples(parseApiResponse(fixture(name), 200));
const byVersion = { label: 'version', version: '1.1.0' };

describe('readRatio — from real answers', () => {
  it('by version: the old version has no 5xx series, so its error ratio is 0, not missing', () => {
    const reading = readRatio(
      samplesOf('vector-errors-by-version'),
      samplesOf('vector-total-by-version'),
      byVersion,
      'error-ratio',
    );
    expect(reading.value).toBeCloseTo(5.7718 / 48.56677777777778, 10); // ≈ 11.9%
    expect(reading.old).toBe(0);
  });

  it('summed over everything when not read by version', () => {
    const reading = readRatio(
      samplesOf('vector-errors-by-version'),
      samplesOf('vector-total-by-version'),
      undefined,
      'error-ratio',
    );
    expect(reading.value).toBeCloseTo(5.7718 / (48 + 48.56677777777778), 10);
  });

  it('no numerator series at all: 0; no denominator (no traffic): no value', () => {
    expect(readRatio([], [sample(50)], undefined, 'r').value).toBe(0);
    expect(readRatio([], [], undefined, 'r').value).toBeNaN();
    expect(readRatio([sample(1)], [sample(0)], undefined, 'r').value).toBeNaN();
  });

  it('the previous version named: only it is the reference', () => {
    const num = [sample(1, { version: 'a' }), sample(9, { version: 'b' })];
    const den = [
      sample(100, { version: 'a' }),
      sample(100, { version: 'b' }),
      sample(50, { version: 'n' }),
    ];
    expect(readRatio(num, den, { label: 'version', version: 'n', previous: 'a' }, 'r').old).toBe(
      0.01,
    );
    // Without it: all other versions together, Σ errors / Σ requests.
    expect(readRatio(num, den, { label: 'version', version: 'n' }, 'r').old).toBe(0.05);
  });

  it('series without the version label: an error naming the fix', () => {
    expect(() => readRatio([], samplesOf('vector-error-ratio'), byVersion, 'r')).toThrow(
      /without a version label.*aggregate by \(version\)/,
    );
  });
});

describe('readPlain', () => {
  it('one summed series: its value', () => {
    expect(readPlain(samplesOf('vector-error-ratio'), undefined, 'q')).toEqual({
      value: 0.06008766379439275,
    });
  });

  it('an unaggregated answer (one series per code and instance) is refused, not guessed', () => {
    const err = (() => {
      try {
        readPlain(samplesOf('vector-unaggregated'), undefined, 'error-ratio');
      } catch (e) {
        return e as MonitorQueryError;
      }
    })()!;
    expect(err).toBeInstanceOf(MonitorQueryError);
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/^error-ratio returns \d+ series \(\{code="200", .*aggregate/);
  });

  it('by version: the new version and the mean of the others', () => {
    const reading = readPlain(samplesOf('vector-p99-by-version'), byVersion, 'p99');
    expect(reading).toEqual({ value: 0.004961458333333333, old: 0.004961484918793503 });
  });

  it('by version, the new version absent: no value; two series of one version: refused', () => {
    expect(readPlain([sample(1, { version: '1.0.0' })], byVersion, 'q').value).toBeNaN();
    expect(() =>
      readPlain([sample(1, { version: '1.1.0' }), sample(2, { version: '1.1.0' })], byVersion, 'q'),
    ).toThrow(/two series for version="1.1.0"/);
  });

  it('empty: no value', () => {
    expect(readPlain([], undefined, 'q').value).toBeNaN();
  });
});

describe('meanOverTime and samplesByTime', () => {
  it('the old version’s values before the release, averaged', () => {
    const byTime = samplesByTime([
      {
        labels: { version: 'old' },
        points: [
          { t: 2, value: 0.02 },
          { t: 1, value: 0.01 },
        ],
      },
      { labels: { version: 'new' }, points: [{ t: 2, value: 0.5 }] },
    ]);
    expect([...byTime.keys()]).toEqual([1, 2]);
    const readings = [...byTime.values()].map((s) =>
      readPlain(s, { label: 'version', version: 'new' }, 'q'),
    );
    expect(meanOverTime(readings, true)).toBeCloseTo(0.015, 10);
    expect(meanOverTime([{ value: NaN }], false)).toBeUndefined();
  });
});
