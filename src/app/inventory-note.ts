import type { Ledger, ReleaseEvent } from '../engine/ledger';
import type { RunHolder, Store } from '../engine/ports';
import type { Clock } from '../model/clock';

/**
 * F5: an operation run on a cached inventory (its source was down) says so in the record — a
 * warning line in the release log right after the operation's first line, and the reason in the
 * release's `degraded` list, which status, the summary and the page show. The engine is not
 * involved: it takes targets, wherever they came from.
 */
export class InventoryNoteStore implements Store {
  private readonly noted = new Set<string>();

  constructor(
    private readonly inner: Store,
    private readonly reason: string,
    private readonly clock: Clock,
  ) {
    const holder = inner.runHolder?.bind(inner);
    if (holder) this.runHolder = holder;
  }

  async append(group: string, event: ReleaseEvent): Promise<void> {
    await this.inner.append(group, event);
    if (this.noted.has(event.deployment)) return;
    this.noted.add(event.deployment);
    await this.inner.append(group, {
      at: new Date(this.clock.now()).toISOString(),
      group,
      deployment: event.deployment,
      type: 'warn',
      level: 'warn',
      message: `degraded: ${this.reason}`,
      ...(event.by !== undefined ? { by: event.by } : {}),
    });
  }

  async save(ledger: Ledger): Promise<void> {
    const d = ledger.current;
    if (d && this.noted.has(d.id) && !d.degraded.includes(this.reason))
      d.degraded.push(this.reason);
    return this.inner.save(ledger);
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
