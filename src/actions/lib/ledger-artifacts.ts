import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DefaultArtifactClient } from '@actions/artifact';

/**
 * The ledger (`state.json`), the release log (`events.ndjson`) and the GitHub ids travel between
 * jobs and runs as workflow artifacts. Artifacts belong to the run, not the attempt, and one name
 * twice in a run is refused (409): every upload gets its own name and readers take the newest.
 */
export const FILES = ['state.json', 'events.ndjson', 'github.json'] as const;

export interface FindIn {
  token: string;
  runId: number;
  owner: string;
  repo: string;
}

export function prefix(group: string): string {
  return `rollgate-${group}-`;
}

export async function restoreLedger(
  group: string,
  groupDir: string,
  other?: FindIn,
): Promise<{ artifact: string | null }> {
  const client = new DefaultArtifactClient();
  const findBy = other
    ? {
        findBy: {
          token: other.token,
          workflowRunId: other.runId,
          repositoryOwner: other.owner,
          repositoryName: other.repo,
        },
      }
    : {};
  const { artifacts } = await client.listArtifacts(findBy);
  const mine = artifacts
    .filter((a) => a.name.startsWith(prefix(group)))
    .sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0) || a.id - b.id);
  const newest = mine.at(-1);
  if (!newest) return { artifact: null };
  await mkdir(groupDir, { recursive: true });
  await client.downloadArtifact(newest.id, { path: groupDir, ...findBy });
  return { artifact: newest.name };
}

export async function uploadLedger(
  group: string,
  groupDir: string,
  tag: { attempt: number; job: string; now: number },
): Promise<string> {
  const client = new DefaultArtifactClient();
  const name = `${prefix(group)}a${tag.attempt}-${tag.job.replace(/[^A-Za-z0-9_-]/g, '_')}-${tag.now}`;
  const files = FILES.map((f) => join(groupDir, f)).filter((f) => existsSync(f));
  await client.uploadArtifact(name, files, groupDir, { retentionDays: 90 });
  return name;
}

/** engine deployment id → GitHub deployment id, kept beside the ledger. */
export async function readIds(groupDir: string): Promise<Record<string, number>> {
  try {
    return JSON.parse(await readFile(join(groupDir, 'github.json'), 'utf8')) as Record<
      string,
      number
    >;
  } catch {
    return {};
  }
}

export async function writeIds(groupDir: string, ids: Map<string, number>): Promise<void> {
  await mkdir(groupDir, { recursive: true });
  await writeFile(join(groupDir, 'github.json'), JSON.stringify(Object.fromEntries(ids), null, 1));
}
