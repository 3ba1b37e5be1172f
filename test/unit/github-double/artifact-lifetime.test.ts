import { describe, expect, it } from 'vitest';
import {
  ArtifactService,
  runnerEnv,
  runtimeToken,
} from '../../support/github-double/artifact-double';
import type { AzuriteContainer } from '../../support/github-double/azurite';
import type { Violation } from '../../support/github-double/openapi';
import { GitHubState, jobBackendId } from '../../support/github-double/state';

// Issue 12 items 4 and 5: what GitHub documents beyond the happy path. Artifacts expire (the
// repository's retention caps every upload), and the runner-internal artifact service of a
// re-run attempt does not serve attempt 1's artifacts the way the public REST API does.

const DAY = 86_400_000;

/** Blob storage stand-in: URLs only (no bytes move in these tests). */
const storage = (): Promise<AzuriteContainer> =>
  Promise.resolve({
    uploadUrl: (blob: string) => `http://blob.test/${blob}?sig=up`,
    downloadUrl: (blob: string) => `http://blob.test/${blob}?sig=down`,
    info: () => Promise.resolve({ size: 3 }),
    delete: () => Promise.resolve(),
  } as unknown as AzuriteContainer);

function setup() {
  const state = new GitHubState('acme', 'shop');
  const violations: Violation[] = [];
  const service = new ArtifactService(state, storage, (v) => violations.push(v));
  /** A job of attempt `attempt` of run 9: its Twirp calls. */
  const job = (attempt: number, name = 'deploy') => {
    runnerEnv({ url: 'http://127.0.4.9:1', token: 't', state }, { runId: 9, jobId: name, attempt });
    const ids = {
      workflow_run_backend_id: state.backendIdOf(9, attempt),
      workflow_job_run_backend_id: jobBackendId(9, name),
    };
    const auth = `Bearer ${runtimeToken(ids.workflow_run_backend_id, ids.workflow_job_run_backend_id)}`;
    const call = (method: string, body: Record<string, unknown> = {}) =>
      service.handle(method, auth, JSON.stringify({ ...ids, ...body }));
    return {
      ids,
      call,
      async upload(name: string, expiresAt?: Date) {
        const created = await call('CreateArtifact', {
          name,
          version: 7,
          ...(expiresAt ? { expires_at: expiresAt.toISOString() } : {}),
        });
        expect(created.status).toBe(200);
        expect((await call('FinalizeArtifact', { name, size: '3', hash: 'sha256:x' })).status).toBe(
          200,
        );
      },
      async list(): Promise<string[]> {
        const r = await call('ListArtifacts');
        return (r.body.artifacts as { name: string }[]).map((a) => a.name);
      },
    };
  };
  return { state, violations, job };
}

describe('artifact attempt scoping (runner-internal service)', () => {
  it('hidden (default): a re-run attempt lists none of attempt 1, REST lists them all', async () => {
    const { state, violations, job } = setup();
    await job(1).upload('rollgate-shop-a1-roll-1');
    const a2 = job(2, 'continue');
    expect(await a2.list()).toEqual([]);
    await a2.upload('rollgate-shop-a2-continue-2');
    expect(await a2.list()).toEqual(['rollgate-shop-a2-continue-2']);
    expect(await job(1).list()).toEqual(['rollgate-shop-a1-roll-1']);
    // The public REST representation is the run's: both attempts.
    expect(
      state.artifacts.filter((a) => a.runId === 9).map((a) => state.artifactJson(a).name),
    ).toEqual(['rollgate-shop-a1-roll-1', 'rollgate-shop-a2-continue-2']);
    expect(violations).toEqual([]);
  });

  it('listed-not-signed: attempt 1 is listed, but its signed URL is 404 "workflow run not found"', async () => {
    const { state, violations, job } = setup();
    await job(1).upload('rollgate-shop-a1-roll-1');
    state.artifactAttemptScope = 'listed-not-signed';
    const a2 = job(2);
    const listed = await a2.call('ListArtifacts');
    const [artifact] = listed.body.artifacts as Record<string, string>[];
    expect(artifact).toMatchObject({ name: 'rollgate-shop-a1-roll-1' });
    expect(artifact!.workflow_run_backend_id).toBe(state.backendIdOf(9, 1));
    const signed = await a2.call('GetSignedArtifactURL', {
      workflow_run_backend_id: artifact!.workflow_run_backend_id,
      workflow_job_run_backend_id: artifact!.workflow_job_run_backend_id,
      name: artifact!.name,
    });
    expect(signed).toEqual({
      status: 404,
      body: { code: 'not_found', msg: 'workflow run not found' },
    });
    expect(violations).toEqual([]);
  });

  it('run: the old happy path serves every attempt', async () => {
    const { state, job } = setup();
    await job(1).upload('a');
    state.artifactAttemptScope = 'run';
    const a2 = job(2);
    const [artifact] = (await a2.call('ListArtifacts')).body.artifacts as Record<string, string>[];
    const signed = await a2.call('GetSignedArtifactURL', {
      workflow_run_backend_id: artifact!.workflow_run_backend_id,
      workflow_job_run_backend_id: artifact!.workflow_job_run_backend_id,
      name: 'a',
    });
    expect(signed.status).toBe(200);
  });
});

describe('artifact expiry', () => {
  it('the repository retention caps a longer expiry and is the default; the runner says it', async () => {
    const { state, job } = setup();
    state.retentionDays = 7;
    const a1 = job(1);
    const start = state.now().getTime();
    await a1.upload('asked-90-days', new Date(start + 90 * DAY));
    await a1.upload('asked-nothing');
    await a1.upload('asked-1-day', new Date(start + DAY));
    const days = state.artifacts.map((a) => Math.round((Date.parse(a.expiresAt) - start) / DAY));
    expect(days).toEqual([7, 7, 1]);
    const env = runnerEnv({ url: 'http://127.0.4.9:1', token: 't', state }, { runId: 9 });
    expect(env.GITHUB_RETENTION_DAYS).toBe('7');
  });

  it('aged past retention: expired in REST, gone from the internal list, no signed URL', async () => {
    const { state, violations, job } = setup();
    const a1 = job(1);
    await a1.upload('old');
    await a1.upload('new');
    expect(state.artifacts.map((a) => state.artifactJson(a).expired)).toEqual([false, false]);
    state.ageArtifacts(91 * DAY, (a) => a.name === 'old');
    expect(state.artifacts.map((a) => state.artifactJson(a).expired)).toEqual([true, false]);
    expect(await a1.list()).toEqual(['new']);
    const signed = await a1.call('GetSignedArtifactURL', { name: 'old' });
    expect(signed).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(violations).toEqual([]);
  });
});
