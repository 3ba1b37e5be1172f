import type { PackageRef, Target } from '../model/types';
import type { Ledger, ReleaseEvent } from './ledger';

/** What a host says about itself (host truth, rule 4). */
export interface HostProbe {
  /** Version `current` points at, or null when nothing is installed. */
  current: string | null;
  /** Complete releases kept on the host, oldest first. */
  releases: string[];
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
}

/** Port: acts on one target's host. Local directories, SSH, … */
export interface Transport {
  probe(target: Target): Promise<HostProbe>;
  lock(target: Target, owner: LockOwner): Promise<void>;
  unlock(target: Target, owner: LockOwner): Promise<void>;
  /** Puts the package in `releases/<version>` unless a complete copy is there. */
  download(target: Target, pkg: PackageRef): Promise<{ skipped: boolean }>;
  /** Stops the app, switches `current` to `releases/<version>`, starts it; prunes beyond `keep`. */
  install(target: Target, version: string): Promise<{ alreadyRunning: boolean }>;
  health(target: Target): Promise<HealthResult>;
  close(): Promise<void>;
}

/** What the load balancer says about a target. `unknown` when there is no LB or it is degraded. */
export type TrafficStatus = 'up' | 'down' | 'drain' | 'maint' | 'unknown';

/** Port: takes a target out of traffic and puts it back. */
export interface Traffic {
  readonly name: string;
  status(target: Target): Promise<TrafficStatus>;
  markdown(target: Target): Promise<void>;
  markup(target: Target): Promise<void>;
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
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface Logger {
  /** Chatty detail (connections made): shown only when asked for (`--verbose`). */
  debug?(line: string): void;
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  /** When present, release events come here instead (a CI log can fold each batch). */
  event?(event: ReleaseEvent, line: string): void;
}

export interface Ports {
  transport: Transport;
  traffic: Traffic;
  store: Store;
  clock: Clock;
  logger: Logger;
}
