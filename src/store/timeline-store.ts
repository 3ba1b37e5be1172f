import type { Phase } from '../model/states';
import type { Ledger, ReleaseEvent } from '../engine/ledger';
import type { Clock } from '../model/clock';
import type { Logger } from '../model/logger';
import type { Store } from '../engine/ports';
import { pushReleaseEvent } from '../monitor/pushgateway';
import { ReportingStore } from './reporting-store';

/** The phases that go on the monitoring timeline (O4), as the event label dashboards see. */
const TIMELINE: Partial<Record<Phase, string>> = {
  SMOKE_SUCCESS: 'bastion-verified',
  SMOKE_FAILURE: 'bastion-failed',
  BAKE_SUCCESS: 'baked',
  BRAKED: 'braked',
  SUCCESS: 'released',
  FAILURE: 'failed',
  ABORTED: 'aborted',
};

/**
 * O4: every operations event on one timeline. Wraps the record and pushes the release's
 * milestones (start, bastion verified, bake, brake, outcome, monitor verdicts) to a Pushgateway
 * as `rollgate_release_info{group,version,event}`, so "what changed at 14:03" has an answer next
 * to the graph. A failed push warns; the release goes on.
 */
export class TimelineStore extends ReportingStore {
  constructor(
    inner: Store,
    private readonly pushgateway: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly fetchFn?: typeof fetch,
  ) {
    super(inner);
  }

  protected async report(event: ReleaseEvent, ledger: Ledger | null): Promise<void> {
    const name = timelineEvent(event, ledger);
    if (!name) return;
    const d = ledger?.current;
    await pushReleaseEvent({
      url: this.pushgateway,
      group: event.group,
      version: d?.id === event.deployment ? d.version : 'unknown',
      event: name,
      at: this.clock.now(),
      ...(this.fetchFn ? { fetch: this.fetchFn } : {}),
    }).catch((err) => this.logger.warn(`timeline: could not push "${name}": ${String(err)}`));
  }
}

/** Pure: the timeline label of an event, or null when it is not a milestone. */
export function timelineEvent(e: ReleaseEvent, ledger: Ledger | null): string | null {
  if (e.type === 'release') {
    return ledger?.current?.id === e.deployment && ledger.current.kind === 'rollback'
      ? 'rollback-started'
      : 'release-started';
  }
  if (e.type === 'phase' && e.phase) {
    const kind = ledger?.current?.id === e.deployment ? ledger.current.kind : 'deploy';
    if (e.phase === 'SUCCESS' && kind === 'rollback') return 'rolled-back';
    return TIMELINE[e.phase] ?? null;
  }
  if (e.type === 'monitor') {
    const verdict = /^monitor (healthy|degraded|unknown)\b/.exec(e.message)?.[1];
    return verdict ? `monitor-${verdict}` : null;
  }
  return null;
}
