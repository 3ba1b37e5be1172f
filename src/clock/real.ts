import type { Clock } from '../engine/ports';

/** The wall clock, for the CLI and the actions. The engine only sees the Clock port. */
export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};
