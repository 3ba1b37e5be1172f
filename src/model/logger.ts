/** Port: lines for people, from any layer. The engine's richer one is `ReleaseLogger` (engine/ports). */
export interface Logger {
  /** Chatty detail (connections made): shown only when asked for (`--verbose`). */
  debug?(line: string): void;
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
}
