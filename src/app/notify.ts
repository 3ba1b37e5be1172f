/**
 * P4 notifications (issue 18): a subscriber over the release's events. The engine knows
 * nothing of it: the record is wrapped, each event it writes is judged by `notificationOf`,
 * and the few a person acts on go to the group file's channels in the background. A message
 * that cannot be sent is a warning in the record, never a failed release.
 */
import type { Ledger, ReleaseEvent } from '../engine/ledger';
import { nextActions, rollbackTarget } from '../engine/phases';
import type { Store } from '../engine/ports';
import type { Logger } from '../model/logger';
import type { Phase } from '../model/states';
import type { Notification } from '../notify/format';
import { Notifier } from '../notify/notifier';
import { createSender, type SenderOptions } from '../notify/senders';
import type { NotifyKind, NotifySpec } from '../notify/spec';
import { ReportingStore } from '../store/reporting-store';
import { buttonsOf } from './fleet-view';

/** The phases a message is sent for, with what it says. */
const PHASE_KINDS: Partial<Record<Phase, { kind: NotifyKind; headline: string; urgent: boolean }>> =
  {
    SMOKE_SUCCESS: {
      kind: 'bastion-verified',
      headline: 'bastion verified, waiting for bake',
      urgent: true,
    },
    BAKE_SUCCESS: { kind: 'baked', headline: 'baked, waiting for continue', urgent: true },
    PAUSED: { kind: 'paused', headline: 'batch done, waiting for continue', urgent: true },
    BRAKED: { kind: 'braked', headline: 'braked: too many targets failed', urgent: true },
    SMOKE_FAILURE: { kind: 'bastion-failed', headline: 'bastion failed', urgent: true },
    FAILURE: { kind: 'failed', headline: 'failed', urgent: true },
    SUCCESS: { kind: 'succeeded', headline: 'succeeded', urgent: false },
    ABORTED: { kind: 'stopped', headline: 'stopped', urgent: false },
  };

export interface NotifyContext {
  environment?: string;
  link?: string;
}

/**
 * Pure: the notification an event calls for, or null. Phase events that wait for a person or
 * end a release, and the monitor's verdict; who acted is the last operation on the release.
 */
export function notificationOf(
  e: ReleaseEvent,
  ledger: Ledger | null,
  ctx: NotifyContext = {},
): Notification | null {
  const d = ledger?.current?.id === e.deployment ? ledger.current : null;
  if (!d) return null;
  let kind: NotifyKind;
  let headline: string;
  let urgent: boolean;
  let phase: Phase = d.phase;
  if (e.type === 'phase' && e.phase) {
    const k = PHASE_KINDS[e.phase];
    if (!k) return null;
    phase = e.phase;
    ({ kind, headline, urgent } = k);
    if (d.kind === 'rollback') {
      if (e.phase === 'SUCCESS') {
        kind = 'rolled-back';
        headline = `rolled back${d.fromVersion ? ` from ${d.fromVersion}` : ''}`;
      } else {
        headline = `rollback ${headline}`;
      }
    }
  } else if (e.type === 'monitor') {
    const verdict = /^monitor (healthy|degraded|unknown)\b/.exec(e.message)?.[1];
    if (!verdict) return null;
    kind = 'monitor';
    headline = `monitor: ${verdict}`;
    urgent = verdict !== 'healthy';
  } else {
    return null;
  }
  const lastOp = d.ops?.at(-1);
  const by = (phase === 'ABORTED' ? d.stop?.by : undefined) ?? lastOp?.by ?? e.by ?? d.by;
  const next = nextActions(phase, false, rollbackTarget(ledger!)?.version ?? null);
  return {
    kind,
    headline,
    detail: e.message,
    group: d.group,
    ...(ctx.environment ? { environment: ctx.environment } : {}),
    version: d.version,
    deployment: d.id,
    by,
    at: e.at,
    next,
    buttons: buttonsOf(next),
    ...(ctx.link ? { link: ctx.link } : {}),
    urgent,
  };
}

interface SentState {
  /** The newest message sent: a flush that gives up records its warning on that release. */
  last: Notification | null;
  /** Releases a "stopped" message went out for. */
  stopped: Set<string>;
}

export interface NotifyingStoreOptions extends NotifyContext {
  spec: NotifySpec;
  env: Record<string, string | undefined>;
  logger: Logger;
  /** Tests: the first wait between attempts (default 500 ms). */
  retryDelayMs?: number;
  fetch?: typeof fetch;
  /** Each delivery (the CLI's --verbose line; the tests' latency). */
  onDelivered?: (channel: string, n: Notification, attempts: number) => void;
}

/**
 * The record, wrapped: every event is written first, then judged; messages go out in the
 * background. `flush` (the end of every operation) waits for them at most `flushTimeout`.
 */
export class NotifyingStore extends ReportingStore {
  private readonly notifier: Notifier;
  private readonly kinds: ReadonlySet<NotifyKind>;
  /** Shared with every store `alongside` this one. */
  private readonly sent: SentState;

  constructor(
    inner: Store,
    private readonly o: NotifyingStoreOptions,
    shared?: { notifier: Notifier; sent: SentState },
  ) {
    super(inner);
    this.kinds = new Set(o.spec.events);
    this.sent = shared?.sent ?? { last: null, stopped: new Set() };
    if (shared) {
      this.notifier = shared.notifier;
      return;
    }
    const senderOptions: SenderOptions = {
      env: o.env,
      timeoutMs: o.spec.timeoutMs,
      ...(o.fetch ? { fetch: o.fetch } : {}),
    };
    this.notifier = new Notifier(
      o.spec.channels.map((c) => createSender(c, senderOptions)),
      {
        retries: o.spec.retries,
        ...(o.retryDelayMs !== undefined ? { initialDelayMs: o.retryDelayMs } : {}),
        onFailure: (channel, n, err, attempts) => {
          const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
          void this.warn(
            n,
            `notify: ${channel} could not send "${n.headline}"${tries}: ${err.message}`,
          );
        },
        onDelivered: (channel, n, attempts) => {
          o.logger.debug?.(`notify: ${channel} sent "${n.headline}"`);
          o.onDelivered?.(channel, n, attempts);
        },
      },
    );
  }

  /**
   * Another record (the copy a cancel writes the stop into) whose events go out through this
   * store's channels: one queue, flushed by this store's `flush`, and one "stopped" message per
   * release even when the step itself records the stop as well.
   */
  alongside(inner: Store): NotifyingStore {
    return new NotifyingStore(inner, this.o, { notifier: this.notifier, sent: this.sent });
  }

  protected report(event: ReleaseEvent, ledger: Ledger | null): Promise<void> {
    const n = notificationOf(event, ledger, this.o);
    if (n && this.kinds.has(n.kind)) {
      if (n.kind === 'stopped') {
        if (this.sent.stopped.has(n.deployment)) return Promise.resolve();
        this.sent.stopped.add(n.deployment);
      }
      this.sent.last = n;
      this.notifier.send(n);
    }
    return Promise.resolve();
  }

  override flush = async (): Promise<void> => {
    const left = await this.notifier.flush(this.o.spec.flushTimeoutMs);
    if (left > 0 && this.sent.last) {
      await this.warn(
        this.sent.last,
        `notify: ${left} message(s) still unsent after ${this.o.spec.flushTimeoutMs / 1000} s: given up, the release goes on`,
      );
    }
    return this.inner.flush();
  };

  /** A warning line in the release's log (events.ndjson), and on the console. */
  private async warn(n: Notification, message: string): Promise<void> {
    this.o.logger.warn(message);
    try {
      await this.inner.append(n.group, {
        at: new Date().toISOString(),
        group: n.group,
        deployment: n.deployment,
        type: 'warn',
        message,
      });
    } catch {
      // The record's own failure is reported by the record.
    }
  }
}
