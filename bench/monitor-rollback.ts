/**
 * Monitor → rollback benchmark (issue monitor-30m, "rollback done in ≤ 0.3× the release time"):
 * a real release of 10 targets (local transport, the real sample app, bastion + 25% batches, the
 * group-file defaults), watched by `rollgate monitor --on-failure rollback` on a real Prometheus
 * (1 s scrape). After the watch has polled twice, every new app answers 30% errors. Measured:
 *
 *   release    deploy + bake + continue of the new version (no human wait: the gates are calls)
 *   detect     injection → the `degraded` verdict
 *   rollback   the verdict → the rollback's SUCCESS (every target back on the old version)
 *   total      injection → rollback done
 *
 * and the ratios rollback / release and total / release. The rounds run one after another,
 * each releasing 1.0.0 → 2.0.0 on a fresh fleet.
 *
 *   npx tsx bench/monitor-rollback.ts [--rounds 3] [--interval 2s] [--max-unavailable 25%]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openRuntime, type Runtime } from '../src/app/runtime';
import { monitorRelease } from '../src/app/monitor';
import type { Logger } from '../src/model/logger';
import { buildPackage } from '../src/package/tarball';
import { APP_DIR } from '../test/support/real-fleet';
import { startLoad } from '../test/support/prometheus-app';
import {
  ensurePrometheus,
  startPrometheus,
  waitForSeries,
} from '../test/support/prometheus-server';
import { killApp } from '../test/support/kill-app';

const N = 10;
const ADDRESSES = Array.from({ length: N }, (_, i) => `127.0.10.${111 + i}`);
const PORT = 19181;
const PROM = '127.0.10.1:19093';

interface Round {
  releaseMs: number;
  detectMs: number;
  rollbackMs: number;
  totalMs: number;
  polls: number;
}

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms: number) => (ms / 1000).toFixed(2);

function groupFile(interval: string, maxUnavailable: string): string {
  return `group: bench-watch
docBase: /srv/app
port: ${PORT}
service: { start: node server.js, stopTimeout: 3s }
package:
  source: ./packages/app-{version}.tar.gz
deployment: { maxUnavailable: ${maxUnavailable}, startTimeout: 5s, verifyInterval: 50ms }
transport: { kind: local, root: ./fleet }
store: { dir: ./state }
monitor:
  prometheus: http://${PROM}
  window: 30m
  interval: ${interval}
  checks:
    - name: error-ratio
      kind: user
      ratio:
        numerator: sum(rate(http_requests_total{code=~"5.."}[5s]))
        denominator: sum(rate(http_requests_total[5s]))
      unit: ratio
      rule: { threshold: { above: 10% } }
targets:
${ADDRESSES.map((a, i) => `  - { host: web-${String(i + 1).padStart(2, '0')}, address: ${a} }`).join('\n')}
`;
}

async function round(interval: string, maxUnavailable: string, i: number): Promise<Round> {
  const dir = await mkdtemp(join(tmpdir(), 'rollgate-bench-watch-'));
  await writeFile(join(dir, 'group.yml'), groupFile(interval, maxUnavailable));
  for (const v of ['1.0.0', '2.0.0']) {
    await buildPackage({ appDir: APP_DIR, version: v, outDir: join(dir, 'packages') });
  }
  const open = (): Promise<Runtime> =>
    openRuntime({
      groupFile: join(dir, 'group.yml'),
      env: process.env,
      who: 'bench',
      logger: silent,
    });
  const pkg = (v: string) => ({ version: v, path: join(dir, 'packages', `app-${v}.tar.gz`) });
  const rt = await open();
  const urls = ADDRESSES.map((a) => ({ url: `http://${a}:${PORT}` }));
  const load = startLoad(urls, 10);
  const prom = await startPrometheus({
    dir: join(dir, 'prom'),
    listen: PROM,
    targets: ADDRESSES.map((a) => ({ address: `${a}:${PORT}` })),
  });
  try {
    const release = async (v: string) => {
      const t0 = Date.now();
      const steps = [
        await rt.engine.deploy({ version: v, package: pkg(v) }),
        await rt.engine.bake(),
        await rt.engine.continue(),
      ];
      const last = steps[steps.length - 1]!;
      if (last.phase !== 'SUCCESS') throw new Error(`release ${v}: ${last.phase} ${last.message}`);
      return Date.now() - t0;
    };
    await release('1.0.0');
    const releaseMs = await release('2.0.0');
    await waitForSeries(prom.url, 'sum by (instance) (rate(http_requests_total[5s]))', N, 60_000);

    let injectedAt = 0;
    let degradedAt = 0;
    let pollsAfter = 0;
    let injection: Promise<void> | null = null;
    const result = await monitorRelease(rt, {
      rollbackOnDegraded: true,
      onPoll: (p) => {
        if (injectedAt && p.at >= injectedAt) pollsAfter++;
        if (!degradedAt && p.lines.some((l) => l.state === 'degraded')) degradedAt = Date.now();
        if (p.poll === 2 && !injection) {
          injection = Promise.all(
            urls.map((u) => fetch(`${u.url}/errrate?r=0.3`, { method: 'POST' })),
          ).then(() => {
            injectedAt = Date.now();
          });
        }
      },
    });
    await injection;
    const doneAt = Date.now();
    if (result.result.verdict !== 'degraded' || result.rollback?.phase !== 'SUCCESS') {
      throw new Error(`round ${i}: ${result.result.verdict}, rollback ${result.rollback?.phase}`);
    }
    for (const u of urls) {
      const v = (await (await fetch(`${u.url}/version`)).text()).trim();
      if (v !== '1.0.0') throw new Error(`${u.url} runs ${v} after the rollback`);
    }
    degradedAt ||= result.result.endedAt;
    return {
      releaseMs,
      detectMs: degradedAt - injectedAt,
      rollbackMs: doneAt - degradedAt,
      totalMs: doneAt - injectedAt,
      polls: pollsAfter,
    };
  } finally {
    await load.stop();
    await prom.stop();
    for (const t of rt.loaded.group.targets) killApp(join(t.docBase, '.rollgate/app.pid'));
    await rt.close();
    await sleep(100);
    await rm(dir, { recursive: true, force: true });
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      interval: { type: 'string', default: '2s' },
      'max-unavailable': { type: 'string', default: '25%' },
    },
  });
  const why = await ensurePrometheus();
  if (why) throw new Error(why);
  const load0 = loadavg()[0]!.toFixed(2);
  const rounds: Round[] = [];
  for (let i = 1; i <= Number(values.rounds); i++) {
    const r = await round(values.interval, values['max-unavailable'], i);
    rounds.push(r);
    process.stdout.write(
      `round ${i}: release ${s(r.releaseMs)} s; detect ${s(r.detectMs)} s (${r.polls} polls); ` +
        `rollback ${s(r.rollbackMs)} s = ${(r.rollbackMs / r.releaseMs).toFixed(2)}× the release; ` +
        `injection → rollback done ${s(r.totalMs)} s = ${(r.totalMs / r.releaseMs).toFixed(2)}×\n`,
    );
  }
  const med = (f: (r: Round) => number) => {
    const xs = rounds.map(f).sort((a, b) => a - b);
    return xs[Math.floor(xs.length / 2)]!;
  };
  process.stdout.write(
    `\nload average ${load0} → ${loadavg()[0]!.toFixed(2)}; medians of ${rounds.length} rounds, ${N} targets, poll interval ${values.interval}, max unavailable ${values['max-unavailable']}\n\n`,
  );
  process.stdout.write(
    '| release s | detect s | polls | rollback s | rollback / release | injection → rolled back s | / release |\n',
  );
  process.stdout.write('|---:|---:|---:|---:|---:|---:|---:|\n');
  process.stdout.write(
    `| ${s(med((r) => r.releaseMs))} | ${s(med((r) => r.detectMs))} | ${med((r) => r.polls)} | ${s(med((r) => r.rollbackMs))} | ` +
      `${med((r) => r.rollbackMs / r.releaseMs).toFixed(2)} | ${s(med((r) => r.totalMs))} | ${med((r) => r.totalMs / r.releaseMs).toFixed(2)} |\n`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
