import type { Phase, TargetState } from '../model/states';
import type { Step } from '../model/types';
import {
  recordOperation,
  type Deployment,
  type EventType,
  type Ledger,
  type OperationName,
  type ReleaseEvent,
  type TargetRecord,
} from './ledger';
import type { Clock } from '../model/clock';
import type { ReleaseLogger, Store } from './ports';
import { transition, type TargetEvent } from './target-machine';
import { escapeControl } from '../model/text';

/**
 * Every change to a release goes through here: the state machine decides, the ledger records,
 * the event log gets one line, the logger prints it. Every line carries who ran the operation
 * (`by`); the first line of an operation records it in the release's trail (`begin`).
 */
export class Recorder {
  private pending: { op: OperationName; by: string } | null = null;

  constructor(
    /** The record this recorder changes and saves. */
    readonly ledger: Ledger,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: ReleaseLogger,
    private readonly by?: string,
  ) {}

  /**
   * An operation starts: the next line this recorder writes carries it, and the release's trail
   * gets `{ op, by, at }` with that line's time. `by` defaults to who runs this recorder (a stop
   * asked for from another shell names its own).
   */
  begin(op: OperationName, by = this.by ?? 'unknown'): void {
    this.pending = { op, by };
  }

  get deployment(): Deployment {
    const d = this.ledger.current;
    if (!d) throw new Error('no current deployment');
    return d;
  }

  /**
   * A target's state changes by `event` (the state machine decides where it goes); its step
   * timings follow. `moveTo`: on a reset, the batch the new attempt runs in (a retry pass).
   */
  async transition(
    record: TargetRecord,
    event: TargetEvent,
    message: string,
    moveTo?: number,
  ): Promise<TargetState> {
    const next = transition(record.state, event);
    const now = this.clock.now();
    if (event.type === 'start') {
      record.steps[event.step] = { startedAt: now };
      // What an earlier try of a step said (a markup the LB did not take, a bake that failed) is
      // not this try's: it stays in the event log, and the record says only what is true now.
      delete record.error;
    } else if (event.type === 'succeed' || event.type === 'fail') {
      const step = record.state.slice(0, -'_RUNNING'.length).toLowerCase() as Step;
      const timing = record.steps[step];
      if (timing) {
        timing.endedAt = now;
        timing.detail = message;
      }
      if (event.type === 'fail') record.error = message;
    } else if (event.type === 'reset') {
      // The earlier attempt stays in the record; steps and error are the new attempt's.
      (record.previous ??= []).push({
        batch: record.batch,
        steps: record.steps,
        ...(record.error !== undefined ? { error: record.error } : {}),
      });
      record.steps = {};
      delete record.error;
      record.attempts += 1;
      if (moveTo !== undefined) record.batch = moveTo;
    }
    record.state = next;
    await this.emit('target', message, {
      target: record.id,
      batch: record.batch,
      state: next,
      ...(record.lbUnknown !== undefined ? { lbUnknown: record.lbUnknown } : {}),
    });
    return next;
  }

  async phase(
    phase: Phase,
    message: string,
    extra: Pick<ReleaseEvent, 'retried'> = {},
  ): Promise<void> {
    const d = this.deployment;
    d.phase = phase;
    if (phase === 'SUCCESS' || phase === 'FAILURE' || phase === 'ABORTED') {
      d.outcome = phase === 'SUCCESS' ? 'success' : phase === 'FAILURE' ? 'failure' : 'aborted';
      d.endedAt = this.clock.now();
      // A retry ends the same release again: its history entry is replaced, not repeated.
      this.ledger.history = this.ledger.history.filter((h) => h.id !== d.id);
      this.ledger.history.unshift({
        id: d.id,
        kind: d.kind,
        version: d.version,
        outcome: d.outcome,
        createdAt: d.createdAt,
        endedAt: d.endedAt,
        by: d.by,
        ...(d.ops ? { ops: d.ops.map((o) => ({ ...o })) } : {}),
      });
      this.ledger.history.length = Math.min(this.ledger.history.length, 50);
    } else {
      delete d.outcome;
      delete d.endedAt;
    }
    await this.emit('phase', message, { ...extra, phase });
  }

  async emit(
    type: EventType,
    message: string,
    extra: Partial<
      Pick<
        ReleaseEvent,
        | 'target'
        | 'batch'
        | 'state'
        | 'phase'
        | 'level'
        | 'release'
        | 'retried'
        | 'stop'
        | 'interrupted'
        | 'lbUnknown'
        | 'outOfService'
        | 'brake'
      >
    > = {},
  ): Promise<void> {
    const d = this.deployment;
    const now = this.clock.now();
    d.updatedAt = now;
    const operation = this.pending;
    this.pending = null;
    if (operation) recordOperation(this.ledger, d, { ...operation, at: now });
    const event: ReleaseEvent = {
      at: new Date(now).toISOString(),
      group: d.group,
      deployment: d.id,
      type,
      message,
      ...extra,
      ...(this.by !== undefined ? { by: this.by } : {}),
      ...(operation ? { operation } : {}),
    };
    const line = formatEvent(event);
    if (this.logger.event) this.logger.event(event, line);
    else if (type === 'warn' || extra.level === 'warn') this.logger.warn(line);
    else if (type === 'target' && extra.state?.endsWith('_FAILURE')) this.logger.error(line);
    else this.logger.info(line);
    // The record first, then the event: a store that reports events can read the record.
    await this.store.save(this.ledger);
    await this.store.append(d.group, event);
  }
}

/** One readable line per event; control characters in its text are shown escaped. */
export function formatEvent(e: ReleaseEvent): string {
  const time = e.at.slice(11, 23);
  const message = escapeControl(e.message);
  if (e.type === 'target') {
    return `${time}  ${escapeControl(e.target ?? '').padEnd(12)} ${(e.state ?? '').padEnd(17)} ${message}`;
  }
  if (e.type === 'phase') return `${time}  ── ${e.phase}: ${message}`;
  return `${time}  ${e.type === 'warn' ? 'WARN ' : ''}${message}`;
}
