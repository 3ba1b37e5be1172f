/**
 * Port: time. The engine and the adapters wait through it, so a test runs minutes of bake in
 * milliseconds (engine/clock.ts) and the CLI and the actions pass the wall clock (clock/real.ts).
 */
export interface Clock {
  now(): number;
  /** Rejects with the signal's reason once it is aborted (a hard stop), timer cleared. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
