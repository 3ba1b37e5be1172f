/**
 * The watch after a release (O2: "monitor-30m"): poll every check every `intervalMs` for
 * `windowMs` on the injected clock, retry failed queries, print one line per poll per check,
 * and end `healthy`, `degraded` (with the rule that decided) or `unknown` (never healthy
 * without data). Reads no environment and no real clock: sources, clock and logger come in.
 */
import type { Clock } from '../model/clock';
import type { Logger } from '../model/logger';
import { InputError } from '../model/errors';
import { CheckReader, type ReaderState } from './check-reader';
import { validateCheck, versionLabelOf, type Check } from './checks';
import { formatMs } from '../model/text';
import { finalVerdict, ruleLabel, type CheckTally, type FinalVerdict } from './judge';
import {
  pollStep,
  startProgress,
  type CheckProgress,
  type LineState,
  type PollLine,
} from './poll-step';
import type { MetricSource, Point } from './ports';

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

export type { LineState, PollLine } from './poll-step';

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

/** A watched check: what the reader keeps, and what it has judged so far (`progress`). */
interface CheckState extends ReaderState {
  reads: number;
  lastReadAt?: number;
  progress: CheckProgress;
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
      baselines: check.rules.map((rule) =>
        rule.type === 'baseline' && 'value' in rule.against ? { value: rule.against.value } : {},
      ),
      reads: 0,
      progress: startProgress(
        check,
        check.rules.map((_, i) => ruleLabel(check, i)),
      ),
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
  const reader = new CheckReader({
    clock,
    logger,
    retries,
    retryDelayMs,
    releasedAt,
    intervalMs: opts.intervalMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
    aborted: aborted.promise,
  });
  let polls = 0;
  let stoppedEarly: string | undefined;

  const pollCheck = async (state: CheckState, at: number, deadline: number): Promise<PollLine> => {
    const { check } = state;
    state.reads += 1;
    state.lastReadAt = at;
    const { reading, problem } = await reader.read(state, at, deadline);
    const { after, line } = pollStep(
      check,
      state.progress,
      { at, reading, ...(problem !== undefined ? { problem } : {}), baselines: state.baselines },
      { startedAt, windowMs: opts.windowMs },
    );
    state.progress = after;
    return line;
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
    if (failFast && states.some((s) => s.progress.degraded)) break;
  }
  aborted.dispose();

  const tallies: CheckTally[] = states.map(({ check, reads, progress }) => ({
    name: check.name,
    optional: check.optional,
    reads,
    withData: progress.withData,
    lastHadData: progress.lastHadData,
    ...(progress.lastProblem ? { lastProblem: progress.lastProblem } : {}),
    neverJudged: progress.rules.filter((rule) => !rule.judged).map((rule) => rule.label),
    ...(progress.degraded ? { degraded: progress.degraded } : {}),
  }));
  const verdict = finalVerdict(tallies, {
    minCoverage,
    polls,
    windowMs: opts.windowMs,
    ...(stoppedEarly ? { stoppedEarly } : {}),
  });
  const decided = states
    .map((s) => s.progress.degraded?.at)
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
    checks: states.map(({ check, reads, progress }) => ({
      name: check.name,
      kind: check.kind,
      unit: check.unit,
      reads,
      withData: progress.withData,
      state: progress.state,
      points: [...progress.history],
      ...(progress.lastOld !== undefined ? { lastOld: progress.lastOld } : {}),
    })),
  };
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
