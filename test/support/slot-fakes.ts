import type {
  HealthResult,
  HostProbe,
  LockOwner,
  Ports,
  Traffic,
  TrafficStatus,
  Transport,
} from '../../src/engine/ports';
import { servingView } from '../../src/engine/serving-view';
import type { Clock } from '../../src/model/clock';
import { LockHeldError, StepError } from '../../src/model/errors';
import { otherSlot } from '../../src/model/slots';
import type { PackageRef, Slot, Target } from '../../src/model/types';
import { makeLogger, MemoryStore } from './fakes';

interface SlotState {
  version: string;
  running: boolean;
}

interface SlotHost {
  releases: string[];
  serving: Slot | null;
  slots: Partial<Record<Slot, SlotState>>;
  lock: LockOwner | null;
  /** When the warm slot is stopped (the host's keep-warm timer), in clock time. */
  warmUntil?: { slot: Slot; at: number };
}

/** An in-memory side-by-side fleet (S7): two slots per host, the host's keep-warm timer on `clock`. */
export class SlotFleet implements Transport {
  readonly hosts = new Map<string, SlotHost>();
  readonly calls: { op: string; target: string; slot?: Slot; version?: string }[] = [];
  /** Every round trip to a host (connect, lock, probe, unlock, serve), in order: `<op> <target>`. */
  readonly trips: string[] = [];
  /** The lock answers with the probe under it, in the same round trip (as ShellHost does). */
  lockProbes = true;
  readonly broken = new Set<string>();
  /** Hosts whose new slots never answer healthy. */
  readonly brokenHosts = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly stepMs = 100,
  ) {}

  host(id: string): SlotHost {
    let h = this.hosts.get(id);
    if (!h) {
      h = { releases: [], serving: null, slots: {}, lock: null };
      this.hosts.set(id, h);
    }
    const warm = h.warmUntil;
    if (warm && this.clock.now() >= warm.at && h.serving !== warm.slot) {
      const s = h.slots[warm.slot];
      if (s) s.running = false;
      delete h.warmUntil;
    }
    return h;
  }

  current(id: string): string | null {
    const h = this.host(id);
    return h.serving ? (h.slots[h.serving]?.version ?? null) : null;
  }

  private async step(op: string, target: Target, version?: string, signal?: AbortSignal) {
    this.calls.push({
      op,
      target: target.id,
      ...(target.slot ? { slot: target.slot } : {}),
      ...(version ? { version } : {}),
    });
    if (this.stepMs > 0) await this.clock.sleep(this.stepMs, signal);
  }

  async connect(target: Target): Promise<void> {
    this.trips.push(`connect ${target.id}`);
  }

  async probe(target: Target): Promise<HostProbe> {
    this.trips.push(`probe ${target.id}`);
    return this.read(target);
  }

  private read(target: Target): HostProbe {
    const h = this.host(target.id);
    const slots: HostProbe['slots'] = {};
    for (const s of ['a', 'b'] as const) if (h.slots[s]) slots[s] = { ...h.slots[s] };
    return {
      current: this.current(target.id),
      releases: [...h.releases],
      lock: h.lock ? { deploymentId: h.lock.deploymentId, who: h.lock.who } : null,
      ...(h.serving ? { serving: h.serving } : {}),
      ...(Object.keys(slots).length ? { slots } : {}),
    };
  }

  async lock(target: Target, owner: LockOwner): Promise<HostProbe | void> {
    this.trips.push(`lock ${target.id}`);
    const h = this.host(target.id);
    if (
      h.lock &&
      h.lock.deploymentId !== owner.deploymentId &&
      h.lock.deploymentId !== owner.takeOver
    ) {
      throw new LockHeldError(`host ${target.id}`, h.lock.who, 'earlier', h.lock.deploymentId);
    }
    h.lock = { deploymentId: owner.deploymentId, who: owner.who };
    return this.lockProbes ? this.read(target) : undefined;
  }

  async unlock(target: Target, owner: LockOwner): Promise<boolean> {
    this.trips.push(`unlock ${target.id}`);
    const h = this.host(target.id);
    if (h.lock?.deploymentId !== owner.deploymentId) return false;
    h.lock = null;
    return true;
  }

  async download(target: Target, pkg: PackageRef, signal?: AbortSignal) {
    const h = this.host(target.id);
    if (h.releases.includes(pkg.version)) return { skipped: true };
    await this.step('download', target, pkg.version, signal);
    h.releases.push(pkg.version);
    return { skipped: false };
  }

  async install(target: Target, version: string, signal?: AbortSignal) {
    if (!target.slot) throw new Error('test bug: side-by-side installs a slot');
    const h = this.host(target.id);
    if (h.serving === target.slot) throw new StepError(`slot ${target.slot} serves`);
    const held = h.slots[target.slot];
    if (held?.version === version && held.running && !this.broken.has(version)) {
      return { alreadyRunning: true };
    }
    await this.step('start', target, version, signal);
    if (!h.releases.includes(version)) throw new StepError(`release ${version} is not on the host`);
    h.slots[target.slot] = { version, running: true };
    return { alreadyRunning: false };
  }

  async serve(
    target: Target,
    version: string,
    keepWarmMs: number,
    signal?: AbortSignal,
    options: { unlock?: LockOwner } = {},
  ): Promise<{ unlocked?: boolean } | void> {
    this.trips.push(`serve ${target.id}`);
    const h = this.host(target.id);
    if (h.slots[target.slot!]?.version !== version) throw new StepError('slot does not hold it');
    await this.step('serve', target, version, signal);
    h.serving = target.slot!;
    const old = otherSlot(target.slot!);
    if (keepWarmMs === 0) {
      if (h.slots[old]) h.slots[old].running = false;
    } else {
      h.warmUntil = { slot: old, at: this.clock.now() + keepWarmMs };
    }
    if (options.unlock && h.lock?.deploymentId === options.unlock.deploymentId) {
      h.lock = null;
      return { unlocked: true };
    }
    return { unlocked: false };
  }

  async health(target: Target): Promise<HealthResult> {
    const s = target.slot ? this.host(target.id).slots[target.slot] : undefined;
    if (!s?.running) return { ok: false, detail: 'connection refused' };
    if (this.brokenHosts.has(target.id) && s.version !== this.current(target.id)) {
      return { ok: false, version: s.version, detail: 'HTTP 503' };
    }
    if (this.broken.has(s.version)) return { ok: false, version: s.version, detail: 'HTTP 500' };
    return { ok: true, version: s.version, detail: 'HTTP 200' };
  }

  async close(): Promise<void> {}

  count(op: string): number {
    return this.calls.filter((c) => c.op === op).length;
  }
}

/**
 * HAProxy with a pre-declared pair per target: `<id>` and `<id>-b`, slot b's `disabled` at the
 * start. Tracks the fewest targets with a healthy server in traffic after every change.
 */
export class SlotTraffic implements Traffic {
  readonly name = 'fake-lb';
  readonly state = new Map<string, TrafficStatus>();
  readonly calls: string[] = [];
  minServing = Infinity;

  constructor(
    private readonly fleet: SlotFleet,
    private readonly targets: readonly Target[],
  ) {}

  private key(t: Target): string {
    return t.lbName ?? t.id;
  }

  get(t: Target): TrafficStatus {
    return this.state.get(this.key(t)) ?? (t.slot === 'b' ? 'maint' : 'up');
  }

  /** Targets with a server in traffic whose slot answers healthy. */
  serving(): number {
    return this.targets.filter((t) =>
      (['a', 'b'] as const).some((slot) => {
        const view = slot === 'a' ? t : { ...t, lbName: `${t.id}-b` };
        const s = this.fleet.host(t.id).slots[slot];
        return this.get(view) === 'up' && s?.running === true && !this.fleet.broken.has(s.version);
      }),
    ).length;
  }

  /** The fewest targets serving since `minServing` was reset, now included. */
  lowest(): number {
    return Math.min(this.minServing, this.serving());
  }

  private note(): void {
    this.minServing = Math.min(this.minServing, this.serving());
  }

  async status(t: Target): Promise<TrafficStatus> {
    return this.get(t);
  }
  async markdown(t: Target): Promise<void> {
    this.calls.push(`markdown ${this.key(t)}`);
    this.state.set(this.key(t), 'maint');
    this.note();
  }
  async markup(t: Target): Promise<void> {
    this.calls.push(`markup ${this.key(t)}`);
    this.state.set(this.key(t), 'up');
    this.note();
  }
  async close(): Promise<void> {}
}

/** Engine ports over a side-by-side fleet, seen whole outside the chain as the runtime does. */
export function slotPorts(clock: Clock, targets: readonly Target[]) {
  const fleet = new SlotFleet(clock);
  const traffic = new SlotTraffic(fleet, targets);
  const store = new MemoryStore();
  const logger = makeLogger();
  const seen = servingView(fleet, traffic);
  const ports: Ports = { ...seen, store, clock, logger };
  return { fleet, traffic, store, logger, ports };
}
