/**
 * The GitHub double beyond the happy path of environment gates:
 *
 * - `GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals` (the run's review history:
 *   approved and rejected reviews with the reviewer and the comment; GitHub gives no time and no
 *   attempt, and keeps every attempt's reviews in the one run);
 * - which protection rules GitHub enforces: required reviewers and wait timers only in public
 *   repositories, or with GitHub Enterprise ("If you are on a GitHub Free, GitHub Pro, or GitHub
 *   Team plan, other deployment protection rules, such as a wait timer or required reviewers,
 *   are only available for public repositories"). `GET …/environments/{name}` still shows the
 *   rules as configured (kept, but ignored, when a repository turns private);
 * - a job naming an environment that does not exist creates it, unprotected, and runs at once.
 */
import type { EnvironmentRecord, GitHubState, ReviewRecord, RunRecord } from './state';

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface HandlerContext {
  params: Record<string, unknown>;
}

/** Required reviewers and wait timers take effect here (the plan and the visibility allow them). */
export function protectionEnforced(state: GitHubState): boolean {
  return state.visibility === 'public' || state.plan === 'enterprise';
}

/** A job on this environment waits for a review (or a timer) before it runs. */
export function jobWaits(state: GitHubState, env: EnvironmentRecord): boolean {
  return protectionEnforced(state) && (env.reviewers.length > 0 || env.waitTimer > 0);
}

/**
 * What a job with `environment: <name>` finds: the environment, created without protection
 * when it does not exist (a misspelt name is a new, open environment).
 */
export function environmentForJob(state: GitHubState, name: string): EnvironmentRecord {
  const existing = [...state.environments.values()].find(
    (e) => e.name.toLowerCase() === name.toLowerCase(),
  );
  return existing ?? state.setEnvironment(name);
}

export function reviewJson(state: GitHubState, review: ReviewRecord): Record<string, unknown> {
  const env = state.environments.get(review.environment);
  const full = env ? state.environmentJson(env) : undefined;
  return {
    environments: [
      full
        ? {
            id: full.id,
            node_id: full.node_id,
            name: full.name,
            url: full.url,
            html_url: full.html_url,
            created_at: full.created_at,
            updated_at: full.updated_at,
          }
        : { name: review.environment },
    ],
    state: review.state,
    user: state.userJson(review.user),
    comment: review.comment,
  };
}

/** REST handlers by operationId, merged into the double's. */
export function gateHandlers(state: GitHubState): Record<string, (ctx: HandlerContext) => Reply> {
  return {
    'actions/get-reviews-for-run': (ctx) => {
      const run: RunRecord | undefined = state.runs.get(Number(ctx.params.run_id));
      if (!run) {
        return {
          status: 404,
          body: {
            message: 'Not Found',
            documentation_url: 'https://docs.github.com/rest',
            status: '404',
          },
        };
      }
      return { status: 200, body: run.reviews.map((r) => reviewJson(state, r)) };
    },
  };
}

/** The gate a rollgate step stands behind (G5), or null: bake and roll-batches have one. */
export function gateOfStep(step: string, environment: string): string | null {
  if (step === 'bake') return `${environment}-bake`;
  if (step === 'roll-batches') return environment;
  return null;
}

/**
 * What the Review deployments button leaves in the run's history when `user` approves
 * `environment` (for tests that run a gated step's bundle without the workflow driver). The
 * environment is created protected by `user` if it does not exist.
 */
export function approveGate(
  state: GitHubState,
  runId: number,
  environment: string,
  user = 'alice',
  comment = 'LGTM',
): void {
  if (!state.environments.has(environment)) {
    state.setEnvironment(environment, { reviewers: [{ type: 'User', login: user }] });
  }
  state.user(user);
  state.run(runId).reviews.push({
    environment,
    state: 'approved',
    comment,
    user,
    at: state.timestamp(),
  });
}
