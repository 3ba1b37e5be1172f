import { parseDuration } from '../model/duration';
import type { ReleaseEvent } from '../engine/ledger';

/** What is in flight, from the release events seen so far. */
export interface InFlight {
  /** target → the step state it runs and since when (ms). */
  running: Map<string, { state: string; since: number }>;
  /**
   * A wait between batches: what it waits for and when it ends, or (the package still on its
   * way to the next batch) since when.
   */
  waiting?: { what: string; until: number } | { what: string; since: number };
}

/** Follows the release events (pure): a target's `_RUNNING` state starts, any other ends it. */
export function track(flight: InFlight, e: ReleaseEvent, now: number): void {
  if (e.type === 'target' && e.target) {
    if (e.state?.endsWith('_RUNNING')) flight.running.set(e.target, { state: e.state, since: now });
    else flight.running.delete(e.target);
  }
  if (e.type === 'wait' && e.message.startsWith('waiting for ')) {
    // "waiting for the package to reach batch 3: …": no known end, so count up.
    flight.waiting = { what: e.message.split(':')[0]!, since: now };
  } else if (e.type === 'wait') {
    // "waiting 1m30s before batch 3": the engine writes the wait as formatMs spells it.
    const m = /^waiting (\S+) .*?(before (?:retry \d+, )?batch \d+)/.exec(e.message);
    flight.waiting = { what: m?.[2] ?? 'next batch', until: now + (m ? waitMs(m[1]!) : 0) };
  } else if (e.type === 'batch' || e.type === 'phase') {
    delete flight.waiting;
  }
}

function waitMs(text: string): number {
  try {
    return parseDuration(text, 'wait');
  } catch {
    return 0;
  }
}

/**
 * One line for a terminal while nothing else prints: the steps in flight with their elapsed
 * time, or the wait's countdown. Empty when nothing runs.
 */
export function progressLine(flight: InFlight, now: number, width = 100): string {
  const secs = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;
  let line = '';
  if (flight.running.size > 0) {
    const parts = [...flight.running].map(
      ([id, r]) => `${id} ${r.state.replace('_RUNNING', '').toLowerCase()} ${secs(now - r.since)}`,
    );
    line = `… ${parts.join(', ')}`;
  } else if (flight.waiting && 'since' in flight.waiting) {
    line = `… ${flight.waiting.what} ${secs(now - flight.waiting.since)}`;
  } else if (flight.waiting) {
    line = `… ${flight.waiting.what} in ${secs(flight.waiting.until - now)}`;
  }
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}
