import type { Ledger, ReleaseEvent } from '../engine/ledger';
import type { RunHolder, Store } from '../engine/ports';

/**
 * A record that reports release events somewhere else (GitHub deployments, a Pushgateway):
 * everything goes to the inner store first; `report` then sees each event with the record it
 * belongs to. Reporting is the subclass's business and must not throw.
 */
export abstract class ReportingStore implements Store {
  private ledger: Ledger | null = null;

  constructor(protected readonly inner: Store) {
    const holder = inner.runHolder?.bind(inner);
    if (holder) this.runHolder = holder;
  }

  protected abstract report(event: ReleaseEvent, ledger: Ledger | null): Promise<void>;

  async save(ledger: Ledger): Promise<void> {
    this.ledger = ledger;
    return this.inner.save(ledger);
  }

  async append(group: string, event: ReleaseEvent): Promise<void> {
    await this.inner.append(group, event);
    // An event from outside an engine operation (a monitor verdict) comes without a save first.
    if (this.ledger?.current?.id !== event.deployment) this.ledger = await this.inner.load(group);
    await this.report(event, this.ledger);
  }

  load = (group: string) => this.inner.load(group);
  events = (group: string) => this.inner.events(group);
  flush = () => this.inner.flush();
  requestStop = (group: string, by: string) => this.inner.requestStop(group, by);
  stopRequested = (group: string) => this.inner.stopRequested(group);
  clearStop = (group: string) => this.inner.clearStop(group);
  acquireRun = (group: string, who: string) => this.inner.acquireRun(group, who);
  runHolder?: (group: string) => Promise<RunHolder | null>;
}
