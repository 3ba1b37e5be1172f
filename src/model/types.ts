/**
 * The release model (M1–M5). Pure data: no I/O, no GitHub, no clock.
 */

/** Percent as a fraction in (0, 1]. */
export type Ratio = number;

/** M1: a cluster — the instances of one application; the unit of release. */
export interface Group {
  name: string;
  site?: string;
  /** Virtual path the app is served under (informational; the LB owns routing). */
  path: string;
  /** Physical path on the host: releases/, current, .rollgate/ live under it. */
  docBase: string;
  port: number;
  /** A path (`/health`) polled on each target's address and port, or a full URL with {address} and {port}. */
  healthCheckUrl: string;
  /** Releases kept per host, the running and the previous one always included. */
  keep: number;
  service: ServiceSpec;
  targets: Target[];
}

/** How the app on a host is stopped and started (install step). */
export interface ServiceSpec {
  /** Command run in `<docBase>/current`; rollgate keeps its PID in `.rollgate/app.pid`. */
  start: string;
  /** Optional; default: TERM the recorded PID, then KILL after stopTimeoutMs. */
  stop?: string;
  stopTimeoutMs: number;
  /** Extra environment for the app (PORT, HOST, VERSION are always set). */
  env: Record<string, string>;
}

/** M5: one server or instance of the group. Several per host are allowed (own port/docBase). */
export interface Target {
  /** Unique within the group: the host name, or host:port for several instances on one host. */
  id: string;
  host: string;
  address: string;
  port: number;
  docBase: string;
  /** M6: pulled out of traffic by an operator; left out of planning. */
  pulledOut: boolean;
  /** Load-balancer server name (`backend/server`) when it differs from the id. */
  lbName?: string;
  /** Side-by-side (S7): the port of the second slot, `b`; slot `a` is `port`. */
  altPort?: number;
  /** Side-by-side: slot `b`'s load-balancer server name. Default: `<lbName or id>-b`. */
  altLbName?: string;
  /**
   * Set only on a slot's view of a target (`slotTarget`): port and lbName are that slot's; the
   * host keeps that slot's pid file and version apart from the other slot's.
   */
  slot?: Slot;
  /** The data centre the target is in: picks its package store (package.sources). */
  site?: string;
}

/** S7: the two slots of a side-by-side target. `a` is the in-place layout (port, app.pid). */
export type Slot = 'a' | 'b';

/** How a target takes a new version: stop-replace-start out of traffic, or beside the old one. */
export type Strategy = 'in-place' | 'side-by-side';

/** Batch sizing: a max-unavailable ratio, or an explicit pattern such as 10%+20%+70%. */
export type BatchSizing =
  | { kind: 'ratio'; maxUnavailable: Ratio }
  | { kind: 'pattern'; parts: Ratio[]; maxUnavailable: Ratio };

/**
 * F7: failure budgets beside the global brake (F2). `perBatch`: a batch whose own share of failed
 * hosts reaches it brakes the release before the next batch. `maxFailures`: the release brakes
 * once this many failures are counted (those a `continue` accepted are not).
 */
export interface FailureBudget {
  perBatch?: Ratio;
  maxFailures?: number;
}

/** M2: the few settings a user may change. Durations in milliseconds. */
export interface DeploymentConfig {
  sizing: BatchSizing;
  /** Hosts in the bastion batch (0 = no bastion, as in rollback). */
  bastionCount: number;
  /** Pin the bastion to these target ids (otherwise the first eligible targets). */
  bastionTargets?: string[];
  waitBetweenBatchesMs: number;
  /** S5 tail acceleration: the wait before batch 3 and later; defaults to waitBetweenBatchesMs. */
  waitFromBatch3Ms?: number;
  /** S5: each batch after the first roll-out batch waits for `continue`. */
  manual: boolean;
  startTimeoutMs: number;
  /** Poll interval while verifying. */
  verifyIntervalMs: number;
  /** Extra time after the first healthy answer before the target counts as verified. */
  warmupMs: number;
  /** Tars `ignore_verify_result`: one health probe, result recorded but not judged. */
  skipVerify: boolean;
  /** Fetch the package while the target still serves, before markdown (keeps the out-of-LB time short). */
  prefetch: boolean;
  /** F7: brakes beside the global ratio of `sizing.maxUnavailable` (none in a rollback, F4). */
  failureBudget?: FailureBudget;
  /** S7: absent in records written before strategies existed, which were in-place. */
  strategy?: Strategy;
  /** S7: how long the old slot runs on, out of traffic, after a flip (0 = stopped at the flip). */
  keepWarmMs?: number;
  /** The SSH transport ran without checking host keys (`transport.insecureIgnoreHostKey`): kept in the record. */
  insecureIgnoreHostKey?: true;
}

export type DeploymentKind = 'deploy' | 'rollback';

/** What is released: a tarball (issue 3) or an image (later). */
export interface PackageRef {
  version: string;
  /** The scan gate's decision for an image package (B4), kept with the release's record. */
  scan?: ScanGateRecord;
  /** Local path of the tarball on the machine running rollgate. */
  path?: string;
  /** sha256 hex, filled in when the package is resolved. */
  sha256?: string;
  /** The image, pinned: `registry/repository@sha256:<64 hex>`; the hosts pull it with podman. */
  image?: string;
  /** Each host fetches the tarball itself from a store near it; `sha256` is what it must match. */
  store?: PackageStoreRef;
}

/**
 * Where the hosts fetch a release's tarball (issue 17): one URL per site, `default` for a target
 * whose site has none; `{site}` in a URL is the target's site. No credential is kept here, only
 * the name of the variable holding it.
 */
export interface PackageStoreRef {
  kind: 'http' | 'oci';
  urls: Record<string, string>;
  /** The environment variable whose value is the Authorization header (package.auth). */
  authEnv?: string;
  /** What the sha256 was taken from: the artifact's manifest, or the copy rollgate read once. */
  checksumFrom: string;
}

/** The deploy gate's record of an image's scan (B4): what was found, and who overrode it why. */
export interface ScanGateRecord {
  digest: string;
  /** null: no verdict was found for this digest. */
  passed: boolean | null;
  /** One line for logs and statuses. */
  summary: string;
  scannedAt?: string;
  override?: { reason: string; by: string };
}

export const STEPS = ['markdown', 'download', 'install', 'verify', 'markup', 'bake'] as const;
export type Step = (typeof STEPS)[number];
