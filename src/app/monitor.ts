import { InputError } from '../model/errors';
import type { RunResult } from '../engine/engine';
import { parseDuration } from '../model/duration';
import { createSources, watch, watchOptions, type PollReport, type WatchResult } from '../monitor';
import type { Runtime } from './runtime';

export interface MonitorRequest {
  /** Overrides the group file's monitor.window (`--for 30m`). */
  forText?: string;
  intervalText?: string;
  /** On `degraded`: roll back through the engine (otherwise the caller fails). */
  rollbackOnDegraded: boolean;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Each poll as it ends (a live summary, the monitor bench). */
  onPoll?: (poll: PollReport) => void;
}

export interface MonitorOutcome {
  result: WatchResult;
  rollback: RunResult | null;
}

/**
 * O2: watch the release for its window; O4: the verdict goes on the release's timeline
 * (events.ndjson; the TimelineStore also pushes it to a Pushgateway when one is configured).
 */
export async function monitorRelease(rt: Runtime, req: MonitorRequest): Promise<MonitorOutcome> {
  const spec = rt.loaded.monitor;
  if (!spec) {
    throw new InputError('monitor', 'the group file has no monitor section: nothing to watch');
  }
  const opts = watchOptions(spec);
  if (req.forText) opts.windowMs = parseDuration(req.forText, '--for');
  if (req.intervalText) opts.intervalMs = parseDuration(req.intervalText, '--interval');
  if (opts.intervalMs > opts.windowMs) {
    throw new InputError('--interval', 'must be at most the window (--for)');
  }
  const { store, clock, logger } = rt.ports;
  const group = rt.loaded.group.name;
  const d = (await store.load(group))?.current ?? null;
  const sources = createSources(spec, {
    timer: { now: () => performance.now() },
    ...(req.fetch ? { fetch: req.fetch } : {}),
  });
  logger.info(
    `watching ${group}${d ? ` ${d.version}` : ''} for ${opts.windowMs / 60_000} min, a poll every ${opts.intervalMs / 1000} s: ${spec.checks.map((c) => c.name).join(', ')}`,
  );
  const result = await watch({
    ...opts,
    sources,
    clock,
    logger,
    ...(d ? { version: d.version, releasedAt: d.endedAt ?? d.createdAt } : {}),
    ...(d?.fromVersion ? { previousVersion: d.fromVersion } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
    ...(req.onPoll ? { onPoll: req.onPoll } : {}),
  });
  const line = `monitor ${result.verdict}: ${result.message}`;
  if (d) {
    await store.append(group, {
      at: new Date(clock.now()).toISOString(),
      group,
      deployment: d.id,
      type: 'monitor',
      message: line,
    });
    await store.flush();
  }
  let rollback: RunResult | null = null;
  if (result.verdict === 'degraded' && req.rollbackOnDegraded) {
    logger.warn(`${line} — rolling back`);
    rollback = await rt.engine.rollback();
  }
  return { result, rollback };
}
