/**
 * The ledger (`state.json`), the release log (`events.ndjson`) and the GitHub ids travel between
 * jobs and runs as workflow artifacts. Artifacts belong to the run, not the attempt, and one name
 * twice in a run is refused (409): every upload gets its own name and readers take the newest
 * (record.ts reads and writes them).
 */
export const FILES = ['state.json', 'events.ndjson', 'github.json'] as const;

/** Another run's artifacts, read by run id through the public REST API. */
export interface FindIn {
  token: string;
  runId: number;
  owner: string;
  repo: string;
}

export function prefix(group: string): string {
  return `rollgate-${group}-`;
}
