import type { Ports } from '../../src/engine/ports';
import { LockHeldError, StepError } from '../../src/model/errors';
import type { DeploymentConfig, Group, PackageRef, Target } from '../../src/model/types';
import type { Ledger, ReleaseEvent } from '../../src/engine/ledger';
import type { Clock } from '../../src/model/clock';
import type { Logger } from '../../src/model/logger';
import type {
  HealthResult,
  HostProbe,
  LockOwner,
  Store,
  Traffic,
  TrafficStatus,
  Transport,
} from '../../src/engine/ports';

interface FakeHost {
  current: string | null;
  releases: string[];
  lock: LockOwner | null;
  running: boolean;
}

/** An in-memory fleet: hosts with releases, a current link and an app that is healthy or not. */
export class FakeFleet implements Transport {
  readonly hosts = new Map<string, FakeHost>();
  readonly calls: { op: string; target: string; version?: string }[] = [];
  /** Versions whose app never becomes healthy. */
  readonly broken = new Set<string>();
  /** target id → step that throws (once per entry in the count). */
  readonly failures = new Map<string, { op: 'download' | 'install' | 'probe'; times: number }>();
  /** Called inside install: lets a test stop or kill mid-batch. */
  onInstall: (target: Target) => Promise<void> | void = () => undefined;

  constructor(
    private readonly clock: Clock,
    private readonly stepMs = 0,
  ) {}

  host(id: string): FakeHost {
    let h = this.hosts.get(id);
    if (!h) {
      h = { current: null, releases: [], lock: null, running: false };
      this.hosts.set(id, h);
    }
    return h;
  }

  private async step(
    op: 'download' | 'install' | 'probe',
    target: Target,
    version?: string,
    signal?: AbortSignal,
  ) {
    this.calls.push({ op, target: target.id, ...(version ? { version } : {}) });
    if (this.stepMs > 0) await this.clock.sleep(this.stepMs, signal);
    const f = this.failures.get(target.id);
    if (f && f.op === op && f.times > 0) {
      f.times -= 1;
      throw new StepError(`${op} failed on ${target.id} (injected)`);
    }
  }

  async probe(target: Target, signal?: AbortSignal): Promise<HostProbe> {
    await this.step('probe', target, undefined, signal);
    const h = this.host(target.id);
    const lock = h.lock ? { deploymentId: h.lock.deploymentId, who: h.lock.who } : null;
    return { current: h.current, releases: [...h.releases], lock };
  }

  async lock(target: Target, owner: LockOwner): Promise<void> {
    const h = this.host(target.id);
    const mine = h.lock?.deploymentId === owner.deploymentId;
    const takeOver = owner.takeOver !== undefined && h.lock?.deploymentId === owner.takeOver;
    if (h.lock && !mine && !takeOver) {
      throw new LockHeldError(`host ${target.id}`, h.lock.who, 'earlier', h.lock.deploymentId);
    }
    h.lock = { deploymentId: owner.deploymentId, who: owner.who };
  }

  async unlock(target: Target, owner: LockOwner): Promise<boolean> {
    const h = this.host(target.id);
    if (h.lock?.deploymentId !== owner.deploymentId) return false;
    h.lock = null;
    return true;
  }

  async download(
    target: Target,
    pkg: PackageRef,
    signal?: AbortSignal,
  ): Promise<{ skipped: boolean }> {
    const h = this.host(target.id);
    if (h.releases.includes(pkg.version)) return { skipped: true };
    await this.step('download', target, pkg.version, signal);
    h.releases.push(pkg.version);
    return { skipped: false };
  }

  /** What each install was told to keep whatever `keep` says (F4), by target. */
  readonly protectedAt = new Map<string, readonly string[]>();

  async install(
    target: Target,
    version: string,
    signal?: AbortSignal,
    options: { protect?: readonly string[] } = {},
  ): Promise<{ alreadyRunning: boolean }> {
    this.protectedAt.set(target.id, options.protect ?? []);
    const h = this.host(target.id);
    if (h.current === version && h.running && !this.broken.has(version))
      return { alreadyRunning: true };
    await this.step('install', target, version, signal);
    await this.onInstall(target);
    if (!h.releases.includes(version))
      throw new StepError(`release ${version} is not on ${target.id}`);
    h.current = version;
    h.running = true;
    return { alreadyRunning: false };
  }

  async health(target: Target, signal?: AbortSignal): Promise<HealthResult> {
    if (signal?.aborted) throw signal.reason;
    const h = this.host(target.id);
    if (!h.running || !h.current) return { ok: false, detail: 'connection refused' };
    if (this.broken.has(h.current)) return { ok: false, version: h.current, detail: 'HTTP 500' };
    return { ok: true, version: h.current, detail: 'HTTP 200' };
  }

  async close(): Promise<void> {}

  count(op: string, version?: string): number {
    return this.calls.filter((c) => c.op === op && (version === undefined || c.version === version))
      .length;
  }
}

export class FakeTraffic implements Traffic {
  readonly name = 'fake-lb';
  readonly state = new Map<string, TrafficStatus>();
  readonly calls: string[] = [];
  down = false;

  async status(target: Target): Promise<TrafficStatus> {
    if (this.down) throw new Error('LB unreachable');
    return this.state.get(target.id) ?? 'up';
  }
  async markdown(target: Target): Promise<void> {
    if (this.down) throw new Error('LB unreachable');
    this.calls.push(`markdown ${target.id}`);
    this.state.set(target.id, 'maint');
  }
  async markup(target: Target): Promise<void> {
    if (this.down) throw new Error('LB unreachable');
    this.calls.push(`markup ${target.id}`);
    this.state.set(target.id, 'up');
  }
  async close(): Promise<void> {}
}

/** The store in memory; `shared` lets two "processes" see one record. */
export class MemoryStore implements Store {
  constructor(
    readonly shared: {
      ledgers: Map<string, string>;
      events: ReleaseEvent[];
      stop: Map<string, string>;
      runLock: Map<string, string>;
    } = { ledgers: new Map(), events: [], stop: new Map(), runLock: new Map() },
  ) {}
  async load(group: string): Promise<Ledger | null> {
    const s = this.shared.ledgers.get(group);
    return s ? (JSON.parse(s) as Ledger) : null;
  }
  async save(ledger: Ledger): Promise<void> {
    this.shared.ledgers.set(ledger.group, JSON.stringify(ledger));
  }
  async append(_group: string, event: ReleaseEvent): Promise<void> {
    this.shared.events.push(event);
  }
  async events(group: string): Promise<ReleaseEvent[]> {
    return this.shared.events.filter((e) => e.group === group);
  }
  async flush(): Promise<void> {}
  async requestStop(group: string, by: string): Promise<void> {
    this.shared.stop.set(group, by);
  }
  async stopRequested(group: string): Promise<string | null> {
    return this.shared.stop.get(group) ?? null;
  }
  async clearStop(group: string): Promise<void> {
    this.shared.stop.delete(group);
  }
  async acquireRun(group: string, who: string): Promise<() => Promise<void>> {
    const held = this.shared.runLock.get(group);
    if (held) throw new LockHeldError(`group ${group}`, held, 'now');
    this.shared.runLock.set(group, who);
    return async () => {
      this.shared.runLock.delete(group);
    };
  }
}

export const quietLogger: Logger & { lines: string[] } = {
  lines: [],
  info(l) {
    this.lines.push(l);
  },
  warn(l) {
    this.lines.push(l);
  },
  error(l) {
    this.lines.push(l);
  },
};

export function makeLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (l) => lines.push(l),
    warn: (l) => lines.push(l),
    error: (l) => lines.push(l),
  };
}

export function makeTargets(n: number, pulledOut: number[] = []): Target[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `web-${String(i + 1).padStart(2, '0')}`;
    return {
      id,
      host: id,
      address: `127.0.9.${i + 1}`,
      port: 8080,
      docBase: '/srv/app',
      pulledOut: pulledOut.includes(i + 1),
    };
  });
}

export function makeGroup(n: number, pulledOut: number[] = []): Group {
  return {
    name: 'shop',
    path: '/',
    docBase: '/srv/app',
    port: 8080,
    healthCheckUrl: '/health',
    keep: 5,
    service: { start: 'node server.js', stopTimeoutMs: 5000, env: {} },
    targets: makeTargets(n, pulledOut),
  };
}

export function makeConfig(over: Partial<DeploymentConfig> = {}): DeploymentConfig {
  return {
    sizing: { kind: 'ratio', maxUnavailable: 0.25 },
    bastionCount: 1,
    waitBetweenBatchesMs: 0,
    manual: false,
    startTimeoutMs: 10_000,
    verifyIntervalMs: 200,
    warmupMs: 0,
    skipVerify: false,
    prefetch: true,
    ...over,
  };
}

/** The package a fake host installs: only its version and path matter. */
export function fakePackage(version: string): PackageRef {
  return { version, path: `/pkgs/app-${version}.tgz` };
}

/** What `releaseThrough` needs of an engine. */
interface Releasing<R extends { phase: string }> {
  deploy(req: { version: string; package: PackageRef }): Promise<R>;
  bake(): Promise<unknown>;
  continue(): Promise<R>;
}

/** Deploy, bake and continue `version` (package: `fakePackage`); the deploy's result if it stopped. */
export async function releaseThrough<R extends { phase: string }>(
  engine: Releasing<R>,
  version: string,
): Promise<R> {
  const r = await engine.deploy({ version, package: fakePackage(version) });
  if (r.phase !== 'SMOKE_SUCCESS') return r;
  await engine.bake();
  return engine.continue();
}

/** Calls `fn` once, when the first event matching `when` is appended to `store`. */
export function onceAppended(
  store: Store,
  when: (e: ReleaseEvent) => boolean,
  fn: () => void | Promise<void>,
): void {
  const append = store.append.bind(store);
  let fired = false;
  store.append = async (g, e) => {
    await append(g, e);
    if (!fired && when(e)) {
      fired = true;
      await fn();
    }
  };
}

/** An engine's ports on `clock`: fake hosts (100 ms a command), the LB and the store in memory. */
export function fakePorts(clock: Clock) {
  const fleet = new FakeFleet(clock, 100);
  const traffic = new FakeTraffic();
  const store = new MemoryStore();
  const logger = makeLogger();
  const ports: Ports = { transport: fleet, traffic, store, clock, logger };
  return { fleet, traffic, store, logger, ports };
}

/**
 * A ledger whose release was cut mid-batch: web-01 back in traffic, web-02 verifying. What a
 * cancel or a killed runner leaves for the stop written into a copy of the record.
 */
export function midReleaseLedger(
  group: string,
  phase: 'ROLLING_OUT' | 'SUCCESS' = 'ROLLING_OUT',
): Ledger {
  return {
    schemaVersion: 1,
    group,
    openRun: 'alice',
    history: [],
    quarantined: {},
    current: {
      id: 'd1',
      group,
      kind: 'deploy',
      version: '2.0.0',
      fromVersion: '1.0.0',
      package: { version: '2.0.0' },
      config: makeConfig(),
      phase,
      by: 'alice',
      createdAt: 0,
      updatedAt: 0,
      batches: [{ index: 0, bastion: false, targets: ['web-01', 'web-02'] }],
      nextBatch: 0,
      targets: {
        'web-01': { id: 'web-01', batch: 0, state: 'MARKUP_SUCCESS', steps: {}, attempts: 0 },
        'web-02': { id: 'web-02', batch: 0, state: 'VERIFY_RUNNING', steps: {}, attempts: 0 },
      },
      brakeAccepted: 0,
      degraded: [],
    },
  };
}
