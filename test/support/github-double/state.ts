/** In-memory repository state behind the GitHub double, and its REST representations. */
import { createHash } from 'node:crypto';

export type DeploymentState =
  'error' | 'failure' | 'inactive' | 'pending' | 'success' | 'queued' | 'in_progress';

export interface UserRecord {
  login: string;
  id: number;
  type: 'User' | 'Bot' | 'Organization';
}

export interface DeploymentStatusRecord {
  id: number;
  state: DeploymentState;
  description: string;
  environment: string;
  targetUrl: string;
  logUrl: string;
  environmentUrl: string;
  creator: string;
  createdAt: string;
}

export interface DeploymentRecord {
  id: number;
  sha: string;
  ref: string;
  task: string;
  payload: Record<string, unknown> | string;
  environment: string;
  originalEnvironment: string;
  description: string | null;
  creator: string;
  createdAt: string;
  updatedAt: string;
  transient: boolean;
  production: boolean;
  /** Oldest first. */
  statuses: DeploymentStatusRecord[];
}

export type ReviewerSpec =
  { type: 'User'; login: string } | { type: 'Team'; slug: string; members?: string[] };

export interface EnvironmentOptions {
  reviewers?: ReviewerSpec[];
  preventSelfReview?: boolean;
  /** Minutes. */
  waitTimer?: number;
  deploymentBranchPolicy?: { protected_branches: boolean; custom_branch_policies: boolean } | null;
}

export interface EnvironmentRecord {
  id: number;
  name: string;
  createdAt: string;
  updatedAt: string;
  reviewers: ReviewerSpec[];
  preventSelfReview: boolean;
  waitTimer: number;
  deploymentBranchPolicy: { protected_branches: boolean; custom_branch_policies: boolean } | null;
  ruleIds: { reviewers: number; waitTimer: number; branchPolicy: number };
}

export interface PendingRecord {
  environment: string;
  requestedAt: string;
}

export interface ReviewRecord {
  environment: string;
  state: 'approved' | 'rejected';
  comment: string;
  user: string;
  at: string;
}

export interface RunRecord {
  id: number;
  attempt: number;
  headSha: string;
  headBranch: string;
  actor: string;
  /** Results-service id of the run (in the runtime token's scp claim). */
  backendId: string;
  pending: PendingRecord[];
  reviews: ReviewRecord[];
}

export type RepoVisibility = 'public' | 'private' | 'internal';
export type GitHubPlan = 'free' | 'pro' | 'team' | 'enterprise';

export interface ArtifactRecord {
  id: number;
  name: string;
  runId: number;
  /** The run attempt whose job uploaded it (the runtime token's run backend id is per attempt). */
  attempt: number;
  runBackendId: string;
  jobBackendId: string;
  mimeType: string;
  blobName: string;
  size: number;
  digest: string | null;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  finalized: boolean;
}

export const DEFAULT_RETENTION_DAYS = 90;

const ACTIONS_BOT: UserRecord = { login: 'github-actions[bot]', id: 41898282, type: 'Bot' };
const GITHUB_ORG: UserRecord = { login: 'github', id: 9919, type: 'Organization' };
const ID_BASES = {
  deployment: 1_000_000,
  status: 2_000_000,
  environment: 3_000_000,
  artifact: 4_000_000,
  rule: 5_000_000,
  team: 6_000_000,
  user: 7_000_000,
};

export class GitHubState {
  /** Set by the server once it listens: the origin that `url` fields point at. */
  apiUrl = 'http://127.0.0.1';
  readonly serverUrl = 'https://github.com';
  readonly repositoryId = 705_000_001;
  readonly defaultBranch = 'main';
  /** Login that tokens act as unless mapped in `tokens`. GITHUB_TOKEN acts as the Actions bot. */
  viewer = ACTIONS_BOT.login;
  readonly tokens = new Map<string, string>();
  /** Tokens GitHub no longer accepts: every REST call with one answers 401 Bad credentials. */
  readonly revokedTokens = new Set<string>();
  /** While set, every REST call answers 403 "API rate limit exceeded", resetting at this time. */
  rateLimitedUntil: Date | null = null;
  readonly users = new Map<string, UserRecord>([
    [ACTIONS_BOT.login, ACTIONS_BOT],
    [GITHUB_ORG.login, GITHUB_ORG],
  ]);
  readonly refs = new Map<string, string>();
  readonly deployments: DeploymentRecord[] = [];
  readonly environments = new Map<string, EnvironmentRecord>();
  readonly runs = new Map<number, RunRecord>();
  readonly artifacts: ArtifactRecord[] = [];
  readonly teams = new Map<string, { id: number; slug: string }>();
  /** Which protection rules GitHub enforces depends on these (see approvals.ts). */
  visibility: RepoVisibility = 'public';
  plan: GitHubPlan = 'free';
  now: () => Date = () => new Date();
  /**
   * The repository's artifact retention (Settings → Actions → Artifact and log retention):
   * 1–90 days for a public repository, up to 400 for a private one. The runner hands it to
   * jobs as GITHUB_RETENTION_DAYS; @actions/artifact silently lowers a longer `retentionDays`
   * to it, and an upload without one gets it.
   */
  retentionDays = DEFAULT_RETENTION_DAYS;
  /**
   * What the runner-internal artifact service (Twirp) shows a job of a re-run attempt:
   * - `hidden` (default): only this attempt's artifacts, as a job re-run with "Re-run failed
   *   jobs" sees them ("resolves artifacts against the current run attempt", MeshLib#6474);
   * - `listed-not-signed`: ListArtifacts lists earlier attempts' artifacts too, but
   *   GetSignedArtifactURL answers 404 "workflow run not found" for them
   *   (actions/download-artifact#486);
   * - `run`: every attempt's artifacts, like the public REST API (the old happy path).
   * The public REST API is always run-scoped.
   */
  artifactAttemptScope: 'hidden' | 'listed-not-signed' | 'run' = 'hidden';
  private readonly counters = { ...ID_BASES };

  constructor(
    readonly owner: string,
    readonly repo: string,
  ) {
    this.refs.set(this.defaultBranch, fakeSha(`${owner}/${repo}@${this.defaultBranch}`));
  }

  nextId(kind: keyof typeof ID_BASES): number {
    this.counters[kind] += 1;
    return this.counters[kind];
  }

  timestamp(): string {
    return this.now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
  }

  user(login: string): UserRecord {
    let user = this.users.get(login);
    if (!user) {
      user = { login, id: this.nextId('user'), type: login.endsWith('[bot]') ? 'Bot' : 'User' };
      this.users.set(login, user);
    }
    return user;
  }

  /** Makes `token` act as `login` (other tokens act as `viewer`). */
  addToken(token: string, login: string): void {
    this.user(login);
    this.tokens.set(token, login);
  }

  tokenUser(token: string): string {
    return this.tokens.get(token) ?? this.viewer;
  }

  setRef(ref: string, sha: string): void {
    this.refs.set(ref, sha);
  }

  /** A ref's commit: a known branch or tag, or a full SHA; undefined like GitHub's "No ref found". */
  resolveRef(ref: string): string | undefined {
    const short = ref.replace(/^refs\/(heads|tags)\//, '');
    return this.refs.get(short) ?? (/^[0-9a-f]{40}$/i.test(ref) ? ref.toLowerCase() : undefined);
  }

  setEnvironment(name: string, options: EnvironmentOptions = {}): EnvironmentRecord {
    const at = this.timestamp();
    const existing = this.environments.get(name);
    const env: EnvironmentRecord = existing ?? {
      id: this.nextId('environment'),
      name,
      createdAt: at,
      updatedAt: at,
      reviewers: [],
      preventSelfReview: false,
      waitTimer: 0,
      deploymentBranchPolicy: null,
      ruleIds: {
        reviewers: this.nextId('rule'),
        waitTimer: this.nextId('rule'),
        branchPolicy: this.nextId('rule'),
      },
    };
    if (options.reviewers) env.reviewers = options.reviewers;
    if (options.preventSelfReview !== undefined) env.preventSelfReview = options.preventSelfReview;
    if (options.waitTimer !== undefined) env.waitTimer = options.waitTimer;
    if (options.deploymentBranchPolicy !== undefined) {
      env.deploymentBranchPolicy = options.deploymentBranchPolicy;
    }
    env.updatedAt = at;
    for (const r of env.reviewers) {
      if (r.type === 'User') this.user(r.login);
      else {
        if (!this.teams.has(r.slug))
          this.teams.set(r.slug, { id: this.nextId('team'), slug: r.slug });
        for (const m of r.members ?? []) this.user(m);
      }
    }
    this.environments.set(name, env);
    return env;
  }

  /** The run with this id, created on first use. */
  run(runId: number, init: Partial<Omit<RunRecord, 'id' | 'pending' | 'reviews'>> = {}): RunRecord {
    let run = this.runs.get(runId);
    if (!run) {
      run = {
        id: runId,
        attempt: 1,
        headBranch: this.defaultBranch,
        headSha: this.refs.get(this.defaultBranch) as string,
        actor: this.viewer,
        backendId: runBackendId(runId),
        pending: [],
        reviews: [],
      };
      this.runs.set(runId, run);
    }
    Object.assign(run, init);
    return run;
  }

  runByBackendId(backendId: string): RunRecord | undefined {
    return this.resolveBackendId(backendId)?.run;
  }

  /** The results-service id of one attempt of a run: attempt 1 keeps the run's `backendId`. */
  backendIdOf(runId: number, attempt: number): string {
    return attempt <= 1 ? this.run(runId).backendId : uuidFrom(`run:${runId}:attempt:${attempt}`);
  }

  /** The run and attempt a results-service id belongs to. */
  resolveBackendId(backendId: string): { run: RunRecord; attempt: number } | undefined {
    for (const run of this.runs.values()) {
      for (let attempt = 1; attempt <= Math.max(run.attempt, 1); attempt++) {
        if (this.backendIdOf(run.id, attempt) === backendId) return { run, attempt };
      }
    }
    return undefined;
  }

  isExpired(a: ArtifactRecord): boolean {
    return Date.parse(a.expiresAt) <= this.now().getTime();
  }

  /**
   * Test knob: moves artifacts `ms` into the past (created, updated and expiry times), as if
   * that much time had gone by since they were uploaded. Default: every artifact.
   */
  ageArtifacts(ms: number, pick: (a: ArtifactRecord) => boolean = () => true): ArtifactRecord[] {
    const shift = (iso: string): string =>
      new Date(Date.parse(iso) - ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const aged = this.artifacts.filter(pick);
    for (const a of aged) {
      a.createdAt = shift(a.createdAt);
      a.updatedAt = shift(a.updatedAt);
      a.expiresAt = shift(a.expiresAt);
    }
    return aged;
  }

  /** A job of the run waits on `environment` (which must have protection rules). */
  requestApproval(runId: number, environment: string): PendingRecord {
    const env = this.environments.get(environment);
    if (!env) throw new Error(`no environment ${environment}: call setEnvironment first`);
    if (env.reviewers.length === 0 && env.waitTimer === 0) {
      throw new Error(`environment ${environment} has no protection rules: nothing would wait`);
    }
    const pending = { environment, requestedAt: this.timestamp() };
    this.run(runId).pending.push(pending);
    return pending;
  }

  canApprove(login: string, env: EnvironmentRecord, run: RunRecord): boolean {
    if (env.preventSelfReview && run.actor === login) return false;
    return env.reviewers.some((r) =>
      r.type === 'User' ? r.login === login : (r.members ?? []).includes(login),
    );
  }

  createDeployment(input: {
    ref: string;
    sha: string;
    task?: string;
    payload?: Record<string, unknown> | string;
    environment?: string;
    description?: string | null;
    transient?: boolean;
    production?: boolean;
    creator: string;
  }): DeploymentRecord {
    const environment = input.environment ?? 'production';
    if (!this.environments.has(environment)) this.setEnvironment(environment);
    const at = this.timestamp();
    const deployment: DeploymentRecord = {
      id: this.nextId('deployment'),
      sha: input.sha,
      ref: input.ref,
      task: input.task ?? 'deploy',
      payload: input.payload ?? {},
      environment,
      originalEnvironment: environment,
      description: input.description ?? null,
      creator: input.creator,
      createdAt: at,
      updatedAt: at,
      transient: input.transient ?? false,
      production: input.production ?? environment === 'production',
      statuses: [],
    };
    this.deployments.push(deployment);
    return deployment;
  }

  deployment(id: number): DeploymentRecord | undefined {
    return this.deployments.find((d) => d.id === id);
  }

  /** The state GitHub shows for a deployment: its newest status, or undefined if none. */
  latestState(deployment: DeploymentRecord): DeploymentState | undefined {
    return deployment.statuses.at(-1)?.state;
  }

  addStatus(
    deployment: DeploymentRecord,
    input: {
      state: DeploymentState;
      description?: string;
      environment?: string;
      targetUrl?: string;
      logUrl?: string;
      environmentUrl?: string;
      autoInactive?: boolean;
      creator: string;
    },
  ): DeploymentStatusRecord {
    const environment = input.environment ?? deployment.environment;
    if (environment !== deployment.environment) {
      if (!this.environments.has(environment)) this.setEnvironment(environment);
      deployment.environment = environment;
    }
    const logUrl = input.logUrl ?? input.targetUrl ?? '';
    const status: DeploymentStatusRecord = {
      id: this.nextId('status'),
      state: input.state,
      description: input.description ?? '',
      environment,
      targetUrl: logUrl,
      logUrl,
      environmentUrl: input.environmentUrl ?? '',
      creator: input.creator,
      createdAt: this.timestamp(),
    };
    deployment.statuses.push(status);
    deployment.updatedAt = status.createdAt;
    // GitHub keeps one active deployment per environment: a success retires the others.
    if (input.state === 'success' && input.autoInactive !== false) {
      for (const other of this.deployments) {
        if (other === deployment || other.environment !== environment) continue;
        if (this.latestState(other) !== 'success') continue;
        const at = this.timestamp();
        other.statuses.push({
          id: this.nextId('status'),
          state: 'inactive',
          description: '',
          environment,
          targetUrl: '',
          logUrl: '',
          environmentUrl: '',
          creator: input.creator,
          createdAt: at,
        });
        other.updatedAt = at;
      }
    }
    return status;
  }

  // ---- REST representations (fields as the OpenAPI schemas declare them) ----

  repositoryUrl(): string {
    return `${this.apiUrl}/repos/${this.owner}/${this.repo}`;
  }

  userJson(login: string): Record<string, unknown> {
    const u = this.user(login);
    const api = `${this.apiUrl}/users/${encodeURIComponent(u.login)}`;
    return {
      login: u.login,
      id: u.id,
      node_id: nodeId(u.type, u.id),
      avatar_url: `https://avatars.githubusercontent.com/u/${u.id}?v=4`,
      gravatar_id: '',
      url: api,
      html_url: `${this.serverUrl}/${u.type === 'Bot' ? 'apps/' + u.login.replace('[bot]', '') : u.login}`,
      followers_url: `${api}/followers`,
      following_url: `${api}/following{/other_user}`,
      gists_url: `${api}/gists{/gist_id}`,
      starred_url: `${api}/starred{/owner}{/repo}`,
      subscriptions_url: `${api}/subscriptions`,
      organizations_url: `${api}/orgs`,
      repos_url: `${api}/repos`,
      events_url: `${api}/events{/privacy}`,
      received_events_url: `${api}/received_events`,
      type: u.type,
      site_admin: false,
      user_view_type: 'public',
    };
  }

  teamJson(slug: string): Record<string, unknown> {
    const team = this.teams.get(slug) ?? { id: this.nextId('team'), slug };
    const url = `${this.apiUrl}/organizations/1/team/${team.id}`;
    return {
      id: team.id,
      node_id: nodeId('Team', team.id),
      name: slug,
      slug,
      description: null,
      privacy: 'closed',
      notification_setting: 'notifications_enabled',
      permission: 'pull',
      url,
      html_url: `${this.serverUrl}/orgs/${this.owner}/teams/${slug}`,
      members_url: `${url}/members{/member}`,
      repositories_url: `${url}/repos`,
      parent: null,
      type: 'organization',
    };
  }

  /** The GitHub Actions app, which performs what GITHUB_TOKEN does. */
  actionsAppJson(): Record<string, unknown> {
    return {
      id: 15368,
      slug: 'github-actions',
      node_id: 'MDM6QXBwMTUzNjg=',
      client_id: 'Iv1.05c79e9ad1f6bdfa',
      owner: this.userJson('github'),
      name: 'GitHub Actions',
      description: 'Automate your workflow from idea to production',
      external_url: 'https://help.github.com/en/actions',
      html_url: `${this.serverUrl}/apps/github-actions`,
      created_at: '2018-07-30T09:30:17Z',
      updated_at: '2024-04-10T20:33:16Z',
      permissions: { actions: 'write', deployments: 'write', metadata: 'read' },
      events: ['deployment', 'deployment_status', 'workflow_run'],
    };
  }

  deploymentJson(d: DeploymentRecord): Record<string, unknown> {
    const url = `${this.repositoryUrl()}/deployments/${d.id}`;
    return {
      url,
      id: d.id,
      node_id: nodeId('Deployment', d.id),
      sha: d.sha,
      ref: d.ref,
      task: d.task,
      payload: d.payload,
      original_environment: d.originalEnvironment,
      environment: d.environment,
      description: d.description,
      creator: this.userJson(d.creator),
      created_at: d.createdAt,
      updated_at: d.updatedAt,
      statuses_url: `${url}/statuses`,
      repository_url: this.repositoryUrl(),
      transient_environment: d.transient,
      production_environment: d.production,
      performed_via_github_app: d.creator === ACTIONS_BOT.login ? this.actionsAppJson() : null,
    };
  }

  statusJson(d: DeploymentRecord, s: DeploymentStatusRecord): Record<string, unknown> {
    const deploymentUrl = `${this.repositoryUrl()}/deployments/${d.id}`;
    return {
      url: `${deploymentUrl}/statuses/${s.id}`,
      id: s.id,
      node_id: nodeId('DeploymentStatus', s.id),
      state: s.state,
      creator: this.userJson(s.creator),
      description: s.description,
      environment: s.environment,
      target_url: s.targetUrl,
      created_at: s.createdAt,
      updated_at: s.createdAt,
      deployment_url: deploymentUrl,
      repository_url: this.repositoryUrl(),
      environment_url: s.environmentUrl,
      log_url: s.logUrl,
      performed_via_github_app: s.creator === ACTIONS_BOT.login ? this.actionsAppJson() : null,
    };
  }

  private reviewersJson(env: EnvironmentRecord): Record<string, unknown>[] {
    return env.reviewers.map((r) => ({
      type: r.type,
      reviewer: r.type === 'User' ? this.userJson(r.login) : this.teamJson(r.slug),
    }));
  }

  environmentJson(env: EnvironmentRecord): Record<string, unknown> {
    const rules: Record<string, unknown>[] = [];
    if (env.waitTimer > 0) {
      const id = env.ruleIds.waitTimer;
      rules.push({
        id,
        node_id: nodeId('Gate', id),
        type: 'wait_timer',
        wait_timer: env.waitTimer,
      });
    }
    if (env.reviewers.length > 0) {
      const id = env.ruleIds.reviewers;
      rules.push({
        id,
        node_id: nodeId('Gate', id),
        prevent_self_review: env.preventSelfReview,
        type: 'required_reviewers',
        reviewers: this.reviewersJson(env),
      });
    }
    if (env.deploymentBranchPolicy) {
      const id = env.ruleIds.branchPolicy;
      rules.push({ id, node_id: nodeId('Gate', id), type: 'branch_policy' });
    }
    return {
      id: env.id,
      node_id: nodeId('Environment', env.id),
      name: env.name,
      url: `${this.repositoryUrl()}/environments/${encodeURIComponent(env.name)}`,
      html_url: `${this.serverUrl}/${this.owner}/${this.repo}/deployments/activity_log?environments_filter=${encodeURIComponent(env.name)}`,
      created_at: env.createdAt,
      updated_at: env.updatedAt,
      protection_rules: rules,
      deployment_branch_policy: env.deploymentBranchPolicy,
    };
  }

  pendingJson(run: RunRecord, pending: PendingRecord, viewer: string): Record<string, unknown> {
    const env = this.environments.get(pending.environment) as EnvironmentRecord;
    const full = this.environmentJson(env);
    return {
      environment: {
        id: full.id,
        node_id: full.node_id,
        name: full.name,
        url: full.url,
        html_url: full.html_url,
      },
      wait_timer: env.waitTimer,
      wait_timer_started_at: env.waitTimer > 0 ? pending.requestedAt : null,
      current_user_can_approve: this.canApprove(viewer, env, run),
      reviewers: this.reviewersJson(env),
    };
  }

  artifactJson(a: ArtifactRecord): Record<string, unknown> {
    const url = `${this.repositoryUrl()}/actions/artifacts/${a.id}`;
    const run = this.run(a.runId);
    return {
      id: a.id,
      node_id: nodeId('Artifact', a.id),
      name: a.name,
      size_in_bytes: a.size,
      url,
      archive_download_url: `${url}/zip`,
      expired: this.isExpired(a),
      created_at: a.createdAt,
      expires_at: a.expiresAt,
      updated_at: a.updatedAt,
      digest: a.digest,
      workflow_run: {
        id: run.id,
        repository_id: this.repositoryId,
        head_repository_id: this.repositoryId,
        head_branch: run.headBranch,
        head_sha: run.headSha,
      },
    };
  }
}

/** A stable results-service id for a run (GitHub uses UUIDs there, not the run id). */
export function runBackendId(runId: number): string {
  return uuidFrom(`run:${runId}`);
}

export function jobBackendId(runId: number, jobId: string | number): string {
  return uuidFrom(`job:${runId}:${jobId}`);
}

function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function fakeSha(seed: string): string {
  return createHash('sha1').update(seed).digest('hex');
}

function nodeId(type: string, id: number): string {
  return Buffer.from(`0${type.length}:${type}${id}`).toString('base64');
}
