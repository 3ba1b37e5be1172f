/**
 * G5: a gate cannot fail open. A job on a gate environment runs after a person approved it —
 * unless the environment is missing (a job naming it creates it, unprotected), has no required
 * reviewers, or the plan ignores them (private repositories without GitHub Enterprise). So
 * before bake, roll-batches and continue act, they look for the approval in the run's review
 * history (`GET /repos/{o}/{r}/actions/runs/{run_id}/approvals`).
 *
 * Attempts: the history has neither time nor attempt, and "Re-run failed jobs" keeps the run id,
 * so an approval from attempt 1 is still listed in attempt 2. Each gated step records the
 * approval it acted on (a `gate` event with run, attempt, reviewer and comment); an approval
 * counts for this job only when the history holds more approvals of the environment than the
 * record says earlier steps of this run used. If a record was lost, fewer approvals count: the
 * step refuses rather than reuse one.
 */
import type { getOctokit } from '@actions/github';
import type { ReleaseEvent } from '../../engine/ledger';
import { RollgateError, UnapprovedGateError } from '../../model/errors';

type Octokit = ReturnType<typeof getOctokit>;

/** One entry of the run's review history. */
export interface Review {
  environments: string[];
  /** approved, rejected (or pending). */
  state: string;
  login: string;
  comment: string;
}

/** An approval a gated step acted on, as the record keeps it. */
export interface GatePass {
  environment: string;
  runId: number;
  attempt: number;
  login: string;
  comment: string;
}

/** GitHub's environment names are not case sensitive. */
const sameEnv = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

const QUOTED = '("(?:[^"\\\\]|\\\\.)*")';
const PASS = new RegExp(
  `^gate ${QUOTED} approved by (\\S+) in run (\\d+) \\(attempt (\\d+)\\): ${QUOTED}$`,
  's',
);

/** The `gate` event's message: readable, and read back by `parseGatePass`. */
export function gatePassMessage(p: GatePass): string {
  return `gate ${JSON.stringify(p.environment)} approved by ${p.login} in run ${p.runId} (attempt ${p.attempt}): ${JSON.stringify(p.comment)}`;
}

export function parseGatePass(message: string): GatePass | null {
  const m = PASS.exec(message);
  if (!m) return null;
  try {
    return {
      environment: JSON.parse(m[1]!) as string,
      login: m[2]!,
      runId: Number(m[3]),
      attempt: Number(m[4]),
      comment: JSON.parse(m[5]!) as string,
    };
  } catch {
    return null;
  }
}

/** The approvals earlier gated steps of this run acted on. */
export function gatePassesOf(events: readonly ReleaseEvent[], runId: number): GatePass[] {
  const out: GatePass[] = [];
  for (const e of events) {
    if (e.type !== 'gate') continue;
    const p = parseGatePass(e.message);
    if (p && p.runId === runId) out.push(p);
  }
  return out;
}

export type GateVerdict =
  { kind: 'approved'; review: Review } | { kind: 'none'; approvals: number; used: number };

/**
 * Is there an approval of `environment` in the history that no earlier step of this run used?
 * Used approvals are matched by reviewer and comment (the list order is not relied on); a used
 * one that matches nothing still takes one away.
 */
export function judgeGate(
  reviews: readonly Review[],
  environment: string,
  passes: readonly GatePass[],
): GateVerdict {
  const approvals = reviews.filter(
    (r) => r.state === 'approved' && r.environments.some((e) => sameEnv(e, environment)),
  );
  const used = passes.filter((p) => sameEnv(p.environment, environment));
  const left = [...approvals];
  for (const p of used) {
    const i = left.findIndex((r) => r.login === p.login && r.comment === p.comment);
    left.splice(i >= 0 ? i : 0, 1);
  }
  const review = left.at(-1);
  return review
    ? { kind: 'approved', review }
    : { kind: 'none', approvals: approvals.length, used: used.length };
}

/**
 * The stop job after a gate job failed without outputs: was it a rejection? The newest entry
 * (GitHub lists the history oldest first) for one of the environments says `rejected`.
 * Anything else — no entry, or an approval last — is a job that failed (checkout, runner lost).
 */
export function rejectionOf(
  reviews: readonly Review[],
  environments: readonly string[],
): { environment: string; review: Review } | null {
  for (const environment of environments) {
    const last = reviews.filter((r) => r.environments.some((e) => sameEnv(e, environment))).at(-1);
    if (last?.state === 'rejected') return { environment, review: last };
  }
  return null;
}

const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

/** `who` of a step a reviewer let through (or stopped): login, what they did, their comment. */
export function reviewerWho(
  login: string,
  verb: 'approved' | 'rejected',
  environment: string,
  comment: string,
): string {
  const c = oneLine(comment);
  return `${login} (${verb} ${environment}${c ? `: "${clip(c, 60)}"` : ''})`;
}

/** Why a gated step refuses, and how to protect the environment. */
export function unapprovedMessage(o: {
  step: string;
  environment: string;
  runId: number;
  attempt: number;
  verdict: Extract<GateVerdict, { kind: 'none' }>;
}): string {
  const seen =
    o.verdict.approvals === 0
      ? 'the review history of this run has no approval of it'
      : `the review history has ${o.verdict.approvals} approval(s) of it and earlier steps of this run used ${o.verdict.used}`;
  return (
    `${o.step}: no one approved the gate environment "${o.environment}" for this job ` +
    `(run ${o.runId}, attempt ${o.attempt}): ${seen}. The environment is missing (a job naming ` +
    `it creates it without protection), has no required reviewers, or the plan ignores them ` +
    `(required reviewers: public repositories on every plan, private and internal ones only ` +
    `with GitHub Enterprise). Protect it — Settings → Environments → ${o.environment} → ` +
    `Required reviewers — then Re-run failed jobs. To go on without an approval (recorded as a ` +
    `warning): input allow-unprotected-gates: true.`
  );
}

export async function fetchReviews(
  octokit: Octokit,
  repo: { owner: string; repo: string },
  runId: number,
): Promise<Review[]> {
  let res;
  try {
    res = await octokit.rest.actions.getReviewsForRun({ ...repo, run_id: runId });
  } catch (err) {
    throw new RollgateError(
      `could not read the review history of run ${runId} (${String(err)}): the token needs ` +
        '`actions: read`; a gate is not passed without it',
      { cause: err },
    );
  }
  return res.data.map((r) => ({
    environments: r.environments.map((e) => e.name ?? ''),
    state: r.state,
    login: r.user.login,
    comment: r.comment,
  }));
}

/** What a gated step does: acts on an approval, or goes on without one (opt-out, recorded). */
export interface GateDecision {
  environment: string;
  pass: GatePass | null;
  /** The `who` of the record for this step; undefined keeps the default. */
  who: string | undefined;
  /** Put before the next deployment status description. */
  statusNote: string;
  /** Markdown above the one page. */
  notes: string;
  /** The record's `gate` event. */
  event: { message: string; level?: 'warn' };
}

export async function confirmGate(o: {
  octokit: Octokit;
  repo: { owner: string; repo: string };
  runId: number;
  attempt: number;
  step: string;
  environment: string;
  allowUnprotected: boolean;
  passes: readonly GatePass[];
}): Promise<GateDecision> {
  const reviews = await fetchReviews(o.octokit, o.repo, o.runId);
  const verdict = judgeGate(reviews, o.environment, o.passes);
  if (verdict.kind === 'approved') {
    const { login, comment } = verdict.review;
    const pass: GatePass = {
      environment: o.environment,
      runId: o.runId,
      attempt: o.attempt,
      login,
      comment,
    };
    const c = oneLine(comment);
    return {
      environment: o.environment,
      pass,
      who: reviewerWho(login, 'approved', o.environment, comment),
      statusNote: `${login} approved ${o.environment}${c ? ` ("${clip(c, 40)}")` : ''}`,
      notes: `## Gate \`${o.environment}\`: approved by **${login}**${c ? ` — “${escapeMd(clip(c, 500))}”` : ''}\n`,
      event: { message: gatePassMessage(pass) },
    };
  }
  const message = unapprovedMessage({ ...o, verdict });
  if (!o.allowUnprotected) throw new UnapprovedGateError(o.environment, message);
  const warning =
    `gate ${JSON.stringify(o.environment)}: no approval in run ${o.runId} (attempt ${o.attempt}); ` +
    'going on because allow-unprotected-gates is true';
  return {
    environment: o.environment,
    pass: null,
    who: undefined,
    statusNote: `⚠ ${o.environment} not approved (allow-unprotected-gates)`,
    notes: `## ⚠️ Gate \`${o.environment}\`: nobody approved — going on (allow-unprotected-gates)\n${escapeMd(message)}\n`,
    event: { message: warning, level: 'warn' },
  };
}

// ── deploy-bastion: are the gates protected at all? ───────────────────────────────────────────

export type Protection =
  | { kind: 'missing' }
  | { kind: 'reviewers'; reviewers: number }
  | { kind: 'open'; rules: string[] }
  | { kind: 'unknown'; why: string };

type EnvironmentData = {
  name: string;
  protection_rules?: { type: string; reviewers?: unknown[] }[] | undefined;
};

function protectionOf(env: EnvironmentData): Protection {
  const rules = env.protection_rules ?? [];
  let reviewers = 0;
  for (const r of rules) {
    if (r.type === 'required_reviewers' && Array.isArray(r.reviewers)) {
      reviewers += r.reviewers.length;
    }
  }
  return reviewers > 0
    ? { kind: 'reviewers', reviewers }
    : { kind: 'open', rules: rules.map((r) => r.type) };
}

/**
 * The protection of each gate environment, from one `GET …/environments` (names compared as
 * GitHub does, without case); a name not on a full first page is read on its own.
 */
export async function environmentProtections(
  octokit: Octokit,
  repo: { owner: string; repo: string },
  names: readonly string[],
): Promise<Map<string, Protection>> {
  const out = new Map<string, Protection>();
  let listed: EnvironmentData[];
  let complete: boolean;
  try {
    const res = await octokit.rest.repos.getAllEnvironments({ ...repo, per_page: 100 });
    listed = (res.data.environments ?? []) as EnvironmentData[];
    complete = (res.data.total_count ?? listed.length) <= listed.length;
  } catch (err) {
    for (const name of names) out.set(name, { kind: 'unknown', why: String(err) });
    return out;
  }
  for (const name of names) {
    const env = listed.find((e) => e.name.toLowerCase() === name.toLowerCase());
    if (env) out.set(name, protectionOf(env));
    else if (complete) out.set(name, { kind: 'missing' });
    else out.set(name, await environmentProtection(octokit, repo, name));
  }
  return out;
}

export async function environmentProtection(
  octokit: Octokit,
  repo: { owner: string; repo: string },
  name: string,
): Promise<Protection> {
  try {
    const res = await octokit.rest.repos.getEnvironment({ ...repo, environment_name: name });
    return protectionOf(res.data as EnvironmentData);
  } catch (err) {
    if ((err as { status?: number }).status === 404) return { kind: 'missing' };
    return { kind: 'unknown', why: String(err) };
  }
}

/** A warning for a gate environment that will not hold its job, or null. */
export function protectionWarning(
  name: string,
  p: Protection,
  visibility: string | undefined,
): string | null {
  const refused =
    'the step behind it will find no approval and refuse (allow-unprotected-gates: true goes on without, recorded)';
  const fix = `Settings → Environments → ${name} → Required reviewers`;
  switch (p.kind) {
    case 'missing':
      return `gate environment "${name}" does not exist: the job naming it creates it without protection and runs at once; ${refused}. Create it: ${fix}.`;
    case 'open':
      return `gate environment "${name}" has no required reviewers${p.rules.length ? ` (only ${p.rules.join(', ')})` : ''}: nobody approves its job; ${refused}. Fix: ${fix}.`;
    case 'reviewers':
      return visibility === 'private' || visibility === 'internal'
        ? `gate environment "${name}" has required reviewers, but this repository is ${visibility}: GitHub enforces them there only with GitHub Enterprise (Free, Pro and Team: public repositories only). Without Enterprise its job runs unapproved and ${refused}.`
        : null;
    case 'unknown':
      return `could not read gate environment "${name}" (${p.why}); the gated steps still check their approval.`;
  }
}

/** `repository.visibility` (or `private`) of the event that started the run, if it says. */
export function repositoryVisibility(event: unknown): string | undefined {
  const repo = (event as { repository?: { visibility?: unknown; private?: unknown } } | null)
    ?.repository;
  if (typeof repo?.visibility === 'string') return repo.visibility;
  if (typeof repo?.private === 'boolean') return repo.private ? 'private' : 'public';
  return undefined;
}

function escapeMd(s: string): string {
  return s.replace(/[\\`*_<>[\]|]/g, '\\$&').replace(/\r?\n/g, ' ');
}
