/**
 * The monitor (O1–O4): what the CLI command, the group-file section and the monitor-30m action
 * use. See spec.ts for the wiring in three lines.
 */
export {
  CHECK_KINDS,
  parseCheck,
  parseChecks,
  validateCheck,
  type BaselineSource,
  type Check,
  type CheckKind,
  type Direction,
  type Rule,
} from './checks';
export { formatValue, type Unit } from './format';
export { finalVerdict, type Verdict } from './judge';
export {
  MonitorQueryError,
  type MetricSource,
  type Point,
  type Sample,
  type Series,
} from './ports';
export { HttpProbe, PROBE_MEASURES, type HttpProbeOptions, type ProbeTarget } from './probe';
export { PrometheusClient, type PrometheusOptions } from './prometheus/client';
export { pushReleaseEvent, PushError, type ReleaseEventPush } from './pushgateway';
export {
  createSources,
  parseMonitorSpec,
  watchOptions,
  DEFAULT_INTERVAL_MS,
  DEFAULT_WINDOW_MS,
  type MonitorSpec,
} from './spec';
export { preflight, type PreflightResult } from './preflight';
export {
  validateWatch,
  watch,
  type CheckReport,
  type PollLine,
  type PollReport,
  type WatchOptions,
  type WatchResult,
} from './watch';
