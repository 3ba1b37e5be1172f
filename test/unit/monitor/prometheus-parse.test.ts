import { describe, expect, it } from 'vitest';
import { MonitorQueryError } from '../../../src/monitor/ports';
import {
  formatLabels,
  parseApiResponse,
  parseSampleValue,
  toSamples,
  toSeries,
} from '../../../src/monitor/prometheus/parse';
import { fixture } from '../../support/prometheus-fakes';

/** Real answers of Prometheus 2.42 (captured from the test server) → samples. */
describe('Prometheus API answers (fixtures from the running server)', () => {
  it('a vector summed by version: values are strings, read as numbers', () => {
    const samples = toSamples(parseApiResponse(fixture('vector-total-by-version'), 200));
    expect(samples).toEqual([
      { labels: { version: '1.0.0' }, value: 48 },
      { labels: { version: '1.1.0' }, value: 48.56677777777778 },
    ]);
  });

  it('a summed ratio: one series with no labels', () => {
    const samples = toSamples(parseApiResponse(fixture('vector-error-ratio'), 200));
    expect(samples).toEqual([{ labels: {}, value: 0.06008766379439275 }]);
  });

  it('a ratio by version where one version has no 5xx series at all: that version is missing', () => {
    // The reason for the ratio form of checks: PromQL drops the version with no errors.
    const samples = toSamples(parseApiResponse(fixture('vector-error-ratio-by-version'), 200));
    expect(samples.map((s) => s.labels.version)).toEqual(['1.1.0']);
  });

  it('an empty vector (no series matched)', () => {
    expect(toSamples(parseApiResponse(fixture('vector-empty'), 200))).toEqual([]);
  });

  it('NaN, +Inf and -Inf as Prometheus writes them', () => {
    const samples = toSamples(parseApiResponse(fixture('vector-special-values'), 200));
    const byName = Object.fromEntries(samples.map((s) => [s.labels.v, s.value]));
    expect(byName.nan).toBeNaN();
    expect(byName.inf).toBe(Infinity);
    expect(byName.neginf).toBe(-Infinity);
  });

  it('a scalar becomes one sample without labels; NaN scalar too', () => {
    expect(toSamples(parseApiResponse(fixture('scalar'), 200))).toEqual([
      { labels: {}, value: 96.67857777777778 },
    ]);
    expect(toSamples(parseApiResponse(fixture('scalar-nan'), 200))[0]!.value).toBeNaN();
  });

  it('a string result is refused, for good', () => {
    const err = catchError(() => toSamples(parseApiResponse(fixture('string'), 200)));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/string/);
  });

  it('a range answer: points in epoch ms', () => {
    const series = toSeries(parseApiResponse(fixture('matrix-error-ratio-by-version'), 200));
    expect(series).toEqual([
      {
        labels: { version: '1.1.0' },
        points: [
          { t: 1795470548000, value: 0.05437797369790897 },
          { t: 1795470550000, value: 0.11554233336013511 },
        ],
      },
    ]);
    expect(toSeries(parseApiResponse(fixture('matrix-empty'), 200))).toEqual([]);
  });

  it('an instant query answered with a matrix (x[5m]) is refused with a hint', () => {
    const data = parseApiResponse(fixture('matrix-empty'), 200);
    expect(catchError(() => toSamples(data)).message).toMatch(/wrap it in rate/);
  });

  it.each([
    // fixture, HTTP status, retryable
    { name: 'error-bad-data', status: 400, retryable: false, text: /bad_data: .*parse error/ },
    { name: 'error-execution', status: 422, retryable: false, text: /execution: .*many-to-many/ },
    // Seen on 2.42: a query timeout answered with HTTP 200; the body decides.
    { name: 'error-timeout', status: 200, retryable: true, text: /timeout: query timed out/ },
    { name: 'error-timeout', status: 503, retryable: true, text: /timeout/ },
  ])('$name (HTTP $status) → retryable $retryable', ({ name, status, retryable, text }) => {
    const err = catchError(() => parseApiResponse(fixture(name), status));
    expect(err.retryable).toBe(retryable);
    expect(err.message).toMatch(text);
  });

  it.each([
    { body: undefined, status: 502, retryable: true }, // a proxy in front, Prometheus down
    { body: undefined, status: 503, retryable: true },
    { body: { hello: 'world' }, status: 200, retryable: false }, // not Prometheus: wrong URL
    { body: undefined, status: 404, retryable: false },
  ])('a non-API answer with HTTP $status → retryable $retryable', ({ body, status, retryable }) => {
    expect(catchError(() => parseApiResponse(body, status)).retryable).toBe(retryable);
  });
});

describe('parseSampleValue', () => {
  it.each([
    ['0.07', 0.07],
    ['48', 48],
    ['1.7954706247984056e+09', 1795470624.7984056],
    ['+Inf', Infinity],
    ['-Inf', -Infinity],
  ])('%s → %d', (text, value) => {
    expect(parseSampleValue(text)).toBe(value);
  });

  it('NaN stays NaN; garbage is an error', () => {
    expect(parseSampleValue('NaN')).toBeNaN();
    expect(() => parseSampleValue('abc')).toThrow(MonitorQueryError);
    expect(() => parseSampleValue('')).toThrow(MonitorQueryError);
    expect(() => parseSampleValue(0.5)).toThrow(MonitorQueryError);
  });
});

describe('formatLabels', () => {
  it('sorted, quoted', () => {
    expect(formatLabels({ version: '1.1.0', code: '500' })).toBe('{code="500", version="1.1.0"}');
    expect(formatLabels({})).toBe('{}');
  });
});

function catchError(fn: () => unknown): MonitorQueryError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MonitorQueryError) return err;
    throw err;
  }
  throw new Error('expected a MonitorQueryError');
}
