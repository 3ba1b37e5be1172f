/**
 * `npm run demo:side-by-side`: a side-by-side release (S7) and a one-switch rollback on this
 * machine, with the same `rollgate` commands a Jenkins `sh` step would run.
 *
 * The fleet: six sshd hosts on 127.0.28.201–206 (SSH on 28122), each running the sample app in
 * two slots (28180 and 28181), behind a real HAProxy on 127.0.28.250:28250 that declares both
 * servers of every host. A load probe sends requests through HAProxy and counts the failures;
 * HAProxy is sampled every 25 ms for the fewest hosts with a server UP. Needs root (sshd).
 *
 *   v1.0.0  first release (slot a)
 *   v2.0.0  side-by-side: v2 starts in slot b beside v1, then HAProxy switches: 6 of 6 UP
 *   rollback inside the keep-warm window: v1 still runs in slot a, one switch per host
 */
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { main } from '../../src/cli/index';
import { EXIT } from '../../src/model/errors';
import { buildPackage } from '../../src/package/tarball';
import { APP_DIR, startRealFleet, type RealFleet } from '../../test/support/real-fleet';

const ROOT = resolve(process.env.ROLLGATE_DEMO_DIR ?? '.demo-side-by-side');
const EXIT_NAME = Object.fromEntries(Object.entries(EXIT).map(([k, v]) => [v, k]));

async function step(f: RealFleet, title: string, args: string[], expect: number): Promise<void> {
  console.log(`\n▶ ${title}\n  $ rollgate ${args.join(' ')} -g ${f.groupFile}`);
  const code = await main([...args, '-g', f.groupFile], { ...process.env, ROLLGATE_WHO: 'demo' });
  console.log(`  exit ${code} (${EXIT_NAME[code] ?? 'unknown'})`);
  if (code !== expect) {
    throw new Error(`"rollgate ${args[0]}" exited ${code}, expected ${expect}`);
  }
}

/** Hosts with a server UP in HAProxy (`UP`, or `UP 1/2` while checking). */
async function hostsUp(f: RealFleet): Promise<number> {
  const up = new Set<string>();
  for (const line of (await f.lb.cli('show stat')).split('\n')) {
    const cells = line.split(',');
    if (cells[0] === 'app' && cells[17]?.startsWith('UP')) up.add(cells[1]!.replace(/-b$/, ''));
  }
  return f.hosts.filter((h) => up.has(h.id)).length;
}

/** Runs `body` under the load probe, sampling capacity; says what both saw. */
async function underLoad(f: RealFleet, what: string, body: () => Promise<void>) {
  const probe = f.probe(4);
  let min = Infinity;
  let watching = true;
  const watch = (async () => {
    while (watching) {
      min = Math.min(min, await hostsUp(f));
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const started = performance.now();
  try {
    await body();
  } finally {
    watching = false;
    await watch;
  }
  const s = await probe.stop();
  const secs = ((performance.now() - started) / 1000).toFixed(2);
  console.log(
    `  ${what}: ${secs} s; fewest hosts UP in HAProxy ${min} of ${f.hosts.length}; ` +
      `load probe ${s.ok + s.failed} requests, ${s.failed} failed`,
  );
  return { min, failed: s.failed };
}

async function run(): Promise<void> {
  await rm(ROOT, { recursive: true, force: true });
  const f = await startRealFleet({
    n: 6,
    first: 201,
    net: '127.0.28',
    sshPort: 28122,
    appPort: 28180,
    altPort: 28181,
    frontend: '127.0.28.250:28250',
    dir: ROOT,
    deployment: [
      '  strategy: side-by-side',
      '  keepWarm: 5m',
      '  maxUnavailable: 50%',
      '  bastion: 1',
      '  startTimeout: 5s',
      '  verifyInterval: 20ms',
    ].join('\n'),
  });
  try {
    for (const version of ['1.0.0', '2.0.0']) {
      await buildPackage({ appDir: APP_DIR, version, outDir: f.packages, startDelayMs: 300 });
    }
    console.log(`demo fleet: 6 sshd hosts ${f.hosts[0]!.address}–… behind HAProxy ${f.lb.url}`);
    await step(f, 'plan v1.0.0: says the strategy', ['plan', '--version', '1.0.0'], EXIT.success);
    await step(f, 'release v1.0.0', ['deploy', '--version', '1.0.0'], EXIT.waiting);
    await step(f, 'bake v1.0.0', ['bake'], EXIT.waiting);
    await step(f, 'continue v1.0.0', ['continue'], EXIT.success);

    const release = await underLoad(f, 'the side-by-side v2.0.0 release', async () => {
      await step(
        f,
        'release v2.0.0: the bastion starts v2 in slot b beside v1, verified, still out of traffic',
        ['deploy', '--version', '2.0.0'],
        EXIT.waiting,
      );
      await step(f, 'bake: HAProxy switches the bastion to slot b', ['bake'], EXIT.waiting);
      await step(f, 'continue: every host the same way', ['continue'], EXIT.success);
    });
    const back = await underLoad(f, 'the rollback in the keep-warm window', async () => {
      await step(
        f,
        'rollback: v1 still runs in slot a (kept warm) — one switch per host, 50% batches',
        ['rollback'],
        EXIT.success,
      );
    });
    await step(f, 'status', ['status', '--log', '4'], EXIT.success);
    const ok = release.min === 6 && back.min === 6 && release.failed + back.failed === 0;
    console.log(
      `\n${ok ? 'DEMO OK' : 'DEMO DONE (see the figures)'} — side-by-side release and one-switch rollback: ` +
        `fewest hosts UP ${Math.min(release.min, back.min)} of 6, ${release.failed + back.failed} requests failed`,
    );
  } finally {
    await f.stop();
    console.log(`demo fleet stopped; the record stays in ${ROOT}/state`);
  }
}

run().catch((err) => {
  console.error(`\nDEMO FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
