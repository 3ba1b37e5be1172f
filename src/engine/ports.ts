import type { Clock } from '../model/clock';
import type { Logger } from '../model/logger';
import type { PackageRef, Slot, Target } from '../model/types';
import type { Ledger, ReleaseEvent } from './ledger';

/** What a host says about itself (host truth, rule 4). */
export interface HostProbe {
  /** Version `current` points at, or null when nothing is installed. */
  current: string | null;
  /** Complete releases kept on the host, oldest first. */
  releases: string[];
  /** The host lock (`<docBase>/.rollgate/lock`), when one is there. */
  lock?: HostLock | null;
  /** S7: the slot in traffic, on a side-by-side host that has flipped at least once. */
  serving?: Slot;
  /** S7: what each slot of a side-by-side host holds, and whether its process runs. */
  slots?: Partial<Record<Slot, { version: string; running: boolean }>>;
}

/** What a host lock file says; fields missing when it could not be read. */
export interface HostLock {
  deploymentId?: string;
  who?: string;
  since?: string;
}

export interface HealthResult {
  ok: boolean;
  /** Version the app reports, when it reports one. */
  version?: string;
  detail: string;
}

export interface LockOwner {
  /** Deployment id: a lock left by a killed run of the same deployment is taken over. */
  deploymentId: string;
  who: string;
  /**
   * A lock of this other deployment is replaced (it is ABORTED or ended per the record, so it
   * runs nowhere); any other holder is still refused.
   */
  takeOver?: string;
}

/**
 * Port: acts on one target's host. Local directories, SSH, … An aborted `signal` (a hard stop)
 * ends the remote command at once (channel closed, child killed) and rejects.
 */
export interface Transport {
  probe(target: Target, signal?: AbortSignal): Promise<HostProbe>;
  /** Opens the connection later calls use, changing and reading nothing (optional). */
  connect?(target: Target, signal?: AbortSignal): Promise<void>;
  /**
   * Takes the host lock. May resolve with what the host says read under that lock, in the same
   * round trip (what `probe` would answer now); else the caller probes.
   */
  lock(target: Target, owner: LockOwner, signal?: AbortSignal): Promise<HostProbe | void>;
  /** True when it removed this deployment's lock (false or nothing: there was none of it). */
  unlock(target: Target, owner: LockOwner): Promise<boolean | void>;
  /** Puts the package in `releases/<version>` unless a complete copy is there. */
  download(target: Target, pkg: PackageRef, signal?: AbortSignal): Promise<{ skipped: boolean }>;
  /**
   * Stops the app, switches `current` to `releases/<version>`, starts it; prunes beyond `keep`,
   * never a version in `protect` (what a rollback returns to).
   */
  install(
    target: Target,
    version: string,
    signal?: AbortSignal,
    options?: {
      protect?: readonly string[];
      /** What the host said under this host lock, so the install need not ask again. */
      probe?: HostProbe;
    },
  ): Promise<{ alreadyRunning: boolean }>;
  health(target: Target, signal?: AbortSignal): Promise<HealthResult>;
  /**
   * S7, the host's half of the flip (a target with `slot` set): `current` names that slot's
   * `version` and the slot serves; the other slot is stopped after `keepWarmMs` (0: now).
   * `install` of a slot target starts the version in that slot, beside the serving one.
   */
  serve?(
    target: Target,
    version: string,
    keepWarmMs: number,
    signal?: AbortSignal,
    options?: {
      /** Release this owner's host lock once the host serves from the slot (same round trip). */
      unlock?: LockOwner;
    },
  ): Promise<{ unlocked?: boolean } | void>;
  close(): Promise<void>;
}

/**
 * What the load balancer says about a target. `none`: the group has no load balancer
 * (`traffic.kind: none`), so a serving host is in traffic. `unknown`: there is one and it could
 * not say (down and degraded, or a command LB without a status script) — never "in traffic".
 */
export type TrafficStatus = 'up' | 'down' | 'drain' | 'maint' | 'unknown' | 'none';

/** A markdown or markup the LB did not do: skipped because it is down and the group degrades (F5). */
export interface TrafficSkipped {
  skipped: string;
}

/** Port: takes a target out of traffic and puts it back. */
export interface Traffic {
  readonly name: string;
  status(target: Target): Promise<TrafficStatus>;
  /** Resolves with `{ skipped }` when it went on without the LB (degraded), never silently. */
  markdown(target: Target, signal?: AbortSignal): Promise<TrafficSkipped | void>;
  markup(target: Target, signal?: AbortSignal): Promise<TrafficSkipped | void>;
  close(): Promise<void>;
}

/** Port: the record. A local directory, GitHub deployments + artifacts, … */
export interface Store {
  load(group: string): Promise<Ledger | null>;
  /** May coalesce writes; `flush` makes them durable. */
  save(ledger: Ledger): Promise<void>;
  append(group: string, event: ReleaseEvent): Promise<void>;
  events(group: string): Promise<ReleaseEvent[]>;
  flush(): Promise<void>;
  /** A stop asked for by another process (U4). */
  requestStop(group: string, by: string): Promise<void>;
  stopRequested(group: string): Promise<string | null>;
  clearStop(group: string): Promise<void>;
  /** One run per group at a time. */
  acquireRun(group: string, who: string): Promise<() => Promise<void>>;
  /**
   * Who holds the run lock now, and whether that process lives (null: nobody holds it). A
   * store that cannot tell leaves this out; `status` then does not judge the process.
   */
  runHolder?(group: string): Promise<RunHolder | null>;
}

export interface RunHolder {
  who: string;
  /** False when the lock's process is gone (a killed run); null when it cannot be told. */
  alive: boolean | null;
  since: string;
}

/** The engine's logger: release events may go to a sink of their own. */
export interface ReleaseLogger extends Logger {
  /** When present, release events come here instead (a CI log can fold each batch). */
  event?(event: ReleaseEvent, line: string): void;
}

export interface Ports {
  transport: Transport;
  traffic: Traffic;
  store: Store;
  clock: Clock;
  logger: ReleaseLogger;
}
