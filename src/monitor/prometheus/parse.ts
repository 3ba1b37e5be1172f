/**
 * Pure parsing of Prometheus HTTP API answers (`/api/v1/query`, `/api/v1/query_range`), as
 * Prometheus 2.42 sends them (test/fixtures/prometheus holds real ones):
 *
 *   {"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[ts,"0.07"]}]}}
 *   {"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": …"}
 *
 * Values are strings, including "NaN", "+Inf" and "-Inf". An error may come with HTTP 400 (bad
 * query), 422 (cannot execute), 503 (timeout, overloaded) or even 200 (a query timeout seen on
 * 2.42): the body's `status` decides, the HTTP status only when there is no readable body.
 */
import { MonitorQueryError, type Labels, type Sample, type Series } from '../ports';

/** Prometheus's error types that will not go away by asking again. */
const PERMANENT = new Set(['bad_data', 'execution']);

/** `"0.07"` → 0.07; `"NaN"`, `"+Inf"`, `"-Inf"` → NaN, ±Infinity. */
export function parseSampleValue(text: unknown): number {
  if (typeof text !== 'string') throw malformed(`a sample value is ${JSON.stringify(text)}`);
  switch (text) {
    case 'NaN':
      return NaN;
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
  }
  const value = Number(text);
  if (text.trim() === '' || Number.isNaN(value)) throw malformed(`"${text}" is not a number`);
  return value;
}

export interface ApiData {
  resultType: 'vector' | 'scalar' | 'matrix' | 'string';
  result: unknown;
  warnings: string[];
}

/**
 * The `data` of a successful answer, or a MonitorQueryError: permanent for `bad_data` and
 * `execution`, retryable for everything else (timeout, unavailable, internal, a proxy's 502).
 */
export function parseApiResponse(body: unknown, httpStatus: number): ApiData {
  if (!isObject(body) || (body.status !== 'success' && body.status !== 'error')) {
    const retryable = httpStatus >= 500 || httpStatus === 429 || httpStatus === 0;
    throw new MonitorQueryError(
      `HTTP ${httpStatus}: not a Prometheus API answer${httpStatus < 400 ? ' (wrong URL?)' : ''}`,
      retryable,
    );
  }
  if (body.status === 'error') {
    const type = typeof body.errorType === 'string' ? body.errorType : 'unknown';
    const text = typeof body.error === 'string' ? body.error : 'no message';
    throw new MonitorQueryError(`${type}: ${text}`, !PERMANENT.has(type));
  }
  const data = body.data;
  if (!isObject(data) || typeof data.resultType !== 'string') {
    throw malformed('no data.resultType');
  }
  const type = data.resultType;
  if (type !== 'vector' && type !== 'scalar' && type !== 'matrix' && type !== 'string') {
    throw malformed(`unknown resultType "${type}"`);
  }
  const warnings = Array.isArray(body.warnings)
    ? body.warnings.filter((w): w is string => typeof w === 'string')
    : [];
  return { resultType: type, result: data.result, warnings };
}

/** An instant query's samples: a vector as it is, a scalar as one sample with no labels. */
export function toSamples(data: ApiData): Sample[] {
  switch (data.resultType) {
    case 'vector':
      return asArray(data.result, 'vector').map((item) => {
        if (!isObject(item)) throw malformed('a vector item is not an object');
        return { labels: toLabels(item.metric), value: pairValue(item.value) };
      });
    case 'scalar':
      return [{ labels: {}, value: pairValue(data.result) }];
    case 'matrix':
      throw new MonitorQueryError(
        'bad_data: the query returns a range vector (x[5m]); wrap it in rate(), avg_over_time(), …',
        false,
      );
    case 'string':
      throw new MonitorQueryError('bad_data: the query returns a string, not a number', false);
  }
}

/** A range query's series; points in epoch milliseconds. */
export function toSeries(data: ApiData): Series[] {
  if (data.resultType !== 'matrix') {
    throw malformed(`a range query answered with a ${data.resultType}, not a matrix`);
  }
  return asArray(data.result, 'matrix').map((item) => {
    if (!isObject(item)) throw malformed('a matrix item is not an object');
    const values = asArray(item.values, 'values');
    return {
      labels: toLabels(item.metric),
      points: values.map((pair) => ({ t: pairTime(pair), value: pairValue(pair) })),
    };
  });
}

function pairTime(pair: unknown): number {
  if (!Array.isArray(pair) || typeof pair[0] !== 'number') throw malformed('bad [time, value]');
  return Math.round(pair[0] * 1000);
}

function pairValue(pair: unknown): number {
  if (!Array.isArray(pair) || pair.length !== 2) throw malformed('bad [time, value]');
  return parseSampleValue(pair[1]);
}

function toLabels(metric: unknown): Labels {
  if (metric === undefined) return {};
  if (!isObject(metric)) throw malformed('a series has no metric object');
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(metric)) {
    if (typeof value === 'string') labels[key] = value;
  }
  return labels;
}

function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw malformed(`${what} result is not an array`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(what: string): MonitorQueryError {
  return new MonitorQueryError(`malformed Prometheus answer: ${what}`, false);
}

/** `{version="1.1.0", code="500"}`; `{}` for none. For messages. */
export function formatLabels(labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((key) => `${key}=${JSON.stringify(labels[key])}`);
  return `{${parts.join(', ')}}`;
}
