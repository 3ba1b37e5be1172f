import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  applyEnv,
  runnerEnv,
  startGitHubDouble,
  type GitHubDouble,
} from '../../support/github-double/github-double';

// Issue 12 items 4 and 5 with the real @actions/artifact client against the double: the
// repository retention lowers what an upload asks for, an expired artifact is `expired: true`
// in REST and 410 on download, and a re-run attempt sees attempt 1's artifacts only by run id
// through REST. Double on 127.0.7.102.

type ArtifactModule = typeof import('@actions/artifact');

const owner = 'acme';
const repo = 'shop';
const RUN = 9501;
const DAY = 86_400_000;

let double: GitHubDouble;
let dir: string;
let restoreEnv: (() => void) | undefined;
let lib: ArtifactModule;

function asRunner(ids: { runId: number; jobId?: string; attempt?: number }): void {
  restoreEnv?.();
  restoreEnv = applyEnv(runnerEnv(double, ids));
}

const findBy = () => ({
  token: double.token,
  workflowRunId: RUN,
  repositoryOwner: owner,
  repositoryName: repo,
});

beforeAll(async () => {
  double = await startGitHubDouble({ owner, repo, host: '127.0.7.102' });
  await double.storage();
  dir = await mkdtemp(join(tmpdir(), 'gh-artifact-lifetime-'));
  await writeFile(join(dir, 'state.json'), '{"v":1}');
  asRunner({ runId: RUN, jobId: 'roll' });
  lib = await import('@actions/artifact');
});

afterAll(async () => {
  restoreEnv?.();
  await double?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  expect(double.violations.map((v) => v.message)).toEqual([]);
});

describe('@actions/artifact and the lifetime of artifacts', () => {
  it('retentionDays above the repository retention is silently lowered to it', async () => {
    double.state.retentionDays = 7;
    try {
      asRunner({ runId: RUN, jobId: 'roll' });
      const client = new lib.DefaultArtifactClient();
      await client.uploadArtifact('asks-90', [join(dir, 'state.json')], dir, {
        retentionDays: 90,
      });
      const a = double.state.artifacts.find((x) => x.name === 'asks-90')!;
      const days = (Date.parse(a.expiresAt) - Date.parse(a.createdAt)) / DAY;
      expect(Math.round(days)).toBe(7);
    } finally {
      double.state.retentionDays = 90;
    }
  });

  it('a re-run attempt: the internal list is empty, by run id through REST it downloads', async () => {
    asRunner({ runId: RUN, jobId: 'roll' });
    await new lib.DefaultArtifactClient().uploadArtifact(
      'record-a1',
      [join(dir, 'state.json')],
      dir,
    );
    asRunner({ runId: RUN, jobId: 'continue', attempt: 2 });
    const client = new lib.DefaultArtifactClient();
    expect((await client.listArtifacts()).artifacts).toEqual([]);
    const listed = await client.listArtifacts({ findBy: findBy() });
    const a1 = listed.artifacts.find((a) => a.name === 'record-a1')!;
    expect(a1).toBeDefined();
    const out = join(dir, 'by-run-id');
    await client.downloadArtifact(a1.id, { path: out, findBy: findBy() });
    expect(await readFile(join(out, 'state.json'), 'utf8')).toBe('{"v":1}');
  });

  it('the reported variant: attempt 1 listed internally, but 404 "workflow run not found" on download', async () => {
    double.state.artifactAttemptScope = 'listed-not-signed';
    try {
      asRunner({ runId: RUN, jobId: 'continue', attempt: 2 });
      const client = new lib.DefaultArtifactClient();
      const a1 = (await client.listArtifacts()).artifacts.find((a) => a.name === 'record-a1')!;
      await expect(client.downloadArtifact(a1.id, { path: join(dir, 'internal') })).rejects.toThrow(
        /GetSignedArtifactURL.*404.*workflow run not found/,
      );
    } finally {
      double.state.artifactAttemptScope = 'hidden';
    }
  });

  it('aged past retention: expired in the REST list, 410 "Artifact has expired" on download', async () => {
    asRunner({ runId: RUN, jobId: 'later' });
    double.state.ageArtifacts(91 * DAY, (a) => a.name === 'record-a1');
    const { getOctokit } = await import('@actions/github');
    const octokit = getOctokit(double.token, { baseUrl: double.url });
    const listed = await octokit.rest.actions.listWorkflowRunArtifacts({
      owner,
      repo,
      run_id: RUN,
    });
    expect(listed.data.artifacts.find((a) => a.name === 'record-a1')).toMatchObject({
      expired: true,
    });
    const client = new lib.DefaultArtifactClient();
    const a1 = listed.data.artifacts.find((a) => a.name === 'record-a1')!;
    await expect(
      client.downloadArtifact(a1.id, { path: join(dir, 'expired'), findBy: findBy() }),
    ).rejects.toMatchObject({ status: 410 });
  });
});
