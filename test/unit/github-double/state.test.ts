import { describe, expect, it } from 'vitest';
import {
  ArtifactService,
  TWIRP_PREFIX,
  applyEnv,
  runnerEnv,
  runtimeToken,
} from '../../support/github-double/artifact-double';
import type { AzuriteContainer } from '../../support/github-double/azurite';
import type { Violation } from '../../support/github-double/openapi';
import { GitHubState, jobBackendId } from '../../support/github-double/state';

function decode(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

describe('deployment state', () => {
  it('retires only earlier successful deployments of the same environment on success', () => {
    const s = new GitHubState('acme', 'shop');
    const mk = (environment: string) =>
      s.createDeployment({ ref: 'main', sha: 'a'.repeat(40), environment, creator: 'bot' });
    const ok = mk('prod');
    const failed = mk('prod');
    const elsewhere = mk('staging');
    s.addStatus(ok, { state: 'success', creator: 'bot' });
    s.addStatus(failed, { state: 'failure', creator: 'bot' });
    s.addStatus(elsewhere, { state: 'success', creator: 'bot' });
    const next = mk('prod');
    s.addStatus(next, { state: 'in_progress', creator: 'bot' });
    expect(s.latestState(ok)).toBe('success');
    s.addStatus(next, { state: 'success', creator: 'bot' });
    expect([ok, failed, elsewhere, next].map((d) => s.latestState(d))).toEqual([
      'inactive',
      'failure',
      'success',
      'success',
    ]);
  });

  it('moves a deployment when a status names another environment', () => {
    const s = new GitHubState('acme', 'shop');
    const d = s.createDeployment({
      ref: 'main',
      sha: 'a'.repeat(40),
      environment: 'qa',
      creator: 'bot',
    });
    s.addStatus(d, { state: 'queued', environment: 'prod', creator: 'bot' });
    expect(d.environment).toBe('prod');
    expect(d.originalEnvironment).toBe('qa');
    expect(s.environments.has('prod')).toBe(true);
  });

  it('resolves branches, tags and full SHAs, and nothing else', () => {
    const s = new GitHubState('acme', 'shop');
    s.setRef('v2', 'b'.repeat(40));
    expect(s.resolveRef('main')).toMatch(/^[0-9a-f]{40}$/);
    expect(s.resolveRef('refs/tags/v2')).toBe('b'.repeat(40));
    expect(s.resolveRef('C'.repeat(40))).toBe('c'.repeat(40));
    expect(s.resolveRef('feature')).toBeUndefined();
  });

  it('only lets a job wait on an environment with protection rules', () => {
    const s = new GitHubState('acme', 'shop');
    expect(() => s.requestApproval(1, 'prod')).toThrow(/setEnvironment/);
    s.setEnvironment('prod');
    expect(() => s.requestApproval(1, 'prod')).toThrow(/no protection rules/);
    s.setEnvironment('prod', {
      reviewers: [{ type: 'Team', slug: 'ops', members: ['carol'] }],
      preventSelfReview: true,
    });
    s.requestApproval(1, 'prod');
    const run = s.run(1);
    const env = s.environments.get('prod')!;
    expect(s.canApprove('carol', env, run)).toBe(true);
    expect(s.canApprove('dave', env, run)).toBe(false);
    s.run(1, { actor: 'carol' });
    expect(s.canApprove('carol', env, run)).toBe(false);
  });
});

describe('runner environment', () => {
  it('builds a runtime token whose scp claim names the run and job backend ids', () => {
    const s = new GitHubState('acme', 'shop');
    const env = runnerEnv(
      { url: 'http://127.0.4.9:1234', token: 'ghs_x', state: s },
      { runId: 55, jobId: 'deploy', attempt: 3 },
    );
    expect(env).toMatchObject({
      ACTIONS_RESULTS_URL: 'http://127.0.4.9:1234/',
      GITHUB_API_URL: 'http://127.0.4.9:1234',
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'acme/shop',
      GITHUB_RUN_ID: '55',
      GITHUB_RUN_ATTEMPT: '3',
      GITHUB_TOKEN: 'ghs_x',
    });
    const scp = String(decode(env.ACTIONS_RUNTIME_TOKEN as string).scp);
    // The run backend id is the attempt's: a re-run's jobs get a new one (attempt 1 keeps the run's).
    const attempt3 = s.backendIdOf(55, 3);
    expect(attempt3).not.toBe(s.run(55).backendId);
    expect(scp).toContain(`Actions.Results:${attempt3}:${jobBackendId(55, 'deploy')}`);
    expect(s.resolveBackendId(attempt3)).toEqual({ run: s.run(55), attempt: 3 });
    expect(s.runByBackendId(s.run(55).backendId)?.attempt).toBe(3);
  });

  it('applies variables and restores the previous values', () => {
    process.env.GH_DOUBLE_TEST_A = 'before';
    delete process.env.GH_DOUBLE_TEST_B;
    const restore = applyEnv({ GH_DOUBLE_TEST_A: 'a', GH_DOUBLE_TEST_B: 'b' });
    expect([process.env.GH_DOUBLE_TEST_A, process.env.GH_DOUBLE_TEST_B]).toEqual(['a', 'b']);
    restore();
    expect([process.env.GH_DOUBLE_TEST_A, process.env.GH_DOUBLE_TEST_B]).toEqual([
      'before',
      undefined,
    ]);
    delete process.env.GH_DOUBLE_TEST_A;
  });
});

describe('results service (Twirp) checks', () => {
  const setup = () => {
    const state = new GitHubState('acme', 'shop');
    const run = state.run(77);
    const violations: Violation[] = [];
    const noStorage = (): Promise<AzuriteContainer> =>
      Promise.reject(new Error('no storage in unit tests'));
    const service = new ArtifactService(state, noStorage, (v) => violations.push(v));
    const job = jobBackendId(77, 'build');
    const auth = `Bearer ${runtimeToken(run.backendId, job)}`;
    const ids = { workflow_run_backend_id: run.backendId, workflow_job_run_backend_id: job };
    return { state, service, violations, auth, ids };
  };

  it('answers a well-formed ListArtifacts with no violations', async () => {
    const { service, violations, auth, ids } = setup();
    const reply = await service.handle(
      'ListArtifacts',
      auth,
      JSON.stringify({ ...ids, name_filter: 'x' }),
    );
    expect(reply).toEqual({ status: 200, body: { artifacts: [] } });
    expect(violations).toEqual([]);
  });

  it('rejects unknown fields with a 4xx (never 5xx) and a readable violation', async () => {
    const { service, violations, auth, ids } = setup();
    const reply = await service.handle(
      'ListArtifacts',
      auth,
      JSON.stringify({ ...ids, run_id: 77 }),
    );
    expect(reply.status).toBe(400);
    expect(reply.body.code).toBe('malformed');
    expect(violations.map((v) => v.message)).toEqual([
      expect.stringMatching(
        /^request ArtifactService\/ListArtifacts body \/: not a ListArtifactsRequest: .*run_id/,
      ),
    ]);
    expect(violations[0]?.path).toBe(`${TWIRP_PREFIX}ListArtifacts`);
  });

  it('requires the runtime token, and ids of that run', async () => {
    const { service, violations, auth, ids } = setup();
    expect((await service.handle('ListArtifacts', undefined, '{}')).status).toBe(401);
    const other = { ...ids, workflow_run_backend_id: 'someone-else' };
    expect((await service.handle('ListArtifacts', auth, JSON.stringify(other))).status).toBe(403);
    expect((await service.handle('Nope', auth, '{}')).status).toBe(404);
    expect(violations.map((v) => v.part)).toEqual(['body', 'body', 'body']);
  });

  it('answers an unknown artifact with not_found and no violation', async () => {
    const { service, violations, auth, ids } = setup();
    const reply = await service.handle(
      'GetSignedArtifactURL',
      auth,
      JSON.stringify({ ...ids, name: 'missing' }),
    );
    expect(reply).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(violations).toEqual([]);
  });
});
