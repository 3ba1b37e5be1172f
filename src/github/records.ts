/**
 * From what GitHub answers to what the page shows (pure): the rollgate deployments of a
 * repository sorted into groups and environments, each group's ledger (the record's artifact
 * when it knows the newest release, else rebuilt from the deployments), and where a person
 * goes to act — the run's "Review deployments" page or the operate workflow. Never a POST.
 */
import type { Ledger, ReleaseEvent } from '../engine/ledger';
import { rollgatePayload } from './payload';
import { rebuildLedger, type DeploymentFact, type PayloadForRebuild } from './rebuild';

/** A deployment as GET /repos/{o}/{r}/deployments lists it (the fields read here). */
export interface DeploymentJson {
  id: number;
  environment: string;
  created_at: string;
  updated_at: string;
  creator: { login: string } | null;
  payload: unknown;
}

/** A deployment status as GitHub lists them (newest first). */
export interface StatusJson {
  state: string;
  description?: string | null;
  created_at: string;
  log_url?: string;
  target_url?: string;
}

export interface RepoGroup {
  /** The page's key: `<owner>/<repo>:<deployment environment>`. */
  key: string;
  group: string;
  /** The column: the deployment environment `<environment>/<group>` less `/<group>`. */
  environment: string;
  deploymentEnvironment: string;
  /** Newest first. */
  deployments: { json: DeploymentJson; payload: PayloadForRebuild }[];
}

/** `production/web` of group `web` → `production`; an environment without the suffix stays. */
export function environmentColumn(deploymentEnvironment: string, group: string): string {
  const tail = `/${group}`;
  return deploymentEnvironment.endsWith(tail) && deploymentEnvironment.length > tail.length
    ? deploymentEnvironment.slice(0, -tail.length)
    : deploymentEnvironment;
}

/** The rollgate deployments of a repository, by group and environment (others left out). */
export function groupsOf(repo: string, deployments: readonly DeploymentJson[]): RepoGroup[] {
  const out = new Map<string, RepoGroup>();
  const newestFirst = [...deployments].sort(
    (a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || b.id - a.id,
  );
  for (const json of newestFirst) {
    const payload = rollgatePayload(json.payload);
    if (!payload || typeof payload.group !== 'string') continue;
    const key = `${repo}:${json.environment}`;
    let g = out.get(key);
    if (!g) {
      g = {
        key,
        group: payload.group,
        environment: environmentColumn(json.environment, payload.group),
        deploymentEnvironment: json.environment,
        deployments: [],
      };
      out.set(key, g);
    }
    g.deployments.push({ json, payload });
  }
  return [...out.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** A deployment and its statuses (newest first, as listed) as the rebuild reads them. */
export function factOf(
  d: { json: DeploymentJson; payload: PayloadForRebuild },
  statuses: readonly StatusJson[],
): DeploymentFact {
  return {
    githubId: d.json.id,
    createdAt: Date.parse(d.json.created_at),
    creator: d.json.creator?.login ?? 'unknown',
    payload: d.payload,
    // Listed newest first, with times to the second: reversed, not sorted by time.
    statuses: [...statuses]
      .map((s) => ({
        state: s.state,
        description: s.description ?? '',
        createdAt: Date.parse(s.created_at),
      }))
      .reverse(),
  };
}

/** https://api.github.com → https://github.com; GHES https://ghe/api/v3 → https://ghe. */
export function webUrlOf(apiUrl: string): string {
  const u = new URL(apiUrl);
  if (u.hostname === 'api.github.com') return 'https://github.com';
  if (u.hostname.startsWith('api.') && /\.ghe\.com$/.test(u.hostname)) {
    return `${u.protocol}//${u.hostname.slice(4)}`;
  }
  return u.origin;
}

/**
 * The run to review: the newest status's log_url (the run that posted last, the one waiting at
 * a gate), else the run the payload names.
 */
export function runUrlOf(
  newestStatuses: readonly StatusJson[],
  payload: Pick<PayloadForRebuild, 'runId'>,
  web: { webUrl: string; repo: string },
): string | null {
  for (const s of newestStatuses) {
    const url = s.log_url || s.target_url;
    if (url && /\/actions\/runs\/\d+/.test(url)) return url;
  }
  return Number.isInteger(payload.runId) && payload.runId > 0
    ? `${web.webUrl}/${web.repo}/actions/runs/${payload.runId}`
    : null;
}

export interface OperationLink {
  op: string;
  label: string;
  href: string;
}

/**
 * Where each of the phase's buttons is pressed on GitHub: bake and continue are approvals of
 * the run's gates ("Review deployments" on the run); retry, rollback and stop are the operate
 * workflow's steps. At most two, as the buttons.
 */
export function operationLinks(
  buttons: readonly string[],
  where: { runUrl: string | null; operateUrl: string },
): OperationLink[] {
  const out: OperationLink[] = [];
  for (const op of buttons.slice(0, 2)) {
    if ((op === 'bake' || op === 'continue') && where.runUrl) {
      out.push({ op, label: `${op}: review deployments`, href: where.runUrl });
    } else {
      out.push({ op, label: `${op}: operate workflow`, href: where.operateUrl });
    }
  }
  return out;
}

/** The record an artifact carried: the ledger and the release log. */
export interface ArtifactRecord {
  name: string;
  ledger: Ledger | null;
  events: ReleaseEvent[];
}

/** Whether a record knows the release of deployment payload `p` (else it predates it). */
export function recordKnows(ledger: Ledger | null, deployment: string): boolean {
  return (
    ledger !== null &&
    (ledger.current?.id === deployment || ledger.history.some((h) => h.id === deployment))
  );
}

/**
 * The group's ledger and log: the artifact's when it knows the newest release; else rebuilt
 * from the deployments alone (the page asks no host), each target's state unknown.
 */
export function ledgerOf(
  g: RepoGroup,
  facts: readonly DeploymentFact[],
  record: ArtifactRecord | null,
  now: number,
): { ledger: Ledger | null; events: ReleaseEvent[]; source: string } {
  const newest = g.deployments[0];
  if (!newest) return { ledger: null, events: [], source: 'no deployment' };
  if (record && recordKnows(record.ledger, newest.payload.deployment)) {
    return { ledger: record.ledger, events: record.events, source: `artifact ${record.name}` };
  }
  const why = record
    ? `the newest record artifact (${record.name}) predates release ${newest.payload.deployment}`
    : `no record artifact of run ${newest.payload.runId} is left`;
  const rebuilt = rebuildLedger({
    group: g.group,
    deployments: [...facts],
    hosts: {},
    hostsNotAsked: true,
    now,
    reason: why,
  });
  const current = rebuilt.ledger.current;
  for (const t of Object.values(current?.targets ?? {})) {
    delete t.error;
    // A success status says every target was released; short of that, the page cannot tell.
    if (current?.phase === 'SUCCESS') {
      t.state = current.batches[t.batch]?.bastion ? 'BAKE_SUCCESS' : 'MARKUP_SUCCESS';
    }
  }
  const warning = `read from the GitHub deployments only (${why}): the history and the release's phase are GitHub's; each target's state is not known to the page`;
  const events: ReleaseEvent[] = rebuilt.ledger.current
    ? [
        {
          at: new Date(now).toISOString(),
          group: g.group,
          deployment: rebuilt.ledger.current.id,
          type: 'warn',
          message: warning,
        },
      ]
    : [];
  return { ledger: rebuilt.ledger, events, source: 'deployments' };
}
