/**
 * The slow runner link of issue 17, measured. Started by bench/slow-link.sh inside the fleet
 * namespace (rgslow-fleet), which it fills: N sshd hosts (scripts/test-env/sshd.sh) on
 * 10.231.200.1…N, port 22, the stand-in app of bench/scale (busybox httpd after 300 ms), HAProxy
 * on 10.231.200.251 with every host as a server, and a package store (an HTTP server in this
 * process, GET and PUT) on 10.231.200.250:8081. rollgate runs in the runner namespace
 * (rgslow-runner, `ip netns exec`), whose one link to the fleet is limited with tc tbf in both
 * directions; it reaches HAProxy's runtime API through its unix socket (not over the link).
 *
 * Per rate: (a) a release of a new <size> MB package (random bytes: incompressible), streamed by
 * rollgate to every host over SSH; (b) the same for the next version published once to the store
 * (`curl -T` from the runner namespace: over the link) and fetched by each host. Batches of 25%,
 * no bastion, no waits. Measured: release time (and the publish), per-batch time, bytes through
 * the runner's link (its veth's tx_bytes/rx_bytes), rollgate's peak RSS and CPU.
 */
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs, promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { buildPackage } from '../src/package/tarball';
import type { ReleaseEvent } from '../src/engine/ledger';
import { startSshFleet, type SshFleet } from '../test/support/ssh-fleet';
import { ensureHaproxy, startHaproxy, type HaproxyLb } from '../test/support/haproxy-lb';
import { checkFleet, killApps, type BenchHost } from './scale/fleet-check';
import { scaleGroupYaml } from './scale/group-yaml';

const run = promisify(execFile);

const BENCH = resolve(__dirname);
const APP_DIR = join(BENCH, 'scale', 'app');
const RUNNER = join(BENCH, 'scale', 'rollgate-run.ts');
const NET = '10.231.200';
const STORE = `${NET}.250:8081`;
const FRONTEND = `${NET}.251:8080`;
const APP_PORT = 44080;
const START_DELAY_MS = 300;

const log = (l: string) => process.stdout.write(`${l}\n`);
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

interface Link {
  ns: string;
  runnerIf: string;
  fleetIf: string;
}

interface Counters {
  tx: number;
  rx: number;
}

interface RunnerResult {
  ms: number;
  phase: string;
  batches: number[];
  stepsMsMax: Record<string, number>;
  uploads: number;
  rssMB: number;
  cpuS: number;
  warnings: string[];
}

interface Row {
  rate: string;
  mode: 'stream' | 'store';
  releaseMs: number;
  publishMs: number;
  timeline: Timeline;
  tx: number;
  rx: number;
  rssMB: number;
  cpuS: number;
  downloadMsMax: number;
}

/**
 * From the release's event log: the time before batch 1 (lock, probe, the batch's connections),
 * each batch from its start to its end, and each wait between batches (the next batch's staging
 * still under way: with a slow link, that is where streaming spends its time).
 */
interface Timeline {
  before: number;
  batches: number[];
  gaps: number[];
}

async function timeline(eventsFile: string): Promise<Timeline> {
  const events = (await readFile(eventsFile, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ReleaseEvent);
  const id = events.filter((e) => e.type === 'release').at(-1)?.deployment;
  const mine = events.filter((e) => e.deployment === id);
  const start = Date.parse(mine[0]!.at);
  const spans: [number, number][] = [];
  for (const e of mine) {
    if (e.type !== 'batch' || e.batch === undefined) continue;
    const t = Date.parse(e.at);
    const [a, b] = spans[e.batch] ?? [t, t];
    spans[e.batch] = [Math.min(a, t), Math.max(b, t)];
  }
  return {
    before: spans[0]![0] - start,
    batches: spans.map(([a, b]) => b - a),
    gaps: spans.slice(1).map(([a], k) => a - spans[k]![1]),
  };
}

/** The runner's veth counters, read in the runner namespace's own /sys. */
async function counters(link: Link): Promise<Counters> {
  const read = async (what: string) => {
    const { stdout } = await run('ip', [
      'netns',
      'exec',
      link.ns,
      'cat',
      `/sys/class/net/${link.runnerIf}/statistics/${what}`,
    ]);
    return Number(stdout.trim());
  };
  return { tx: await read('tx_bytes'), rx: await read('rx_bytes') };
}

/** tbf on both ends of the veth: the runner's egress (uploads) and the fleet's (the way back). */
async function setRate(link: Link, rate: string): Promise<void> {
  if (rate === 'unlimited') {
    // No qdisc of ours: the veth as fast as this machine's CPUs move bytes.
    await run('tc', ['-n', link.ns, 'qdisc', 'del', 'dev', link.runnerIf, 'root']).catch(() => 0);
    await run('tc', ['qdisc', 'del', 'dev', link.fleetIf, 'root']).catch(() => 0);
    return;
  }
  const bitsPerS = parseRate(rate);
  // A burst of ~4 ms at the rate (at least 64 KB) keeps tbf from throttling below it.
  const burst = Math.max(64 * 1024, Math.round((bitsPerS / 8) * 0.004));
  const tbf = ['root', 'tbf', 'rate', rate, 'burst', String(burst), 'latency', '50ms'];
  await run('tc', ['-n', link.ns, 'qdisc', 'replace', 'dev', link.runnerIf, ...tbf]);
  await run('tc', ['qdisc', 'replace', 'dev', link.fleetIf, ...tbf]);
}

/** `0.3 → 27.4 ⋯2.1 4.6 ⋯ …`: before batch 1, then each batch and (⋯) the wait before the next. */
function describeTimeline(t: Timeline): string {
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const parts = t.batches.map((b, k) => (k === 0 ? s(b) : `⋯${s(t.gaps[k - 1]!)} ${s(b)}`));
  return `${s(t.before)} → ${parts.join(' ')} s`;
}

function parseRate(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|m|g)?bit$/i.exec(rate);
  if (!m)
    throw new Error(`--rates: "${rate}" is not a tc rate like 1gbit or 200mbit (or unlimited)`);
  const unit = { k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Number(m[1]) * unit;
}

/** A static store: GET/HEAD serve <dir>/<name>, PUT writes it (as `curl -T` does). */
function startStore(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').split('?')[0]!.slice(1));
    if (!/^[\w.-]+$/.test(name)) {
      res.writeHead(400).end();
      return;
    }
    const path = join(dir, name);
    if (req.method === 'PUT') {
      const partial = `${path}.partial`;
      pipeline(req, createWriteStream(partial))
        .then(() => rename(partial, path))
        .then(
          () => res.writeHead(201).end(),
          () => res.writeHead(500).end(),
        );
      return;
    }
    stat(path).then(
      (s) => {
        res.writeHead(200, {
          'content-length': s.size,
          'content-type': 'application/gzip',
        });
        if (req.method === 'HEAD') res.end();
        else pipeline(createReadStream(path), res).catch(() => res.destroy());
      },
      () => res.writeHead(404).end(),
    );
  });
  const [host, port] = STORE.split(':');
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(Number(port), host, () => done(server));
  });
}

function groupYaml(
  hosts: BenchHost[],
  source: string,
  keyFile: string,
  knownHosts: string,
  lb: HaproxyLb,
): string {
  return scaleGroupYaml({
    group: 'slow-link',
    appPort: APP_PORT,
    keep: 2,
    source,
    hosts,
    keyFile,
    knownHosts,
    socketPath: lb.socketPath,
  });
}

/** One rollgate release in the runner namespace, in its own process (bench/scale/rollgate-run.ts). */
async function release(link: Link, groupFile: string, version: string): Promise<RunnerResult> {
  const { stdout } = await run(
    'ip',
    ['netns', 'exec', link.ns, process.execPath, ...process.execArgv, RUNNER, groupFile, version],
    { timeout: 1_800_000, maxBuffer: 1 << 20 },
  );
  const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as RunnerResult;
  if (r.phase !== 'SUCCESS') throw new Error(`rollgate ${version}: ${r.warnings.join('; ')}`);
  return r;
}

/** The app of bench/scale plus <sizeMB> MB of random bytes. */
async function bigApp(dir: string, sizeMB: number): Promise<string> {
  const app = join(dir, 'app-big');
  await mkdir(app, { recursive: true });
  await copyFile(join(APP_DIR, 'start.sh'), join(app, 'start.sh'));
  const file = await open(join(app, 'blob.bin'), 'w');
  try {
    for (let i = 0; i < sizeMB; i++) await file.write(randomBytes(1 << 20));
  } finally {
    await file.close();
  }
  return app;
}

async function main() {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      'runner-ns': { type: 'string' },
      'runner-if': { type: 'string' },
      'fleet-if': { type: 'string' },
      n: { type: 'string', default: '60' },
      'size-mb': { type: 'string', default: '50' },
      rates: { type: 'string', default: '1gbit,200mbit' },
    },
  });
  const dir = values.dir;
  if (!dir || !values['runner-ns'] || !values['runner-if'] || !values['fleet-if']) {
    throw new Error('run bench/slow-link.sh: it makes the namespaces and passes --dir, --runner-*');
  }
  const link: Link = {
    ns: values['runner-ns'],
    runnerIf: values['runner-if'],
    fleetIf: values['fleet-if'],
  };
  const n = Number(values.n);
  const sizeMB = Number(values['size-mb']);
  const rates = values.rates.split(',');
  rates.filter((r) => r !== 'unlimited').forEach(parseRate);
  const why = await ensureHaproxy();
  if (why) throw new Error(why);

  const t0 = performance.now();
  const sshDir = join(dir, 'ssh');
  await mkdir(sshDir, { recursive: true });
  await chmod(sshDir, 0o755);
  let fleet: SshFleet | undefined;
  let lb: HaproxyLb | undefined;
  let store: Server | undefined;
  const hosts: BenchHost[] = [];
  try {
    fleet = await startSshFleet({ n, dir: sshDir, net: NET, port: 22 });
    for (const h of fleet.hosts) {
      hosts.push({
        id: `web-${String(h.index).padStart(3, '0')}`,
        address: h.address,
        docBase: join(h.root, 'srv/app'),
      });
    }
    lb = await startHaproxy({
      dir: join(dir, 'haproxy'),
      frontend: FRONTEND,
      backend: 'app',
      servers: hosts.map((h) => ({ name: h.id, address: h.address, port: APP_PORT })),
    });
    const storeDir = join(dir, 'store');
    await mkdir(storeDir, { recursive: true });
    store = await startStore(storeDir);
    const packages = join(dir, 'packages');
    const streamGroup = join(dir, 'stream.yml');
    const storeGroup = join(dir, 'store.yml');
    await writeFile(
      streamGroup,
      groupYaml(hosts, './packages/app-{version}.tar.gz', fleet.keyFile, fleet.knownHostsFile, lb),
    );
    await writeFile(
      storeGroup,
      groupYaml(
        hosts,
        `http://${STORE}/app-{version}.tar.gz`,
        fleet.keyFile,
        fleet.knownHostsFile,
        lb,
      ),
    );
    const big = await bigApp(dir, sizeMB);
    log(
      `bench/slow-link: ${n} hosts, batches of ${Math.max(1, Math.floor(n / 4))}, harness up in ${sec(performance.now() - t0)}`,
    );

    // Start the apps with a small package, untimed, at full speed.
    await setRate(link, 'unlimited');
    await buildPackage({
      appDir: APP_DIR,
      version: '1.0.0',
      outDir: packages,
      startDelayMs: START_DELAY_MS,
    });
    const warm = await release(link, streamGroup, '1.0.0');
    await checkFleet(hosts, APP_PORT, lb, 'app', '1.0.0');
    log(`warm-up (first install, small package, unlimited link) ${sec(warm.ms)}`);

    const rows: Row[] = [];
    let v = 0;
    let size = 0;
    for (const rate of rates) {
      await setRate(link, rate);
      for (const mode of ['stream', 'store'] as const) {
        const version = `2.0.${++v}`;
        const built = await buildPackage({
          appDir: big,
          version,
          outDir: packages,
          startDelayMs: START_DELAY_MS,
        });
        size = (await stat(built.path)).size;
        const before = await counters(link);
        let publishMs = 0;
        if (mode === 'store') {
          const p0 = performance.now();
          await run('ip', [
            'netns',
            'exec',
            link.ns,
            'curl',
            '-sSf',
            '-T',
            built.path,
            `http://${STORE}/app-${version}.tar.gz`,
          ]);
          publishMs = performance.now() - p0;
        }
        const r = await release(link, mode === 'stream' ? streamGroup : storeGroup, version);
        const after = await counters(link);
        await checkFleet(hosts, APP_PORT, lb, 'app', version);
        const row: Row = {
          rate,
          mode,
          releaseMs: r.ms,
          publishMs,
          timeline: await timeline(join(dir, 'state', 'slow-link', 'events.ndjson')),
          tx: after.tx - before.tx,
          rx: after.rx - before.rx,
          rssMB: r.rssMB,
          cpuS: r.cpuS,
          downloadMsMax: r.stepsMsMax.DOWNLOAD ?? 0,
        };
        rows.push(row);
        log(
          `${rate} ${mode.padEnd(6)} release ${sec(row.releaseMs)}` +
            (mode === 'store' ? ` (+ publish ${sec(row.publishMs)})` : '') +
            `  ${describeTimeline(row.timeline)}` +
            `  runner link tx ${mb(row.tx)} rx ${mb(row.rx)}` +
            `  slowest download ${sec(row.downloadMsMax)}  rss ${row.rssMB.toFixed(0)} MB  cpu ${row.cpuS.toFixed(1)} s`,
        );
      }
    }
    log(`\npackage ${mb(size)} (random bytes, gzip cannot shrink it), ${n} hosts, 25% batches`);
    log(
      '\n| link | package from | release | publish to store | before batch 1 → batches (⋯ wait for the staging of the next batch) | runner link out (tx) | runner link in (rx) | out / package | rollgate peak RSS | rollgate CPU |',
    );
    log('|---|---|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      log(
        `| ${r.rate} | ${r.mode === 'stream' ? 'runner, over SSH' : 'store, each host'} | ${sec(r.releaseMs)} | ` +
          `${r.mode === 'store' ? sec(r.publishMs) : '—'} | ${describeTimeline(r.timeline)} | ` +
          `${mb(r.tx)} | ${mb(r.rx)} | ${(r.tx / size).toFixed(1)} × | ${r.rssMB.toFixed(0)} MB | ${r.cpuS.toFixed(1)} s |`,
      );
    }
  } finally {
    await killApps(hosts);
    await lb?.stop().catch(() => undefined);
    await fleet?.stop().catch(() => undefined);
    await new Promise((done) => (store ? store.close(done) : done(undefined)));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/slow-link: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
