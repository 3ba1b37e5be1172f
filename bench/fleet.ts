/**
 * Fleet benchmark (issue 5): the same 6 real sshd hosts (127.0.2.161–166) behind one real
 * HAProxy (127.0.8.1:18800), the same sample app (300 ms start-up), the same 3 batches of 2,
 * released back to back by three contenders:
 *
 * - rollgate: the engine in-process (fleet.runtime() → engine.deploy / engine.rollback, as the
 *   CLI would run it, minus Node's start-up), no bastion, maxUnavailable 34% → batches 2+2+2;
 * - Ansible: ansible-core running bench/fleet/rolling.yml (serial: 2, HAProxy through socat);
 * - the floor: bench/fleet/floor.sh, HAProxy socket commands plus one ssh command per host.
 *
 * Each round, in a rotating order: rollgate releases a new version, rolls it back, releases it
 * again (now already on the hosts); Ansible and the floor each release a new version, then go
 * back to their previous one (already on the hosts). Every run switches every host. A load probe
 * runs through HAProxy during every timed run, in its own process. Prints medians, ratios, the
 * per-host out-of-LB time, rollgate's per-step breakdown from its event log, failed requests.
 *
 * - rollgate side-by-side (S7): the same engine with `strategy: side-by-side` on a second fleet of
 *   6 hosts (127.0.28.161–166, SSH on 28022; HAProxy 127.0.28.1:28900 with a server pair per
 *   host), keepWarm 3 s: a new version, a rollback inside the warm window, the same version again
 *   once the window is over (started from the release kept on the hosts), a rollback after it.
 *   Every timed run also samples HAProxy every 25 ms for the fewest targets with a server UP.
 *
 *   Its floor, bench/fleet/floor-sbs.sh: the same flip with socat (HAProxy runtime API) and one
 *   ssh per host per batch, on the same fleet: a new version, then the flip back inside the window.
 *
 *   npx tsx bench/fleet.ts [--rounds 5] [--probe 4] [--rate 200] [--keep] [--no-side-by-side]
 *                          [--side-by-side-only] [--calls]
 *
 * --probe: load probe clients (0: none); --rate: their requests per second in all; --keep: keep
 * the work directory (configs, logs, event log) for inspection. Every process is stopped anyway.
 * --side-by-side-only: only the side-by-side fleet (rollgate side-by-side and its floor).
 * --calls: print every port call of the in-place rollgate runs too (side-by-side's always are).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { parseArgs, promisify } from 'node:util';
import { resolvePackage } from '../src/app/runtime';
import { rollbackTarget } from '../src/engine/phases';
import type { Deployment, Ledger, ReleaseEvent } from '../src/engine/ledger';
import { startRealFleet, type RealFleet } from '../test/support/real-fleet';

const run = promisify(execFile);

const N = 6;
const FIRST = 161;
const APP_PORT = 18800;
const FRONTEND = '127.0.8.1:18800';
const BATCH = 2;
const GROUP = 'fleet-shop';
const START_DELAY_MS = 300;
const BENCH_DIR = resolve(__dirname);
const PLAYBOOK = join(BENCH_DIR, 'fleet', 'rolling.yml');
const FLOOR = join(BENCH_DIR, 'fleet', 'floor.sh');
const FLOOR_SBS = join(BENCH_DIR, 'fleet', 'floor-sbs.sh');
const PROBE = join(BENCH_DIR, 'fleet', 'probe.ts');
const CALLBACKS = join(BENCH_DIR, 'fleet', 'callback_plugins');
/** No bastion, floor(0.34 × 6) = 2 hosts per batch: the 3 batches of `serial: 2`. */
const DEPLOYMENT = [
  '  bastion: 0',
  '  maxUnavailable: 34%',
  '  startTimeout: 10s',
  '  verifyInterval: 20ms',
];

type Contender = 'rollgate' | 'ansible' | 'floor' | 'side-by-side' | 'floor-sbs';
type Case = 'new' | 'on-hosts' | 'rollback' | 'rollback-warm' | 'rollback-cold';

const CASE_LABEL: Record<Case, string> = {
  new: 'new version (copy + unpack)',
  'on-hosts': 'version already on the hosts',
  rollback: 'rollback (kept release, 2×3)',
  'rollback-warm': 'rollback in the warm window',
  'rollback-cold': 'rollback after the window',
};

/**
 * S7: rollgate side-by-side on a second fleet of its own (the in-place contenders stop, replace
 * and start on the first one's app port): same host count, app, batches and probe. Each host
 * has slot a on SBS_APP_PORT and slot b on SBS_APP_PORT + 1 (HAProxy declares both).
 */
const SBS_NET = '127.0.28';
const SBS_FIRST = 161;
const SBS_SSH_PORT = 28022;
const SBS_APP_PORT = 28800;
const SBS_FRONTEND = '127.0.28.1:28900';
const SBS_KEEP_WARM_S = 3;

interface RunRecord {
  contender: Contender;
  case: Case;
  from: string;
  to: string;
  ms: number;
  ok: number;
  failed: number;
  errors: string[];
  /** Per host: drain (markdown) started → ready (markup) done. */
  outOfLb: Record<string, number>;
  /** The fewest targets with a server UP in HAProxy, sampled every 25 ms during the run. */
  minUp: number;
  breakdown?: Breakdown;
  /** Ansible: per task, its wall time summed over the 3 batches (the slower host of each). */
  tasks?: Record<string, number>;
  /** rollgate: every transport and traffic call, timed (ms from the runtime's opening). */
  spans?: Span[];
}

/** One call on a port: which, on which target (and slot), from and to (ms from t0). */
interface Span {
  op: string;
  target: string;
  from: number;
  to: number;
}

interface BatchBreakdown {
  wall: number;
  /** Chain start → first step: lock and the host-truth probe (and the SSH connect). */
  pre: number;
  steps: Record<string, number>;
  /** Last step done → batch done: unlock, and waiting for the slower target. */
  post: number;
}

interface Breakdown {
  /** Runtime open, package checksum, run lock, plan: before the first batch. */
  before: number;
  batches: BatchBreakdown[];
  /** After the last batch: final phase, store flush, closing connections. */
  after: number;
}

interface Extra {
  outOfLb?: Record<string, number>;
  breakdown?: Breakdown;
  tasks?: Record<string, number>;
  spans?: Span[];
}

const STEPS = ['download', 'markdown', 'install', 'verify', 'markup'] as const;

// ── small helpers ──────────────────────────────────────────────────────────────────────────────

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const sec = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '–');
const msf = (ms: number) => (Number.isFinite(ms) ? `${Math.round(ms)}` : '–');

function loadNow(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

/** Other work on the machine moves every figure: the load average is printed with them. */
const LOAD_AT_START = loadNow();

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function onPath(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', 'command -v "$1"', 'sh', cmd], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** ansible-core, socat and curl from Debian when missing; null when all are there, else why not. */
async function ensureTools(): Promise<string | null> {
  const missing = async () => {
    const m: string[] = [];
    if (!(await onPath('ansible-playbook'))) m.push('ansible-core');
    if (!(await onPath('socat'))) m.push('socat');
    if (!(await onPath('curl'))) m.push('curl');
    return m;
  };
  let need = await missing();
  if (need.length === 0) return null;
  if (process.getuid?.() !== 0) return `${need.join(', ')} missing and not root to install them`;
  log(`installing ${need.join(' ')} from Debian (apt-get)…`);
  try {
    await run('apt-get', ['update', '-qq'], { timeout: 300_000 });
    await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...need], {
      timeout: 600_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return `apt-get could not install ${need.join(', ')}: ${(e.stderr || e.message).trim().slice(-600)}`;
  }
  need = await missing();
  return need.length ? `still missing after apt-get: ${need.join(', ')}` : null;
}

/** PIDs whose command line or working directory is under `dir`. */
function pidsUnder(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${name}/cwd`);
      } catch {
        // a zombie or a process we may not read
      }
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue;
      if (cmd.includes(dir) || cwd.startsWith(dir)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

// ── load probe in a child process ──────────────────────────────────────────────────────────────

interface ProbeStats {
  ok: number;
  failed: number;
  errors: string[];
}

interface Probe {
  stop(): Promise<ProbeStats>;
  kill(): void;
}

interface ProbeOptions {
  clients: number;
  rate: number;
}

const noProbe: Probe = {
  stop: () => Promise.resolve({ ok: 0, failed: 0, errors: [] }),
  kill: () => undefined,
};

async function startProbe(url: string, o: ProbeOptions): Promise<Probe> {
  if (o.clients <= 0) return noProbe;
  const child: ChildProcess = spawn(
    process.execPath,
    [...process.execArgv, PROBE, url, String(o.clients), String(o.rate)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines: Interface = createInterface({ input: child.stdout! });
  const iter = lines[Symbol.asyncIterator]();
  const first = await iter.next();
  if (first.done || first.value !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(`the load probe did not start (${String(first.value)})`);
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    async stop() {
      child.stdin!.write('stop\n');
      const line = await iter.next();
      await exited;
      lines.close();
      if (line.done) throw new Error('the load probe exited without its counts');
      return JSON.parse(line.value) as ProbeStats;
    },
    kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Side-by-side: the slot a host names as serving. */
function servingSlot(f: RealFleet, i: number): string {
  try {
    return readFileSync(join(f.hosts[i]!.docBase, '.rollgate/serving'), 'utf8').trim();
  } catch {
    return 'a';
  }
}

/** Targets with a server UP in HAProxy ("UP", or "UP 1/2" while checking), every 25 ms. */
function capacityWatch(f: RealFleet) {
  let min = Infinity;
  let running = true;
  const loop = (async () => {
    while (running) {
      const stat = await f.lb.cli('show stat');
      const up = new Set<string>();
      for (const line of stat.split('\n')) {
        const cells = line.split(',');
        if (cells[0] === 'app' && cells[17]?.startsWith('UP')) {
          up.add(cells[1]!.replace(/-b$/, ''));
        }
      }
      min = Math.min(min, f.hosts.filter((h) => up.has(h.id)).length);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  return {
    async stop(): Promise<number> {
      running = false;
      await loop;
      return min;
    },
  };
}

/**
 * Wraps every method of the runtime's transport and traffic ports (the objects the engine calls
 * through) so each call is recorded as a span: where a release's time goes, call by call.
 */
function traceCalls(ports: object, spans: Span[], t0: number): void {
  const p = ports as Record<string, Record<string, unknown>>;
  for (const port of ['transport', 'traffic', 'store'] as const) {
    const inner = p[port]!;
    const outer: Record<string, unknown> = { ...inner };
    const names = new Set(Object.keys(inner));
    for (
      let o = Object.getPrototypeOf(inner);
      o && o !== Object.prototype;
      o = Object.getPrototypeOf(o)
    )
      for (const n of Object.getOwnPropertyNames(o)) if (n !== 'constructor') names.add(n);
    for (const name of names) {
      const fn = inner[name];
      if (typeof fn !== 'function') continue;
      if (name === 'close') {
        outer[name] = (fn as () => unknown).bind(inner);
        continue;
      }
      outer[name] = async (...args: unknown[]) => {
        const t = args[0] as { id?: string; slot?: string } | undefined;
        const from = performance.now() - t0;
        try {
          return await (fn as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
        } finally {
          spans.push({
            op: `${port === 'transport' ? '' : port === 'traffic' ? 'lb ' : 'store '}${name}`,
            target: `${t?.id ?? ''}${t?.slot ? `/${t.slot}` : ''}`,
            from,
            to: performance.now() - t0,
          });
        }
      };
    }
    p[port] = outer;
  }
}

// ── the bench ──────────────────────────────────────────────────────────────────────────────────

class Bench {
  readonly records: RunRecord[] = [];
  ansibleVersion = '';
  readonly loadAtStart = LOAD_AT_START;
  private probe: Probe = noProbe;
  private readonly ansibleDir: string;
  private readonly cpDir: string;
  private readonly trace: string;

  /** The side-by-side fleet, when it started. */
  sbs: RealFleet | undefined;

  constructor(
    readonly f: RealFleet,
    readonly probeOptions: ProbeOptions,
  ) {
    this.ansibleDir = join(f.dir, 'ansible');
    this.cpDir = join(this.ansibleDir, 'cp');
    this.trace = join(f.dir, 'lb-trace.txt');
  }

  pkg(version: string): string {
    return join(this.f.packages, `app-${version}.tar.gz`);
  }

  async build(versions: string[]): Promise<void> {
    for (const v of versions) await this.f.build(v, { startDelayMs: START_DELAY_MS });
  }

  fleetOf(contender: Contender): RealFleet {
    return contender === 'side-by-side' || contender === 'floor-sbs' ? this.sbs! : this.f;
  }

  /** The version every host runs, checked three ways: `current`, /health, HAProxy UP. */
  async fleetVersion(f: RealFleet = this.f): Promise<string> {
    const seen = new Set<string>();
    const sideBySide = f !== this.f;
    for (const [i, h] of f.hosts.entries()) {
      const current = await f.current(h.id);
      const slotB = sideBySide && servingSlot(f, i) === 'b';
      const port = sideBySide ? SBS_APP_PORT + (slotB ? 1 : 0) : APP_PORT;
      const res = await fetch(`http://${h.address}:${port}/health`);
      const body = (await res.json()) as { version?: string };
      if (current !== body.version) {
        throw new Error(`${h.id}: current is ${current} but the app answers ${body.version}`);
      }
      seen.add(String(current));
    }
    const stat = await f.lb.cli('show stat');
    for (const [i, h] of f.hosts.entries()) {
      const server = sideBySide && servingSlot(f, i) === 'b' ? `${h.id}-b` : h.id;
      const row = stat.split('\n').find((l) => l.startsWith(`app,${server},`));
      const status = row?.split(',')[17];
      // "UP 1/2": up, with its health counter at `rise` again after leaving maint.
      if (!status?.startsWith('UP'))
        throw new Error(`${h.id} is ${status ?? 'missing'} in HAProxy, not UP`);
    }
    if (seen.size !== 1) throw new Error(`hosts disagree: ${[...seen].join(', ')}`);
    return [...seen][0]!;
  }

  /**
   * Times `body` alone, with the probe running around it; checks the fleet switched to `to`.
   * What `body` returns runs after the clock stops (reading logs, closing Ansible's ssh masters).
   */
  private async timed(
    contender: Contender,
    kase: Case,
    to: string,
    body: () => Promise<() => Promise<Extra>>,
  ): Promise<RunRecord> {
    const f = this.fleetOf(contender);
    const from = await this.fleetVersion(f);
    if (from === to) throw new Error(`${contender}: the fleet already runs ${to}: not a switch`);
    await writeFile(this.trace, '');
    this.probe = await startProbe(f.lb.url, this.probeOptions);
    const capacity = capacityWatch(f);
    const t0 = performance.now();
    let after: () => Promise<Extra>;
    try {
      after = await body();
    } catch (err) {
      this.probe.kill();
      this.probe = noProbe;
      await capacity.stop();
      throw err;
    }
    const ms = performance.now() - t0;
    const minUp = await capacity.stop();
    const stats = await this.probe.stop();
    this.probe = noProbe;
    const extra = await after();
    const now = await this.fleetVersion(f);
    if (now !== to) throw new Error(`${contender}: the fleet runs ${now} after the run, not ${to}`);
    const rec: RunRecord = {
      contender,
      case: kase,
      from,
      to,
      ms,
      ok: stats.ok,
      failed: stats.failed,
      errors: stats.errors,
      outOfLb: extra.outOfLb ?? (await this.traceOutOfLb()),
      minUp,
      ...(extra.breakdown ? { breakdown: extra.breakdown } : {}),
      ...(extra.tasks ? { tasks: extra.tasks } : {}),
      ...(extra.spans ? { spans: extra.spans } : {}),
    };
    this.records.push(rec);
    log(
      `  ${contender.padEnd(12)} ${CASE_LABEL[kase].padEnd(30)} ${from.padEnd(5)} → ${to.padEnd(5)} ${sec(ms).padStart(8)}` +
        `   out of LB per host (median) ${msf(median(Object.values(rec.outOfLb)))} ms   min UP ${minUp}/${N}   probe ${stats.ok} ok / ${stats.failed} failed` +
        (stats.failed ? ` (${stats.errors.slice(0, 2).join('; ')})` : ''),
    );
    await new Promise((r) => setTimeout(r, 300));
    return rec;
  }

  killProbe(): void {
    this.probe.kill();
  }

  // rollgate ────────────────────────────────────────────────────────────────

  async rollgate(
    kase: Case,
    version: string | null,
    force = false,
    contender: 'rollgate' | 'side-by-side' = 'rollgate',
  ): Promise<RunRecord> {
    const f = this.fleetOf(contender);
    const to = version ?? (await this.rollbackTo(f));
    return this.timed(contender, kase, to, async () => {
      const wallStart = Date.now();
      const t0 = performance.now();
      const spans: Span[] = [];
      const rt = await f.runtime({ who: 'bench' });
      spans.push({ op: 'open runtime', target: '', from: 0, to: performance.now() - t0 });
      traceCalls(rt.ports, spans, t0);
      let d: Deployment;
      try {
        const r =
          version === null
            ? await rt.engine.rollback()
            : await rt.engine.deploy({
                version,
                package: await resolvePackage(rt.loaded, version),
                force,
              });
        d = r.deployment;
        if (r.phase !== 'SUCCESS') {
          const why = Object.values(d.targets)
            .filter((t) => t.error)
            .map((t) => `${t.id}: ${t.error}`);
          throw new Error(`rollgate ${d.kind} ${d.version} ended ${r.phase}: ${why.join('; ')}`);
        }
      } finally {
        await rt.close();
      }
      const wallEnd = Date.now();
      return async () => ({ ...(await this.fromEvents(f, d, wallStart, wallEnd)), spans });
    });
  }

  private async rollbackTo(f: RealFleet): Promise<string> {
    const ledger = JSON.parse(
      await readFile(join(f.dir, 'state', GROUP, 'state.json'), 'utf8'),
    ) as Ledger;
    const to = rollbackTarget(ledger)?.version;
    if (!to) throw new Error('nothing to roll back to');
    return to;
  }

  /** Out-of-LB per target and the per-step breakdown, from the release's own event log. */
  private async fromEvents(f: RealFleet, d: Deployment, wallStart: number, wallEnd: number) {
    const file = join(f.dir, 'state', GROUP, 'events.ndjson');
    const events = (await readFile(file, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ReleaseEvent)
      .filter((e) => e.deployment === d.id);
    const at = (e: ReleaseEvent) => Date.parse(e.at);
    const byTarget = new Map<string, ReleaseEvent[]>();
    for (const e of events) {
      if (e.type !== 'target' || !e.target) continue;
      byTarget.set(e.target, [...(byTarget.get(e.target) ?? []), e]);
    }
    const when = (id: string, state: string) => {
      const e = byTarget.get(id)?.find((x) => x.state === state);
      return e ? at(e) : NaN;
    };
    const outOfLb: Record<string, number> = {};
    for (const b of d.batches) {
      for (const id of b.targets) {
        // Side-by-side has no markdown: the host never leaves the load balancer.
        const out = when(id, 'MARKDOWN_RUNNING');
        outOfLb[id] = Number.isNaN(out) ? 0 : when(id, 'MARKUP_SUCCESS') - out;
      }
    }
    const batches: BatchBreakdown[] = d.batches.map((b) => {
      const marks = events.filter((e) => e.type === 'batch' && e.batch === b.index);
      const start = at(marks[0]!);
      const done = at(marks[marks.length - 1]!);
      const steps: Record<string, number> = {};
      for (const s of STEPS) {
        const up = s.toUpperCase();
        const each = b.targets.map((id) => when(id, `${up}_SUCCESS`) - when(id, `${up}_RUNNING`));
        steps[s] = each.some(Number.isFinite) ? Math.max(...each.filter(Number.isFinite)) : NaN;
      }
      const firsts = b.targets.map((id) => at(byTarget.get(id)![0]!));
      const lasts = b.targets.map((id) => at(byTarget.get(id)!.at(-1)!));
      return {
        wall: done - start,
        pre: Math.max(...firsts) - start,
        steps,
        post: done - Math.max(...lasts),
      };
    });
    const batchMarks = events.filter((e) => e.type === 'batch');
    return {
      outOfLb,
      breakdown: {
        before: at(batchMarks[0]!) - wallStart,
        batches,
        after: wallEnd - at(batchMarks.at(-1)!),
      },
    };
  }

  // Ansible ─────────────────────────────────────────────────────────────────

  async setupAnsible(): Promise<void> {
    const dir = this.ansibleDir;
    await mkdir(this.cpDir, { recursive: true });
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await mkdir(join(dir, 'home'), { recursive: true });
    const { ssh, lb } = this.f;
    const hosts = this.f.hosts.map(
      (h) =>
        `${h.id} ansible_host=${h.address} doc_base=${h.docBase} ansible_remote_tmp=${join(h.docBase, '..', '.ansible-tmp')}`,
    );
    await writeFile(
      join(dir, 'inventory.ini'),
      [
        '[web]',
        ...hosts,
        '',
        '[web:vars]',
        `ansible_user=${ssh.user}`,
        `ansible_ssh_private_key_file=${ssh.keyFile}`,
        `app_port=${APP_PORT}`,
        `haproxy_socket=${lb.socketPath}`,
        `package_dir=${this.f.packages}`,
        `trace_file=${this.trace}`,
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'ansible.cfg'),
      [
        '[defaults]',
        `inventory = ${join(dir, 'inventory.ini')}`,
        'forks = 6',
        'gathering = explicit',
        'retry_files_enabled = False',
        'interpreter_python = /usr/bin/python3',
        'host_key_checking = True',
        'deprecation_warnings = False',
        'nocolor = True',
        `callback_plugins = ${CALLBACKS}`,
        'callbacks_enabled = task_timing',
        `local_tmp = ${join(dir, 'tmp')}`,
        // For the tasks delegated to localhost; the hosts have their own ansible_remote_tmp.
        `remote_tmp = ${join(dir, 'tmp', 'remote')}`,
        '',
        '[ssh_connection]',
        'pipelining = True',
        `control_path_dir = ${this.cpDir}`,
        // Ansible's usual connection sharing; the masters are closed by PID after every run.
        `ssh_args = -F /dev/null -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o UserKnownHostsFile=${ssh.knownHostsFile} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes`,
        '',
      ].join('\n'),
    );
    const { stdout } = await run('ansible-playbook', ['--version'], { env: this.ansibleEnv() });
    this.ansibleVersion = stdout.split('\n')[0]!.trim();
  }

  private ansibleEnv(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      ANSIBLE_CONFIG: join(this.ansibleDir, 'ansible.cfg'),
      ANSIBLE_HOME: join(this.ansibleDir, 'home'),
      ANSIBLE_LOCAL_TEMP: join(this.ansibleDir, 'tmp'),
      ANSIBLE_NOCOLOR: '1',
      // No __pycache__ next to bench/fleet/callback_plugins.
      PYTHONDONTWRITEBYTECODE: '1',
    };
  }

  /** Runs the playbook; what it returns closes the ssh masters and reads the task times. */
  async ansiblePlay(version: string): Promise<() => Promise<Extra>> {
    const stamp = `${version}-${Date.now()}`;
    const logFile = join(this.ansibleDir, `play-${stamp}.log`);
    const timing = join(this.ansibleDir, `tasks-${stamp}.txt`);
    const after = async () => {
      await this.closeMuxes();
      return { tasks: await this.taskTimes(timing) };
    };
    try {
      const { stdout } = await run('ansible-playbook', [PLAYBOOK, '-e', `version=${version}`], {
        env: { ...this.ansibleEnv(), TASK_TIMING_FILE: timing },
        timeout: 300_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      await writeFile(logFile, stdout);
    } catch (err) {
      await this.closeMuxes().catch(() => undefined);
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(
        `ansible-playbook failed for ${version}: ${(e.stdout ?? '').slice(-3000)}\n${e.stderr ?? e.message}`,
        { cause: err },
      );
    }
    return after;
  }

  /** Per task: for each batch, the slower host's time; summed over the batches. */
  private async taskTimes(file: string): Promise<Record<string, number>> {
    const batchOf = new Map(this.f.hosts.map((h, i) => [h.id, Math.floor(i / BATCH)]));
    const slowest = new Map<string, number>();
    for (const line of (await readFile(file, 'utf8')).split('\n')) {
      const m = /^(\S+) (\S+) (\S+) (\S+) (.*)$/.exec(line);
      if (!m) continue;
      const key = `${m[5]}\u0000${batchOf.get(m[3]!) ?? -1}`;
      const ms = (Number(m[2]) - Number(m[1])) * 1000;
      slowest.set(key, Math.max(slowest.get(key) ?? 0, ms));
    }
    const tasks: Record<string, number> = {};
    for (const [key, ms] of slowest) {
      const name = key.split('\u0000')[0]!;
      tasks[name] = (tasks[name] ?? 0) + ms;
    }
    return tasks;
  }

  /** Ansible's ControlPersist masters outlive the play: ask each to exit, then kill leftovers by PID. */
  async closeMuxes(): Promise<void> {
    if (!existsSync(this.cpDir)) return;
    for (const name of readdirSync(this.cpDir)) {
      await run(
        'ssh',
        ['-F', '/dev/null', '-o', `ControlPath=${join(this.cpDir, name)}`, '-O', 'exit', 'mux'],
        {
          timeout: 5_000,
        },
      ).catch(() => undefined);
    }
    for (let i = 0; i < 50; i++) {
      const left = pidsUnder(this.cpDir);
      if (left.length === 0) return;
      if (i === 10) killPids(left);
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`ssh mux processes still running: ${pidsUnder(this.cpDir).join(', ')}`);
  }

  async ansible(kase: Case, version: string): Promise<RunRecord> {
    return this.timed('ansible', kase, version, () => this.ansiblePlay(version));
  }

  // floor ───────────────────────────────────────────────────────────────────

  async floorRun(version: string): Promise<void> {
    const { ssh, lb } = this.f;
    try {
      await run(
        'bash',
        [
          FLOOR,
          version,
          this.pkg(version),
          String(BATCH),
          ...this.f.hosts.map((h) => `${h.id}=${h.address}=${h.docBase}`),
        ],
        {
          env: {
            ...process.env,
            FLOOR_SOCKET: lb.socketPath,
            FLOOR_BACKEND: 'app',
            FLOOR_KEY: ssh.keyFile,
            FLOOR_KNOWN_HOSTS: ssh.knownHostsFile,
            FLOOR_USER: ssh.user,
            FLOOR_APP_PORT: String(APP_PORT),
            FLOOR_TRACE: this.trace,
          },
          timeout: 120_000,
        },
      );
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`floor.sh failed for ${version}: ${e.stderr || e.message}`, { cause: err });
    }
  }

  async floor(kase: Case, version: string): Promise<RunRecord> {
    return this.timed('floor', kase, version, async () => {
      await this.floorRun(version);
      return async () => ({});
    });
  }

  /**
   * The side-by-side floor on the side-by-side fleet: floor-sbs.sh (one ssh per host per batch,
   * then the flip with socat). `version` already on the hosts gets no package (/dev/null).
   */
  async floorSbs(kase: Case, version: string): Promise<RunRecord> {
    const f = this.sbs!;
    const pkg = kase === 'new' ? join(f.packages, `app-${version}.tar.gz`) : '/dev/null';
    return this.timed('floor-sbs', kase, version, async () => {
      try {
        await run(
          'bash',
          [
            FLOOR_SBS,
            version,
            pkg,
            String(BATCH),
            ...f.hosts.map((h) => `${h.id}=${h.address}=${h.docBase}`),
          ],
          {
            env: {
              ...process.env,
              FLOOR_SOCKET: f.lb.socketPath,
              FLOOR_BACKEND: 'app',
              FLOOR_KEY: f.ssh.keyFile,
              FLOOR_KNOWN_HOSTS: f.ssh.knownHostsFile,
              FLOOR_USER: f.ssh.user,
              FLOOR_SSH_PORT: String(SBS_SSH_PORT),
              FLOOR_APP_PORT: String(SBS_APP_PORT),
            },
            timeout: 120_000,
          },
        );
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; message: string };
        throw new Error(`floor-sbs.sh failed for ${version}: ${e.stderr || e.message}`, {
          cause: err,
        });
      }
      // The flip puts the new server in before the old one leaves: no host is ever out.
      return async () => ({ outOfLb: Object.fromEntries(f.hosts.map((h) => [h.id, 0])) });
    });
  }

  /** drain → ready per host, from the trace the playbook and floor.sh append to. */
  private async traceOutOfLb(): Promise<Record<string, number>> {
    const drain = new Map<string, number>();
    const out: Record<string, number> = {};
    for (const line of (await readFile(this.trace, 'utf8')).split('\n')) {
      const [t, host, what] = line.trim().split(/\s+/);
      if (!t || !host) continue;
      if (what === 'drain') drain.set(host, Number(t));
      else if (what === 'ready' && drain.has(host)) out[host] = Number(t) - drain.get(host)!;
    }
    return out;
  }
}

// ── report ─────────────────────────────────────────────────────────────────────────────────────

/**
 * Where a rollgate run's time goes, call by call: per port call, how many per run and their
 * median time; then the median run's calls per target, in order (ms from opening the runtime).
 */
function spanReport(rs: RunRecord[], label: string): void {
  const traced = rs.filter((r) => r.spans);
  if (traced.length === 0) return;
  log('');
  log(`${label}: port calls (per run: count, median ms, max ms; over ${traced.length} runs)`);
  const ops = [...new Set(traced.flatMap((r) => r.spans!.map((x) => x.op)))];
  for (const op of ops) {
    const all = traced.flatMap((r) =>
      r.spans!.filter((x) => x.op === op).map((x) => x.to - x.from),
    );
    log(
      `  ${op.padEnd(16)} ${(all.length / traced.length).toFixed(1).padStart(5)} ×  ${msf(median(all)).padStart(5)} ms  (max ${msf(Math.max(...all))})`,
    );
  }
  const mid = [...traced].sort((a, b) => a.ms - b.ms)[Math.floor(traced.length / 2)]!;
  log(`  the median run (${sec(mid.ms)}), calls per target, [from–to] ms:`);
  const byTarget = new Map<string, Span[]>();
  for (const x of mid.spans!) {
    // The record's many quick calls (save, append) only where they took a while.
    if (x.op.startsWith('store ') && x.to - x.from < 2) continue;
    const id = x.target.split('/')[0]!;
    byTarget.set(id, [...(byTarget.get(id) ?? []), x]);
  }
  for (const [id, xs] of [...byTarget].sort((a, b) => a[0].localeCompare(b[0]))) {
    const line = xs
      .sort((a, b) => a.from - b.from)
      .map(
        (x) =>
          `${x.op}${x.target.includes('/') ? `/${x.target.split('/')[1]}` : ''} ${msf(x.from)}–${msf(x.to)}`,
      )
      .join(' · ');
    log(`  ${(id || '(run)').padEnd(8)} ${line}`);
  }
}

function report(
  b: Bench,
  totalMs: number,
  rounds: number,
  probe: ProbeOptions,
  values: { calls?: boolean | undefined },
): void {
  const pick = (c: Contender, k: Case) =>
    b.records.filter((r) => r.contender === c && r.case === k);
  const med = (c: Contender, k: Case) => median(pick(c, k).map((r) => r.ms));
  log('');
  log(
    `Fleet: ${N} sshd hosts 127.0.2.${FIRST}–${FIRST + N - 1}, HAProxy ${FRONTEND}, sample app with ${START_DELAY_MS} ms start-up, 3 batches of 2; ` +
      `${rounds} rounds, ${probe.clients > 0 ? `load probe (${probe.clients} clients, ${probe.rate} req/s, a new connection each) through HAProxy` : 'no load probe'} during every timed run.`,
  );
  log(
    'rollgate: in-process engine (openRuntime → engine.deploy / engine.rollback → close), no bastion, maxUnavailable 34%; ' +
      'timed from opening the runtime (group file, SSH connects, package checksum) to closing it; Node start-up not included.',
  );
  log(
    `Ansible: ${b.ansibleVersion}, ansible-playbook bench/fleet/rolling.yml -e version=<v> (serial 2, forks 6, pipelining, ` +
      'ControlPersist masters closed after every run, outside the timing).',
  );
  log(
    'floor: bash bench/fleet/floor.sh <v> <package> 2 <hosts> (socat + one ssh per host per batch).',
  );
  log(
    'floor-sbs: bash bench/fleet/floor-sbs.sh <v> <package> 2 <hosts> on the side-by-side fleet (one ssh per host per batch: start in the idle slot, or nothing when it runs warm; then the flip with socat).',
  );
  log(
    'Cases: "new version" = never on the hosts, copied and unpacked; "already on the hosts" = unpacked earlier, switch only.',
  );
  log('');
  log(
    'contender     case                            runs   median      min      max   out of LB/host (median)   min UP   failed requests',
  );
  const rows: [Contender, Case][] = [
    ['rollgate', 'new'],
    ['rollgate', 'on-hosts'],
    ['rollgate', 'rollback'],
    ['side-by-side', 'new'],
    ['side-by-side', 'on-hosts'],
    ['side-by-side', 'rollback-warm'],
    ['side-by-side', 'rollback-cold'],
    ['floor-sbs', 'new'],
    ['floor-sbs', 'rollback-warm'],
    ['ansible', 'new'],
    ['ansible', 'on-hosts'],
    ['floor', 'new'],
    ['floor', 'on-hosts'],
  ];
  for (const [c, k] of rows) {
    const rs = pick(c, k);
    if (rs.length === 0) continue;
    const ms = rs.map((r) => r.ms);
    const failed = rs.reduce((n, r) => n + r.failed, 0);
    const ok = rs.reduce((n, r) => n + r.ok, 0);
    const minUp = Math.min(...rs.map((r) => r.minUp));
    log(
      `${c.padEnd(13)} ${CASE_LABEL[k].padEnd(31)} ${String(rs.length).padStart(4)} ${sec(median(ms)).padStart(8)} ${sec(Math.min(...ms)).padStart(8)} ${sec(Math.max(...ms)).padStart(8)}` +
        `   ${`${msf(median(rs.flatMap((r) => Object.values(r.outOfLb))))} ms`.padStart(10)}                ${`${minUp}/${N}`.padStart(6)}   ${failed} of ${ok + failed}`,
    );
  }
  log('');
  const ratio = (a: number, c: number) => (a / c).toFixed(2);
  for (const k of ['new', 'on-hosts'] as const) {
    const rg = med('rollgate', k);
    const an = med('ansible', k);
    const fl = med('floor', k);
    log(
      `${CASE_LABEL[k].padEnd(30)} Ansible / rollgate = ${ratio(an, rg)}×   rollgate / floor = ${ratio(rg, fl)}   Ansible / floor = ${ratio(an, fl)}×`,
    );
  }
  const rb = med('rollgate', 'rollback');
  log(
    `rollback / release: ${ratio(rb, med('rollgate', 'new'))} of a new-version release, ${ratio(rb, med('rollgate', 'on-hosts'))} of an on-hosts release (goal ≤ 0.5)`,
  );
  const sbNew = med('side-by-side', 'new');
  if (Number.isFinite(sbNew)) {
    const warm = med('side-by-side', 'rollback-warm');
    const cold = med('side-by-side', 'rollback-cold');
    const sbMin = Math.min(
      ...b.records.filter((r) => r.contender === 'side-by-side').map((r) => r.minUp),
    );
    log(
      `side-by-side: release / in-place release = ${ratio(sbNew, med('rollgate', 'new'))}; rollback in the warm window / release = ${ratio(warm, sbNew)} (goal ≤ 0.1), after it = ${ratio(cold, sbNew)}; ` +
        `min UP ${sbMin}/${N} (goal ${N}/${N})`,
    );
    const fsNew = med('floor-sbs', 'new');
    if (Number.isFinite(fsNew)) {
      log(
        `side-by-side / its floor: release ${ratio(sbNew, fsNew)}, rollback in the warm window ${ratio(warm, med('floor-sbs', 'rollback-warm'))}; ` +
          `the floor's own warm rollback / its release = ${ratio(med('floor-sbs', 'rollback-warm'), fsNew)}`,
      );
    }
  }
  const rgNew = med('rollgate', 'new');
  const goalFloor = rgNew <= med('floor', 'new');
  const goalAnsible = med('ansible', 'new') / rgNew >= 4.5;
  log(
    `goals (new version): rollgate ≤ floor → ${goalFloor ? 'met' : 'NOT met'}; ≥ 4.5× faster than Ansible → ${goalAnsible ? 'met' : 'NOT met'}; ` +
      `rollback ≤ 0.5 × release → ${rb <= 0.5 * rgNew ? 'met' : 'NOT met'}`,
  );

  log('');
  const ids = b.f.hosts.map((h) => h.id);
  log('out of LB per host, drain/markdown started → ready/markup done (ms, medians over runs):');
  log(`${''.padEnd(42)}${ids.map((id) => id.padStart(8)).join('')}`);
  for (const [c, k] of rows) {
    const rs = pick(c, k);
    if (rs.length === 0) continue;
    const cells = ids.map((id) => msf(median(rs.map((r) => r.outOfLb[id] ?? NaN))).padStart(8));
    log(`${`${c} ${CASE_LABEL[k]}`.padEnd(42)}${cells.join('')}`);
  }
  log('');
  log(
    "rollgate per-step breakdown from the event log (ms, medians over runs; a step = the slower of the batch's 2 targets):",
  );
  log(
    'case        batch    wall   lock+probe   download   markdown   install   verify   markup   unlock+wait',
  );
  for (const k of ['new', 'on-hosts', 'rollback'] as const) {
    const rs = pick('rollgate', k).filter((r) => r.breakdown);
    if (rs.length === 0) continue;
    const nb = rs[0]!.breakdown!.batches.length;
    const m = (f: (x: Breakdown) => number) => msf(median(rs.map((r) => f(r.breakdown!))));
    log(
      `${k.padEnd(11)} before ${m((x) => x.before).padStart(6)}   (runtime open, package checksum, run lock, plan)`,
    );
    for (let i = 0; i < nb; i++) {
      const bb = (x: Breakdown) => x.batches[i]!;
      log(
        `${''.padEnd(11)} ${String(i + 1).padStart(5)} ${m((x) => bb(x).wall).padStart(7)} ${m((x) => bb(x).pre).padStart(12)}` +
          STEPS.map((s) =>
            m((x) => bb(x).steps[s] ?? NaN).padStart(
              s === 'download' ? 11 : s === 'verify' ? 9 : 10,
            ),
          ).join('') +
          ` ${m((x) => bb(x).post).padStart(13)}`,
      );
    }
    log(
      `${''.padEnd(11)} after  ${m((x) => x.after).padStart(6)}   (final phase, store flush, close)`,
    );
  }
  for (const [c, k] of rows) {
    if (c !== 'side-by-side' && !(c === 'rollgate' && values.calls)) continue;
    spanReport(pick(c, k), `${c} ${CASE_LABEL[k]}`);
  }
  const an = (k: Case) => pick('ansible', k).filter((r) => r.tasks);
  const names = Object.keys(an('new')[0]?.tasks ?? an('on-hosts')[0]?.tasks ?? {});
  if (names.length > 0) {
    log('');
    log(
      'Ansible per task (s; each batch counts its slower host; summed over the 3 batches; medians):',
    );
    log(`${'task'.padEnd(66)}     new  on-hosts`);
    const cell = (k: Case, n: string) => sec(median(an(k).map((r) => r.tasks![n] ?? NaN)));
    for (const n of names) {
      log(
        `${n.slice(0, 66).padEnd(66)} ${cell('new', n).padStart(7)} ${cell('on-hosts', n).padStart(9)}`,
      );
    }
  }
  log('');
  log(
    `bench wall time ${sec(totalMs)}; load average at the start ${b.loadAtStart}, at the end ${loadNow()}`,
  );
}

// ── main ───────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      probe: { type: 'string', default: '4' },
      rate: { type: 'string', default: '200' },
      keep: { type: 'boolean', default: false },
      'no-side-by-side': { type: 'boolean', default: false },
      'side-by-side-only': { type: 'boolean', default: false },
      calls: { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  const probe: ProbeOptions = { clients: Number(values.probe), rate: Number(values.rate) };
  if (!(rounds >= 1) || !(probe.clients >= 0) || !(probe.rate > 0)) {
    throw new Error('--rounds must be ≥ 1, --probe ≥ 0 and --rate > 0');
  }
  if (process.getuid?.() !== 0) {
    log(
      'bench/fleet.ts needs root: it starts sshd on port 22 of 127.0.2.x and adds the deploy user.',
    );
    return 2;
  }
  const why = await ensureTools();
  if (why) {
    log(`bench/fleet.ts cannot run: ${why}.`);
    log(
      'Install them with: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ansible-core socat curl',
    );
    return 2;
  }
  const t0 = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'rollgate-fleet-bench-'));
  let f: RealFleet | undefined;
  let bench: Bench | undefined;
  const cleanup = async () => {
    bench?.killProbe();
    await bench?.closeMuxes().catch((e: unknown) => log(`warning: ${String(e)}`));
    await f?.stop().catch((e: unknown) => log(`warning: stopping the fleet: ${String(e)}`));
    await bench?.sbs
      ?.stop()
      .catch((e: unknown) => log(`warning: stopping the side-by-side fleet: ${String(e)}`));
    // Any app a failed run left without a pid file, by PID (only processes under our dir).
    killPids(pidsUnder(dir));
    if (!values.keep) await rm(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  };
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    log('interrupted: stopping everything');
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    log(`starting ${N} sshd hosts and HAProxy under ${dir} …`);
    f = await startRealFleet({
      n: N,
      first: FIRST,
      appPort: APP_PORT,
      frontend: FRONTEND,
      deployment: DEPLOYMENT.join('\n'),
      dir,
    });
    bench = new Bench(f, probe);
    const b = bench;
    const v = (c: string, i: number) => `${c}-${i}`;
    const inPlace = !values['side-by-side-only'];
    if (inPlace) {
      await b.build(
        ['rg', 'an', 'fl'].flatMap((c) => Array.from({ length: rounds + 1 }, (_, i) => v(c, i))),
      );
    }
    if (!values['no-side-by-side'] || !inPlace) {
      log(`starting the side-by-side fleet (${N} sshd hosts ${SBS_NET}.${SBS_FIRST}…) …`);
      b.sbs = await startRealFleet({
        n: N,
        first: SBS_FIRST,
        net: SBS_NET,
        sshPort: SBS_SSH_PORT,
        appPort: SBS_APP_PORT,
        altPort: SBS_APP_PORT + 1,
        frontend: SBS_FRONTEND,
        deployment: [
          ...DEPLOYMENT,
          '  strategy: side-by-side',
          `  keepWarm: ${SBS_KEEP_WARM_S}s`,
        ].join('\n'),
        dir: join(dir, 'side-by-side'),
      });
      for (let i = 0; i <= rounds; i++) {
        await b.sbs.build(v('sb', i), { startDelayMs: START_DELAY_MS });
        await b.sbs.build(v('fs', i), { startDelayMs: START_DELAY_MS });
      }
    }
    if (inPlace) await b.setupAnsible();

    // Untimed seeds: the first release brings the apps up (HAProxy had them DOWN); one Ansible
    // and one floor run warm their caches and leave a version on the hosts for the "on-hosts" runs.
    if (inPlace) {
      log('seeding (untimed): rollgate rg-0, Ansible an-0, floor fl-0 …');
      const seed = await f.runtime({ who: 'bench' });
      try {
        const r = await seed.engine.deploy({
          version: 'rg-0',
          package: await resolvePackage(seed.loaded, 'rg-0'),
        });
        if (r.phase !== 'SUCCESS') throw new Error(`seed release ended ${r.phase}`);
      } finally {
        await seed.close();
      }
      await (
        await b.ansiblePlay('an-0')
      )();
      await b.floorRun('fl-0');
      log(`fleet runs ${await b.fleetVersion()}; timed rounds:`);
    }
    const sbs = b.sbs;
    if (sbs) {
      const seedSbs = await sbs.runtime({ who: 'bench' });
      try {
        const r = await seedSbs.engine.deploy({
          version: 'sb-0',
          package: await resolvePackage(seedSbs.loaded, 'sb-0'),
        });
        if (r.phase !== 'SUCCESS') throw new Error(`side-by-side seed release ended ${r.phase}`);
      } finally {
        await seedSbs.close();
      }
    }
    /** Past every host's keep-warm window: the old slots are stopped by their hosts. */
    const pastWindow = () => new Promise((r) => setTimeout(r, (SBS_KEEP_WARM_S + 1.5) * 1000));

    const order: Contender[][] = [
      ['rollgate', 'ansible', 'floor'],
      ['ansible', 'floor', 'rollgate'],
      ['floor', 'rollgate', 'ansible'],
    ];
    for (let r = 1; r <= rounds; r++) {
      log(`round ${r}/${rounds}`);
      for (const c of inPlace ? order[(r - 1) % order.length]! : []) {
        if (c === 'rollgate') {
          await b.rollgate('new', v('rg', r));
          await b.rollgate('rollback', null);
          await b.rollgate('on-hosts', v('rg', r), true);
        } else if (c === 'ansible') {
          await b.ansible('new', v('an', r));
          await b.ansible('on-hosts', v('an', r - 1));
        } else {
          await b.floor('new', v('fl', r));
          await b.floor('on-hosts', v('fl', r - 1));
        }
      }
      if (sbs) {
        await b.rollgate('new', v('sb', r), false, 'side-by-side');
        await b.rollgate('rollback-warm', null, false, 'side-by-side');
        await pastWindow();
        await b.rollgate('on-hosts', v('sb', r), true, 'side-by-side');
        await pastWindow();
        await b.rollgate('rollback-cold', null, false, 'side-by-side');
        // Its floor: a new version, then the flip back to what served before, inside the window.
        // The floor takes no host lock: it starts once rollgate's keep-warm stops are done.
        await pastWindow();
        const before = await b.fleetVersion(sbs);
        await b.floorSbs('new', v('fs', r));
        await b.floorSbs('rollback-warm', before);
      }
    }
    report(b, performance.now() - t0, rounds, probe, values);
    return 0;
  } finally {
    if (!interrupted) await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench/fleet.ts failed: ${err instanceof Error ? err.stack : String(err)}\n`,
    );
    process.exit(1);
  },
);
