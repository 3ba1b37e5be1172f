/**
 * Growth curve (issue 17): rollgate against the floor script releasing the same version to N real
 * sshd hosts on loopback behind one real HAProxy, 25% batches, no bastion, no waits.
 *
 *   flock /tmp/rollgate-integration.lock npx tsx bench/scale.ts [--n 6,60,120] [--rounds 1]
 *     [--max-connecting 8] [--ansible 60] [--keep]
 *
 * `--ansible <N,…>`: at those N, Ansible too (bench/fleet/rolling.yml, serial = the batch size,
 * forks 50; ansible-core is installed with apt when missing).
 *
 * Harness: one sshd per host (scripts/test-env/sshd.sh) on 127.0.40.1… (254 per /24, up to
 * 127.0.43.254), port 44022; each host its own docBase; the app a stand-in (bench/scale/app:
 * busybox httpd after a fixed 300 ms start) answering /health with its release's version; HAProxy
 * on 127.0.44.1:44200 with every host as a server (HTTP checks every 500 ms).
 *
 * Per N: one untimed rollgate release starts the apps, then each round rollgate and the floor
 * (bench/fleet/floor.sh: per host, drain + one ssh command + ready) each release a new version.
 * rollgate runs in its own process (bench/scale/rollgate-run.ts) for its peak RSS and CPU.
 */
import { execFile, spawn } from 'node:child_process';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { freemem, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { buildPackage } from '../src/package/tarball';
import { startSshFleet, type SshFleet } from '../test/support/ssh-fleet';
import { ensureHaproxy, startHaproxy, type HaproxyLb } from '../test/support/haproxy-lb';
import { checkFleet, killApps, type BenchHost } from './scale/fleet-check';
import { scaleGroupYaml } from './scale/group-yaml';

const run = promisify(execFile);

const BENCH = resolve(__dirname);
const APP_DIR = join(BENCH, 'scale', 'app');
const RUNNER = join(BENCH, 'scale', 'rollgate-run.ts');
const FLOOR = join(BENCH, 'fleet', 'floor.sh');
const PLAYBOOK = join(BENCH, 'fleet', 'rolling.yml');
const FORKS = 50;
const NETS = ['127.0.40', '127.0.41', '127.0.42', '127.0.43'];
const PER_NET = 254;
const SSH_PORT = 44022;
const APP_PORT = 44080;
const FRONTEND = '127.0.44.1:44200';
const START_DELAY_MS = 300;

type Host = BenchHost;

interface Harness {
  dir: string;
  hosts: Host[];
  fleets: SshFleet[];
  lb: HaproxyLb;
  keyFile: string;
  knownHosts: string;
  groupFile: string;
  packages: string;
  setupMs: number;
  /** MB of machine memory the harness took (free memory before − after setup). */
  harnessMB: number;
}

interface Row {
  n: number;
  contender: 'rollgate' | 'floor' | 'ansible';
  ms: number;
  batches: number[];
  rssMB: number | null;
  cpuS: number;
  connects: number;
  connectMsSum: number | null;
  connectMsMax: number | null;
  markdownMsMax: number | null;
  bytesSent: number;
  /** The machine's 1-minute load average right after the run. */
  load?: number;
}

const log = (l: string) => process.stdout.write(`${l}\n`);
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function setup(n: number, maxConnecting: number): Promise<Harness> {
  if (n > NETS.length * PER_NET) throw new Error(`--n ${n}: at most ${NETS.length * PER_NET}`);
  const why = await ensureHaproxy();
  if (why) throw new Error(why);
  const t0 = performance.now();
  const free0 = freemem();
  const dir = await mkdtemp(join(tmpdir(), 'rollgate-scale-'));
  await chmod(dir, 0o755);
  const fleets: SshFleet[] = [];
  const hosts: Host[] = [];
  try {
    for (let k = 0; k * PER_NET < n; k++) {
      const count = Math.min(PER_NET, n - k * PER_NET);
      const sshDir = join(dir, `ssh-${k}`);
      await mkdir(sshDir, { recursive: true });
      await chmod(sshDir, 0o755);
      // One client key for every /24: sshd.sh makes one only where none is.
      if (k > 0) {
        await copyFile(join(dir, 'ssh-0', 'client_key'), join(sshDir, 'client_key'));
        await copyFile(join(dir, 'ssh-0', 'client_key.pub'), join(sshDir, 'client_key.pub'));
        await chmod(join(sshDir, 'client_key'), 0o600);
      }
      const fleet = await startSshFleet({
        n: count,
        first: 1,
        dir: sshDir,
        net: NETS[k]!,
        port: SSH_PORT,
      });
      fleets.push(fleet);
      for (const h of fleet.hosts) {
        hosts.push({
          id: `web-${String(hosts.length + 1).padStart(4, '0')}`,
          address: h.address,
          docBase: join(h.root, 'srv/app'),
        });
      }
    }
    const knownHosts = join(dir, 'known_hosts');
    const known = await Promise.all(fleets.map((f) => readFile(f.knownHostsFile, 'utf8')));
    await writeFile(knownHosts, known.join(''));
    const lb = await startHaproxy({
      dir: join(dir, 'haproxy'),
      frontend: FRONTEND,
      backend: 'app',
      servers: hosts.map((h) => ({ name: h.id, address: h.address, port: APP_PORT })),
    });
    const keyFile = join(dir, 'ssh-0', 'client_key');
    const groupFile = join(dir, 'group.yml');
    await writeFile(
      groupFile,
      scaleGroupYaml({
        group: 'scale',
        appPort: APP_PORT,
        keep: 3,
        source: './packages/app-{version}.tar.gz',
        hosts,
        keyFile,
        knownHosts,
        socketPath: lb.socketPath,
        sshPort: SSH_PORT,
        maxConnecting,
      }),
    );
    return {
      dir,
      hosts,
      fleets,
      lb,
      keyFile,
      knownHosts,
      groupFile,
      packages: join(dir, 'packages'),
      setupMs: performance.now() - t0,
      harnessMB: (free0 - freemem()) / 2 ** 20,
    };
  } catch (err) {
    await Promise.all(fleets.map((f) => f.stop().catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function teardown(h: Harness, keep: boolean): Promise<void> {
  await killApps(h.hosts);
  await h.lb.stop().catch(() => undefined);
  await Promise.all(h.fleets.map((f) => f.stop().catch(() => undefined)));
  if (keep) log(`  kept ${h.dir}`);
  else await rm(h.dir, { recursive: true, force: true });
}

async function pkg(h: Harness, version: string): Promise<string> {
  const built = await buildPackage({
    appDir: APP_DIR,
    version,
    outDir: h.packages,
    startDelayMs: START_DELAY_MS,
  });
  return built.path;
}

function check(h: Harness, version: string): Promise<void> {
  return checkFleet(h.hosts, APP_PORT, h.lb, 'app', version);
}

async function rollgate(h: Harness, version: string): Promise<Row> {
  const { stdout } = await run(
    process.execPath,
    [...process.execArgv, RUNNER, h.groupFile, version],
    {
      timeout: 600_000,
      maxBuffer: 1 << 20,
    },
  );
  const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    ms: number;
    phase: string;
    connects: number;
    connectMsSum: number;
    connectMsMax: number;
    batches: number[];
    markdownMsMax: number;
    stepsMsMax: Record<string, number>;
    perBatch: Record<string, number>[];
    runtimeApi: {
      commands: number;
      connections: number;
      sharedReads: number;
      joinedSets: number;
      queueMsSum: number;
      queueMsMax: number;
      answerMsSum: number;
      answerMsMax: number;
    };
    uploads: number;
    rssMB: number;
    cpuS: number;
    warnings: string[];
  };
  if (r.phase !== 'SUCCESS') throw new Error(`rollgate ${version}: ${r.warnings.join('; ')}`);
  log(
    `  rollgate slowest step (any target): ${Object.entries(r.stepsMsMax)
      .map(([k, v]) => `${k.toLowerCase()} ${v} ms`)
      .join(', ')}`,
  );
  r.perBatch.forEach((b, i) =>
    log(
      `  rollgate batch ${i + 1} slowest: ${Object.entries(b)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} ms`,
    ),
  );
  const api = r.runtimeApi;
  log(
    `  rollgate runtime API: ${api.commands} commands on ${api.connections} connection(s), ` +
      `${api.sharedReads} shared reads, ${api.joinedSets} joined sets, queue wait ${api.queueMsSum} ms (worst ${api.queueMsMax}), ` +
      `answers ${api.answerMsSum} ms (worst ${api.answerMsMax}), ${(api.answerMsSum / Math.max(1, api.commands)).toFixed(1)} ms each`,
  );
  const size = (await stat(join(h.packages, `app-${version}.tar.gz`))).size;
  return {
    n: h.hosts.length,
    contender: 'rollgate',
    ms: r.ms,
    batches: r.batches,
    rssMB: r.rssMB,
    cpuS: r.cpuS,
    connects: r.connects,
    connectMsSum: r.connectMsSum,
    connectMsMax: r.connectMsMax,
    markdownMsMax: r.markdownMsMax,
    bytesSent: r.uploads * size,
  };
}

async function floor(h: Harness, version: string): Promise<Row> {
  const n = h.hosts.length;
  const size = batchSize(n);
  const packagePath = join(h.packages, `app-${version}.tar.gz`);
  const trace = join(h.dir, `floor-${version}.trace`);
  await writeFile(trace, '');
  const args = [
    '-c',
    'bash "$@"; s=$?; times; exit $s',
    'floor',
    FLOOR,
    version,
    packagePath,
    String(size),
    ...h.hosts.map((x) => `${x.id}=${x.address}=${x.docBase}`),
  ];
  const env = {
    ...process.env,
    FLOOR_SOCKET: h.lb.socketPath,
    FLOOR_BACKEND: 'app',
    FLOOR_KEY: h.keyFile,
    FLOOR_KNOWN_HOSTS: h.knownHosts,
    FLOOR_USER: 'deploy',
    FLOOR_APP_PORT: String(APP_PORT),
    FLOOR_TRACE: trace,
    FLOOR_START: 'sh start.sh',
  };
  const t0 = performance.now();
  const { stdout, stderr, code } = await new Promise<{
    stdout: string;
    stderr: string;
    code: number | null;
  }>((done) => {
    // ssh needs the port: the floor passes user@address only, so an ssh config line gives it.
    const child = spawn('bash', args, {
      env: { ...env, FLOOR_SSH_PORT: String(SSH_PORT) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (c) => done({ stdout: out, stderr: err, code: c }));
  });
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`floor ${version} exited ${code}: ${stderr.slice(-600)}`);
  // `times`: the shell's own line, then its children's "<user>m<s>s <sys>m<s>s".
  const lines = stdout.trim().split('\n');
  const cpuS = (lines.at(-1) ?? '')
    .split(/\s+/)
    .map((t) => /^(\d+)m([\d.]+)s$/.exec(t))
    .reduce((a, m) => a + (m ? Number(m[1]) * 60 + Number(m[2]) : 0), 0);
  const batches = await traceBatches(h, trace);
  const pkgSize = (await stat(packagePath)).size;
  return {
    n,
    contender: 'floor',
    ms,
    batches,
    rssMB: null,
    cpuS,
    connects: n,
    connectMsSum: null,
    connectMsMax: null,
    markdownMsMax: null,
    bytesSent: n * pkgSize,
  };
}

/**
 * Ansible (ansible-core from Debian; installed by this bench with apt when missing): the
 * playbook of bench/fleet.ts with `serial` = the batch size, forks 50, pipelining and
 * ControlPersist, the stand-in app's start command. Its CPU is the children's of this process
 * (ansible-playbook and its ssh), read from /proc/self/stat around the run.
 */
async function ansible(h: Harness, version: string): Promise<Row> {
  const n = h.hosts.length;
  const dir = join(h.dir, 'ansible');
  const cp = join(dir, 'cp');
  await mkdir(join(dir, 'tmp'), { recursive: true });
  await mkdir(cp, { recursive: true });
  const trace = join(h.dir, `ansible-${version}.trace`);
  await writeFile(trace, '');
  await writeFile(
    join(dir, 'inventory.ini'),
    [
      '[web]',
      ...h.hosts.map(
        (x) =>
          `${x.id} ansible_host=${x.address} doc_base=${x.docBase} ansible_remote_tmp=${join(x.docBase, '..', '.ansible-tmp')}`,
      ),
      '',
      '[web:vars]',
      'ansible_user=deploy',
      `ansible_port=${SSH_PORT}`,
      `ansible_ssh_private_key_file=${h.keyFile}`,
      `app_port=${APP_PORT}`,
      `haproxy_socket=${h.lb.socketPath}`,
      `package_dir=${h.packages}`,
      `trace_file=${trace}`,
      '',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'ansible.cfg'),
    [
      '[defaults]',
      `inventory = ${join(dir, 'inventory.ini')}`,
      `forks = ${FORKS}`,
      'gathering = explicit',
      'retry_files_enabled = False',
      'interpreter_python = /usr/bin/python3',
      'host_key_checking = True',
      'deprecation_warnings = False',
      'nocolor = True',
      `local_tmp = ${join(dir, 'tmp')}`,
      `remote_tmp = ${join(dir, 'tmp', 'remote')}`,
      '',
      '[ssh_connection]',
      'pipelining = True',
      `control_path_dir = ${cp}`,
      `ssh_args = -F /dev/null -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o UserKnownHostsFile=${h.knownHosts} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes`,
      '',
    ].join('\n'),
  );
  const env = {
    ...process.env,
    ANSIBLE_CONFIG: join(dir, 'ansible.cfg'),
    ANSIBLE_HOME: join(dir, 'home'),
    ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'),
    ANSIBLE_NOCOLOR: '1',
  };
  const cpu0 = childCpuS();
  const t0 = performance.now();
  try {
    await run(
      'ansible-playbook',
      [
        PLAYBOOK,
        '-e',
        `version=${version}`,
        '-e',
        `batch_size=${batchSize(n)}`,
        '-e',
        'start_cmd="sh start.sh"',
      ],
      { env, timeout: 1_200_000, maxBuffer: 64 * 1024 * 1024 },
    );
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `ansible-playbook ${version}: ${(e.stdout ?? '').slice(-2000)}\n${e.stderr ?? e.message}`,
      { cause: err },
    );
  } finally {
    // The ControlPersist masters outlive the play; they are not part of its time.
    for (const name of await readdir(cp).catch(() => [] as string[])) {
      await run(
        'ssh',
        ['-F', '/dev/null', '-o', `ControlPath=${join(cp, name)}`, '-O', 'exit', 'mux'],
        { timeout: 5_000 },
      ).catch(() => undefined);
    }
  }
  const ms = performance.now() - t0;
  const pkgSize = (await stat(join(h.packages, `app-${version}.tar.gz`))).size;
  return {
    n,
    contender: 'ansible',
    ms,
    batches: await traceBatches(h, trace),
    rssMB: null,
    cpuS: childCpuS() - cpu0,
    connects: n,
    connectMsSum: null,
    connectMsMax: null,
    markdownMsMax: null,
    bytesSent: n * pkgSize,
  };
}

/** CPU seconds of this process's waited-for children (cutime + cstime in /proc/self/stat). */
function childCpuS(): number {
  const line = readFileSync('/proc/self/stat', 'utf8');
  const f = line.slice(line.lastIndexOf(')') + 2).split(' ');
  // After the name, [0] is field 3 (state): cutime and cstime are fields 16 and 17.
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** Per batch, first drain to last ready, from a "<ms> <name> drain|ready" trace. */
async function traceBatches(h: Harness, trace: string): Promise<number[]> {
  const n = h.hosts.length;
  const size = batchSize(n);
  const marks = new Map<string, { drain?: number; ready?: number }>();
  for (const l of (await readFile(trace, 'utf8')).split('\n').filter(Boolean)) {
    const [t, name, what] = l.split(' ');
    const m = marks.get(name!) ?? {};
    m[what as 'drain' | 'ready'] = Number(t);
    marks.set(name!, m);
  }
  const batches: number[] = [];
  for (let b = 0; b < n; b += size) {
    const ms = h.hosts.slice(b, b + size).map((x) => marks.get(x.id) ?? {});
    batches.push(
      Math.max(...ms.map((m) => m.ready ?? NaN)) - Math.min(...ms.map((m) => m.drain ?? NaN)),
    );
  }
  return batches;
}

/** ansible-core from Debian when ansible-playbook is missing (this bench installs it itself). */
async function ensureAnsible(): Promise<void> {
  const has = await run('sh', ['-c', 'command -v ansible-playbook'])
    .then(() => true)
    .catch(() => false);
  if (has) return;
  log('  ansible-playbook missing: apt-get install ansible-core');
  await run('apt-get', ['update'], { timeout: 300_000 });
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'ansible-core'], {
    timeout: 600_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

function batchSize(n: number): number {
  return Math.max(1, Math.floor(n * 0.25));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function describeRow(r: Row): string {
  const batches = r.batches.map((b) => (b / 1000).toFixed(2)).join('/');
  return (
    `  ${r.contender.padEnd(8)} ${sec(r.ms).padStart(9)}  batches ${batches} s` +
    (r.rssMB !== null ? `  rss ${r.rssMB.toFixed(0)} MB` : '') +
    `  cpu ${r.cpuS.toFixed(2)} s  ssh connects ${r.connects}` +
    (r.connectMsSum !== null ? ` (sum ${r.connectMsSum} ms, slowest ${r.connectMsMax} ms)` : '') +
    (r.markdownMsMax !== null ? `  slowest markdown ${r.markdownMsMax} ms` : '') +
    `  sent ${(r.bytesSent / 1024).toFixed(0)} KB`
  );
}

async function main() {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '6,60' },
      rounds: { type: 'string', default: '1' },
      'max-connecting': { type: 'string', default: '8' },
      ansible: { type: 'string', default: '' },
      keep: { type: 'boolean', default: false },
    },
  });
  const ansibleAt = new Set(values.ansible ? values.ansible.split(',').map(Number) : []);
  if (ansibleAt.size > 0) await ensureAnsible();
  const ns = values.n.split(',').map(Number);
  const rounds = Number(values.rounds);
  const maxConnecting = Number(values['max-connecting']);
  log(
    `bench/scale: N = ${ns.join(', ')}, ${rounds} round(s), maxConnecting ${maxConnecting}, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const all: Row[] = [];
  const setups: { n: number; setupMs: number; harnessMB: number }[] = [];
  for (const n of ns) {
    log(`\nN = ${n} (batches of ${batchSize(n)})`);
    const h = await setup(n, maxConnecting);
    setups.push({ n, setupMs: h.setupMs, harnessMB: h.harnessMB });
    log(`  harness up in ${sec(h.setupMs)}, ~${h.harnessMB.toFixed(0)} MB (sshd + HAProxy)`);
    try {
      let v = 0;
      const next = async () => {
        const version = `1.0.${++v}`;
        await pkg(h, version);
        return version;
      };
      const warm = await next();
      const w = await rollgate(h, warm);
      await check(h, warm);
      log(`  warm-up (first install, untimed) ${sec(w.ms)}`);
      for (let r = 0; r < rounds; r++) {
        const order: Row['contender'][] = r % 2 ? ['floor', 'rollgate'] : ['rollgate', 'floor'];
        if (ansibleAt.has(n)) order.push('ansible');
        for (const contender of order) {
          const version = await next();
          const row =
            contender === 'rollgate'
              ? await rollgate(h, version)
              : contender === 'floor'
                ? await floor(h, version)
                : await ansible(h, version);
          row.load = loadavg()[0]!;
          await check(h, version);
          all.push(row);
          log(describeRow(row));
        }
      }
    } finally {
      await teardown(h, values.keep);
    }
  }
  log(
    '\n| N | batch | rollgate | floor | Ansible | rollgate / floor | Ansible / rollgate | rollgate batch (median) | floor batch (median) | slowest markdown | rollgate peak RSS | rollgate CPU | floor CPU | Ansible CPU | rollgate SSH connects (sum / slowest) | package bytes sent | load (1 min) |',
  );
  log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const n of ns) {
    const rg = all.filter((r) => r.n === n && r.contender === 'rollgate');
    const fl = all.filter((r) => r.n === n && r.contender === 'floor');
    const an = all.filter((r) => r.n === n && r.contender === 'ansible');
    const m = (rows: Row[], f: (r: Row) => number) => median(rows.map(f));
    const rgMs = m(rg, (r) => r.ms);
    const flMs = m(fl, (r) => r.ms);
    const anMs = an.length ? m(an, (r) => r.ms) : null;
    const loads = [...rg, ...fl, ...an].map((r) => r.load ?? 0);
    log(
      `| ${n} | ${batchSize(n)} | ${sec(rgMs)} | ${sec(flMs)} | ${anMs === null ? '–' : sec(anMs)} | ` +
        `${(rgMs / flMs).toFixed(2)} | ${anMs === null ? '–' : `${(anMs / rgMs).toFixed(1)}×`} | ` +
        `${sec(m(rg, (r) => median(r.batches)))} | ${sec(m(fl, (r) => median(r.batches)))} | ` +
        `${m(rg, (r) => r.markdownMsMax ?? 0).toFixed(0)} ms | ${m(rg, (r) => r.rssMB ?? 0).toFixed(0)} MB | ` +
        `${m(rg, (r) => r.cpuS).toFixed(2)} s | ${m(fl, (r) => r.cpuS).toFixed(2)} s | ` +
        `${an.length ? `${m(an, (r) => r.cpuS).toFixed(1)} s` : '–'} | ` +
        `${m(rg, (r) => r.connects)} (${sec(m(rg, (r) => r.connectMsSum ?? 0))} / ${m(rg, (r) => r.connectMsMax ?? 0)} ms) | ` +
        `${(m(rg, (r) => r.bytesSent) / 1024).toFixed(0)} KB | ` +
        `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} |`,
    );
  }
  for (const s of setups)
    log(`harness N=${s.n}: up in ${sec(s.setupMs)}, ~${s.harnessMB.toFixed(0)} MB`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/scale: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
