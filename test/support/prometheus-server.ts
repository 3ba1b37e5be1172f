/**
 * A real Prometheus 2.42 (and Pushgateway) on loopback for the monitor tests and the bench.
 * Installed from Debian by scripts/test-env/prometheus.sh when missing; run here, so the helper
 * can reap it. The first sample is queryable about 5 s after start (platform notes §3): start
 * one per test file, in beforeAll, and wait with `waitForSeries`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../scripts/test-env/prometheus.sh', import.meta.url));

/**
 * Makes sure `prometheus` and `prometheus-pushgateway` are installed (apt, through the script).
 * Null when they are; else why not. With CI=true a missing Prometheus throws: fail, never skip.
 */
export async function ensurePrometheus(): Promise<string | null> {
  if ((await versionOf('prometheus')) && (await versionOf('prometheus-pushgateway'))) return null;
  let why: string;
  try {
    await run('bash', [SCRIPT, 'install'], { timeout: 300_000 });
    if (await versionOf('prometheus')) return null;
    why = 'prometheus.sh install finished but prometheus is still not on PATH';
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    why = `prometheus is missing and could not be installed: ${(e.stderr || e.message).trim()}`;
  }
  if (process.env.CI === 'true') throw new Error(`${why} (CI=true: failing, not skipping)`);
  return why;
}

async function versionOf(bin: string): Promise<string | null> {
  try {
    const { stdout, stderr } = await run(bin, ['--version']);
    return (stdout || stderr).split('\n')[0] ?? null;
  } catch {
    return null;
  }
}

export interface ScrapeTarget {
  /** `127.0.10.10:19100` */
  address: string;
  /** Extra labels on every series of this target (`group`). */
  labels?: Record<string, string>;
}

export interface PrometheusOptions {
  dir: string;
  /** `127.0.10.1:19090` */
  listen: string;
  targets: ScrapeTarget[];
  /** A Pushgateway to scrape too, with honor_labels (its pushed `group` label wins). */
  pushgateway?: string;
}

export interface RunningServer {
  pid: number;
  url: string;
  /** Date.now() when the process was spawned. */
  startedAt: number;
  logPath: string;
  stop(): Promise<void>;
  /** SIGKILL, for fault injection. */
  kill(): Promise<void>;
}

/** prometheus.yml: 1 s scrape and rule evaluation; one job `app`, one static config per target. */
export function prometheusConfig(opts: Pick<PrometheusOptions, 'targets' | 'pushgateway'>): string {
  const lines = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: app',
    '    static_configs:',
  ];
  for (const t of opts.targets) {
    lines.push(`      - targets: ['${t.address}']`);
    const labels = Object.entries(t.labels ?? {});
    if (labels.length > 0) {
      lines.push('        labels:');
      for (const [k, v] of labels) lines.push(`          ${k}: '${v}'`);
    }
  }
  if (opts.pushgateway) {
    lines.push(
      '  - job_name: pushgateway',
      '    honor_labels: true',
      '    static_configs:',
      `      - targets: ['${opts.pushgateway}']`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function startPrometheus(opts: PrometheusOptions): Promise<RunningServer> {
  fs.mkdirSync(opts.dir, { recursive: true });
  const configPath = path.join(opts.dir, 'prometheus.yml');
  fs.writeFileSync(configPath, prometheusConfig(opts));
  return startServer({
    name: 'prometheus',
    bin: 'prometheus',
    args: [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${path.join(opts.dir, 'data')}`,
      `--web.listen-address=${opts.listen}`,
      '--web.enable-lifecycle',
    ],
    logPath: path.join(opts.dir, 'prometheus.log'),
    url: `http://${opts.listen}`,
    readyPath: '/-/ready',
  });
}

/** A Pushgateway that keeps its metrics in memory (the Debian default persists to /var/lib). */
export async function startPushgateway(opts: {
  dir: string;
  listen: string;
}): Promise<RunningServer> {
  fs.mkdirSync(opts.dir, { recursive: true });
  return startServer({
    name: 'pushgateway',
    bin: 'prometheus-pushgateway',
    args: [`--web.listen-address=${opts.listen}`, '--persistence.file='],
    logPath: path.join(opts.dir, 'pushgateway.log'),
    url: `http://${opts.listen}`,
    readyPath: '/-/ready',
  });
}

async function startServer(s: {
  name: string;
  bin: string;
  args: string[];
  logPath: string;
  url: string;
  readyPath: string;
}): Promise<RunningServer> {
  const log = fs.openSync(s.logPath, 'a');
  const startedAt = Date.now();
  const child = spawn(s.bin, s.args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid === undefined) throw new Error(`${s.name} did not start`);
  const stop = (signal: NodeJS.Signals) => stopChild(child, exited, signal);
  try {
    await waitReady(`${s.url}${s.readyPath}`, child, s.name);
  } catch (err) {
    await stop('SIGKILL');
    const tail = fs.readFileSync(s.logPath, 'utf8').slice(-2000);
    throw new Error(`${(err as Error).message}; log:\n${tail}`, { cause: err });
  }
  return {
    pid: child.pid,
    url: s.url,
    startedAt,
    logPath: s.logPath,
    stop: () => stop('SIGTERM'),
    kill: () => stop('SIGKILL'),
  };
}

async function waitReady(url: string, child: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${name} was not ready at ${url} within 10 s`);
}

async function stopChild(child: ChildProcess, exited: Promise<void>, signal: NodeJS.Signals) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Waits until `query` has at least `series` series with a value (the first `rate()` needs two
 * scrapes after the 5 s start-up delay). Returns the time it took.
 */
export async function waitForSeries(
  url: string,
  query: string,
  series: number,
  timeoutMs = 20_000,
): Promise<number> {
  const t0 = Date.now();
  let last = '';
  while (Date.now() - t0 < timeoutMs) {
    try {
      const res = await fetch(`${url}/api/v1/query`, {
        method: 'POST',
        body: new URLSearchParams({ query }),
      });
      last = await res.text();
      const body = JSON.parse(last) as { data?: { result?: unknown[] } };
      if ((body.data?.result?.length ?? 0) >= series) return Date.now() - t0;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `no ${series} series for ${query} within ${timeoutMs} ms (last: ${last.slice(0, 300)})`,
  );
}
