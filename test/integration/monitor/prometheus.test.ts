/**
 * The monitor against a real Prometheus 2.42 scraping the real sample app every second, in real
 * time. One Prometheus for the file (it takes ~5 s to have its first sample), three groups of
 * two apps (old 1.0.0, new 1.1.0) so the release scenarios run side by side without touching
 * each other's numbers, and a Pushgateway for the release timeline (O4). Prometheus is killed
 * by the last test.
 *
 * Addresses (loopback only): Prometheus 127.0.10.1:19090, Pushgateway 127.0.10.2:19091,
 * apps 127.0.10.10–15 on ports 19100–19105.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realClock } from '../../../src/clock/real';
import type { Check } from '../../../src/monitor/checks';
import { HttpProbe } from '../../../src/monitor/probe';
import { PrometheusClient } from '../../../src/monitor/prometheus/client';
import { pushReleaseEvent } from '../../../src/monitor/pushgateway';
import { watch, type WatchResult } from '../../../src/monitor/watch';
import { startLoad, startSampleApp, type Load, type SampleApp } from '../../support/prometheus-app';
import { MemoryLogger } from '../../support/prometheus-fakes';
import {
  ensurePrometheus,
  startPrometheus,
  startPushgateway,
  waitForSeries,
  type RunningServer,
} from '../../support/prometheus-server';

const missing = await ensurePrometheus();

const PROM = '127.0.10.1:19090';
const PUSH = '127.0.10.2:19091';
const GROUPS = ['steady', 'spike', 'decline'] as const;
type GroupName = (typeof GROUPS)[number];
const OLD = '1.0.0';
const NEW = '1.1.0';
/** GETs per second per app. */
const RATE = 25;
/** Extra GETs per second for the new app of the `decline` group. */
const DECLINE_EXTRA_RATE = 100;

/** Error ratio of one group, by version, over a 5 s rate window (5 scrapes). */
function errorRatio(group: GroupName, rules: Check['rules'], over: Partial<Check> = {}): Check {
  const sel = `job="app", group="${group}"`;
  return {
    name: 'error-ratio',
    kind: 'application',
    source: 'prometheus',
    ratio: {
      numerator: `sum by (version) (rate(http_requests_total{${sel}, code=~"5.."}[5s]))`,
      denominator: `sum by (version) (rate(http_requests_total{${sel}}[5s]))`,
    },
    unit: 'ratio',
    rules,
    forPolls: 2,
    optional: false,
    ...over,
  };
}

function p99(group: GroupName): Check {
  return {
    name: 'p99',
    kind: 'user',
    source: 'prometheus',
    query: `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="app", group="${group}"}[5s])))`,
    unit: 'seconds',
    rules: [{ type: 'threshold', when: 'above', value: 0.25 }],
    forPolls: 2,
    optional: false,
  };
}

describe.skipIf(missing)('monitor on a real Prometheus (real time)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollgate-monitor-'));
  const apps = new Map<GroupName, { old: SampleApp; new: SampleApp }>();
  let prometheus: RunningServer | undefined;
  let pushgateway: RunningServer | undefined;
  let load: Load | undefined;
  let rampLoad: Load | undefined;
  let client: PrometheusClient;

  beforeAll(async () => {
    const started = Date.now();
    let n = 0;
    for (const group of GROUPS) {
      const start = (version: string) => {
        const i = n++;
        return startSampleApp({ host: `127.0.10.${10 + i}`, port: 19100 + i, version, dir });
      };
      apps.set(group, { old: await start(OLD), new: await start(NEW) });
    }
    const all = [...apps.values()].flatMap((g) => [g.old, g.new]);
    load = startLoad(all, RATE);
    // The app fails exactly the share asked for, counting from each POST /errrate: a ramp of
    // 0.3-point steps every second needs ~100 requests a second to show at every step.
    rampLoad = startLoad([apps.get('decline')!.new], DECLINE_EXTRA_RATE);
    pushgateway = await startPushgateway({ dir, listen: PUSH });
    prometheus = await startPrometheus({
      dir,
      listen: PROM,
      targets: [...apps].flatMap(([group, g]) =>
        [g.old, g.new].map((a) => ({ address: `${a.host}:${a.port}`, labels: { group } })),
      ),
      pushgateway: PUSH,
    });
    client = new PrometheusClient({ url: prometheus.url, timeoutMs: 2000 });
    // A rate() per app, and a few seconds of history for the pre-release baselines.
    await waitForSeries(prometheus.url, 'rate(http_requests_total{code="200"}[5s]) > 0', 6);
    await new Promise((r) => setTimeout(r, 2000));
    console.log(`monitor fixture ready in ${Date.now() - started} ms`);
  });

  afterAll(async () => {
    await load?.stop();
    await rampLoad?.stop();
    await prometheus?.stop();
    await pushgateway?.stop();
    await Promise.all([...apps.values()].flatMap((g) => [g.old.stop(), g.new.stop()]));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function run(checks: Check[], opts: { windowMs: number; intervalMs: number }, extra = {}) {
    const logger = new MemoryLogger();
    const sources = { prometheus: client };
    const result = watch({
      checks,
      sources,
      clock: realClock,
      logger,
      version: NEW,
      previousVersion: OLD,
      retries: 2,
      retryDelayMs: 250,
      ...opts,
      ...extra,
    });
    return { logger, result };
  }

  function show(name: string, logger: MemoryLogger, result: WatchResult) {
    console.log(`--- ${name}\n${logger.text()}\n→ ${result.verdict} (${result.polls} polls)`);
  }

  describe.concurrent('three releases side by side', () => {
    it('a healthy release stays healthy for the whole ~20 s window (incl. the HTTP probe)', async () => {
      const g = apps.get('steady')!;
      const probe = new HttpProbe({
        targets: [
          { url: `${g.old.url}/`, labels: { version: OLD } },
          { url: `${g.new.url}/`, labels: { version: NEW } },
        ],
        requests: 5,
        timer: performance,
      });
      const checks: Check[] = [
        errorRatio('steady', [
          { type: 'threshold', when: 'above', value: 0.05 },
          { type: 'canary', when: 'above', factor: 3, tolerance: 0.01 },
          {
            type: 'baseline',
            when: 'above',
            factor: 3,
            tolerance: 0.01,
            against: { before: 5000 },
          },
          { type: 'budget', when: 'above', objective: 0.01, limit: 1 },
        ]),
        p99('steady'),
        {
          name: 'probe-success',
          kind: 'user',
          source: 'probe',
          query: 'success_ratio',
          unit: 'ratio',
          rules: [
            { type: 'threshold', when: 'below', value: 0.99 },
            { type: 'canary', when: 'below', factor: 1, tolerance: 0.05 },
          ],
          forPolls: 2,
          optional: false,
        },
      ];
      const { logger, result } = run(
        checks,
        { windowMs: 20_000, intervalMs: 2000 },
        { sources: { prometheus: client, probe } },
      );
      const r = await result;
      show('healthy', logger, r);
      expect(r).toMatchObject({ verdict: 'healthy', polls: 11, decidedBy: null });
      expect(r.endedAt - r.startedAt).toBeGreaterThanOrEqual(20_000);
      // One line per poll per check, each with the value read from Prometheus.
      const pollLines = logger.lines.filter((l) => l.line.startsWith('poll '));
      expect(pollLines).toHaveLength(33);
      expect(pollLines[0]!.line).toMatch(
        /^poll 1\/11 \+0s error-ratio \[application\] 0% \(old 0%\) ok · /,
      );
      expect(r.checks.every((c) => c.withData === c.reads)).toBe(true);
    });

    it('an error spike on the new version is degraded within a few polls', async () => {
      const g = apps.get('spike')!;
      const checks = [
        errorRatio('spike', [
          { type: 'canary', when: 'above', factor: 3, tolerance: 0.01 },
          { type: 'threshold', when: 'above', value: 0.05 },
        ]),
        p99('spike'),
      ];
      let injectedAt = 0;
      const { logger, result } = run(
        checks,
        { windowMs: 20_000, intervalMs: 1000 },
        {
          onPoll: (p: { poll: number }) => {
            if (p.poll === 3) {
              injectedAt = Date.now();
              void g.new.setErrorRate(0.3);
            }
          },
        },
      );
      const r = await result;
      show('spike', logger, r);
      expect(r.verdict).toBe('degraded');
      expect(r.decidedBy).toMatch(/^error-ratio\/(canary|threshold)$/);
      expect(r.message).toMatch(/^error-ratio (new )?\d+(\.\d+)?% > .* for 2 polls$/);
      expect(r.polls).toBeLessThan(21); // stopped early
      console.log(
        `spike: degraded ${r.decidedAt! - injectedAt} ms after the injection, ${r.polls - 3} polls of 1 s`,
      );
    });

    it('a slow decline that never crosses the 5% threshold is caught by its slope', async () => {
      const g = apps.get('decline')!;
      const checks = [
        errorRatio('decline', [
          { type: 'threshold', when: 'above', value: 0.05 },
          {
            type: 'slope',
            when: 'above',
            perMinute: 0.06, // 0.1 point a second
            overMs: 6000,
            minPoints: 5,
            minR2: 0.6,
          },
        ]),
      ];
      // 0 → 4.2% in 0.3-point steps every second; then it stays there.
      let step = 0;
      const ramp = setInterval(() => {
        step = Math.min(14, step + 1);
        void g.new.setErrorRate(step * 0.003);
      }, 1000);
      try {
        const { logger, result } = run(checks, { windowMs: 25_000, intervalMs: 1000 });
        const r = await result;
        show('decline', logger, r);
        expect(r.verdict).toBe('degraded');
        expect(r.decidedBy).toBe('error-ratio/slope');
        expect(r.message).toMatch(/^error-ratio rising \+[\d.]+%\/min > \+6%\/min over \d+s/);
        // No reading ever crossed the threshold.
        expect(logger.text()).not.toMatch(/% > 5%/);
        const values = r.checks[0]!.points.map((p) => p.value).filter((v) => Number.isFinite(v));
        expect(Math.max(...values)).toBeLessThanOrEqual(0.05);
      } finally {
        clearInterval(ramp);
      }
    });

    it('a release event pushed to the Pushgateway is on the Prometheus timeline (O4)', async () => {
      const at = Date.now();
      await pushReleaseEvent({
        url: `http://${PUSH}`,
        group: 'steady',
        version: NEW,
        event: 'deployed',
        at,
      });
      const q = 'rollgate_release_event_timestamp_seconds{group="steady", event="deployed"}';
      await waitForSeries(prometheus!.url, q, 1, 10_000);
      const [s] = await client.instant(q, Date.now());
      expect(s!.labels).toMatchObject({ group: 'steady', event: 'deployed', version: NEW });
      expect(s!.value).toBeCloseTo(at / 1000, 2);
    });
  });

  describe('Prometheus killed mid-window', () => {
    it('is unknown, never healthy', async () => {
      const { logger, result } = run(
        [errorRatio('steady', [{ type: 'threshold', when: 'above', value: 0.05 }]), p99('steady')],
        { windowMs: 8000, intervalMs: 1000 },
        {
          onPoll: (p: { poll: number }) => {
            if (p.poll === 4) void prometheus!.kill();
          },
        },
      );
      const r = await result;
      show('killed', logger, r);
      expect(r.verdict).toBe('unknown');
      expect(r.polls).toBe(9);
      expect(r.message).toMatch(
        /^error-ratio had (a value in 4 of 9 reads|no value at the last read).*unreachable: connect ECONNREFUSED 127\.0\.10\.1:19090/,
      );
      expect(logger.text()).toMatch(
        /numerator query failed \(.*ECONNREFUSED.*\); retry 1\/2 in 250ms/,
      );
    });
  });
});
