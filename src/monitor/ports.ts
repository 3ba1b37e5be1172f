/**
 * The monitor port (O1, O2): where the numbers a release is judged by come from. Adapters:
 * Prometheus's HTTP API (prometheus/client.ts) and an HTTP probe (probe.ts). The watch loop
 * (watch.ts) sees only this interface, so tests drive it with scripted sources on a simulated
 * clock.
 */
import { RollgateError } from '../model/errors';

export type Labels = Readonly<Record<string, string>>;

/** One series of an instant result. `value` keeps NaN and ±Infinity as Prometheus sends them. */
export interface Sample {
  labels: Labels;
  value: number;
}

export interface Point {
  /** Epoch milliseconds. */
  t: number;
  value: number;
}

/** One series of a range result. */
export interface Series {
  labels: Labels;
  points: Point[];
}

/** Port: a source of numbers, queried by expression. */
export interface MetricSource {
  /** For messages: `prometheus http://127.0.10.1:19090`. */
  readonly name: string;
  /** The value of `query` at `atMs` (epoch milliseconds): one sample per series. */
  instant(query: string, atMs: number): Promise<Sample[]>;
  /**
   * `query` evaluated from `startMs` to `endMs` every `stepMs` (a source may widen the step).
   * Absent when the source keeps no history (the HTTP probe): a `baseline: { before }` rule then
   * cannot use it.
   */
  range?(query: string, startMs: number, endMs: number, stepMs: number): Promise<Series[]>;
}

/**
 * A query that failed. `retryable`: the source was unreachable, overloaded or timed out, so the
 * same query may work a moment later. A rejected query (bad PromQL, many-to-many matching) is
 * not retryable: it will fail the same way every time.
 */
export class MonitorQueryError extends RollgateError {
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A failed query as a MonitorQueryError; an unexpected throw is retryable. */
export function asQueryError(err: unknown, source: MetricSource): MonitorQueryError {
  if (err instanceof MonitorQueryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // An adapter bug or an unexpected throw: report it, and try again next time.
  return new MonitorQueryError(`${source.name}: ${message}`, true, { cause: err });
}
