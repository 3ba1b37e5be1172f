import type { getOctokit } from '@actions/github';
import type { Phase } from '../../model/states';
import type { ScanGateRecord } from '../../model/types';
import type { Deployment, Ledger, ReleaseEvent } from '../../engine/ledger';
import type { Store } from '../../engine/ports';
import { ReportingStore } from '../../store/reporting-store';
import { groupPagePath } from '../../app/page-path';
import { InputError } from '../../model/errors';

type Octokit = ReturnType<typeof getOctokit>;
type State = 'queued' | 'in_progress' | 'success' | 'failure' | 'error' | 'inactive';

export interface RepoContext {
  owner: string;
  repo: string;
  /** GitHub deployment environment: `<environment>/<group>`, so parallel groups never clobber each other. */
  environment: string;
  ref: string;
  runId: number;
  logUrl: string;
  /** The group's published page (input page-url): each status's environment_url. */
  environmentUrl?: string;
  warn: (line: string) => void;
}

/**
 * Input page-url: where the page exported by `rollgate page --out` is published (its root,
 * where index.html is). The group's page in it is the deployment's environment_url.
 */
export function groupPageUrl(pageUrl: string, group: string): string {
  let root: URL;
  try {
    root = new URL(pageUrl);
  } catch {
    root = new URL('invalid:');
  }
  if (root.protocol !== 'https:' && root.protocol !== 'http:') {
    throw new InputError(
      'input page-url',
      `"${pageUrl}" is not an absolute http(s) URL: give where the page of \`rollgate page --out\` is published, e.g. https://acme.github.io/shop/`,
    );
  }
  // `…/site` is the folder `…/site/`; `…/site/index.html` is a file in it.
  if (!root.pathname.endsWith('/') && !/\.[A-Za-z0-9]+$/.test(root.pathname)) root.pathname += '/';
  root.search = '';
  root.hash = '';
  return new URL(groupPagePath(group), root).href;
}

/** What the payload of a rollgate deployment carries (G2). */
export interface DeploymentPayload {
  rollgate: 1;
  group: string;
  deployment: string;
  version: string;
  kind: 'deploy' | 'rollback';
  config: Deployment['config'];
  batches: string[][];
  /** The run whose artifacts hold the ledger. */
  runId: number;
  /** Who started it, and what the group ran before (a rollback's from-version): what a record
   * rebuilt from the deployments needs once the artifacts have expired. */
  by: string;
  from: string | null;
  /** An image release: the pinned reference and the scan gate's decision on its digest (B4). */
  image?: string;
  scan?: ScanGateRecord;
}

/**
 * The phases a deployment status is posted for. Not SMOKING: the bastion's chain takes seconds,
 * and the REST budget (4 + 2 × batches per release) holds for two-batch groups only without it.
 */
const STATUS: Partial<Record<Phase, State>> = {
  SMOKE_SUCCESS: 'in_progress',
  SMOKE_FAILURE: 'failure',
  BAKE_SUCCESS: 'in_progress',
  PAUSED: 'in_progress',
  BRAKED: 'in_progress',
  SUCCESS: 'success',
  FAILURE: 'failure',
  ABORTED: 'error',
};

/**
 * The record, reported to GitHub as it moves: one deployment per release (created on the
 * engine's `release` event), a status on each phase a person cares about and after each
 * roll-out batch. Posting is best effort: a failed post warns, the release goes on.
 */
export class GitHubReportingStore extends ReportingStore {
  /** engine deployment id → GitHub deployment id */
  readonly ids = new Map<string, number>();
  posted = 0;
  /** Goes before the next status description: who approved the gate this step acts on (G5). */
  note: string | null = null;

  constructor(
    inner: Store,
    private readonly octokit: Octokit,
    private readonly ctx: RepoContext,
    known: Record<string, number> = {},
  ) {
    super(inner);
    for (const [k, v] of Object.entries(known)) this.ids.set(k, v);
  }

  protected async report(event: ReleaseEvent, ledger: Ledger | null): Promise<void> {
    const d = ledger?.current;
    if (!d || d.id !== event.deployment) return;
    if (event.type === 'release' && !this.ids.has(d.id)) {
      await this.create(d);
      return;
    }
    if (event.type === 'phase' && event.phase && STATUS[event.phase]) {
      await this.status(d, STATUS[event.phase]!, event.message);
    } else if (event.type === 'monitor') {
      // O4: the watch after the release is part of it: its verdict is the deployment's last word.
      // A watch during the bake is progress, not an outcome.
      const ended = d.phase === 'SUCCESS' || d.phase === 'FAILURE' || d.phase === 'ABORTED';
      const healthy = event.message.startsWith('monitor healthy');
      await this.status(d, !ended ? 'in_progress' : healthy ? 'success' : 'failure', event.message);
    } else if (
      event.type === 'batch' &&
      event.batch !== undefined &&
      !d.batches[event.batch]?.bastion &&
      // The last batch's end is told by the outcome's status, posted right after.
      event.batch < d.batches.length - 1 &&
      / done /.test(event.message)
    ) {
      await this.status(d, 'in_progress', event.message);
    }
  }

  private async create(d: Deployment): Promise<void> {
    const payload: DeploymentPayload = {
      rollgate: 1,
      group: d.group,
      deployment: d.id,
      version: d.version,
      kind: d.kind,
      config: d.config,
      batches: d.batches.map((b) => b.targets),
      runId: this.ctx.runId,
      by: d.by,
      from: d.fromVersion,
      ...(d.package.image ? { image: d.package.image } : {}),
      ...(d.package.scan ? { scan: d.package.scan } : {}),
    };
    try {
      const res = await this.octokit.rest.repos.createDeployment({
        owner: this.ctx.owner,
        repo: this.ctx.repo,
        ref: this.ctx.ref,
        environment: this.ctx.environment,
        task: d.kind,
        description: `${d.kind} ${d.version} of ${d.group}`.slice(0, 140),
        payload: payload as unknown as Record<string, unknown>,
        auto_merge: false,
        required_contexts: [],
        transient_environment: false,
      });
      if (res.status === 201 && 'id' in res.data) this.ids.set(d.id, res.data.id);
      this.posted++;
    } catch (err) {
      this.ctx.warn(`could not create the GitHub deployment for ${d.id}: ${String(err)}`);
    }
  }

  private async status(d: Deployment, state: State, description: string): Promise<void> {
    const id = this.ids.get(d.id);
    if (id === undefined) return;
    const text = this.note ? `${this.note} · ${description}` : description;
    this.note = null;
    try {
      await this.octokit.rest.repos.createDeploymentStatus({
        owner: this.ctx.owner,
        repo: this.ctx.repo,
        deployment_id: id,
        state,
        description: text.slice(0, 140),
        log_url: this.ctx.logUrl,
        ...(this.ctx.environmentUrl ? { environment_url: this.ctx.environmentUrl } : {}),
        auto_inactive: true,
      });
      this.posted++;
    } catch (err) {
      this.ctx.warn(`could not post the GitHub deployment status (${state}): ${String(err)}`);
    }
  }
}

/** The newest rollgate deployment of the environment: where a later run finds the ledger. */
export async function latestDeployment(
  octokit: Octokit,
  ctx: Pick<RepoContext, 'owner' | 'repo' | 'environment'>,
): Promise<{ id: number; payload: DeploymentPayload } | null> {
  const res = await octokit.rest.repos.listDeployments({
    owner: ctx.owner,
    repo: ctx.repo,
    environment: ctx.environment,
    per_page: 1,
  });
  const d = res.data[0];
  if (!d) return null;
  const payload = (
    typeof d.payload === 'string' ? JSON.parse(d.payload || '{}') : d.payload
  ) as DeploymentPayload;
  return payload?.rollgate === 1 ? { id: d.id, payload } : null;
}
