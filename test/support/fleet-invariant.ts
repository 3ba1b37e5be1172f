/**
 * THE INVARIANT of the fault suite, checked at the end of every scenario on a real fleet:
 *
 * 1. Every host serves either the old version or the verified new one: `current` points at a
 *    complete release of one of the two; a host in the load balancer answers /health on exactly
 *    that version, and the new version only where the record says it was verified.
 * 2. No host is out of the load balancer without a record: for every server HAProxy reports
 *    MAINT or DRAIN, the ledger (`state.json`) shows that target failed, running, taken out by
 *    the release and not put back (a stop, a dead run), its LB state unknown (F5), or as the
 *    bastion awaiting its bake (or never baked, the release stopped).
 * 3. Listed by status: `status` (in-process, or the real `rollgate status --json` with
 *    `statusCli`) names every target out of traffic or failed with why and the one command that
 *    restores it (or why it is not rollgate's to do).
 * 4. No lock outlives the release that took it: no `<docBase>/.rollgate/lock` of one of this
 *    group's deployments once the operation ended (a killed run's may stay until stop, continue
 *    or reconcile; one on a host the release could not reach stays, its target failed and
 *    listed, until the next operation takes it over).
 * 5. The event log (`events.ndjson`) is complete: for each target of each release, the states
 *    it logs replay as a legal path of the state machine (`transition()`), and for the current
 *    release end in the state the ledger records.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadGroupFile } from '../../src/config/group-file';
import type { Deployment, Ledger, ReleaseEvent } from '../../src/engine/ledger';
import { transition, type TargetEvent } from '../../src/engine/target-machine';
import { isFailure, isRunning, type TargetState } from '../../src/model/states';
import { STEPS, type Target } from '../../src/model/types';
import { slotTarget } from '../../src/model/slots';
import { COMPLETE_MARKER } from '../../src/host/scripts';
import { parseEventLog } from '../../src/store/record-repair';
import type { RealFleet } from './real-fleet';
import type { Engine } from '../../src/engine/engine';
import type { Runtime } from '../../src/app/runtime';
import type { PackageRef } from '../../src/model/types';
import { collectStatus } from '../../src/report/collect';
import type { GroupStatus } from '../../src/report/status';

export interface InvariantOptions {
  /**
   * Versions a host may run besides the current release's version and the version it came
   * from (`fromVersion`); for fleets whose hosts ran something else before.
   */
  alsoAllowed?: string[];
  /** The load balancer is down (killed by the scenario): every host then counts as in traffic. */
  lbDown?: boolean;
  /**
   * Right after the release process was SIGKILLed: the saved record may be a transition behind
   * the log (the next operation catches it up), so only the log's own legality is checked.
   */
  justKilled?: boolean;
  /** Read the "listed by status" half from the real `rollgate status --json` (a child process). */
  statusCli?: boolean;
}

export interface HostView {
  id: string;
  current: string | null;
  health: { ok: boolean; version?: string; detail: string };
  lb: string;
  state: TargetState | null;
}

export interface InvariantReport {
  deployment: Deployment | null;
  hosts: HostView[];
  events: ReleaseEvent[];
  status: GroupStatus;
}

/** States in which the new version on a host has passed verify. */
const VERIFIED: ReadonlySet<TargetState> = new Set<TargetState>([
  'VERIFY_SUCCESS',
  'MARKUP_RUNNING',
  'MARKUP_SUCCESS',
  'MARKUP_FAILURE',
  'BAKE_RUNNING',
  'BAKE_SUCCESS',
  'BAKE_FAILURE',
  'SKIPPED',
]);

/** Everything that can happen to a target, to find which one explains a logged state. */
const ALL_EVENTS: TargetEvent[] = [
  ...STEPS.map((step): TargetEvent => ({ type: 'start', step })),
  { type: 'succeed' },
  { type: 'fail' },
  { type: 'skip' },
  { type: 'reset' },
  ...(['PENDING', 'VERIFY_SUCCESS', 'MARKUP_SUCCESS', 'BAKE_SUCCESS'] as const).map(
    (to): TargetEvent => ({ type: 'restore', to }),
  ),
];

/** States that put (or keep) a target in traffic. */
const BACK_IN: ReadonlySet<TargetState> = new Set<TargetState>([
  'MARKUP_SUCCESS',
  'BAKE_SUCCESS',
  'SKIPPED',
]);

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A stack frame in output a person sees: `at fn (file:line:col)` or `at file:line:col`. */
export const STACK_FRAME = /^\s*at (?:.+ \()?(?:file:\/\/)?[^\s()]+:\d+:\d+\)?\s*$/m;

/** Fails when any text holds a stack frame: users never see one (issue 11). */
export function expectNoStackFrame(...texts: string[]): void {
  for (const text of texts) expect(text, text).not.toMatch(STACK_FRAME);
}

export interface CliResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The real command line: `node --import tsx src/cli/bin.ts …`, as a child process. */
export function cliChild(
  args: string[],
  who = 'cli-operator',
): { pid: number; signal(sig: NodeJS.Signals): void; done: Promise<CliResult> } {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, ROLLGATE_WHO: who },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    pid: child.pid!,
    signal: (sig) => child.kill(sig),
    done: new Promise((resolve) =>
      child.on('close', (code, signal) =>
        resolve({ code, signal, stdout, stderr, ms: performance.now() - started }),
      ),
    ),
  };
}

/** `rollgate status --json`: exactly one JSON document on stdout, no stack frame anywhere. */
export async function statusJson(f: RealFleet): Promise<GroupStatus> {
  const r = await cliChild(['status', '-g', f.groupFile, '--json']).done;
  expect(r.code, r.stderr).toBe(0);
  expectNoStackFrame(r.stdout, r.stderr);
  return JSON.parse(r.stdout) as GroupStatus;
}

/** The host lock file of a target, parsed; null when there is none. */
export function hostLock(docBase: string): { deploymentId?: string; who?: string } | null {
  const file = join(docBase, '.rollgate/lock');
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { deploymentId?: string; who?: string };
  } catch {
    return {};
  }
}

export function stateDir(f: RealFleet): string {
  return join(f.dir, 'state', 'fleet-shop');
}

export async function readLedger(f: RealFleet): Promise<Ledger | null> {
  try {
    return JSON.parse(await readFile(join(stateDir(f), 'state.json'), 'utf8')) as Ledger;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export async function readEvents(f: RealFleet): Promise<ReleaseEvent[]> {
  let text: string;
  try {
    text = await readFile(join(stateDir(f), 'events.ndjson'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  // As rollgate reads it: a partial last line (a crash, a full disk) is not an event.
  return parseEventLog(text).events;
}

/** HAProxy's `status` column per server of backend `app` (UP, DOWN, MAINT, DRAIN, …). */
export async function lbStatus(f: RealFleet): Promise<Record<string, string>> {
  const csv = await f.lb.cli('show stat');
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').replace(/^#\s*/, '').split(',');
  const col = header.indexOf('status');
  if (col < 0) throw new Error(`no status column in show stat:\n${csv.slice(0, 500)}`);
  const out: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    if (cells[0] === 'app' && cells[1] !== 'FRONTEND' && cells[1] !== 'BACKEND') {
      out[cells[1]!] = cells[col] ?? '';
    }
  }
  return out;
}

export async function health(target: Target): Promise<HostView['health']> {
  try {
    const res = await fetch(`http://${target.address}:${target.port}/health`, {
      signal: AbortSignal.timeout(2000),
    });
    const body = await res.text();
    let version: string | undefined;
    try {
      const v = (JSON.parse(body) as { version?: unknown }).version;
      if (typeof v === 'string') version = v;
    } catch {
      // not JSON
    }
    return {
      ok: res.status === 200,
      ...(version ? { version } : {}),
      detail: `HTTP ${res.status}`,
    };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

/** Side-by-side: the slot the host names as serving (`.rollgate/serving`), if any. */
function servingFile(docBase: string): string | null {
  try {
    return readFileSync(join(docBase, '.rollgate/serving'), 'utf8').trim();
  } catch {
    return null;
  }
}

/** The release a `current` symlink points at, when that release is complete; else a description. */
function currentRelease(docBase: string): { version: string | null; problem?: string } {
  let link: string;
  try {
    link = readlinkSync(join(docBase, 'current'));
  } catch {
    return { version: null };
  }
  const m = /^releases\/([^/]+)$/.exec(link);
  if (!m) return { version: null, problem: `current -> ${link} is not releases/<version>` };
  if (!existsSync(join(docBase, link, COMPLETE_MARKER))) {
    return { version: m[1]!, problem: `current -> ${link} is not a complete release` };
  }
  return { version: m[1]! };
}

/** Why a target out of traffic may be there, or null when the record does not explain it. */
function explainsOutOfTraffic(d: Deployment | null, id: string): string | null {
  const t = d?.targets[id];
  if (!d || !t) return null;
  if (isFailure(t.state)) return `failed (${t.state})`;
  if (isRunning(t.state)) return `running (${t.state})`;
  if (t.lbUnknown !== undefined) return `its LB state unknown (${t.lbUnknown})`;
  const bastion = d.batches[t.batch]?.bastion === true;
  if (
    bastion &&
    (t.state === 'VERIFY_SUCCESS' || t.state === 'BAKE_FAILURE') &&
    ['SMOKE_SUCCESS', 'BAKING', 'SMOKE_FAILURE', 'ABORTED'].includes(d.phase)
  ) {
    return `bastion awaiting bake or never baked (${t.state}, ${d.phase})`;
  }
  // Taken out by the release, not put back: a stop or a dead run left it between two steps.
  if (t.steps.markdown !== undefined && !BACK_IN.has(t.state)) {
    return `taken out by the release (${t.state}, ${d.phase})`;
  }
  return null;
}

/** Replays each target's logged states; returns the problems found and the last state of each. */
export function replayEvents(events: ReleaseEvent[]): {
  problems: string[];
  last: Map<string, Map<string, TargetState>>;
} {
  const problems: string[] = [];
  const last = new Map<string, Map<string, TargetState>>();
  for (const e of events) {
    if (e.type !== 'target') continue;
    if (!e.target || !e.state) {
      problems.push(`target event without target or state: ${JSON.stringify(e)}`);
      continue;
    }
    const byTarget = last.get(e.deployment) ?? new Map<string, TargetState>();
    last.set(e.deployment, byTarget);
    const from = byTarget.get(e.target) ?? 'PENDING';
    const legal = ALL_EVENTS.some((ev) => {
      try {
        return transition(from, ev) === e.state;
      } catch {
        return false;
      }
    });
    if (!legal) {
      problems.push(
        `${e.deployment} ${e.target}: ${from} -> ${e.state} is not a transition (${e.message})`,
      );
    }
    byTarget.set(e.target, e.state);
  }
  return { problems, last };
}

/** Checks THE INVARIANT; fails the test with every problem found, returns what it saw. */
export async function expectFleetInvariant(
  f: RealFleet,
  o: InvariantOptions = {},
): Promise<InvariantReport> {
  const loaded = await loadGroupFile(f.groupFile, process.env);
  const ledger = await readLedger(f);
  const d = ledger?.current ?? null;
  const events = await readEvents(f);
  const lb = o.lbDown ? {} : await lbStatus(f);
  const status = await listedByStatus(f, o);
  const problems: string[] = [];
  const allowed = new Set<string>(o.alsoAllowed ?? []);
  if (d) {
    allowed.add(d.version);
    if (d.fromVersion) allowed.add(d.fromVersion);
  }

  const hosts: HostView[] = [];
  const sideBySide = loaded.config.strategy === 'side-by-side';
  for (const t of loaded.group.targets) {
    const cur = currentRelease(t.docBase);
    let lbState = o.lbDown ? 'LB DOWN' : (lb[t.id] ?? 'missing');
    // S7: a target is its two slots; what serves is the slot whose server is in traffic (the
    // host's `serving` file when the LB is down), and never both at once.
    let served: Target = t;
    if (sideBySide) {
      const b = slotTarget(t, 'b');
      if (o.lbDown) {
        if (servingFile(t.docBase) === 'b') served = b;
      } else {
        const bState = lb[b.lbName!] ?? 'missing';
        const inTraffic = (st: string) => st !== 'missing' && !/^(MAINT|DRAIN)/.test(st);
        if (bState === 'missing') problems.push(`${t.id}: no server ${b.lbName} in HAProxy`);
        if (inTraffic(lbState) && inTraffic(bState)) {
          problems.push(`${t.id}: both slots in traffic (a ${lbState}, b ${bState})`);
        } else if (inTraffic(bState)) {
          lbState = bState;
          served = b;
        }
      }
    }
    const h = await health(served);
    const rec = d?.targets[t.id];
    const view: HostView = {
      id: t.id,
      current: cur.version,
      health: h,
      lb: lbState,
      state: rec?.state ?? null,
    };
    hosts.push(view);
    const where = `${t.id} (current ${cur.version ?? '-'}, health ${h.ok ? h.version : h.detail}, lb ${lbState}, state ${view.state ?? '-'})`;
    if (cur.problem) problems.push(`${where}: ${cur.problem}`);
    if (d && cur.version !== null && !allowed.has(cur.version)) {
      problems.push(`${where}: runs ${cur.version}, neither ${[...allowed].join(' nor ')}`);
    }
    if (!o.lbDown && !(t.id in lb)) problems.push(`${where}: not in HAProxy's backend`);
    // 4. No lock of this group's deployments outlives the operation that took it.
    // A host the release could not reach could not be unlocked either: that target is failed
    // and listed, and the next operation of the group takes the lock over.
    const lock = hostLock(t.docBase);
    const unreachable = /unreachable|connection|ssh/i.test(rec?.error ?? '');
    if (
      lock &&
      !o.justKilled &&
      !unreachable &&
      lock.deploymentId?.startsWith(`${loaded.group.name}-`)
    ) {
      problems.push(`${where}: host lock of ${lock.deploymentId} outlived its operation`);
    }
    // 3. Listed by status: every target out of traffic or failed, with why and one command.
    const listed = status.targets.find((x) => x.id === t.id)?.wayBack;
    const failed = view.state !== null && isFailure(view.state);
    const out = /^(MAINT|DRAIN)/.test(lbState);
    if ((out || failed || /^DOWN/.test(lbState)) && !t.pulledOut) {
      if (
        !listed ||
        listed.why.length < 10 ||
        (listed.command === null && listed.action !== 'none')
      ) {
        problems.push(
          `${where}: out of traffic or failed, but status does not list it with why and a command`,
        );
      }
    }
    if (out) {
      if (!explainsOutOfTraffic(d, t.id)) {
        problems.push(`${where}: out of the load balancer, and the record does not say why`);
      }
      continue;
    }
    // In traffic: it must serve, on the version `current` names, verified if it is the new one.
    if (!h.ok) problems.push(`${where}: in traffic but not healthy`);
    else if (h.version !== cur.version) {
      problems.push(`${where}: in traffic answering ${h.version}, but current is ${cur.version}`);
    }
    if (d && cur.version === d.version && d.version !== d.fromVersion) {
      const state = rec?.state;
      if (!state || !VERIFIED.has(state)) {
        problems.push(`${where}: in traffic on the new ${d.version} without a passed verify`);
      }
    }
  }

  const replay = replayEvents(events);
  problems.push(...replay.problems);
  if (d && !o.justKilled) {
    const logged = replay.last.get(d.id) ?? new Map<string, TargetState>();
    for (const [id, rec] of Object.entries(d.targets)) {
      const end = logged.get(id) ?? 'PENDING';
      if (end !== rec.state) {
        problems.push(`${id}: the event log ends in ${end}, the ledger records ${rec.state}`);
      }
    }
    for (const id of logged.keys()) {
      if (!(id in d.targets)) problems.push(`${id}: logged for ${d.id} but not in its ledger`);
    }
  }
  expect(problems, `${problems.join('\n')}\n${JSON.stringify(hosts)}`).toEqual([]);
  return { deployment: d, hosts, events, status };
}

/** What `status` says: the real command's JSON, or collectStatus on a fresh runtime. */
async function listedByStatus(f: RealFleet, o: InvariantOptions): Promise<GroupStatus> {
  if (o.statusCli) return statusJson(f);
  const rt = await f.runtime();
  try {
    return await collectStatus(rt.ports, rt.loaded.group, 10, { groupFile: f.groupFile });
  } finally {
    await rt.close();
  }
}

// ── helpers the fault scenarios share ─────────────────────────────────────────────────────────

/** The package a fleet built for a version. */
export function packageOf(f: RealFleet, version: string): PackageRef {
  return { version, path: join(f.packages, `app-${version}.tar.gz`) };
}

/** One line per target for assertion messages: id, state, error. */
export function describeTargets(d: Deployment): string {
  return Object.values(d.targets)
    .map((t) => `${t.id} ${t.state}${t.error ? `: ${t.error}` : ''}`)
    .join('\n');
}

/** deploy → bake → continue on one engine; returns what continue returned. */
export async function fullRelease(engine: Engine, f: RealFleet, version: string) {
  const smoke = await engine.deploy({ version, package: packageOf(f, version) });
  expect(smoke.phase, describeTargets(smoke.deployment)).toBe('SMOKE_SUCCESS');
  const bake = await engine.bake();
  expect(bake.phase, describeTargets(bake.deployment)).toBe('BAKE_SUCCESS');
  return engine.continue();
}

/** A whole release through a fresh runtime, which is closed afterwards. */
export async function releaseOnFleet(f: RealFleet, version: string) {
  const rt = await f.runtime();
  try {
    return await fullRelease(rt.engine, f, version);
  } finally {
    await rt.close();
  }
}

/**
 * Calls `hook` with every event the runtime's engine records, before it is written. The step
 * that follows waits for the hook, so a fault injected there lands before that step runs.
 */
export function onEvents(rt: Runtime, hook: (e: ReleaseEvent) => void | Promise<void>): void {
  const store = rt.ports.store;
  const append = store.append.bind(store);
  store.append = async (group, event) => {
    await hook(event);
    await append(group, event);
  };
}
