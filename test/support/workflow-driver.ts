/**
 * Drives a workflow's jobs from its YAML the way the GitHub runner would, for end-to-end tests
 * of the reusable rollout workflow against the GitHub double:
 *
 * - jobs run one at a time in `needs` order; a job's `if:` is evaluated with the runner's rules
 *   (an implicit `success() &&` unless the condition calls a status function; `success()` and
 *   `failure()` look at every ancestor job, `cancelled()` at the run);
 * - a job with `environment:` whose environment has protection rules waits at the gate: the
 *   driver registers the pending deployment with the double, asks the test for a decision, and
 *   reviews through REST (`GET`/`POST /actions/runs/{id}/pending_deployments`) as a reviewer,
 *   the way the Review deployments button does. A rejected gate fails the job without running it.
 *   An environment that does not exist is created without protection, and rules the plan does
 *   not enforce (a private repository without Enterprise) do not hold the job: it runs at once;
 * - `failJob` fails a job before any step sets an output (checkout failed, runner lost);
 * - steps: `actions/checkout` is skipped (the workspace is the checkout; `./.rollgate/actions/<x>`
 *   maps to this repository's `actions/<x>`, whose bundle runs through actions-runner);
 *   `actions/download-artifact` fails loudly (not modelled); `run:` steps run with
 *   `bash --noprofile --norc -eo pipefail` in the workspace, with a per-job HOME; a step whose
 *   `if:` is false is recorded as skipped (not-run); `runnerEnv` is the runner machine's own
 *   environment, under every step's;
 * - job outputs come from the step outputs; the workflow_call outputs from the job outputs;
 * - `cancel()` cancels the run: running actions get SIGINT (then SIGTERM after 7.5 s, SIGKILL
 *   after 2.5 s more, like the runner); jobs that do not ask for `cancelled()`/`always()` are
 *   skipped;
 * - "Re-run failed jobs" = `rerunFailed(previous)`: the failed or cancelled jobs and every job
 *   downstream of them run again with the next GITHUB_RUN_ATTEMPT; the others keep their
 *   results and outputs.
 *
 * The expression language is the subset the workflows here use: contexts inputs, secrets,
 * needs, steps, jobs, github (token, run_id, run_attempt, repository); property access (names may hold `-`); string, number, boolean and null
 * literals; `!`, `==`, `!=`, `&&`, `||`, parentheses; functions format, success, failure,
 * cancelled, always. Anything else throws.
 *
 * With `callerPermissions` the run is first checked the way GitHub checks a called workflow:
 * no job may ask for more GITHUB_TOKEN permissions than the caller grants.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  parseCommandFile,
  startAction,
  type ActionRun,
  type RunningAction,
} from './actions-runner';
import { environmentForJob, jobWaits } from './github-double/approvals';
import type { GitHubDouble } from './github-double/github-double';

// ── expressions ───────────────────────────────────────────────────────────────────────────────

export type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

export interface ExprContext {
  contexts: Record<string, Value>;
  /** Status functions; absent ones throw (e.g. none in a workflow output). */
  status?: { success(): boolean; failure(): boolean; cancelled(): boolean };
}

type Token =
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'id'; v: string }
  | { t: 'op'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new Error(`unterminated string in ${src}`);
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += src[i++];
      }
      out.push({ t: 'str', v: s });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['==', '!=', '&&', '||', '<=', '>='].includes(two)) {
      if (two === '<=' || two === '>=') throw new Error(`operator ${two} is not supported`);
      out.push({ t: 'op', v: two });
      i += 2;
      continue;
    }
    if ('()!.,'.includes(c)) {
      out.push({ t: 'op', v: c });
      i++;
      continue;
    }
    if ('<>[]*'.includes(c))
      throw new Error(`"${c}" is not supported by the workflow driver (${src})`);
    const num = /^-?(0x[0-9a-f]+|\d+(\.\d+)?(e[+-]?\d+)?)/i.exec(src.slice(i));
    if (num && /[\d-]/.test(c)) {
      out.push({ t: 'num', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i));
    if (id) {
      out.push({ t: 'id', v: id[0] });
      i += id[0].length;
      continue;
    }
    throw new Error(`cannot read "${src.slice(i)}" in expression ${src}`);
  }
  return out;
}

export function truthy(v: Value): boolean {
  return !(v === false || v === null || v === '' || v === 0 || (typeof v === 'number' && isNaN(v)));
}

function toNumber(v: Value): number {
  if (v === null) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return v.trim() === '' ? 0 : Number(v);
  return NaN;
}

/** GitHub's loose equality: same type compares (strings ignoring case), else numbers. */
export function looseEquals(a: Value, b: Value): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  if (typeof a === typeof b && typeof a !== 'object') return a === b;
  if (a === null && b === null) return true;
  if (typeof a === 'object' || typeof b === 'object') {
    if (a !== null && b !== null) return a === b;
  }
  const x = toNumber(a);
  const y = toNumber(b);
  return !isNaN(x) && !isNaN(y) && x === y;
}

export function toText(v: Value): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

function format(template: string, args: Value[]): string {
  return template.replace(/\{\{|\}\}|\{(\d+)\}/g, (m, n: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const i = Number(n);
    if (i >= args.length) throw new Error(`format(): no argument {${i}} in "${template}"`);
    return toText(args[i]!);
  });
}

export function evaluate(src: string, ctx: ExprContext): Value {
  const toks = tokenize(src);
  let p = 0;
  const peek = (): Token | undefined => toks[p];
  const isOp = (v: string) => peek()?.t === 'op' && peek()!.v === v;
  const expectOp = (v: string) => {
    if (!isOp(v)) throw new Error(`expected "${v}" in ${src}`);
    p++;
  };

  const or = (): Value => {
    let l = and();
    while (isOp('||')) {
      p++;
      const r = and();
      l = truthy(l) ? l : r;
    }
    return l;
  };
  const and = (): Value => {
    let l = eq();
    while (isOp('&&')) {
      p++;
      const r = eq();
      l = truthy(l) ? r : l;
    }
    return l;
  };
  const eq = (): Value => {
    let l = unary();
    while (isOp('==') || isOp('!=')) {
      const op = toks[p++]!.v;
      const r = unary();
      l = op === '==' ? looseEquals(l, r) : !looseEquals(l, r);
    }
    return l;
  };
  const unary = (): Value => {
    if (isOp('!')) {
      p++;
      return !truthy(unary());
    }
    return primary();
  };
  const primary = (): Value => {
    const tok = toks[p++];
    if (!tok) throw new Error(`unexpected end of expression ${src}`);
    if (tok.t === 'str' || tok.t === 'num') return tok.v;
    if (tok.t === 'op' && tok.v === '(') {
      const v = or();
      expectOp(')');
      return v;
    }
    if (tok.t !== 'id') throw new Error(`unexpected "${tok.v}" in ${src}`);
    if (tok.v === 'true') return true;
    if (tok.v === 'false') return false;
    if (tok.v === 'null') return null;
    if (isOp('(')) {
      p++;
      const args: Value[] = [];
      if (!isOp(')')) {
        args.push(or());
        while (isOp(',')) {
          p++;
          args.push(or());
        }
      }
      expectOp(')');
      return call(tok.v, args);
    }
    if (!Object.hasOwn(ctx.contexts, tok.v)) {
      throw new Error(`context "${tok.v}" is not available to the workflow driver (${src})`);
    }
    let v: Value = ctx.contexts[tok.v]!;
    while (isOp('.')) {
      p++;
      const name = toks[p++];
      if (!name || name.t !== 'id') throw new Error(`expected a property name in ${src}`);
      v =
        v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, name.v)
          ? v[name.v]!
          : null;
    }
    return v;
  };
  const call = (name: string, args: Value[]): Value => {
    const status = ctx.status;
    switch (name) {
      case 'format':
        if (typeof args[0] !== 'string') throw new Error(`format() needs a string (${src})`);
        return format(args[0], args.slice(1));
      case 'always':
        return true;
      case 'success':
      case 'failure':
      case 'cancelled':
        if (!status) throw new Error(`${name}() is not allowed here (${src})`);
        if (args.length) throw new Error(`${name}() takes no arguments`);
        return status[name]();
      default:
        throw new Error(`function ${name}() is not supported by the workflow driver (${src})`);
    }
  };

  const v = or();
  if (p !== toks.length) throw new Error(`unexpected "${toks[p]!.v}" in ${src}`);
  return v;
}

const TEMPLATE = /\$\{\{(.*?)\}\}/gs;

/** A YAML value with `${{ }}` parts: one whole expression keeps its type, else text. */
export function interpolate(value: unknown, ctx: ExprContext): Value {
  if (typeof value !== 'string') return (value ?? null) as Value;
  const whole = /^\s*\$\{\{(.*)\}\}\s*$/s.exec(value);
  if (whole && !whole[1]!.includes('}}')) return evaluate(whole[1]!, ctx);
  return value.replace(TEMPLATE, (_m, expr: string) => toText(evaluate(expr, ctx)));
}

const STATUS_FN = /\b(success|failure|cancelled|always)\s*\(/;

/** An `if:` condition: bare or wrapped, with the implicit success() when none is called. */
export function condition(src: unknown, ctx: ExprContext): boolean {
  if (src === undefined || src === null) return ctx.status ? ctx.status.success() : true;
  if (typeof src === 'boolean') return src;
  let expr = String(src).trim();
  const wrapped = /^\$\{\{(.*)\}\}$/s.exec(expr);
  if (wrapped) expr = wrapped[1]!;
  if (!STATUS_FN.test(expr)) expr = `success() && (${expr})`;
  return truthy(evaluate(expr, ctx));
}

// ── workflow model ────────────────────────────────────────────────────────────────────────────

interface StepDef {
  id?: string;
  name?: string;
  if?: string | boolean;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
  shell?: string;
}

interface JobDef {
  needs?: string | string[];
  if?: string | boolean;
  'runs-on'?: unknown;
  environment?: string | { name: string; url?: string };
  permissions?: unknown;
  outputs?: Record<string, string>;
  steps?: StepDef[];
  env?: Record<string, unknown>;
}

interface InputDef {
  type?: 'string' | 'boolean' | 'number';
  required?: boolean;
  default?: unknown;
  description?: string;
}

export interface WorkflowDef {
  file: string;
  name?: string;
  inputs: Record<string, InputDef>;
  secrets: Record<string, { required?: boolean }>;
  outputs: Record<string, { value: string }>;
  concurrency?: unknown;
  /** The workflow's top-level `permissions:` (the default of its jobs). */
  permissions?: unknown;
  jobs: Record<string, JobDef>;
  /** Job names, each after all of its needs. */
  order: string[];
}

const JOB_KEYS = new Set([
  'needs',
  'if',
  'runs-on',
  'environment',
  'permissions',
  'outputs',
  'steps',
  'env',
]);
const STEP_KEYS = new Set(['id', 'name', 'if', 'uses', 'run', 'with', 'env', 'shell']);

export function needsOf(job: JobDef): string[] {
  return job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];
}

export function loadWorkflow(file: string): WorkflowDef {
  const raw = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const on = raw.on as Record<string, unknown> | undefined;
  const call = (on?.workflow_call ?? null) as Record<string, unknown> | null;
  if (!call) throw new Error(`${file}: the driver runs workflow_call workflows only`);
  const jobs = raw.jobs as Record<string, JobDef>;
  for (const [name, job] of Object.entries(jobs)) {
    for (const k of Object.keys(job)) {
      if (!JOB_KEYS.has(k))
        throw new Error(`${file}: job ${name}: key "${k}" is not supported by the driver`);
    }
    for (const [i, s] of (job.steps ?? []).entries()) {
      for (const k of Object.keys(s)) {
        if (!STEP_KEYS.has(k)) {
          throw new Error(
            `${file}: job ${name} step ${i + 1}: key "${k}" is not supported by the driver`,
          );
        }
      }
    }
    for (const n of needsOf(job)) {
      if (!jobs[n]) throw new Error(`${file}: job ${name} needs unknown job ${n}`);
    }
  }
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (n: string): void => {
    if (order.includes(n)) return;
    if (visiting.has(n)) throw new Error(`${file}: a cycle in needs at ${n}`);
    visiting.add(n);
    for (const d of needsOf(jobs[n]!)) visit(d);
    order.push(n);
  };
  for (const n of Object.keys(jobs)) visit(n);
  return {
    file,
    name: raw.name as string | undefined,
    inputs: (call.inputs ?? {}) as Record<string, InputDef>,
    secrets: (call.secrets ?? {}) as Record<string, { required?: boolean }>,
    outputs: (call.outputs ?? {}) as Record<string, { value: string }>,
    concurrency: raw.concurrency,
    permissions: raw.permissions,
    jobs,
    order,
  };
}

// ── running ───────────────────────────────────────────────────────────────────────────────────

export type JobResultKind = 'success' | 'failure' | 'cancelled' | 'skipped';
export type Decision = 'approve' | 'reject';

export interface StepResult {
  index: number;
  id?: string;
  label: string;
  outcome: 'success' | 'failure' | 'skipped' | 'cancelled';
  /** What the driver did: ran the action bundle, ran bash, or stood in for a runner action. */
  how: 'action' | 'bash' | 'driver' | 'not-run';
  outputs: Record<string, string>;
  action?: ActionRun;
  log?: string;
}

export interface JobResult {
  name: string;
  result: JobResultKind;
  outputs: Record<string, string>;
  steps: StepResult[];
  attempt: number;
  gate?: { environment: string; decision: Decision };
}

export interface WorkflowRunResult {
  runId: number;
  attempt: number;
  jobs: Record<string, JobResult>;
  outputs: Record<string, string>;
  cancelled: boolean;
}

export interface GateRequest {
  job: string;
  environment: string;
  attempt: number;
}

export interface WorkflowRunOptions {
  file: string;
  double: GitHubDouble;
  runId: number;
  inputs: Record<string, string | boolean | number>;
  secrets?: Record<string, string>;
  /** The caller repository's checkout (GITHUB_WORKSPACE). */
  workspace: string;
  /**
   * The runner machine's own environment (what its service sets up, e.g. the container tools'
   * CONTAINERS_* files): every step, action or bash, inherits it; the per-job HOME and the
   * job's and step's `env:` go on top.
   */
  runnerEnv?: Record<string, string>;
  /**
   * The GITHUB_TOKEN permissions the calling job grants (its `permissions:`, else its
   * workflow's). When given, the run is refused the way GitHub refuses the caller, before any
   * job runs and whatever the jobs' `if:`, when a job of this workflow asks for more.
   */
  callerPermissions?: unknown;
  /**
   * A job that fails before any step sets an output (checkout failed, the runner was lost):
   * return why, and the job fails at its first step; null runs it.
   */
  failJob?(req: { job: string; attempt: number }): string | null;
  /** GITHUB_TRIGGERING_ACTOR: who started this attempt (Re-run); default `actor`. */
  triggeringActor?: string;
  /** Token of a user the gates' environments list as reviewer. */
  reviewerToken: string;
  /** The person at the Review deployments button. */
  gate(req: GateRequest): Decision | Promise<Decision>;
  /** After each job (run, skipped or failed), before the next one starts. */
  onJob?(job: JobResult): void | Promise<void>;
  /** When an action step starts (its bundle is running). */
  onAction?(ctx: { job: string; action: string; running: RunningAction }): void;
  actor?: string;
}

export interface WorkflowRun {
  done: Promise<WorkflowRunResult>;
  /** Cancel the run, like the Cancel workflow button. */
  cancel(): void;
}

/** Runs every job (attempt 1). */
export function startWorkflow(o: WorkflowRunOptions): WorkflowRun {
  return drive(o, null);
}

/** "Re-run failed jobs": the failed/cancelled jobs and their dependents, with the next attempt. */
export function rerunFailedJobs(o: WorkflowRunOptions, previous: WorkflowRunResult): WorkflowRun {
  return drive(o, previous);
}

function drive(o: WorkflowRunOptions, previous: WorkflowRunResult | null): WorkflowRun {
  const wf = loadWorkflow(o.file);
  const attempt = previous ? previous.attempt + 1 : 1;
  let cancelled = false;
  // The job running when the run is cancelled is cancelled; jobs that start afterwards (their
  // `if:` asks for cancelled() or always()) run their steps normally.
  let active: { cancelled: boolean } | null = null;
  const running = new Set<RunningAction>();
  const cancelWaiters: (() => void)[] = [];

  const cancel = (): void => {
    if (cancelled) return;
    cancelled = true;
    if (active) active.cancelled = true;
    for (const w of cancelWaiters.splice(0)) w();
    for (const r of running) signalLikeRunner(r);
  };

  const done = (async (): Promise<WorkflowRunResult> => {
    if (o.callerPermissions !== undefined) checkNestedPermissions(wf, o.callerPermissions);
    const inputs = workflowInputs(wf, o.inputs);
    const secrets: Record<string, Value> = {};
    for (const name of Object.keys(wf.secrets)) secrets[name] = o.secrets?.[name] ?? '';
    for (const name of Object.keys(o.secrets ?? {})) {
      if (!Object.hasOwn(wf.secrets, name))
        throw new Error(`${wf.file}: no secret ${name} is declared`);
    }
    const base = { inputs, secrets, github: githubContext(o, attempt) };
    // Top-level expressions must at least evaluate.
    interpolateDeep(wf.concurrency, { contexts: base });

    const rerun = new Set<string>();
    if (previous) {
      for (const n of wf.order) {
        const prev = previous.jobs[n];
        const failed = prev && (prev.result === 'failure' || prev.result === 'cancelled');
        const downstream = needsOf(wf.jobs[n]!).some((d) => rerun.has(d));
        if (failed || downstream) rerun.add(n);
      }
    }

    const jobs: Record<string, JobResult> = {};
    for (const name of wf.order) {
      if (previous && !rerun.has(name)) {
        jobs[name] = previous.jobs[name]!;
        continue;
      }
      const job = wf.jobs[name]!;
      const needs: Record<string, Value> = {};
      for (const n of needsOf(job)) {
        needs[n] = { result: jobs[n]!.result, outputs: { ...jobs[n]!.outputs } };
      }
      const ancestors = ancestorsOf(wf, name);
      const status = {
        success: () => !cancelled && ancestors.every((a) => jobs[a]!.result === 'success'),
        failure: () => ancestors.some((a) => jobs[a]!.result === 'failure'),
        cancelled: () => cancelled,
      };
      const jctx: ExprContext = { contexts: { ...base, needs }, status };
      const result: JobResult = { name, result: 'skipped', outputs: {}, steps: [], attempt };
      jobs[name] = result;
      if (!condition(job.if, jctx)) {
        await o.onJob?.(result);
        continue;
      }
      interpolate(job['runs-on'], jctx);
      const token = { cancelled: false };
      active = token;

      // The gate: a job on a protected environment waits for a review.
      if (job.environment !== undefined) {
        const envName = toText(
          interpolate(
            typeof job.environment === 'string' ? job.environment : job.environment.name,
            jctx,
          ),
        );
        const decision = await gateFor(o, name, envName, attempt, () => cancelled, cancelWaiters);
        if (decision === 'cancelled') {
          result.result = 'cancelled';
          await o.onJob?.(result);
          continue;
        }
        if (decision) {
          result.gate = { environment: envName, decision };
          if (decision === 'reject') {
            result.result = 'failure';
            await o.onJob?.(result);
            continue;
          }
        }
      }

      const fault = o.failJob?.({ job: name, attempt }) ?? null;
      if (fault !== null) {
        active = null;
        result.steps.push({
          index: 0,
          label: job.steps?.[0]?.uses ?? job.steps?.[0]?.name ?? 'step 1',
          outcome: 'failure',
          how: 'driver',
          outputs: {},
          log: fault,
        });
        result.result = 'failure';
        await o.onJob?.(result);
        continue;
      }
      await runSteps(o, wf, name, job, jctx, result, attempt, {
        isCancelled: () => token.cancelled,
        running,
      });
      active = null;
      for (const [k, expr] of Object.entries(job.outputs ?? {})) {
        const v = toText(
          interpolate(expr, { contexts: { ...jctx.contexts, steps: stepsContext(result) } }),
        );
        if (v !== '') result.outputs[k] = v;
      }
      await o.onJob?.(result);
    }

    const outputs: Record<string, string> = {};
    const jobsCtx: Record<string, Value> = {};
    for (const [n, j] of Object.entries(jobs))
      jobsCtx[n] = { result: j.result, outputs: { ...j.outputs } };
    for (const [k, def] of Object.entries(wf.outputs)) {
      outputs[k] = toText(interpolate(def.value, { contexts: { ...base, jobs: jobsCtx } }));
    }
    return { runId: o.runId, attempt, jobs, outputs, cancelled };
  })();

  return { done, cancel };
}

/** The `github` context as far as the workflows here read it. */
function githubContext(o: WorkflowRunOptions, attempt: number): Record<string, Value> {
  const state = o.double.state;
  return {
    token: o.double.token,
    run_id: String(o.runId),
    run_attempt: String(attempt),
    repository: `${state.owner}/${state.repo}`,
  };
}

function workflowInputs(
  wf: WorkflowDef,
  given: WorkflowRunOptions['inputs'],
): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const [name, def] of Object.entries(wf.inputs)) {
    let v: Value | undefined = Object.hasOwn(given, name)
      ? given[name]
      : (def.default as Value | undefined);
    if (v === undefined) {
      if (def.required) throw new Error(`${wf.file}: input ${name} is required`);
      v = def.type === 'boolean' ? false : def.type === 'number' ? 0 : '';
    }
    if (def.type === 'boolean' && typeof v !== 'boolean')
      throw new Error(`input ${name} must be a boolean`);
    if (def.type === 'number' && typeof v !== 'number')
      throw new Error(`input ${name} must be a number`);
    if ((def.type ?? 'string') === 'string' && typeof v !== 'string')
      throw new Error(`input ${name} must be a string`);
    out[name] = v;
  }
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(wf.inputs, name))
      throw new Error(`${wf.file}: no input ${name} is declared`);
  }
  return out;
}

// ── permissions of a called workflow ──────────────────────────────────────────────────────────

const PERMISSION_SCOPES = [
  'actions',
  'attestations',
  'checks',
  'contents',
  'deployments',
  'discussions',
  'id-token',
  'issues',
  'models',
  'packages',
  'pages',
  'pull-requests',
  'repository-projects',
  'security-events',
  'statuses',
] as const;
const LEVELS = ['none', 'read', 'write'] as const;
type Level = (typeof LEVELS)[number];

/** `permissions:` as a level per scope: a map (absent scopes none), read-all, write-all, {}. */
export function permissionLevels(p: unknown, where: string): Record<string, Level> {
  const out: Record<string, Level> = {};
  if (p === 'read-all' || p === 'write-all') {
    for (const s of PERMISSION_SCOPES) out[s] = p === 'read-all' ? 'read' : 'write';
    if (p === 'read-all') out['id-token'] = 'none'; // id-token has no read level
    return out;
  }
  if (p === null || typeof p !== 'object' || Array.isArray(p)) {
    throw new Error(`${where}: permissions must be a map, read-all or write-all`);
  }
  for (const s of PERMISSION_SCOPES) out[s] = 'none';
  for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
    if (!(PERMISSION_SCOPES as readonly string[]).includes(k))
      throw new Error(`${where}: unknown permission ${k}`);
    if (!(LEVELS as readonly string[]).includes(String(v)))
      throw new Error(`${where}: permission ${k}: ${String(v)} is not none, read or write`);
    out[k] = v as Level;
  }
  return out;
}

/**
 * GitHub validates a called workflow against its caller before anything runs, skipped jobs
 * included: a nested job (its `permissions:`, else the workflow's) may only keep or lower what
 * the caller grants ("The nested job 'x' is requesting 'actions: write', but is only allowed
 * 'actions: read'"; actions/runner#4151: `if:` does not help).
 */
export function checkNestedPermissions(wf: WorkflowDef, caller: unknown): void {
  const allowed = permissionLevels(caller, 'caller');
  for (const [name, job] of Object.entries(wf.jobs)) {
    const asked = job.permissions ?? wf.permissions;
    if (asked === undefined) continue; // inherits the caller's
    const levels = permissionLevels(asked, `${wf.file}: job ${name}`);
    for (const [scope, level] of Object.entries(levels)) {
      const max = allowed[scope] ?? 'none';
      if (LEVELS.indexOf(level) > LEVELS.indexOf(max)) {
        throw new Error(
          `${wf.file}: Error calling workflow: the nested job '${name}' is requesting '${scope}: ${level}', but is only allowed '${scope}: ${max}'`,
        );
      }
    }
  }
}

function ancestorsOf(wf: WorkflowDef, name: string): string[] {
  const seen = new Set<string>();
  const walk = (n: string): void => {
    for (const d of needsOf(wf.jobs[n]!)) {
      if (!seen.has(d)) {
        seen.add(d);
        walk(d);
      }
    }
  };
  walk(name);
  return [...seen];
}

function interpolateDeep(v: unknown, ctx: ExprContext): unknown {
  if (typeof v === 'string') return interpolate(v, ctx);
  if (Array.isArray(v)) return v.map((x) => interpolateDeep(x, ctx));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolateDeep(x, ctx)]));
  }
  return v;
}

async function gateFor(
  o: WorkflowRunOptions,
  job: string,
  environment: string,
  attempt: number,
  isCancelled: () => boolean,
  cancelWaiters: (() => void)[],
): Promise<Decision | null | 'cancelled'> {
  const state = o.double.state;
  // A misspelt or never-created environment is created now, unprotected; rules the plan does
  // not enforce (private repository without Enterprise) do not hold the job either.
  const env = environmentForJob(state, environment);
  if (!jobWaits(state, env)) {
    const run = state.run(o.runId);
    state.createDeployment({
      ref: run.headBranch,
      sha: run.headSha,
      environment: env.name,
      creator: run.actor,
    });
    return null;
  }
  environment = env.name;
  state.requestApproval(o.runId, environment);
  const api = async (method: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(
      `${o.double.url}/repos/${state.owner}/${state.repo}/actions/runs/${o.runId}/pending_deployments`,
      {
        method,
        headers: {
          authorization: `token ${o.reviewerToken}`,
          accept: 'application/vnd.github+json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      },
    );
    const text = await res.text();
    if (res.status !== 200)
      throw new Error(`${method} pending_deployments: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as unknown;
  };
  // What the reviewer sees: the run waits for this environment.
  const pending = (await api('GET')) as { environment: { id: number; name: string } }[];
  const mine = pending.find((p) => p.environment.name === environment);
  if (!mine) throw new Error(`the run does not show ${environment} as waiting for review`);
  const decision = await Promise.race([
    Promise.resolve(o.gate({ job, environment, attempt })),
    new Promise<'cancelled'>((r) => {
      if (isCancelled()) r('cancelled');
      cancelWaiters.push(() => r('cancelled'));
    }),
  ]);
  if (decision === 'cancelled') {
    const run = state.runs.get(o.runId);
    if (run) run.pending = run.pending.filter((p) => p.environment !== environment);
    return 'cancelled';
  }
  await api('POST', {
    environment_ids: [mine.environment.id],
    state: decision === 'approve' ? 'approved' : 'rejected',
    comment: `${decision} ${job} (attempt ${attempt})`,
  });
  return decision;
}

function stepsContext(job: JobResult): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const s of job.steps) {
    if (s.id) out[s.id] = { outputs: { ...s.outputs }, outcome: s.outcome, conclusion: s.outcome };
  }
  return out;
}

const ROLLGATE_ACTION = /^\.\/(?:\.rollgate\/)?actions\/([a-z0-9-]+)$/;

async function runSteps(
  o: WorkflowRunOptions,
  wf: WorkflowDef,
  jobName: string,
  job: JobDef,
  jctx: ExprContext,
  result: JobResult,
  attempt: number,
  run: { isCancelled: () => boolean; running: Set<RunningAction> },
): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), `rollgate-home-${jobName}-`));
  try {
    let failed = false;
    for (const [index, step] of (job.steps ?? []).entries()) {
      const label = step.name ?? step.uses ?? step.run?.split('\n')[0] ?? `step ${index + 1}`;
      const sctx: ExprContext = {
        contexts: { ...jctx.contexts, steps: stepsContext(result) },
        status: {
          success: () => !failed && !run.isCancelled(),
          failure: () => failed,
          cancelled: () => run.isCancelled(),
        },
      };
      const rec: StepResult = { index, label, outcome: 'skipped', how: 'not-run', outputs: {} };
      if (step.id) rec.id = step.id;
      result.steps.push(rec);
      if (!condition(step.if, sctx)) continue;
      const env: Record<string, string> = { ...(o.runnerEnv ?? {}), HOME: home };
      for (const [k, v] of Object.entries({ ...(job.env ?? {}), ...(step.env ?? {}) })) {
        env[k] = toText(interpolate(v, sctx));
      }
      const withValues: Record<string, string> = {};
      for (const [k, v] of Object.entries(step.with ?? {}))
        withValues[k] = toText(interpolate(v, sctx));

      if (step.uses !== undefined) {
        const uses = step.uses;
        if (/^actions\/checkout@/.test(uses)) {
          rec.how = 'driver';
          rec.outcome = 'success';
          continue;
        }
        const local = ROLLGATE_ACTION.exec(uses);
        if (!local) {
          throw new Error(`${wf.file}: job ${jobName}: the driver cannot run uses: ${uses}`);
        }
        const name = local[1]!;
        const running = startAction(name, {
          double: o.double,
          ids: { runId: o.runId, jobId: jobName, attempt },
          job: jobName,
          cwd: o.workspace,
          inputs: withValues,
          env,
          ...(o.actor ? { actor: o.actor } : {}),
          ...(o.triggeringActor ? { triggeringActor: o.triggeringActor } : {}),
        });
        run.running.add(running);
        if (run.isCancelled()) signalLikeRunner(running);
        o.onAction?.({ job: jobName, action: name, running });
        let r: ActionRun;
        try {
          r = await running.done;
        } finally {
          run.running.delete(running);
        }
        rec.how = 'action';
        rec.action = r;
        rec.outputs = r.outputs;
        rec.outcome = r.code === 0 ? 'success' : run.isCancelled() ? 'cancelled' : 'failure';
      } else if (step.run !== undefined) {
        if (step.shell !== undefined && step.shell !== 'bash') {
          throw new Error(`${wf.file}: job ${jobName}: shell ${step.shell} is not supported`);
        }
        const r = await runBash(step.run, o.workspace, env);
        rec.how = 'bash';
        rec.log = r.log;
        rec.outputs = r.outputs;
        rec.outcome = r.code === 0 ? 'success' : 'failure';
      } else {
        throw new Error(`${wf.file}: job ${jobName} step ${index + 1} has neither uses nor run`);
      }
      if (rec.outcome !== 'success') failed = true;
    }
    result.result = run.isCancelled()
      ? 'cancelled'
      : result.steps.some((s) => s.outcome === 'failure')
        ? 'failure'
        : 'success';
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** SIGINT, then SIGTERM after 7.5 s, then SIGKILL after 2.5 s more (the runner's cancel). */
function signalLikeRunner(r: RunningAction): void {
  const send = (sig: NodeJS.Signals): void => {
    try {
      r.kill(sig);
    } catch {
      // not spawned yet: try again shortly
      setTimeout(() => send(sig), 50);
    }
  };
  send('SIGINT');
  const term = setTimeout(() => send('SIGTERM'), 7500);
  const kill = setTimeout(() => send('SIGKILL'), 10_000);
  void r.done.finally(() => {
    clearTimeout(term);
    clearTimeout(kill);
  });
}

async function runBash(
  script: string,
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; log: string; outputs: Record<string, string> }> {
  const dir = await mkdtemp(join(tmpdir(), 'rollgate-step-'));
  try {
    const file = join(dir, 'step.sh');
    const output = join(dir, 'output');
    await writeFile(file, script);
    await writeFile(output, '');
    const full = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...env,
      GITHUB_OUTPUT: output,
      GITHUB_WORKSPACE: cwd,
      CI: 'true',
      GITHUB_ACTIONS: 'true',
    };
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], {
      cwd,
      env: full,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? 1)));
    return { code, log, outputs: parseCommandFile(await readFile(output, 'utf8')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
