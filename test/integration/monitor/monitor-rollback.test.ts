import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime, type Runtime } from '../../../src/app/runtime';
import { monitorRelease } from '../../../src/app/monitor';
import { buildPackage } from '../../../src/package/tarball';
import { APP_DIR } from '../../support/real-fleet';
import {
  ensurePrometheus,
  startPrometheus,
  startPushgateway,
  waitForSeries,
  type RunningServer,
} from '../../support/prometheus-server';
import { startLoad, type Load } from '../../support/prometheus-app';
import { killApp } from '../../support/kill-app';

// Issue 7 end to end: a release on a local fleet, watched on a real Prometheus; an error spike on
// the new version is degraded and `on-failure: rollback` rolls back through the engine.
const ADDRESSES = ['127.0.10.71', '127.0.10.72', '127.0.10.73'];
const PORT = 19171;
const PROM = '127.0.10.1:19095';
const PUSH = '127.0.10.2:19097';

describe('rollgate monitor on a real Prometheus (O2, O4)', () => {
  let dir: string;
  let prom: RunningServer;
  let push: RunningServer;
  let load: Load | undefined;
  const lines: string[] = [];
  const runtime = (): Promise<Runtime> =>
    openRuntime({
      groupFile: join(dir, 'group.yml'),
      env: process.env,
      who: 'monitor-test',
      logger: {
        info: (l) => lines.push(l),
        warn: (l) => lines.push(l),
        error: (l) => lines.push(l),
      },
    });

  beforeAll(async () => {
    const why = await ensurePrometheus();
    if (why) throw new Error(why);
    dir = await mkdtemp(join(tmpdir(), 'rollgate-monitor-'));
    await writeFile(
      join(dir, 'group.yml'),
      `group: watched
docBase: /srv/app
port: ${PORT}
service: { start: node server.js, stopTimeout: 3s }
package:
  source: ./packages/app-{version}.tar.gz
deployment: { maxUnavailable: 50%, bastion: 0, startTimeout: 5s, verifyInterval: 50ms }
transport: { kind: local, root: ./fleet }
store: { dir: ./state }
monitor:
  prometheus: http://${PROM}
  pushgateway: http://${PUSH}
  window: 30m
  interval: 2s
  checks:
    - name: error-ratio
      kind: user
      ratio:
        numerator: sum(rate(http_requests_total{code=~"5.."}[5s]))
        denominator: sum(rate(http_requests_total[5s]))
      unit: ratio
      rule: { threshold: { above: 10% } }
targets:
${ADDRESSES.map((a, i) => `  - { host: web-0${i + 1}, address: ${a} }`).join('\n')}
`,
    );
    for (const v of ['1.0.0', '2.0.0']) {
      await buildPackage({
        appDir: APP_DIR,
        version: v,
        outDir: join(dir, 'packages'),
        startDelayMs: 50,
      });
    }
    push = await startPushgateway({ dir: join(dir, 'push'), listen: PUSH });
    prom = await startPrometheus({
      dir: join(dir, 'prom'),
      listen: PROM,
      targets: ADDRESSES.map((a) => ({ address: `${a}:${PORT}` })),
    });
  });

  afterAll(async () => {
    await load?.stop();
    await prom?.stop();
    await push?.stop();
    const rt = await runtime().catch(() => null);
    if (rt) {
      for (const t of rt.loaded.group.targets) killApp(join(t.docBase, '.rollgate/app.pid'));
      await rt.close();
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('an error spike on the new version is degraded (within 5 polls of 2 s) and rolled back', async () => {
    for (const v of ['1.0.0', '2.0.0']) {
      const rt = await runtime();
      try {
        const r = await rt.engine.deploy({
          version: v,
          package: { version: v, path: join(dir, 'packages', `app-${v}.tar.gz`) },
        });
        expect(r.phase).toBe('SUCCESS'); // no bastion: straight through
      } finally {
        await rt.close();
      }
    }
    const urls = ADDRESSES.map((a) => ({ url: `http://${a}:${PORT}` }));
    load = startLoad(urls, 20);
    await waitForSeries(prom.url, 'sum by (instance) (rate(http_requests_total[5s]))', 3, 30_000);
    for (const u of urls) await fetch(`${u.url}/errrate?r=0.5`, { method: 'POST' });

    const rt = await runtime();
    try {
      const started = Date.now();
      const { result, rollback } = await monitorRelease(rt, { rollbackOnDegraded: true });
      expect(result.verdict).toBe('degraded');
      expect(result.decidedBy).toBe('error-ratio/threshold');
      expect(result.message).toMatch(/> 10%/);
      expect(result.polls).toBeLessThanOrEqual(5);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(rollback?.phase).toBe('SUCCESS');
      expect(rollback?.deployment.version).toBe('1.0.0');
      const events = await rt.ports.store.events('watched');
      expect(events.some((e) => e.message.startsWith('monitor degraded:'))).toBe(true);
    } finally {
      await rt.close();
    }
    for (const u of urls)
      expect((await (await fetch(`${u.url}/version`)).text()).trim()).toBe('1.0.0');
    expect(lines.some((l) => l.includes('error-ratio'))).toBe(true);
    // O4: the release's milestones and the verdict are on the timeline dashboards read.
    const metrics = (await (await fetch(`http://${PUSH}/metrics`)).text())
      .split('\n')
      .filter((l) => l.startsWith('rollgate_release_info'))
      .join('\n');
    const milestones: [string, string][] = [
      ['release-started', '2.0.0'], // each push replaces the group's previous one for that event
      ['released', '2.0.0'],
      ['monitor-degraded', '2.0.0'],
      ['rolled-back', '1.0.0'],
    ];
    for (const [event, version] of milestones) {
      expect(metrics, metrics).toMatch(
        new RegExp(
          `rollgate_release_info\\{[^}]*event="${event}"[^}]*version="${version.replace(/\./g, '\\.')}"`,
        ),
      );
    }
  });
});
