/**
 * Runs an action's bundle the way the GitHub runner does: `node <runs.main>` as a child process
 * with `INPUT_<NAME>` for each input (the action.yml defaults filled in, `${{ github.token }}`
 * being the double's token), the GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_STATE / GITHUB_ENV
 * files in a temp dir, RUNNER_TEMP, GITHUB_WORKSPACE, GITHUB_JOB, GITHUB_ACTOR and the variables
 * `runnerEnv` gives a job of the run (API and results-service URLs, runtime token, run ids).
 * The outputs file is parsed (`name<<delimiter` heredocs and `name=value` lines) and the
 * `::error::` / `::warning::` workflow commands are collected from stdout.
 *
 * Also here: `makeActionsFleet`, a local fleet of sample-app hosts for the actions (local
 * transport, a `command` load balancer that keeps each target's state in a file).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { buildPackage, type BuildPackageOptions } from '../../src/package/tarball';
import { runnerEnv, type GitHubDouble, type RunnerIds } from './github-double/github-double';
import { approveGate, gateOfStep } from './github-double/approvals';
import { killApp } from './kill-app';
import { commandTraffic, commandTrafficState, sampleAppGroup } from './group-yaml';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const APP_DIR = join(ROOT, 'examples/app');

export interface ActionInputSpec {
  description?: string;
  required?: boolean;
  default?: string | number | boolean;
}

export interface ActionMetadata {
  /** Directory of the action.yml. */
  dir: string;
  file: string;
  name: string;
  description?: string;
  inputs: Record<string, ActionInputSpec>;
  outputs: Record<string, { description?: string }>;
  runs: { using: string; main: string; [k: string]: unknown };
}

/** `main` (or `.`) is the umbrella action.yml at the root; any other name is actions/<name>. */
export function actionDir(name: string): string {
  return name === 'main' || name === '.' ? ROOT : join(ROOT, 'actions', name);
}

export function readActionMetadata(dir: string): ActionMetadata {
  const file = join(dir, 'action.yml');
  const raw = parseYaml(readFileSync(file, 'utf8')) as Omit<ActionMetadata, 'dir' | 'file'>;
  return { ...raw, inputs: raw.inputs ?? {}, outputs: raw.outputs ?? {}, dir, file };
}

export interface ActionRunOptions {
  double: GitHubDouble;
  /** Run, job and attempt of the job this step belongs to. */
  ids: RunnerIds;
  /** `with:` values. Keys as in action.yml (`group-file`). */
  inputs?: Record<string, string>;
  /** Extra environment (a step's `env:`), on top of the runner's. */
  env?: Record<string, string>;
  /** GITHUB_WORKSPACE and the working directory. */
  cwd: string;
  /** GITHUB_JOB (default: ids.jobId or `job`). */
  job?: string;
  actor?: string;
  /** GITHUB_TRIGGERING_ACTOR (a re-run's is who pressed Re-run); default `actor`. */
  triggeringActor?: string;
  /** Killed with SIGKILL after this long (default 180 s). */
  timeoutMs?: number;
  /** Keep the temp dir (RUNNER_TEMP, command files) instead of removing it. */
  keepTemp?: boolean;
  /** Run this file instead of the action's runs.main (a copy of the bundle elsewhere). */
  main?: string;
}

export interface ActionRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  outputs: Record<string, string>;
  summary: string;
  stdout: string;
  stderr: string;
  /** `::error::` messages, unescaped. */
  errors: string[];
  warnings: string[];
  /** `with:` keys the action does not declare (the runner only warns about them). */
  unexpectedInputs: string[];
  /** RUNNER_TEMP of the run (removed unless keepTemp). */
  runnerTemp: string;
  ms: number;
}

export interface RunningAction {
  /** The node process (throws before it is spawned: wait for some output first). */
  child: ChildProcess;
  /** Sends a signal, as the runner does when the run is cancelled (SIGINT first). */
  kill(signal: NodeJS.Signals): void;
  /** stdout so far. */
  output(): string;
  /** Resolves when stdout (so far) matches; rejects if the process ends first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<ActionRun>;
}

/** The environment names the runner uses for an input. Hyphens stay: INPUT_GROUP-FILE. */
export function inputEnvName(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

/** Input values as the runner computes them: `with:` over the action.yml defaults. */
export function resolveInputs(
  meta: ActionMetadata,
  given: Record<string, string>,
  token: string,
): { values: Record<string, string>; unexpected: string[] } {
  const values: Record<string, string> = {};
  for (const [name, spec] of Object.entries(meta.inputs)) {
    if (Object.hasOwn(given, name)) continue;
    if (spec.default === undefined) continue;
    const text = String(spec.default);
    values[name] = text.replace(/\$\{\{(.*?)\}\}/g, (_m, expr: string) => {
      if (expr.trim() === 'github.token') return token;
      throw new Error(
        `${meta.file}: input ${name}: default expression \${{${expr}}} is not supported by the test runner`,
      );
    });
  }
  for (const [name, value] of Object.entries(given)) values[name] = value;
  const unexpected = Object.keys(given).filter((k) => !Object.hasOwn(meta.inputs, k));
  return { values, unexpected };
}

/** GITHUB_OUTPUT / GITHUB_STATE / GITHUB_ENV file format: heredocs and `name=value` lines. */
export function parseCommandFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line === '') continue;
    const heredoc = /^([^=]+?)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc as unknown as [string, string, string];
      const body: string[] = [];
      let closed = false;
      for (i++; i < lines.length; i++) {
        const l = lines[i]!.replace(/\r$/, '');
        if (l === delimiter) {
          closed = true;
          break;
        }
        body.push(l);
      }
      if (!closed) throw new Error(`command file: no closing delimiter ${delimiter} for ${name}`);
      out[name] = body.join('\n');
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`command file: cannot read line ${JSON.stringify(line)}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

function unescapeCommand(s: string): string {
  return s.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%');
}

/** `::error::m` / `::error file=..::m` lines of the action's stdout. */
export function workflowCommands(stdout: string, command: string): string[] {
  const re = new RegExp(`^::${command}(?: [^:]*)?::(.*)$`, 'gm');
  return [...stdout.matchAll(re)].map((m) => unescapeCommand(m[1] ?? ''));
}

const PASSED_THROUGH = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'USER', 'LOGNAME', 'SHELL'];

export function startAction(name: string, o: ActionRunOptions): RunningAction {
  const meta = readActionMetadata(actionDir(name));
  if (!/^node\d+$/.test(meta.runs.using)) {
    throw new Error(`${meta.file}: runs.using ${meta.runs.using} is not a node action`);
  }
  const main = o.main ?? resolve(meta.dir, meta.runs.main);
  if (!existsSync(main)) throw new Error(`${meta.file}: runs.main ${main} does not exist`);
  const { values, unexpected } = resolveInputs(meta, o.inputs ?? {}, o.double.token);

  const started = performance.now();
  let stdout = '';
  let stderr = '';
  let child: ChildProcess | undefined;
  const waiters: { re: RegExp; ok: () => void }[] = [];

  const done = (async (): Promise<ActionRun> => {
    const temp = await mkdtemp(join(tmpdir(), 'rollgate-runner-'));
    const runnerTemp = join(temp, 'temp');
    const files = {
      GITHUB_OUTPUT: join(temp, 'output'),
      GITHUB_STEP_SUMMARY: join(temp, 'summary.md'),
      GITHUB_STATE: join(temp, 'state'),
      GITHUB_ENV: join(temp, 'env'),
      GITHUB_PATH: join(temp, 'path'),
    };
    await mkdir(runnerTemp, { recursive: true });
    for (const f of Object.values(files)) await writeFile(f, '');
    const job = o.job ?? String(o.ids.jobId ?? 'job');
    const env: Record<string, string> = {};
    for (const k of PASSED_THROUGH) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    Object.assign(env, runnerEnv(o.double, o.ids), files, {
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: o.cwd,
      RUNNER_TEMP: runnerTemp,
      RUNNER_OS: 'Linux',
      RUNNER_ARCH: 'X64',
      GITHUB_JOB: job,
      GITHUB_ACTION: name,
      GITHUB_ACTION_PATH: meta.dir,
      GITHUB_ACTOR: o.actor ?? 'octocat',
      GITHUB_TRIGGERING_ACTOR: o.triggeringActor ?? o.actor ?? 'octocat',
      GITHUB_EVENT_NAME: 'workflow_dispatch',
      GITHUB_WORKFLOW: 'rollgate rollout',
    });
    Object.assign(env, o.env ?? {});
    for (const [k, v] of Object.entries(values)) env[inputEnvName(k)] = v;

    const c = spawn(process.execPath, [main], {
      cwd: o.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    c.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      for (const w of [...waiters]) {
        if (w.re.test(stdout)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.ok();
        }
      }
    });
    c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timeoutMs = o.timeoutMs ?? 180_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      c.kill('SIGKILL');
    }, timeoutMs);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
      c.on('close', (cd, sg) => r([cd, sg])),
    );
    clearTimeout(timer);
    try {
      if (timedOut) {
        throw new Error(
          `action ${name} did not finish within ${timeoutMs} ms\n--- stdout\n${stdout}\n--- stderr\n${stderr}`,
        );
      }
      return {
        code,
        signal,
        outputs: parseCommandFile(await readFile(files.GITHUB_OUTPUT, 'utf8')),
        summary: await readFile(files.GITHUB_STEP_SUMMARY, 'utf8'),
        stdout,
        stderr,
        errors: workflowCommands(stdout, 'error'),
        warnings: workflowCommands(stdout, 'warning'),
        unexpectedInputs: unexpected,
        runnerTemp,
        ms: performance.now() - started,
      };
    } finally {
      if (!o.keepTemp) await rm(temp, { recursive: true, force: true });
    }
  })();

  const running: RunningAction = {
    get child(): ChildProcess {
      if (!child) throw new Error('the action has not started yet');
      return child;
    },
    kill(signal) {
      if (!child) throw new Error('the action has not started yet');
      child.kill(signal);
    },
    output: () => stdout,
    waitForOutput(re, timeoutMs = 60_000) {
      return new Promise<void>((ok, fail) => {
        if (re.test(stdout)) return ok();
        const timer = setTimeout(
          () => fail(new Error(`no ${re} in the output of ${name} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          re,
          ok: () => {
            clearTimeout(timer);
            ok();
          },
        });
        done.then(
          () => {
            clearTimeout(timer);
            if (!re.test(stdout)) fail(new Error(`${name} ended without printing ${re}`));
          },
          (err: unknown) => {
            clearTimeout(timer);
            fail(err as Error);
          },
        );
      });
    },
    done,
  };
  return running;
}

export function runAction(name: string, o: ActionRunOptions): Promise<ActionRun> {
  return startAction(name, o).done;
}

export interface StepRunOptions {
  double: GitHubDouble;
  runId: number;
  attempt?: number;
  /** GITHUB_WORKSPACE, with the group file in it. */
  cwd: string;
  groupFile: string;
  environment: string;
  /** More `with:` values. */
  inputs?: Record<string, string>;
}

/**
 * A release step (`deploy-bastion`, `bake`, `roll-batches`, …) as its own job of run `runId`,
 * on `groupFile` and `environment`. G5: a gated step acts on an approval of its own gate job in
 * the run's review history, so that approval is recorded first.
 */
export function runStep(name: string, o: StepRunOptions): Promise<ActionRun> {
  const gate = gateOfStep(name, o.environment);
  if (gate) approveGate(o.double.state, o.runId, gate);
  return runAction(name, {
    double: o.double,
    ids: { runId: o.runId, jobId: name, attempt: o.attempt ?? 1 },
    job: name,
    cwd: o.cwd,
    inputs: { 'group-file': o.groupFile, environment: o.environment, ...o.inputs },
  });
}

/** The version a sample app on `address:port` reports on /health; null for no 200 within 2 s. */
export async function healthVersion(address: string, port: number): Promise<string | null> {
  try {
    const res = await fetch(`http://${address}:${port}/health`, {
      signal: AbortSignal.timeout(2000),
    });
    if (res.status !== 200) return null;
    return ((await res.json()) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

// ── a local fleet for the actions ─────────────────────────────────────────────────────────────

export interface FleetHost {
  id: string;
  host: string;
  address: string;
  port: number;
}

export interface ActionsFleet {
  /** GITHUB_WORKSPACE: the group file is `deploy/<group>.yml` inside it. */
  workspace: string;
  /** The group-file input (relative to the workspace). */
  groupFile: string;
  group: string;
  hosts: FleetHost[];
  build(
    version: string,
    extra?: Omit<BuildPackageOptions, 'appDir' | 'version' | 'outDir'>,
  ): Promise<void>;
  /** The version `current` points at on the host, or null. */
  current(host: string): string | null;
  /** What the load balancer holds for the target: up, down, or null (never touched). */
  traffic(host: string): 'up' | 'down' | null;
  /** GET /health of the host's app: the answered version, or null when it does not answer 200. */
  health(host: string): Promise<string | null>;
  /** Release directories present on the host. */
  releases(host: string): string[];
  cleanup(): Promise<void>;
}

export interface ActionsFleetOptions {
  group: string;
  addresses: string[];
  port: number;
  /** YAML lines under `deployment:` (indented two spaces). */
  deployment?: string;
  /** Extra top-level YAML (e.g. `keep: 3`). */
  extra?: string;
}

/**
 * A workspace with `deploy/<group>.yml`: local transport under deploy/fleet, packages under
 * deploy/packages, and a `command` load balancer whose markdown/markup write `down`/`up` into
 * deploy/lb/<target>, so the tests can see which targets are in traffic.
 */
export async function makeActionsFleet(o: ActionsFleetOptions): Promise<ActionsFleet> {
  const workspace = await mkdtemp(join(tmpdir(), 'rollgate-ws-'));
  const deploy = join(workspace, 'deploy');
  const lb = join(deploy, 'lb');
  await mkdir(lb, { recursive: true });
  const hosts: FleetHost[] = o.addresses.map((address, i) => ({
    id: `web-${String(i + 1).padStart(2, '0')}`,
    host: `web-${String(i + 1).padStart(2, '0')}`,
    address,
    port: o.port,
  }));
  const groupFile = `deploy/${o.group}.yml`;
  await writeFile(
    join(workspace, groupFile),
    sampleAppGroup({
      group: o.group,
      docBase: '/srv/shop',
      port: o.port,
      stopTimeout: '3s',
      deployment:
        o.deployment ?? '  maxUnavailable: 50%\n  startTimeout: 5s\n  verifyInterval: 50ms',
      sections: ['transport: { kind: local, root: ./fleet }', commandTraffic(lb), o.extra ?? ''],
      targets: hosts,
    }),
  );
  const hostDir = (host: string) => join(deploy, 'fleet', host, 'srv/shop');
  const fleet: ActionsFleet = {
    workspace,
    groupFile,
    group: o.group,
    hosts,
    async build(version, extra) {
      await buildPackage({ appDir: APP_DIR, version, outDir: join(deploy, 'packages'), ...extra });
    },
    current(host) {
      try {
        return readFileSync(join(hostDir(host), 'current', 'VERSION'), 'utf8').trim();
      } catch {
        return null;
      }
    },
    traffic(host) {
      return commandTrafficState(lb, host);
    },
    async health(host) {
      const h = hosts.find((x) => x.host === host);
      if (!h) throw new Error(`no host ${host}`);
      return healthVersion(h.address, h.port);
    },
    releases(host) {
      try {
        return readdirNames(join(hostDir(host), 'releases'));
      } catch {
        return [];
      }
    },
    async cleanup() {
      for (const h of hosts) killApp(join(hostDir(h.host), '.rollgate/app.pid'));
      await rm(workspace, { recursive: true, force: true });
    },
  };
  return fleet;
}

function readdirNames(dir: string): string[] {
  return readdirSync(dir).sort();
}

export { killApp };

/** Path helpers for tests that look into a host directly. */
export function hostPath(fleet: ActionsFleet, host: string, ...rest: string[]): string {
  return join(dirname(join(fleet.workspace, fleet.groupFile)), 'fleet', host, 'srv/shop', ...rest);
}

// ── artifacts held by the double ──────────────────────────────────────────────────────────────

/** The ledger artifacts (`rollgate-<group>-…`) of a run, oldest first. */
export function ledgerArtifacts(
  double: GitHubDouble,
  group: string,
  runId?: number,
): { id: number; name: string; runId: number; blobName: string }[] {
  return double.state.artifacts
    .filter((a) => a.finalized && a.name.startsWith(`rollgate-${group}-`))
    .filter((a) => runId === undefined || a.runId === runId)
    .sort((a, b) => a.id - b.id);
}

/** One file of an artifact, read from the blob store (the zip GitHub would serve). */
export async function readArtifactFile(
  double: GitHubDouble,
  artifact: { blobName: string; name: string },
  file: string,
): Promise<string> {
  const url = (await double.storage()).downloadUrl(artifact.blobName, `${artifact.name}.zip`);
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`artifact ${artifact.name}: HTTP ${res.status}`);
  const dir = await mkdtemp(join(tmpdir(), 'rollgate-artifact-'));
  try {
    const zip = join(dir, 'a.zip');
    await writeFile(zip, Buffer.from(await res.arrayBuffer()));
    return await new Promise<string>((ok, fail) => {
      const c = spawn('unzip', ['-p', zip, file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('close', (code) =>
        code === 0 ? ok(out) : fail(new Error(`unzip ${file} of ${artifact.name}: ${err}`)),
      );
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
