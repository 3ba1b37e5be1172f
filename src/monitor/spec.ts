/**
 * The monitor section as a user writes it (group file, action inputs), read into typed options,
 * and the sources it names. The CLI and the action call:
 *
 *   const spec = parseMonitorSpec(yaml.monitor);                      // InputError naming the field
 *   const sources = createSources(spec, { timer: performance });
 *   const result = await watch({ ...watchOptions(spec), sources, clock, logger, version, … });
 *
 * ```yaml
 * monitor:
 *   prometheus: http://127.0.10.1:19090        # or { url, timeout: 10s, headers: {…} }
 *   probe:                                     # optional: the HTTP probe source
 *     targets: [{ url: 'http://10.0.0.5:8080/', labels: { version: 1.1.0 } }]
 *     requests: 10
 *   pushgateway: http://127.0.10.2:19091       # optional: release events on the timeline (O4)
 *   window: 30m
 *   interval: 1m
 *   retries: 2
 *   retryDelay: 1s
 *   failFast: true
 *   minCoverage: 80%
 *   checks: [ … see checks.ts … ]
 * ```
 */
import { parseDuration } from '../model/duration';
import { InputError } from '../model/errors';
import { parseChecks, quantity, type Check } from './checks';
import { HttpProbe, type ProbeTarget } from './probe';
import type { MetricSource } from './ports';
import { PrometheusClient } from './prometheus/client';
import { DEFAULT_MIN_COVERAGE, DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_MS } from './watch';

export const DEFAULT_WINDOW_MS = 30 * 60_000;
export const DEFAULT_INTERVAL_MS = 60_000;

export interface EndpointSpec {
  url: string;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export interface MonitorSpec {
  prometheus?: EndpointSpec;
  probe?: { targets: ProbeTarget[]; requests?: number; timeoutMs?: number };
  pushgateway?: EndpointSpec;
  windowMs: number;
  intervalMs: number;
  retries: number;
  retryDelayMs: number;
  failFast: boolean;
  minCoverage: number;
  checks: Check[];
}

const KEYS = [
  'prometheus',
  'probe',
  'pushgateway',
  'window',
  'interval',
  'retries',
  'retryDelay',
  'failFast',
  'minCoverage',
  'checks',
];

export function parseMonitorSpec(raw: unknown, field = 'monitor'): MonitorSpec {
  const obj = mapping(raw, field, KEYS);
  const windowMs =
    obj.window === undefined ? DEFAULT_WINDOW_MS : duration(obj.window, `${field}.window`);
  const intervalMs =
    obj.interval === undefined ? DEFAULT_INTERVAL_MS : duration(obj.interval, `${field}.interval`);
  if (windowMs <= 0) throw new InputError(`${field}.window`, 'must be more than 0');
  if (intervalMs <= 0 || intervalMs > windowMs) {
    throw new InputError(`${field}.interval`, 'must be more than 0 and at most the window');
  }
  const retries =
    obj.retries === undefined ? DEFAULT_RETRIES : count(obj.retries, `${field}.retries`);
  const spec: MonitorSpec = {
    windowMs,
    intervalMs,
    retries,
    retryDelayMs:
      obj.retryDelay === undefined
        ? DEFAULT_RETRY_DELAY_MS
        : duration(obj.retryDelay, `${field}.retryDelay`),
    failFast: obj.failFast === undefined ? true : bool(obj.failFast, `${field}.failFast`),
    minCoverage:
      obj.minCoverage === undefined
        ? DEFAULT_MIN_COVERAGE
        : quantity(obj.minCoverage, `${field}.minCoverage`, 'ratio'),
    checks: [],
  };
  if (!(spec.minCoverage > 0 && spec.minCoverage <= 1)) {
    throw new InputError(`${field}.minCoverage`, 'must be more than 0% and at most 100%');
  }
  if (obj.prometheus !== undefined)
    spec.prometheus = endpoint(obj.prometheus, `${field}.prometheus`);
  if (obj.pushgateway !== undefined)
    spec.pushgateway = endpoint(obj.pushgateway, `${field}.pushgateway`);
  if (obj.probe !== undefined) {
    const p = mapping(obj.probe, `${field}.probe`, ['targets', 'requests', 'timeout']);
    if (!Array.isArray(p.targets) || p.targets.length === 0) {
      throw new InputError(`${field}.probe.targets`, 'must be a list of { url, labels }');
    }
    const targets = p.targets.map((t, i) => {
      const at = `${field}.probe.targets[${i}]`;
      const target = mapping(t, at, ['url', 'labels']);
      const labels =
        target.labels === undefined ? undefined : stringMap(target.labels, `${at}.labels`);
      return { url: url(target.url, `${at}.url`), ...(labels ? { labels } : {}) };
    });
    spec.probe = {
      targets,
      ...(p.requests !== undefined
        ? { requests: Math.max(1, count(p.requests, `${field}.probe.requests`)) }
        : {}),
      ...(p.timeout !== undefined
        ? { timeoutMs: duration(p.timeout, `${field}.probe.timeout`) }
        : {}),
    };
  }
  spec.checks = parseChecks(obj.checks, `${field}.checks`);
  spec.checks.forEach((check, i) => {
    const known = ['prometheus', 'probe'];
    if (!known.includes(check.source)) {
      throw new InputError(`${field}.checks[${i}].source`, `must be one of ${known.join(', ')}`);
    }
    if (!spec[check.source as 'prometheus' | 'probe']) {
      throw new InputError(
        `${field}.${check.source}`,
        `check "${check.name}" reads from ${check.source}: configure it`,
      );
    }
  });
  return spec;
}

/** The sources a spec names. `timer` times the probe's GETs (`performance`). */
export function createSources(
  spec: Pick<MonitorSpec, 'prometheus' | 'probe'>,
  deps: { timer: { now(): number }; fetch?: typeof fetch },
): Record<string, MetricSource> {
  const sources: Record<string, MetricSource> = {};
  if (spec.prometheus) {
    sources.prometheus = new PrometheusClient({
      ...spec.prometheus,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
  }
  if (spec.probe) {
    sources.probe = new HttpProbe({
      ...spec.probe,
      timer: deps.timer,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
  }
  return sources;
}

/** The spec's part of WatchOptions. */
export function watchOptions(spec: MonitorSpec) {
  return {
    checks: spec.checks,
    windowMs: spec.windowMs,
    intervalMs: spec.intervalMs,
    retries: spec.retries,
    retryDelayMs: spec.retryDelayMs,
    failFast: spec.failFast,
    minCoverage: spec.minCoverage,
  };
}

function endpoint(raw: unknown, field: string): EndpointSpec {
  if (typeof raw === 'string') return { url: url(raw, field) };
  const obj = mapping(raw, field, ['url', 'timeout', 'headers']);
  return {
    url: url(obj.url, `${field}.url`),
    ...(obj.timeout !== undefined ? { timeoutMs: duration(obj.timeout, `${field}.timeout`) } : {}),
    ...(obj.headers !== undefined ? { headers: stringMap(obj.headers, `${field}.headers`) } : {}),
  };
}

function url(raw: unknown, field: string): string {
  if (typeof raw !== 'string') throw new InputError(field, 'must be a URL');
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new InputError(field, `"${raw}" is not an http(s) URL`);
  }
  return raw;
}

function duration(raw: unknown, field: string): number {
  if (typeof raw !== 'string' && typeof raw !== 'number') {
    throw new InputError(field, 'must be a duration such as 30s, 5m');
  }
  return parseDuration(raw, field);
}

function count(raw: unknown, field: string): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0) {
    throw new InputError(field, 'must be a whole number, 0 or more');
  }
  return raw;
}

function bool(raw: unknown, field: string): boolean {
  if (typeof raw !== 'boolean') throw new InputError(field, 'must be true or false');
  return raw;
}

function stringMap(raw: unknown, field: string): Record<string, string> {
  const obj = mapping(raw, field, null);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new InputError(`${field}.${key}`, 'must be a string');
    }
    out[key] = String(value);
  }
  return out;
}

function mapping(
  raw: unknown,
  field: string,
  keys: readonly string[] | null,
): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputError(field, 'must be a mapping');
  }
  if (keys) {
    for (const key of Object.keys(raw)) {
      if (!keys.includes(key)) {
        throw new InputError(`${field}.${key}`, `unknown key (known: ${keys.join(', ')})`);
      }
    }
  }
  return raw as Record<string, unknown>;
}
