/**
 * The reading side of the watch: one poll of one check asks its source(s) for the value and the
 * baselines, retrying a retryable failure while the poll has time. What the reading means is
 * decided by poll-step.ts.
 */
import type { Clock } from '../model/clock';
import type { Logger } from '../model/logger';
import type { Check } from './checks';
import { formatMs } from '../model/text';
import type { Reading } from './judge';
import type { BaselineRead } from './poll-step';
import { asQueryError, type MetricSource } from './ports';
import { meanOverTime, readPlain, readRatio, samplesByTime, type VersionSelect } from './read';

/** What the reader keeps per check: the baselines found so far, and a query the source rejected. */
export interface ReaderState {
  check: Check;
  source: MetricSource;
  by?: VersionSelect;
  /** Per rule: a baseline rule's reference (the pre-release mean once known, or this poll's forecast). */
  baselines: BaselineRead[];
  /** A permanent query error: not asked again. */
  broken?: string;
}

export interface ReaderContext {
  clock: Clock;
  logger: Logger;
  /** Extra tries of a query that failed for a retryable reason, within one poll. */
  retries: number;
  retryDelayMs: number;
  /** Baseline windows end here. */
  releasedAt: number;
  intervalMs: number;
  signal?: AbortSignal;
  /** Settles when the watch is aborted (cuts a retry's wait short). */
  aborted: Promise<void>;
}

export class CheckReader {
  constructor(private readonly ctx: ReaderContext) {}

  /** This poll's reading of the check, or why it has none (its baselines are updated too). */
  async read(
    state: ReaderState,
    at: number,
    deadline: number,
  ): Promise<{ reading: Reading; problem?: string }> {
    const { check } = state;
    let reading: Reading = { value: NaN };
    let problem: string | undefined;
    if (state.broken) problem = state.broken;
    else {
      try {
        await Promise.all(check.rules.map((_, r) => this.preRelease(state, r, deadline)));
        await Promise.all(check.rules.map((_, r) => this.forecast(state, r, at, deadline)));
        reading = await this.value(state, at, deadline);
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
          this.ctx.logger.error(`  ${check.name}: ${state.broken} (not asked again)`);
        }
      }
    }
    return { reading, ...(problem !== undefined ? { problem } : {}) };
  }

  /** Runs `fn`, retrying a retryable failure while there is time before `deadline`. */
  private async attempt<T>(
    state: ReaderState,
    what: string,
    deadline: number,
    fn: () => Promise<T>,
  ): Promise<T> {
    for (let tried = 0; ; tried++) {
      try {
        return await fn();
      } catch (err) {
        const e = asQueryError(err, state.source);
        const canWait = this.ctx.clock.now() + this.ctx.retryDelayMs < deadline;
        if (!e.retryable || tried >= this.ctx.retries || !canWait || this.ctx.signal?.aborted)
          throw e;
        this.ctx.logger.warn(
          `  ${state.check.name}: ${what} failed (${e.message}); retry ${tried + 1}/${this.ctx.retries} in ${formatMs(this.ctx.retryDelayMs)}`,
        );
        await Promise.race([this.ctx.clock.sleep(this.ctx.retryDelayMs), this.ctx.aborted]);
      }
    }
  }

  private async value(state: ReaderState, at: number, deadline: number): Promise<Reading> {
    const { check, source } = state;
    if (check.ratio) {
      const [num, den] = await both(
        this.attempt(state, 'numerator query', deadline, () =>
          source.instant(check.ratio!.numerator, at),
        ),
        this.attempt(state, 'denominator query', deadline, () =>
          source.instant(check.ratio!.denominator, at),
        ),
      );
      return readRatio(num, den, state.by, check.name);
    }
    const samples = await this.attempt(state, 'query', deadline, () =>
      source.instant(check.query!, at),
    );
    return readPlain(samples, state.by, check.name);
  }

  /** The pre-release mean of the check's own value (a `before` baseline), once. */
  private async preRelease(state: ReaderState, r: number, deadline: number): Promise<void> {
    const rule = state.check.rules[r]!;
    const slot = state.baselines[r]!;
    if (rule.type !== 'baseline' || !('before' in rule.against) || slot.value !== undefined) return;
    const { check, source } = state;
    const start = this.ctx.releasedAt - rule.against.before;
    const step = Math.max(1000, Math.min(this.ctx.intervalMs, rule.against.before / 10));
    const range = (q: string) =>
      this.attempt(state, 'baseline query', deadline, () =>
        source.range!(q, start, this.ctx.releasedAt, step),
      );
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
        slot.problem = `baseline: no data in the ${formatMs(rule.against.before)} before the release`;
      else {
        slot.value = mean;
        delete slot.problem;
      }
    } catch (err) {
      slot.problem = `baseline: ${asQueryError(err, source).message}`;
    }
  }

  /** A forecast line (`query` baseline), read with each poll. */
  private async forecast(
    state: ReaderState,
    r: number,
    at: number,
    deadline: number,
  ): Promise<void> {
    const rule = state.check.rules[r]!;
    const slot = state.baselines[r]!;
    if (rule.type !== 'baseline' || !('query' in rule.against)) return;
    const q = rule.against.query;
    try {
      const samples = await this.attempt(state, 'baseline query', deadline, () =>
        state.source.instant(q, at),
      );
      const value = readPlain(samples, undefined, `${state.check.name} baseline`).value;
      if (Number.isFinite(value)) {
        slot.value = value;
        delete slot.problem;
      } else {
        delete slot.value;
        slot.problem = 'baseline: the baseline query has no value';
      }
    } catch (err) {
      delete slot.value;
      slot.problem = `baseline: ${asQueryError(err, state.source).message}`;
    }
  }
}

/** Both results; when one fails, the other is still waited for (its retries end in this poll). */
async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}
