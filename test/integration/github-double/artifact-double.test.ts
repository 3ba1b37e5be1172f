import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  applyEnv,
  runnerEnv,
  startGitHubDouble,
  type GitHubDouble,
} from '../../support/github-double/github-double';

type ArtifactModule = typeof import('@actions/artifact');
type GithubModule = typeof import('@actions/github');

const owner = 'acme';
const repo = 'shop';
const RUN = 9001;

let double: GitHubDouble;
let dir: string;
let files: { path: string; bytes: Buffer }[];
let restoreEnv: (() => void) | undefined;
let restoreStdout: (() => void) | undefined;
let artifactLib: ArtifactModule;
let github: GithubModule;

/** @actions/core logs to stdout; hold it back and show it only when the test fails. */
function captureStdout(onTestFailed: (fn: () => void) => void): () => void {
  const write = process.stdout.write.bind(process.stdout);
  const held: string[] = [];
  process.stdout.write = ((chunk: string | Uint8Array) => {
    held.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  onTestFailed(() => {
    write(held.join(''));
  });
  return () => {
    process.stdout.write = write;
  };
}

function asRunner(ids: { runId: number; jobId?: string; attempt?: number }): void {
  restoreEnv?.();
  restoreEnv = applyEnv(runnerEnv(double, ids));
}

beforeAll(async () => {
  double = await startGitHubDouble({ owner, repo, host: '127.0.4.3' });
  await double.storage();
  dir = await mkdtemp(join(tmpdir(), 'gh-artifact-double-'));
  await mkdir(join(dir, 'src', 'sub'), { recursive: true });
  files = [
    { path: 'release.json', bytes: Buffer.from(JSON.stringify({ version: '1.2.3' })) },
    { path: join('sub', 'payload.bin'), bytes: randomBytes(300_000) },
  ];
  for (const f of files) await writeFile(join(dir, 'src', f.path), f.bytes);
  // Both read GITHUB_API_URL / ACTIONS_* at import time or call time: import after the env is set.
  asRunner({ runId: RUN, jobId: 'build' });
  artifactLib = await import('@actions/artifact');
  github = await import('@actions/github');
});

afterAll(async () => {
  restoreEnv?.();
  await double?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(({ onTestFailed }) => {
  restoreStdout = captureStdout(onTestFailed);
  asRunner({ runId: RUN, jobId: 'build' });
});

afterEach(() => {
  restoreStdout?.();
  restoreEnv?.();
  restoreEnv = undefined;
  expect(double.violations.map((v) => v.message)).toEqual([]);
});

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function expectSameFiles(root: string): Promise<void> {
  for (const f of files) {
    // Digests: a deep toEqual over 300 kB costs half a second.
    expect({ [f.path]: sha256(await readFile(join(root, f.path))) }).toEqual({
      [f.path]: sha256(f.bytes),
    });
  }
}

describe('@actions/artifact against the double (azurite blobs)', () => {
  it('uploads two files, lists them and downloads them byte for byte', async () => {
    const client = new artifactLib.DefaultArtifactClient();
    const up = await client.uploadArtifact(
      'bundle',
      files.map((f) => join(dir, 'src', f.path)),
      join(dir, 'src'),
    );
    expect(up.id).toBeGreaterThan(0);
    expect(up.size).toBeGreaterThan(300_000);

    const list = await client.listArtifacts();
    expect(list.artifacts).toEqual([
      expect.objectContaining({
        name: 'bundle',
        id: up.id,
        size: up.size,
        digest: `sha256:${up.digest}`,
      }),
    ]);
    const got = await client.getArtifact('bundle');
    expect(got.artifact.id).toBe(up.id);

    const out = join(dir, 'download-internal');
    const down = await client.downloadArtifact(got.artifact.id, {
      path: out,
      expectedHash: `sha256:${up.digest}`,
    });
    expect(down.digestMismatch).toBe(false);
    await expectSameFiles(out);
    expect(double.calls['ArtifactService/CreateArtifact']).toBe(1);
  });

  it('refuses the same name twice in one run, even from a re-run attempt', async () => {
    asRunner({ runId: RUN, jobId: 'build', attempt: 2 });
    const client = new artifactLib.DefaultArtifactClient();
    await expect(
      client.uploadArtifact('bundle', [join(dir, 'src', 'release.json')], join(dir, 'src')),
    ).rejects.toThrow(/409.*already exists/);
  });

  it('shows the run artifacts through REST and serves the zip through a 302 to azurite', async () => {
    const octokit = github.getOctokit(double.token, { baseUrl: double.url });
    const listed = await octokit.rest.actions.listWorkflowRunArtifacts({
      owner,
      repo,
      run_id: RUN,
      name: 'bundle',
    });
    expect(listed.data.total_count).toBe(1);
    const artifact = listed.data.artifacts[0]!;
    expect(artifact).toMatchObject({ name: 'bundle', expired: false, workflow_run: { id: RUN } });

    const redirect = await octokit.rest.actions.downloadArtifact({
      owner,
      repo,
      artifact_id: artifact.id,
      archive_format: 'zip',
      request: { redirect: 'manual' },
    });
    expect(redirect.status).toBe(302);
    const azurite = new URL((await double.storage()).azurite.url);
    expect(new URL(String(redirect.headers.location)).host).toBe(azurite.host);

    const followed = await octokit.rest.actions.downloadArtifact({
      owner,
      repo,
      artifact_id: artifact.id,
      archive_format: 'zip',
    });
    const zip = Buffer.from(followed.data as ArrayBuffer);
    expect(zip.subarray(0, 2).toString()).toBe('PK');
    expect(zip.length).toBe(artifact.size_in_bytes);
    expect(`sha256:${sha256(zip)}`).toBe(artifact.digest);
  });

  it('downloads from another run through REST like download-artifact with a token', async () => {
    asRunner({ runId: RUN + 1, jobId: 'deploy' });
    const client = new artifactLib.DefaultArtifactClient();
    const findBy = {
      token: double.token,
      workflowRunId: RUN,
      repositoryOwner: owner,
      repositoryName: repo,
    };
    const { artifact } = await client.getArtifact('bundle', { findBy });
    const out = join(dir, 'download-public');
    await client.downloadArtifact(artifact.id, { path: out, findBy });
    await expectSameFiles(out);
    expect((await client.listArtifacts()).artifacts).toEqual([]);
    expect(double.calls['actions/download-artifact']).toBeGreaterThanOrEqual(1);
  });

  it('deletes an artifact, after which the name is free again', async () => {
    const client = new artifactLib.DefaultArtifactClient();
    await client.deleteArtifact('bundle');
    expect((await client.listArtifacts()).artifacts).toEqual([]);
    const again = await client.uploadArtifact(
      'bundle',
      [join(dir, 'src', 'release.json')],
      join(dir, 'src'),
    );
    expect((await client.listArtifacts()).artifacts.map((a) => a.id)).toEqual([again.id]);
  });
});
