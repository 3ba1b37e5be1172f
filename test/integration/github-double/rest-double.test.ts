import { getOctokit } from '@actions/github';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGitHubDouble, type GitHubDouble } from '../../support/github-double/github-double';

type Octokit = ReturnType<typeof getOctokit>;

let double: GitHubDouble;
let octokit: Octokit;
const owner = 'acme';
const repo = 'shop';

beforeAll(async () => {
  double = await startGitHubDouble({ owner, repo, host: '127.0.4.2' });
  octokit = getOctokit(double.token, { baseUrl: double.url });
});

afterAll(async () => {
  await double.stop();
});

afterEach(() => {
  expect(double.violations.map((v) => v.message)).toEqual([]);
});

async function statusError(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    return (err as { status: number }).status;
  }
  throw new Error('expected the request to fail');
}

describe('deployments and statuses', () => {
  it('walks a deployment through queued → in_progress → success and retires the previous one', async () => {
    double.state.setRef('v1.0.0', 'a'.repeat(40));
    double.state.setRef('v1.1.0', 'b'.repeat(40));
    const first = await octokit.rest.repos.createDeployment({
      owner,
      repo,
      ref: 'v1.0.0',
      environment: 'staging',
      auto_merge: false,
      required_contexts: [],
      payload: { release: 'r1' },
      description: 'first',
    });
    expect(first.status).toBe(201);
    if (!('id' in first.data)) throw new Error('expected a deployment');
    expect(first.data.sha).toBe('a'.repeat(40));
    expect(first.data.creator?.login).toBe('github-actions[bot]');
    await octokit.rest.repos.createDeploymentStatus({
      owner,
      repo,
      deployment_id: first.data.id,
      state: 'success',
    });

    const second = await octokit.rest.repos.createDeployment({
      owner,
      repo,
      ref: 'v1.1.0',
      environment: 'staging',
      auto_merge: false,
      required_contexts: [],
    });
    if (!('id' in second.data)) throw new Error('expected a deployment');
    const id = second.data.id;
    for (const state of ['queued', 'in_progress'] as const) {
      const s = await octokit.rest.repos.createDeploymentStatus({
        owner,
        repo,
        deployment_id: id,
        state,
      });
      expect(s.data.state).toBe(state);
    }
    const done = await octokit.rest.repos.createDeploymentStatus({
      owner,
      repo,
      deployment_id: id,
      state: 'success',
      description: 'all batches healthy',
      log_url: 'https://github.com/acme/shop/actions/runs/42',
      environment_url: 'https://staging.shop.example',
    });
    expect(done.data).toMatchObject({
      state: 'success',
      description: 'all batches healthy',
      log_url: 'https://github.com/acme/shop/actions/runs/42',
      target_url: 'https://github.com/acme/shop/actions/runs/42',
      environment_url: 'https://staging.shop.example',
      environment: 'staging',
    });
    expect(done.headers.location).toBe(done.data.url);

    const statuses = await octokit.rest.repos.listDeploymentStatuses({
      owner,
      repo,
      deployment_id: id,
    });
    expect(statuses.data.map((s) => s.state)).toEqual(['success', 'in_progress', 'queued']);

    const old = await octokit.rest.repos.listDeploymentStatuses({
      owner,
      repo,
      deployment_id: first.data.id,
    });
    expect(old.data.map((s) => s.state)).toEqual(['inactive', 'success']);
  });

  it('keeps the earlier deployment active when auto_inactive is false, and other environments alone', async () => {
    const make = async (environment: string): Promise<number> => {
      const r = await octokit.rest.repos.createDeployment({
        owner,
        repo,
        ref: 'main',
        environment,
        auto_merge: false,
        required_contexts: [],
      });
      if (!('id' in r.data)) throw new Error('expected a deployment');
      return r.data.id;
    };
    const a = await make('canary');
    const other = await make('eu');
    await octokit.rest.repos.createDeploymentStatus({
      owner,
      repo,
      deployment_id: a,
      state: 'success',
    });
    await octokit.rest.repos.createDeploymentStatus({
      owner,
      repo,
      deployment_id: other,
      state: 'success',
    });
    const b = await make('canary');
    await octokit.rest.repos.createDeploymentStatus({
      owner,
      repo,
      deployment_id: b,
      state: 'success',
      auto_inactive: false,
    });
    expect(double.state.latestState(double.state.deployment(a)!)).toBe('success');
    expect(double.state.latestState(double.state.deployment(other)!)).toBe('success');
    const c = await make('canary');
    await octokit.rest.repos.createDeploymentStatus({
      owner,
      repo,
      deployment_id: c,
      state: 'success',
    });
    expect(double.state.latestState(double.state.deployment(a)!)).toBe('inactive');
    expect(double.state.latestState(double.state.deployment(b)!)).toBe('inactive');
    expect(double.state.latestState(double.state.deployment(other)!)).toBe('success');
  });

  it('lists deployments newest first with filters and pagination', async () => {
    const staging = await octokit.rest.repos.listDeployments({
      owner,
      repo,
      environment: 'staging',
    });
    expect(staging.data.map((d) => d.ref)).toEqual(['v1.1.0', 'v1.0.0']);
    const bySha = await octokit.rest.repos.listDeployments({ owner, repo, sha: 'a'.repeat(40) });
    expect(bySha.data).toHaveLength(1);
    const byTask = await octokit.rest.repos.listDeployments({ owner, repo, task: 'migrate' });
    expect(byTask.data).toEqual([]);
    const all = await octokit.paginate(octokit.rest.repos.listDeployments, {
      owner,
      repo,
      per_page: 2,
    });
    expect(all.map((d) => d.id)).toEqual(double.state.deployments.map((d) => d.id).reverse());
    const one = await octokit.rest.repos.getDeployment({ owner, repo, deployment_id: all[0]!.id });
    expect(one.data.id).toBe(all[0]!.id);
  });

  it('answers like GitHub: unknown ref 422, missing deployment 404, long description 422', async () => {
    expect(
      await statusError(
        octokit.rest.repos.createDeployment({ owner, repo, ref: 'nope', required_contexts: [] }),
      ),
    ).toBe(422);
    expect(
      await statusError(octokit.rest.repos.getDeployment({ owner, repo, deployment_id: 1 })),
    ).toBe(404);
    const d = double.state.deployments[0]!;
    expect(
      await statusError(
        octokit.rest.repos.createDeploymentStatus({
          owner,
          repo,
          deployment_id: d.id,
          state: 'failure',
          description: 'x'.repeat(141),
        }),
      ),
    ).toBe(422);
    expect(await statusError(octokit.rest.repos.listDeployments({ owner: 'other', repo }))).toBe(
      404,
    );
  });
});

describe('environments and pending deployments', () => {
  it('shows required reviewers and wait timers as protection rules', async () => {
    double.state.setEnvironment('production', {
      reviewers: [
        { type: 'User', login: 'alice' },
        { type: 'Team', slug: 'release-managers', members: ['bob'] },
      ],
      preventSelfReview: true,
      waitTimer: 5,
    });
    const env = await octokit.rest.repos.getEnvironment({
      owner,
      repo,
      environment_name: 'production',
    });
    const rules = env.data.protection_rules ?? [];
    expect(rules.map((r) => r.type)).toEqual(['wait_timer', 'required_reviewers']);
    const reviewers = rules.find((r) => r.type === 'required_reviewers');
    expect(
      reviewers && 'reviewers' in reviewers ? reviewers.reviewers?.map((r) => r.type) : [],
    ).toEqual(['User', 'Team']);
    const all = await octokit.rest.repos.getAllEnvironments({ owner, repo });
    expect(all.data.total_count).toBe(double.state.environments.size);
    expect(all.data.environments?.map((e) => e.name)).toContain('staging');
    expect(
      await statusError(
        octokit.rest.repos.getEnvironment({ owner, repo, environment_name: 'nope' }),
      ),
    ).toBe(404);
  });

  it('lists a waiting job and lets a reviewer approve it', async () => {
    double.state.run(7001, { headBranch: 'main' });
    double.state.requestApproval(7001, 'production');
    double.state.addToken('alice-token', 'alice');
    const asAlice = getOctokit('alice-token', { baseUrl: double.url });

    const seenByBot = await octokit.rest.actions.getPendingDeploymentsForRun({
      owner,
      repo,
      run_id: 7001,
    });
    expect(seenByBot.data).toHaveLength(1);
    expect(seenByBot.data[0]).toMatchObject({
      environment: { name: 'production' },
      wait_timer: 5,
      current_user_can_approve: false,
    });
    const seenByAlice = await asAlice.rest.actions.getPendingDeploymentsForRun({
      owner,
      repo,
      run_id: 7001,
    });
    expect(seenByAlice.data[0]?.current_user_can_approve).toBe(true);

    const envId = seenByAlice.data[0]!.environment.id!;
    expect(
      await statusError(
        octokit.rest.actions.reviewPendingDeploymentsForRun({
          owner,
          repo,
          run_id: 7001,
          environment_ids: [envId],
          state: 'approved',
          comment: 'bot cannot approve',
        }),
      ),
    ).toBe(422);
    const approved = await asAlice.rest.actions.reviewPendingDeploymentsForRun({
      owner,
      repo,
      run_id: 7001,
      environment_ids: [envId],
      state: 'approved',
      comment: 'Ship it!',
    });
    expect(approved.data.map((d) => d.environment)).toEqual(['production']);
    const after = await octokit.rest.actions.getPendingDeploymentsForRun({
      owner,
      repo,
      run_id: 7001,
    });
    expect(after.data).toEqual([]);
    expect(double.state.runs.get(7001)?.reviews).toMatchObject([
      { user: 'alice', state: 'approved' },
    ]);
  });
});

describe('the contract checks', () => {
  it('rejects a request without a token with 401 and records it', async () => {
    const res = await fetch(`${double.url}/repos/${owner}/${repo}/deployments`);
    expect(res.status).toBe(401);
    expect(double.violations.map((v) => v.part)).toEqual(['auth']);
    double.violations.length = 0;
  });

  it('rejects a body that breaks the schema with 422 and a readable violation', async () => {
    const d = double.state.deployments[0]!;
    const res = await fetch(`${double.url}/repos/${owner}/${repo}/deployments/${d.id}/statuses`, {
      method: 'POST',
      headers: { authorization: `token ${double.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'done' }),
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { message: string }).message).toContain('/state');
    expect(double.violations.map((v) => v.message)).toEqual([
      expect.stringMatching(
        /^request repos\/create-deployment-status body \/state: must be one of/,
      ),
    ]);
    double.violations.length = 0;
  });

  it('answers 404 to a path GitHub does not have, and records it', async () => {
    const res = await fetch(`${double.url}/repos/${owner}/${repo}/deployment`, {
      headers: { authorization: `token ${double.token}` },
    });
    expect(res.status).toBe(404);
    expect(double.violations.map((v) => v.part)).toEqual(['route']);
    double.violations.length = 0;
  });

  it('catches its own response when state breaks the schema', async () => {
    const d = double.state.deployments[0]!;
    const saved = d.sha;
    (d as unknown as { sha: number }).sha = 42;
    await octokit.rest.repos.getDeployment({ owner, repo, deployment_id: d.id });
    d.sha = saved;
    expect(double.violations.map((v) => v.message)).toEqual([
      'response repos/get-deployment 200 body /sha: must be string',
    ]);
    double.violations.length = 0;
  });

  it('counts calls per operation', () => {
    expect(double.calls['repos/create-deployment-status']).toBeGreaterThanOrEqual(8);
    expect(double.restCallCount()).toBe(double.requests.length);
  });
});
