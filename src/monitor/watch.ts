/**
 * The watch after a release (O2: "monitor-30m"): poll every check every `intervalMs` for
 * `windowMs` on the injected clock, retry failed queries, print one line per poll per check,
 * and end `healthy`, `degraded` (with the rule that decided) or `unknown` (never healthy
 * without data). Reads no environment and no real clock: sources, clock and logger come in.
 */
import type { Clock, Logger } from '../engine/ports';
import { InputError } from '../model/errors';
import { rulePolls, validateCheck, versionLabelOf, type Check, type Rule } from './checks';
import { formatMs } from '../model/text';
import { formatValue } from './format';
import {
  finalVerdict,
  judgeRule,
  nextStreak,
  ruleLabel,
  type CheckTally,
  type FinalVerdict,
  type Reading,
  type RuleState,
} from './judge';
import { MonitorQueryError, type MetricSource, type Point } from './ports';
import { meanOverTime, readPlain, readRatio, samplesByTime, type VersionSelect } from './read';

export const DEFAULT_RETRIES = 2;
export const DEFAULT_RETRY_DELAY_MS = 1000;
export const DEFAULT_MIN_COVERAGE = 0.8;

export interface WatchOptions {
  checks: readonly Check[];
  /** By name; a check's `source` picks one (default `prometheus`). */
  sources: Readonly<Record<string, MetricSource>>;
  clock: Clock;
  logger: Logger;
  /** How long to watch (O2: 30 minutes). */
  windowMs: number;
  /** Time between polls. Polls happen at 0, interval, 2×interval, … ≤ window. */
  intervalMs: number;
  /** The released version (needed by checks read by version: canary). */
  version?: string;
  /** The version it replaces. Default: every other version seen together. */
  previousVersion?: string;
  /** When the release happened (baseline windows end here). Default: the watch's start. */
  releasedAt?: number;
  /** Extra tries of a query that failed for a retryable reason, within one poll. Default 2. */
  retries?: number;
  retryDelayMs?: number;
  /** Stop at the first degraded verdict (default true: roll back sooner). */
  failFast?: boolean;
  /** Share of its reads a required check must have a value in (default 0.8). */
  minCoverage?: number;
  /** Aborting ends the watch at once with `unknown` (unless already degraded). */
  signal?: AbortSignal;
  /** Each poll's lines, for a live job summary or a UI. */
  onPoll?: (poll: PollReport) => void;
}

export type LineState = 'ok' | 'breach' | 'degraded' | 'nodata';

export interface PollLine {
  check: string;
  state: LineState;
  /** NaN when the read gave none. */
  value: number;
  old?: number;
  /** Rule results: `threshold 4.1% ≤ 5%`, `baseline 4.1% > baseline 0.8% × 3 (1/2)`. */
  rules: string[];
  /** The printed line. */
  line: string;
}

export interface PollReport {
  poll: number;
  of: number;
  at: number;
  lines: PollLine[];
}

export interface CheckReport {
  name: string;
  kind: Check['kind'];
  unit: Check['unit'];
  reads: number;
  withData: number;
  /** The state at its last read. */
  state: LineState;
  /** Its values, in order (NaN = no value), for a chart in the job summary. */
  points: Point[];
  /** Canary checks: the rest of the fleet (the old version) at the last read that had it. */
  lastOld?: number;
}

export interface WatchResult extends FinalVerdict {
  /** Polls done. */
  polls: number;
  /** Polls planned (window / interval + 1). */
  plannedPolls: number;
  startedAt: number;
  endedAt: number;
  /** When the deciding breach was read (degraded only). */
  decidedAt?: number;
  checks: CheckReport[];
}

interface RuleSlot {
  rule: Rule;
  label: string;
  streak: number;
  judged: boolean;
  /** Baseline reference: the pre-release mean (once known), or this poll's forecast. */
  baseline?: number;
  baselineProblem?: string;
}

interface CheckState {
  check: Check;
  source: MetricSource;
  by?: VersionSelect;
  slots: RuleSlot[];
  history: Point[];
  reads: number;
  withData: number;
  lastHadData: boolean;
  lastProblem?: string;
  lastReadAt?: number;
  lastOld?: number;
  state: LineState;
  /** A permanent query error: not asked again. */
  broken?: string;
  degraded?: { rule: Rule['type']; message: string; at: number };
}

/** Throws InputError for a watch that cannot work as asked. */
export function validateWatch(opts: WatchOptions): void {
  if (!(opts.windowMs > 0)) throw new InputError('monitor.window', 'must be more than 0');
  if (!(opts.intervalMs > 0)) throw new InputError('monitor.interval', 'must be more than 0');
  if (opts.intervalMs > opts.windowMs) {
    throw new InputError('monitor.interval', 'must not be longer than the window');
  }
  const minCoverage = opts.minCoverage ?? DEFAULT_MIN_COVERAGE;
  if (!(minCoverage > 0 && minCoverage <= 1)) {
    throw new InputError('monitor.minCoverage', 'must be more than 0% and at most 100%');
  }
  if (opts.checks.length === 0) throw new InputError('monitor.checks', 'no checks to watch');
  const names = new Set<string>();
  opts.checks.forEach((check, i) => {
    const field = `monitor.checks[${i}]`;
    validateCheck(check, field);
    if (names.has(check.name)) throw new InputError(`${field}.name`, `"${check.name}" twice`);
    names.add(check.name);
    const source = opts.sources[check.source];
    if (!source) {
      const known = Object.keys(opts.sources).join(', ') || 'none';
      throw new InputError(`${field}.source`, `no source "${check.source}" (configured: ${known})`);
    }
    if (versionLabelOf(check) && !opts.version) {
      throw new InputError(
        `${field}`,
        'a check read by version (canary) needs the released version',
      );
    }
    check.rules.forEach((rule, r) => {
      if (rule.type === 'baseline' && 'before' in rule.against && !source.range) {
        throw new InputError(
          `${field}.rules[${r}].baseline.before`,
          `${source.name} keeps no history: give the baseline as a query or a value`,
        );
      }
    });
  });
}

export async function watch(opts: WatchOptions): Promise<WatchResult> {
  validateWatch(opts);
  const { clock, logger } = opts;
  const retries = opts.retries ?? DEFAULT_RETRIES;
  const retryDelayMs = opts.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  const failFast = opts.failFast ?? true;
  const minCoverage = opts.minCoverage ?? DEFAULT_MIN_COVERAGE;
  const startedAt = clock.now();
  const releasedAt = opts.releasedAt ?? startedAt;
  const lastPoll = Math.floor(opts.windowMs / opts.intervalMs);
  const plannedPolls = lastPoll + 1;

  const states: CheckState[] = opts.checks.map((check) => {
    const label = versionLabelOf(check);
    return {
      check,
      source: opts.sources[check.source]!,
      ...(label
        ? {
            by: {
              label,
              version: opts.version!,
              ...(opts.previousVersion !== undefined ? { previous: opts.previousVersion } : {}),
            },
          }
        : {}),
      slots: check.rules.map((rule, i) => ({
        rule,
        label: ruleLabel(check, i),
        streak: 0,
        judged: false,
        ...(rule.type === 'baseline' && 'value' in rule.against
          ? { baseline: rule.against.value }
          : {}),
      })),
      history: [],
      reads: 0,
      withData: 0,
      lastHadData: false,
      state: 'nodata',
    };
  });

  const sourceNames = [...new Set(states.map((s) => s.source.name))].join(', ');
  const versions = opts.version
    ? `; version ${opts.version}${opts.previousVersion ? ` vs ${opts.previousVersion}` : ''}`
    : '';
  logger.info(
    `monitor: ${states.length} check${states.length === 1 ? '' : 's'} every ${formatMs(opts.intervalMs)} ` +
      `for ${formatMs(opts.windowMs)} (${plannedPolls} polls) on ${sourceNames}${versions}`,
  );

  const aborted = abortPromise(opts.signal);
  let polls = 0;
  let stoppedEarly: string | undefined;

  /** Runs `fn`, retrying a retryable failure while there is time before `deadline`. */
  const attempt = async <T>(
    state: CheckState,
    what: string,
    deadline: number,
    fn: () => Promise<T>,
  ) => {
    for (let tried = 0; ; tried++) {
      try {
        return await fn();
      } catch (err) {
        const e = asQueryError(err, state.source);
        const canWait = clock.now() + retryDelayMs < deadline;
        if (!e.retryable || tried >= retries || !canWait || opts.signal?.aborted) throw e;
        logger.warn(
          `  ${state.check.name}: ${what} failed (${e.message}); retry ${tried + 1}/${retries} in ${formatMs(retryDelayMs)}`,
        );
        await Promise.race([clock.sleep(retryDelayMs), aborted.promise]);
      }
    }
  };

  const read = async (state: CheckState, at: number, deadline: number): Promise<Reading> => {
    const { check, source } = state;
    if (check.ratio) {
      const [num, den] = await both(
        attempt(state, 'numerator query', deadline, () =>
          source.instant(check.ratio!.numerator, at),
        ),
        attempt(state, 'denominator query', deadline, () =>
          source.instant(check.ratio!.denominator, at),
        ),
      );
      return readRatio(num, den, state.by, check.name);
    }
    const samples = await attempt(state, 'query', deadline, () => source.instant(check.query!, at));
    return readPlain(samples, state.by, check.name);
  };

  /** The pre-release mean of the check's own value (a `before` baseline), once. */
  const preRelease = async (state: CheckState, slot: RuleSlot, deadline: number) => {
    const rule = slot.rule;
    if (rule.type !== 'baseline' || !('before' in rule.against) || slot.baseline !== undefined)
      return;
    const { check, source } = state;
    const start = releasedAt - rule.against.before;
    const step = Math.max(1000, Math.min(opts.intervalMs, rule.against.before / 10));
    const range = (q: string) =>
      attempt(state, 'baseline query', deadline, () => source.range!(q, start, releasedAt, step));
    try {
      let readings: Reading[];
      if (check.ratio) {
        const [num, den] = await both(range(check.ratio.numerator), range(check.ratio.denominator));
        const numAt = samplesByTime(num);
        readings = [...samplesByTime(den)].map(([t, d]) =>
          readRatio(numAt.get(t) ?? [], d, state.by, check.name),
        );
      } else {
        const series = await range(check.query!);
        readings = [...samplesByTime(series).values()].map((s) =>
          readPlain(s, state.by, check.name),
        );
      }
      const mean = meanOverTime(readings, state.by !== undefined);
      if (mean === undefined)
        slot.baselineProblem = `baseline: no data in the ${formatMs(rule.against.before)} before the release`;
      else {
        slot.baseline = mean;
        delete slot.baselineProblem;
      }
    } catch (err) {
      slot.baselineProblem = `baseline: ${asQueryError(err, source).message}`;
    }
  };

  /** A forecast line (`query` baseline), read with each poll. */
  const forecast = async (state: CheckState, slot: RuleSlot, at: number, deadline: number) => {
    const rule = slot.rule;
    if (rule.type !== 'baseline' || !('query' in rule.against)) return;
    const q = rule.against.query;
    try {
      const samples = await attempt(state, 'baseline query', deadline, () =>
        state.source.instant(q, at),
      );
      const value = readPlain(samples, undefined, `${state.check.name} baseline`).value;
      if (Number.isFinite(value)) {
        slot.baseline = value;
        delete slot.baselineProblem;
      } else {
        delete slot.baseline;
        slot.baselineProblem = 'baseline: the baseline query has no value';
      }
    } catch (err) {
      delete slot.baseline;
      slot.baselineProblem = `baseline: ${asQueryError(err, state.source).message}`;
    }
  };

  const pollCheck = async (state: CheckState, at: number, deadline: number): Promise<PollLine> => {
    const { check } = state;
    state.reads += 1;
    state.lastReadAt = at;
    let reading: Reading = { value: NaN };
    let problem: string | undefined;
    if (state.broken) problem = state.broken;
    else {
      try {
        await Promise.all(state.slots.map((slot) => preRelease(state, slot, deadline)));
        await Promise.all(state.slots.map((slot) => forecast(state, slot, at, deadline)));
        reading = await read(state, at, deadline);
        if (Number.isNaN(reading.value)) {
          problem = state.by
            ? `no value for ${state.by.label}="${state.by.version}" (no traffic?)`
            : 'no value (no series, or no traffic)';
        }
      } catch (err) {
        const e = asQueryError(err, state.source);
        problem = e.message;
        if (!e.retryable) {
          state.broken = `query rejected: ${e.message}`;
          problem = state.broken;
          logger.error(`  ${check.name}: ${state.broken} (not asked again)`);
        }
      }
    }
    const readAt = at;
    state.history.push({ t: readAt, value: reading.value });
    const hasValue = !Number.isNaN(reading.value);
    state.lastHadData = hasValue;
    if (reading.old !== undefined && !Number.isNaN(reading.old)) state.lastOld = reading.old;
    if (hasValue) {
      state.withData += 1;
      delete state.lastProblem;
    } else state.lastProblem = problem;

    const results = state.slots.map((slot) => {
      const j = hasValue
        ? judgeRule(slot.rule, reading, {
            unit: check.unit,
            at: readAt,
            history: state.history,
            startedAt,
            windowMs: opts.windowMs,
            ...(slot.baseline !== undefined ? { baseline: slot.baseline } : {}),
          })
        : { state: 'nodata' as RuleState, text: 'no value' };
      if (j.state === 'nodata' && slot.baselineProblem && hasValue) j.text = slot.baselineProblem;
      if (j.state !== 'nodata') slot.judged = true;
      slot.streak = nextStreak(slot.streak, j.state);
      const need = rulePolls(check, slot.rule);
      const decided = j.state === 'breach' && slot.streak >= need;
      if (decided && !state.degraded) {
        const held = need > 1 ? ` for ${slot.streak} polls` : '';
        state.degraded = {
          rule: slot.rule.type,
          message: `${check.name} ${j.text}${held}`,
          at: readAt,
        };
      }
      const mark = j.state === 'breach' ? ` (${Math.min(slot.streak, need)}/${need})` : '';
      return { state: j.state, decided, text: `${j.text}${mark}` };
    });

    let lineState: LineState;
    // DEGRADED on the poll that decided (and the ones after it, without failFast, while it holds).
    if (results.some((r) => r.decided)) lineState = 'degraded';
    else if (results.some((r) => r.state === 'breach')) lineState = 'breach';
    else if (!hasValue) lineState = 'nodata';
    else lineState = 'ok';
    state.state = lineState;

    const value = hasValue ? formatValue(reading.value, check.unit) : '—';
    const old =
      reading.old !== undefined && !Number.isNaN(reading.old)
        ? ` (old ${formatValue(reading.old, check.unit)})`
        : '';
    const tag = { ok: 'ok', breach: 'BREACH', degraded: 'DEGRADED', nodata: 'NO DATA' }[lineState];
    const detail = hasValue ? results.map((r) => r.text).join(' · ') : (problem ?? 'no value');
    return {
      check: check.name,
      state: lineState,
      value: reading.value,
      ...(reading.old !== undefined ? { old: reading.old } : {}),
      rules: results.map((r) => r.text),
      line: `${check.name} [${check.kind}] ${value}${old} ${tag} · ${detail}`,
    };
  };

  for (let k = 0; k <= lastPoll; k++) {
    const at = startedAt + k * opts.intervalMs;
    const wait = at - clock.now();
    if (wait > 0) await Promise.race([clock.sleep(wait), aborted.promise]);
    if (opts.signal?.aborted) {
      stoppedEarly = `stopped after ${polls} of ${plannedPolls} polls`;
      break;
    }
    const deadline = k === lastPoll ? at + Math.min(opts.intervalMs, 10_000) : at + opts.intervalMs;
    const now = clock.now();
    const due = states.filter(
      (s) =>
        s.lastReadAt === undefined ||
        !s.check.everyMs ||
        now - s.lastReadAt >= s.check.everyMs - opts.intervalMs / 2,
    );
    const lines = await Promise.all(due.map((s) => pollCheck(s, now, deadline)));
    polls += 1;
    const prefix = `poll ${k + 1}/${plannedPolls} +${formatMs(at - startedAt)}`;
    for (const line of lines) {
      const text = `${prefix} ${line.line}`;
      if (line.state === 'degraded') logger.error(text);
      else if (line.state === 'ok') logger.info(text);
      else logger.warn(text);
    }
    opts.onPoll?.({ poll: k + 1, of: plannedPolls, at: now, lines });
    if (failFast && states.some((s) => s.degraded)) break;
  }
  aborted.dispose();

  const tallies: CheckTally[] = states.map((s) => ({
    name: s.check.name,
    optional: s.check.optional,
    reads: s.reads,
    withData: s.withData,
    lastHadData: s.lastHadData,
    ...(s.lastProblem ? { lastProblem: s.lastProblem } : {}),
    neverJudged: s.slots.filter((slot) => !slot.judged).map((slot) => slot.label),
    ...(s.degraded ? { degraded: s.degraded } : {}),
  }));
  const verdict = finalVerdict(tallies, {
    minCoverage,
    polls,
    windowMs: opts.windowMs,
    ...(stoppedEarly ? { stoppedEarly } : {}),
  });
  const decided = states
    .map((s) => s.degraded?.at)
    .filter((t): t is number => t !== undefined)
    .sort((a, b) => a - b)[0];
  const endedAt = clock.now();
  const final = `monitor: ${verdict.verdict} — ${verdict.message}`;
  if (verdict.verdict === 'healthy') logger.info(final);
  else if (verdict.verdict === 'degraded') logger.error(final);
  else logger.warn(final);
  return {
    ...verdict,
    polls,
    plannedPolls,
    startedAt,
    endedAt,
    ...(verdict.verdict === 'degraded' && decided !== undefined ? { decidedAt: decided } : {}),
    checks: states.map((s) => ({
      name: s.check.name,
      kind: s.check.kind,
      unit: s.check.unit,
      reads: s.reads,
      withData: s.withData,
      state: s.state,
      points: s.history,
      ...(s.lastOld !== undefined ? { lastOld: s.lastOld } : {}),
    })),
  };
}

export interface PreflightResult {
  check: string;
  ok: boolean;
  /** The value now, or why there is none. */
  text: string;
}

/**
 * Reads every check once, now, without retries: a rejected query, a missing aggregation or an
 * unreachable source shows up before the release instead of 30 minutes after it.
 */
export async function preflight(
  opts: Pick<WatchOptions, 'checks' | 'sources' | 'clock' | 'version' | 'previousVersion'>,
): Promise<PreflightResult[]> {
  return Promise.all(
    opts.checks.map(async (check): Promise<PreflightResult> => {
      const source = opts.sources[check.source];
      if (!source) return { check: check.name, ok: false, text: `no source "${check.source}"` };
      const label = versionLabelOf(check);
      const by: VersionSelect | undefined =
        label && opts.version
          ? {
              label,
              version: opts.version,
              ...(opts.previousVersion ? { previous: opts.previousVersion } : {}),
            }
          : undefined;
      try {
        const at = opts.clock.now();
        let reading: Reading;
        if (check.ratio) {
          const [num, den] = await Promise.all([
            source.instant(check.ratio.numerator, at),
            source.instant(check.ratio.denominator, at),
          ]);
          reading = readRatio(num, den, by, check.name);
        } else reading = readPlain(await source.instant(check.query!, at), by, check.name);
        const shown = Number.isNaN(reading.value)
          ? 'no value yet'
          : formatValue(reading.value, check.unit);
        const old =
          reading.old !== undefined && Number.isFinite(reading.old)
            ? ` (old ${formatValue(reading.old, check.unit)})`
            : '';
        return { check: check.name, ok: true, text: `${shown}${old}` };
      } catch (err) {
        return { check: check.name, ok: false, text: asQueryError(err, source).message };
      }
    }),
  );
}

/** Both results; when one fails, the other is still waited for (its retries end in this poll). */
async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}

function asQueryError(err: unknown, source: MetricSource): MonitorQueryError {
  if (err instanceof MonitorQueryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // An adapter bug or an unexpected throw: report it, and try again next time.
  return new MonitorQueryError(`${source.name}: ${message}`, true, { cause: err });
}

function abortPromise(signal: AbortSignal | undefined): {
  promise: Promise<void>;
  dispose: () => void;
} {
  if (!signal) return { promise: new Promise<void>(() => undefined), dispose: () => undefined };
  let onAbort = () => undefined as void;
  const promise = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}
