/**
 * Monitor benchmark (issue monitor-30m): how long from an injected error spike to the
 * `degraded` verdict, against a real Prometheus 2.42 (1 s scrape) scraping the real sample app.
 *
 * Setup: one Prometheus (127.0.10.1:19099), one group of two apps per configuration (old 1.0.0
 * and new 1.1.0, 127.0.10.40+ on ports 19140+), 25 GETs a second per app. The configurations
 * run side by side, each on its own group; within one, the trials run one after another:
 *
 *   reset the new app to 0% errors, wait for the rate window to forget → start the watch (canary
 *   rule: new > old × 3 and > old + 1%) → after a random 1–2 poll intervals POST /errrate?r=0.3
 *   to the new app → time until watch() returns `degraded`.
 *
 * Reported per configuration: poll interval, rate window, `for` polls, median and worst seconds
 * from the injection to the verdict, and the polls that took (polls begun after the injection,
 * the deciding one included). Goal: detection within 2 polls.
 *
 *   npx tsx bench/monitor.ts [--trials 5]
 */
import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { realClock } from '../src/clock/real';
import type { Logger } from '../src/model/logger';
import type { Check } from '../src/monitor/checks';
import { PrometheusClient } from '../src/monitor/prometheus/client';
import { watch } from '../src/monitor/watch';
import { startLoad, startSampleApp, type SampleApp } from '../test/support/prometheus-app';
import {
  ensurePrometheus,
  startPrometheus,
  waitForSeries,
} from '../test/support/prometheus-server';

const PROM = '127.0.10.1:19099';
const OLD = '1.0.0';
const NEW = '1.1.0';
const RATE = 25;

interface Config {
  name: string;
  intervalMs: number;
  rateWindow: string;
  forPolls: number;
}

const CONFIGS: Config[] = [
  { name: 'a', intervalMs: 1000, rateWindow: '5s', forPolls: 2 },
  { name: 'b', intervalMs: 2000, rateWindow: '5s', forPolls: 2 },
  { name: 'c', intervalMs: 5000, rateWindow: '5s', forPolls: 2 },
  { name: 'd', intervalMs: 2000, rateWindow: '5s', forPolls: 1 },
  { name: 'e', intervalMs: 5000, rateWindow: '30s', forPolls: 2 },
];

interface Trial {
  ms: number;
  polls: number;
  verdict: string;
}

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function check(c: Config): Check {
  const sel = `job="app", group="${c.name}"`;
  return {
    name: 'error-ratio',
    kind: 'application',
    source: 'prometheus',
    ratio: {
      numerator: `sum by (version) (rate(http_requests_total{${sel}, code=~"5.."}[${c.rateWindow}]))`,
      denominator: `sum by (version) (rate(http_requests_total{${sel}}[${c.rateWindow}]))`,
    },
    unit: 'ratio',
    rules: [{ type: 'canary', when: 'above', factor: 3, tolerance: 0.01 }],
    forPolls: c.forPolls,
    optional: false,
  };
}

async function trialsOf(
  c: Config,
  app: SampleApp,
  client: PrometheusClient,
  trials: number,
): Promise<Trial[]> {
  const out: Trial[] = [];
  const windowMs = Number(c.rateWindow.replace('s', '')) * 1000;
  for (let i = 0; i < trials; i++) {
    await app.setErrorRate(0);
    await sleep(windowMs + 2500); // the rate window forgets the last spike
    let injectedAt = 0;
    const delay = c.intervalMs * (1 + Math.random());
    const injection = sleep(delay).then(async () => {
      await app.setErrorRate(0.3);
      injectedAt = Date.now();
    });
    const pollTimes: number[] = [];
    const result = await watch({
      checks: [check(c)],
      sources: { prometheus: client },
      clock: realClock,
      logger: silent,
      windowMs: 120_000,
      intervalMs: c.intervalMs,
      version: NEW,
      previousVersion: OLD,
      retryDelayMs: 200,
      onPoll: (p) => pollTimes.push(p.at),
    });
    await injection;
    const ms = result.endedAt - injectedAt;
    const polls = pollTimes.filter((t) => t > injectedAt).length;
    out.push({ ms, polls, verdict: result.verdict });
    process.stdout.write(
      `  [${c.name}] trial ${i + 1}: ${result.verdict} ${(ms / 1000).toFixed(2)} s, ${polls} polls after the injection\n`,
    );
  }
  await app.setErrorRate(0);
  return out;
}

async function main() {
  const { values } = parseArgs({ options: { trials: { type: 'string', default: '3' } } });
  const trials = Number(values.trials);
  const missing = await ensurePrometheus();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'rollgate-bench-monitor-'));
  const apps: { c: Config; old: SampleApp; new: SampleApp }[] = [];
  const stops: (() => Promise<void>)[] = [];
  try {
    for (const [i, c] of CONFIGS.entries()) {
      const start = (version: string, k: number) =>
        startSampleApp({
          host: `127.0.10.${40 + 2 * i + k}`,
          port: 19140 + 2 * i + k,
          version,
          dir,
        });
      const pair = { c, old: await start(OLD, 0), new: await start(NEW, 1) };
      stops.push(pair.old.stop, pair.new.stop);
      apps.push(pair);
    }
    const load = startLoad(
      apps.flatMap((a) => [a.old, a.new]),
      RATE,
    );
    stops.unshift(load.stop);
    const t0 = Date.now();
    const prometheus = await startPrometheus({
      dir,
      listen: PROM,
      targets: apps.flatMap((a) =>
        [a.old, a.new].map((x) => ({
          address: `${x.host}:${x.port}`,
          labels: { group: a.c.name },
        })),
      ),
    });
    stops.unshift(prometheus.stop);
    const firstRate = await waitForSeries(prometheus.url, 'rate(http_requests_total[5s]) > 0', 1);
    process.stdout.write(
      `prometheus ready; first rate() ${((Date.now() - t0) / 1000).toFixed(1)} s after start (${firstRate} ms of waiting)\n`,
    );
    const client = new PrometheusClient({ url: prometheus.url, timeoutMs: 2000 });
    const load0 = loadavg()[0]!.toFixed(2);
    const results = await Promise.all(apps.map((a) => trialsOf(a.c, a.new, client, trials)));
    process.stdout.write(
      `\nload average ${load0} → ${loadavg()[0]!.toFixed(2)}; ${trials} trials each\n\n`,
    );
    process.stdout.write(
      '| poll interval | rate window | for | median s | worst s | polls (median / worst) | within 2 polls |\n',
    );
    process.stdout.write('|---:|---:|---:|---:|---:|---:|---|\n');
    for (const [i, c] of CONFIGS.entries()) {
      const r = results[i]!;
      const ok = r.filter((t) => t.verdict === 'degraded');
      const ms = ok.map((t) => t.ms);
      const polls = ok.map((t) => t.polls);
      const within = polls.filter((p) => p <= 2).length;
      process.stdout.write(
        `| ${c.intervalMs / 1000} s | ${c.rateWindow} | ${c.forPolls} | ${(median(ms) / 1000).toFixed(2)} | ` +
          `${(Math.max(...ms) / 1000).toFixed(2)} | ${median(polls)} / ${Math.max(...polls)} | ` +
          `${within} of ${r.length}${ok.length < r.length ? ` (${r.length - ok.length} not degraded)` : ''} |\n`,
      );
    }
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
