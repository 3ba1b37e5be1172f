import { getOctokit } from '@actions/github';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  environmentForJob,
  jobWaits,
  protectionEnforced,
} from '../../support/github-double/approvals';
import {
  startGitHubDouble,
  violationLines,
  type GitHubDouble,
} from '../../support/github-double/github-double';

// Issue 12: the double models what GitHub documents beyond the happy path of the gates — the
// run's review history, environments with and without protection (and missing), and plans
// whose private repositories ignore required reviewers. Every request and response is checked
// against @octokit/openapi (violations stay empty).

type Octokit = ReturnType<typeof getOctokit>;
const owner = 'acme';
const repo = 'shop';
let double: GitHubDouble;
let bot: Octokit;
let alice: Octokit;
let bob: Octokit;

beforeAll(async () => {
  double = await startGitHubDouble({ owner, repo, host: '127.0.7.95' });
  bot = getOctokit(double.token, { baseUrl: double.url });
  double.state.addToken('alice-token', 'alice');
  double.state.addToken('bob-token', 'bob');
  alice = getOctokit('alice-token', { baseUrl: double.url });
  bob = getOctokit('bob-token', { baseUrl: double.url });
  for (const name of ['production-bake', 'production']) {
    double.state.setEnvironment(name, {
      reviewers: [
        { type: 'User', login: 'alice' },
        { type: 'User', login: 'bob' },
      ],
    });
  }
});

afterAll(async () => {
  await double?.stop();
});

afterEach(() => {
  expect(violationLines(double)).toEqual([]);
});

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    return (err as { status: number }).status;
  }
  throw new Error('expected the request to fail');
}

async function review(
  who: Octokit,
  runId: number,
  environment: string,
  state: 'approved' | 'rejected',
  comment: string,
): Promise<void> {
  double.state.requestApproval(runId, environment);
  const envId = double.state.environments.get(environment)!.id;
  await who.rest.actions.reviewPendingDeploymentsForRun({
    owner,
    repo,
    run_id: runId,
    environment_ids: [envId],
    state,
    comment,
  });
}

describe('the review history of a run (GET …/actions/runs/{run_id}/approvals)', () => {
  it('is empty when nobody reviewed, and 404 for a run that does not exist', async () => {
    double.state.run(9101);
    const none = await bot.rest.actions.getReviewsForRun({ owner, repo, run_id: 9101 });
    expect(none.status).toBe(200);
    expect(none.data).toEqual([]);
    expect(await statusOf(bot.rest.actions.getReviewsForRun({ owner, repo, run_id: 9199 }))).toBe(
      404,
    );
  });

  it('lists approved and rejected reviews with the reviewer, the comment and the environment, across attempts', async () => {
    double.state.run(9102);
    await review(alice, 9102, 'production-bake', 'approved', 'bastion looks good');
    await review(bob, 9102, 'production', 'rejected', 'error rate up on web-01');
    // "Re-run failed jobs": attempt 2 of the same run, its review joins the same history.
    double.state.run(9102, { attempt: 2 });
    await review(alice, 9102, 'production', 'approved', 'fixed, go');
    const res = await bot.rest.actions.getReviewsForRun({ owner, repo, run_id: 9102 });
    expect(
      res.data.map((r) => ({
        env: r.environments.map((e) => e.name),
        state: r.state,
        user: r.user.login,
        comment: r.comment,
      })),
    ).toEqual([
      {
        env: ['production-bake'],
        state: 'approved',
        user: 'alice',
        comment: 'bastion looks good',
      },
      { env: ['production'], state: 'rejected', user: 'bob', comment: 'error rate up on web-01' },
      { env: ['production'], state: 'approved', user: 'alice', comment: 'fixed, go' },
    ]);
    expect(res.data[0]!.environments[0]!.id).toBe(
      double.state.environments.get('production-bake')!.id,
    );
  });
});

describe('environments (GET …/environments/{environment_name})', () => {
  it('shows required reviewers on a protected one, no rules on an open one, 404 for a missing one', async () => {
    double.state.setEnvironment('staging');
    const prod = await bot.rest.repos.getEnvironment({
      owner,
      repo,
      environment_name: 'production-bake',
    });
    expect(prod.data.protection_rules?.map((r) => r.type)).toEqual(['required_reviewers']);
    const open = await bot.rest.repos.getEnvironment({ owner, repo, environment_name: 'staging' });
    expect(open.data.protection_rules).toEqual([]);
    expect(
      await statusOf(
        bot.rest.repos.getEnvironment({ owner, repo, environment_name: 'producton-bake' }),
      ),
    ).toBe(404);
  });

  it('a job naming a missing environment creates it, unprotected; it does not wait', () => {
    const env = environmentForJob(double.state, 'prodution');
    expect(env.reviewers).toEqual([]);
    expect(double.state.environments.has('prodution')).toBe(true);
    expect(jobWaits(double.state, env)).toBe(false);
    // Names are not case sensitive: the existing environment is found.
    expect(environmentForJob(double.state, 'PRODUCTION').name).toBe('production');
  });

  it('required reviewers hold a job in public repositories, and in private ones only with Enterprise', () => {
    const env = double.state.environments.get('production')!;
    const cases: [string, string, boolean][] = [];
    for (const visibility of ['public', 'private', 'internal'] as const) {
      for (const plan of ['free', 'pro', 'team', 'enterprise'] as const) {
        double.state.visibility = visibility;
        double.state.plan = plan;
        cases.push([visibility, plan, jobWaits(double.state, env)]);
        expect(protectionEnforced(double.state)).toBe(jobWaits(double.state, env));
      }
    }
    double.state.visibility = 'public';
    double.state.plan = 'free';
    expect(cases.filter(([, , waits]) => waits).map(([v, p]) => `${v}/${p}`)).toEqual([
      'public/free',
      'public/pro',
      'public/team',
      'public/enterprise',
      'private/enterprise',
      'internal/enterprise',
    ]);
  });
});
