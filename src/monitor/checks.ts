/**
 * The check model (O1, O3): what to watch after a release and when it counts as degraded.
 *
 * A check names its kind of monitoring (O1: user side, network, business, application, system),
 * one number to read (a PromQL `query`, or a `ratio` of two queries), and one or more rules:
 *
 *   threshold  the value against a fixed line              error ratio above 5%
 *   baseline   the value against the pre-release level,    error ratio above 3× what it was in
 *              or a forecast line (same window last week:   the 10 minutes before the release;
 *              `… offset 1w`; or a recording rule)         orders below 0.8× last week's
 *   canary     the new version against the old one,        new version's error ratio above 2×
 *              by a `version` label                         the old version's
 *   slope      the trend over the trailing window          success ratio falling faster than
 *              (catches a slow decline, O3)                 0.05 points a minute over 10 minutes
 *   budget     the error budget spent since the release    more than the whole window's 1%
 *              (catches a cumulative effect, O3)            error budget already spent
 *
 * `above` / `below` always name the bad side. A breach must hold `for` polls in a row (default 2)
 * before it decides. The plain-object form (YAML/JSON, for the group file and the action) is read
 * by `parseChecks`; TypeScript callers may build `Check` values directly.
 */
import { parseDuration } from '../model/duration';
import { InputError } from '../model/errors';
import { UNITS, type Unit } from './format';

export const CHECK_KINDS = ['user', 'network', 'business', 'application', 'system'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/** The bad side: `above` = a higher value is worse (errors, latency, CPU); `below` = lower is. */
export type Direction = 'above' | 'below';

/** O1: system metrics are sampled at most every 5 minutes. */
export const SYSTEM_MAX_INTERVAL_MS = 5 * 60_000;
export const DEFAULT_FOR_POLLS = 2;
export const DEFAULT_BASELINE_BEFORE_MS = 10 * 60_000;
export const DEFAULT_SLOPE_OVER_MS = 10 * 60_000;
export const DEFAULT_SLOPE_MIN_POINTS = 5;
export const DEFAULT_SLOPE_MIN_R2 = 0.5;

/** Where a baseline comes from. */
export type BaselineSource =
  /** The mean of the check's own value over this many ms before the release (range query). */
  | { before: number }
  /** A forecast line, read at each poll: `sum(rate(orders_total[5m] offset 1w))`, a recording rule. */
  | { query: string }
  /** A fixed reference, e.g. from an earlier release's record. */
  | { value: number };

export interface ThresholdRule {
  type: 'threshold';
  when: Direction;
  value: number;
  forPolls?: number;
}

/** Bad when the value passes `reference × factor` *and* `reference ± tolerance`. */
export interface BaselineRule {
  type: 'baseline';
  when: Direction;
  factor: number;
  /** Absolute slack, so that a baseline of 0 does not make any first error a breach. */
  tolerance: number;
  against: BaselineSource;
  forPolls?: number;
}

/** New version vs old version: the same bound as baseline, the old version as the reference. */
export interface CanaryRule {
  type: 'canary';
  when: Direction;
  factor: number;
  tolerance: number;
  forPolls?: number;
}

/** Bad when the least-squares slope (per minute) over the trailing `overMs` passes `perMinute`. */
export interface SlopeRule {
  type: 'slope';
  when: Direction;
  perMinute: number;
  overMs: number;
  /** Fewer points than this: no trend yet. */
  minPoints: number;
  /** A fit worse than this is noise or a single jump (thresholds catch jumps), not a trend. */
  minR2: number;
  forPolls?: number;
}

/**
 * Bad when the errors since the release have used up `limit` of the whole window's budget.
 * `above: 1%`: the value is an error ratio, 1% allowed. `below: 99%`: the value is a success
 * ratio, 99% the objective (1% allowed).
 */
export interface BudgetRule {
  type: 'budget';
  when: Direction;
  objective: number;
  /** Share of the window's budget that may be spent (default 1 = all of it). */
  limit: number;
  forPolls?: number;
}

export type Rule = ThresholdRule | BaselineRule | CanaryRule | SlopeRule | BudgetRule;
export type RuleType = Rule['type'];

export interface Check {
  /** Unique; used in every line and in `decidedBy`. */
  name: string;
  kind: CheckKind;
  /** Key of the MetricSource in the watch's `sources` (default `prometheus`). */
  source: string;
  /** One expression with one value, or one per version (aggregate: `sum`, `sum by (version)`). */
  query?: string;
  /**
   * Or the ratio of two expressions, computed here: a numerator series that is absent (no 5xx
   * at all yet) counts as 0, which a one-expression ratio in PromQL gets wrong (empty result).
   */
  ratio?: { numerator: string; denominator: string };
  /**
   * Read by version: the series whose label has the released version is the value, the rest is
   * the old version. Set automatically (to `version`) when a rule is a canary rule.
   */
  versionLabel?: string;
  unit: Unit;
  rules: Rule[];
  /** Polls in a row a threshold/baseline/canary breach must hold (default 2). */
  forPolls: number;
  /** Read this check at most this often (system metrics: ≤ 5 min, usually 1). Default: every poll. */
  everyMs?: number;
  /** Lack of data does not make the verdict `unknown` (still reported). */
  optional: boolean;
}

/** The polls in a row a rule's breach must hold. Trend rules decide at once by default. */
export function rulePolls(check: Check, rule: Rule): number {
  if (rule.forPolls !== undefined) return rule.forPolls;
  return rule.type === 'slope' || rule.type === 'budget' ? 1 : check.forPolls;
}

/** The label the check is read by, or undefined for a single-series check. */
export function versionLabelOf(check: Check): string | undefined {
  if (check.versionLabel) return check.versionLabel;
  return check.rules.some((r) => r.type === 'canary') ? 'version' : undefined;
}

// ---------------------------------------------------------------------------------------------
// The plain-object form.
// ---------------------------------------------------------------------------------------------

/**
 * Reads checks from YAML/JSON, naming the field of the first problem (`monitor.checks[1].rules[0]
 * .baseline.above`). Example:
 *
 * ```yaml
 * - name: error-ratio
 *   kind: application
 *   ratio:
 *     numerator: sum by (version) (rate(http_requests_total{code=~"5.."}[1m]))
 *     denominator: sum by (version) (rate(http_requests_total[1m]))
 *   unit: ratio
 *   for: 2
 *   rules:
 *     - threshold: { above: 5% }
 *     - canary: { above: 3, tolerance: 1% }
 *     - budget: { above: 1% }
 * - name: orders
 *   kind: business
 *   query: sum(rate(orders_total[5m])) * 60
 *   unit: count
 *   rules:
 *     - baseline:
 *         below: 0.8
 *         query: sum(rate(orders_total[5m] offset 1w)) * 60   # last week's line
 * - name: cpu
 *   kind: system
 *   query: avg(rate(process_cpu_seconds_total{job="app"}[1m]))
 *   every: 1m
 *   rule: { threshold: { above: 0.8 } }
 * ```
 */
export function parseChecks(raw: unknown, field = 'monitor.checks'): Check[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new InputError(field, 'must be a list of checks (at least one)');
  }
  const checks = raw.map((item, i) => parseCheck(item, `${field}[${i}]`));
  const seen = new Set<string>();
  checks.forEach((check, i) => {
    if (seen.has(check.name)) {
      throw new InputError(`${field}[${i}].name`, `"${check.name}" is used by two checks`);
    }
    seen.add(check.name);
  });
  return checks;
}

const CHECK_KEYS = [
  'name',
  'kind',
  'source',
  'query',
  'ratio',
  'versionLabel',
  'unit',
  'rule',
  'rules',
  'for',
  'every',
  'optional',
];

export function parseCheck(raw: unknown, field: string): Check {
  const obj = object(raw, field, CHECK_KEYS);
  const name = string(obj.name, `${field}.name`);
  if (!/^[A-Za-z0-9][\w.:-]*$/.test(name)) {
    throw new InputError(`${field}.name`, `"${name}": letters, digits, . _ : - only`);
  }
  const kind = oneOf(obj.kind, `${field}.kind`, CHECK_KINDS);
  const unit = obj.unit === undefined ? 'ratio' : oneOf(obj.unit, `${field}.unit`, UNITS);
  const source = obj.source === undefined ? 'prometheus' : string(obj.source, `${field}.source`);

  let query: string | undefined;
  let ratio: Check['ratio'];
  if (obj.query !== undefined && obj.ratio !== undefined) {
    throw new InputError(`${field}.ratio`, 'give either query or ratio, not both');
  }
  if (obj.query !== undefined) query = string(obj.query, `${field}.query`);
  else if (obj.ratio !== undefined) {
    const r = object(obj.ratio, `${field}.ratio`, ['numerator', 'denominator']);
    ratio = {
      numerator: string(r.numerator, `${field}.ratio.numerator`),
      denominator: string(r.denominator, `${field}.ratio.denominator`),
    };
  } else {
    throw new InputError(`${field}.query`, 'a check needs a query (or a ratio of two queries)');
  }

  if (obj.rule !== undefined && obj.rules !== undefined) {
    throw new InputError(`${field}.rules`, 'give either rule or rules, not both');
  }
  let rules: Rule[];
  if (obj.rule !== undefined) rules = [parseRule(obj.rule, `${field}.rule`, unit)];
  else if (Array.isArray(obj.rules) && obj.rules.length > 0) {
    rules = obj.rules.map((r, i) => parseRule(r, `${field}.rules[${i}]`, unit));
  } else {
    throw new InputError(`${field}.rules`, 'a check needs at least one rule');
  }

  const forPolls = obj.for === undefined ? DEFAULT_FOR_POLLS : polls(obj.for, `${field}.for`);
  const everyMs =
    obj.every === undefined
      ? undefined
      : parseDuration(duration(obj.every, `${field}.every`), `${field}.every`);
  const check: Check = {
    name,
    kind,
    source,
    ...(query !== undefined ? { query } : {}),
    ...(ratio ? { ratio } : {}),
    ...(obj.versionLabel !== undefined
      ? { versionLabel: string(obj.versionLabel, `${field}.versionLabel`) }
      : {}),
    unit,
    rules,
    forPolls,
    ...(everyMs !== undefined ? { everyMs } : {}),
    optional: obj.optional === undefined ? false : bool(obj.optional, `${field}.optional`),
  };
  validateCheck(check, field);
  return check;
}

/** Checks a built `Check` (typed callers get the same errors as YAML ones). */
export function validateCheck(check: Check, field: string): void {
  if (check.kind === 'system') {
    if (check.everyMs !== undefined && check.everyMs > SYSTEM_MAX_INTERVAL_MS) {
      throw new InputError(`${field}.every`, 'system metrics are sampled at least every 5m (O1)');
    }
  }
  if (check.everyMs !== undefined && check.everyMs <= 0) {
    throw new InputError(`${field}.every`, 'must be more than 0');
  }
  if (!check.query && !check.ratio) throw new InputError(`${field}.query`, 'missing');
  if (!Number.isInteger(check.forPolls) || check.forPolls < 1) {
    throw new InputError(`${field}.for`, 'must be a whole number of polls, at least 1');
  }
  check.rules.forEach((rule, i) => {
    const at = `${field}.rules[${i}]`;
    if (rule.type === 'budget' && check.unit !== 'ratio') {
      throw new InputError(`${at}.budget`, 'an error budget needs a ratio (unit: ratio)');
    }
    if (rule.type === 'budget' && !(rule.objective > 0 && rule.objective < 1)) {
      throw new InputError(`${at}.budget`, 'the objective must be between 0% and 100%');
    }
    if ((rule.type === 'baseline' || rule.type === 'canary') && !(rule.factor > 0)) {
      throw new InputError(`${at}.${rule.type}`, 'the factor must be more than 0');
    }
    if ((rule.type === 'baseline' || rule.type === 'canary') && rule.tolerance < 0) {
      throw new InputError(`${at}.${rule.type}.tolerance`, 'must be 0 or more');
    }
    if (rule.type === 'slope' && rule.minPoints < 2) {
      throw new InputError(`${at}.slope.minPoints`, 'a slope needs at least 2 points');
    }
    if (rule.forPolls !== undefined && (!Number.isInteger(rule.forPolls) || rule.forPolls < 1)) {
      throw new InputError(`${at}.for`, 'must be a whole number of polls, at least 1');
    }
  });
}

const RULE_TYPES: readonly RuleType[] = ['threshold', 'baseline', 'canary', 'slope', 'budget'];

/** `{ threshold: { above: 5% } }`, `{ baseline: { above: 3, tolerance: 1%, before: 10m } }`, … */
export function parseRule(raw: unknown, field: string, unit: Unit): Rule {
  const outer = object(raw, field, RULE_TYPES as string[]);
  const keys = Object.keys(outer);
  if (keys.length !== 1) {
    throw new InputError(field, `one of ${RULE_TYPES.join(', ')} (exactly one key)`);
  }
  const type = keys[0] as RuleType;
  const at = `${field}.${type}`;
  const common = ['above', 'below', 'for'];
  const allowed: Record<RuleType, string[]> = {
    threshold: common,
    baseline: [...common, 'tolerance', 'before', 'query', 'value'],
    canary: [...common, 'tolerance'],
    slope: [...common, 'over', 'minPoints', 'minR2'],
    budget: [...common, 'limit'],
  };
  const body = object(outer[type], at, allowed[type]);
  if ((body.above === undefined) === (body.below === undefined)) {
    throw new InputError(at, 'give exactly one of above or below (the bad side)');
  }
  const when: Direction = body.above !== undefined ? 'above' : 'below';
  const amount = body[when];
  const forPolls = body.for === undefined ? {} : { forPolls: polls(body.for, `${at}.for`) };
  // canary and baseline: a factor of the reference, and an absolute margin on top of it.
  const relative = () => ({
    factor: factor(amount, `${at}.${when}`),
    tolerance: body.tolerance === undefined ? 0 : quantity(body.tolerance, `${at}.tolerance`, unit),
  });
  switch (type) {
    case 'threshold':
      return { type, when, value: quantity(amount, `${at}.${when}`, unit), ...forPolls };
    case 'canary':
      return { type, when, ...relative(), ...forPolls };
    case 'baseline': {
      const sources = ['before', 'query', 'value'].filter((k) => body[k] !== undefined);
      if (sources.length > 1) {
        throw new InputError(`${at}.${sources[1]}`, 'give one of before, query or value');
      }
      let against: BaselineSource;
      if (body.query !== undefined) against = { query: string(body.query, `${at}.query`) };
      else if (body.value !== undefined)
        against = { value: quantity(body.value, `${at}.value`, unit) };
      else if (body.before !== undefined) {
        against = { before: parseDuration(duration(body.before, `${at}.before`), `${at}.before`) };
        if (against.before <= 0) throw new InputError(`${at}.before`, 'must be more than 0');
      } else against = { before: DEFAULT_BASELINE_BEFORE_MS };
      return { type, when, ...relative(), against, ...forPolls };
    }
    case 'slope': {
      const overMs =
        body.over === undefined
          ? DEFAULT_SLOPE_OVER_MS
          : parseDuration(duration(body.over, `${at}.over`), `${at}.over`);
      return {
        type,
        when,
        perMinute: quantity(amount, `${at}.${when}`, unit, true),
        overMs,
        minPoints:
          body.minPoints === undefined
            ? DEFAULT_SLOPE_MIN_POINTS
            : polls(body.minPoints, `${at}.minPoints`),
        minR2: body.minR2 === undefined ? DEFAULT_SLOPE_MIN_R2 : share(body.minR2, `${at}.minR2`),
        ...forPolls,
      };
    }
    case 'budget':
      return {
        type,
        when,
        objective: quantity(amount, `${at}.${when}`, unit),
        limit: body.limit === undefined ? 1 : quantity(body.limit, `${at}.limit`, 'ratio'),
        ...forPolls,
      };
  }
}

// --- small readers ---------------------------------------------------------------------------

const PERCENT = /^(-?\d+(?:\.\d+)?)\s*%$/;
const FACTOR = /^(\d+(?:\.\d+)?)\s*[x×]$/;
const TIME = /^-?\d+(?:\.\d+)?\s*(?:ms|s|m|h)$/;

/**
 * A number in the check's unit: `5%` or 0.05 for a ratio; `300ms`, `2s` or 0.3 for seconds.
 * `signed`: a slope may be negative.
 */
export function quantity(raw: unknown, field: string, unit: Unit, signed = false): number {
  let value: number;
  if (typeof raw === 'number') value = raw;
  else if (typeof raw === 'string') {
    const text = raw.trim();
    const percent = PERCENT.exec(text);
    if (percent) value = Number(percent[1]) / 100;
    else if (unit === 'seconds' && TIME.test(text)) {
      const negative = text.startsWith('-');
      value =
        (parseDuration(text.replace(/^-/, '').replace(/\s+/g, ''), field) / 1000) *
        (negative ? -1 : 1);
    } else if (text !== '' && !Number.isNaN(Number(text))) value = Number(text);
    else
      throw new InputError(
        field,
        `"${raw}" is not a number${unit === 'ratio' ? ' or a percentage' : ''}`,
      );
  } else {
    throw new InputError(field, `must be a number, not ${JSON.stringify(raw)}`);
  }
  if (!Number.isFinite(value)) throw new InputError(field, 'must be a finite number');
  if (!signed && value < 0) throw new InputError(field, 'must be 0 or more');
  return value;
}

function factor(raw: unknown, field: string): number {
  if (typeof raw === 'string') {
    const m = FACTOR.exec(raw.trim());
    if (m) return Number(m[1]);
  }
  const value = quantity(raw, field, 'count');
  if (!(value > 0)) throw new InputError(field, 'the factor must be more than 0');
  return value;
}

function share(raw: unknown, field: string): number {
  const value = quantity(raw, field, 'ratio');
  if (value > 1) throw new InputError(field, 'must be at most 1');
  return value;
}

function polls(raw: unknown, field: string): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1) {
    throw new InputError(field, 'must be a whole number (of polls), at least 1');
  }
  return raw;
}

function duration(raw: unknown, field: string): string | number {
  if (typeof raw === 'string' || typeof raw === 'number') return raw;
  throw new InputError(field, 'must be a duration such as 30s, 5m');
}

function object(raw: unknown, field: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputError(field, 'must be a mapping');
  }
  for (const key of Object.keys(raw)) {
    if (!keys.includes(key)) {
      throw new InputError(`${field}.${key}`, `unknown key (known: ${keys.join(', ')})`);
    }
  }
  return raw as Record<string, unknown>;
}

function string(raw: unknown, field: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new InputError(field, 'must be a non-empty string');
  }
  return raw.trim();
}

function bool(raw: unknown, field: string): boolean {
  if (typeof raw !== 'boolean') throw new InputError(field, 'must be true or false');
  return raw;
}

function oneOf<T extends string>(raw: unknown, field: string, values: readonly T[]): T {
  if (typeof raw !== 'string' || !values.includes(raw as T)) {
    throw new InputError(field, `must be one of ${values.join(', ')}`);
  }
  return raw as T;
}
