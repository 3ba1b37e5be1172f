/**
 * `npm run demo`: a real rollout on this machine, with the same `rollgate` commands a Jenkins
 * `sh` step would run.
 *
 * The fleet: six sshd hosts on 127.0.2.201–206, each running the sample app, behind a real
 * HAProxy on 127.0.6.1:18600 — released over SSH, taken out of and put back into HAProxy
 * through its runtime API, while a load probe sends requests through HAProxy and counts the
 * failures. When that cannot be set up (not root, no apt), the demo says why and falls back to
 * the local transport: each host is a directory with its own app process on 127.0.0.11–16.
 *
 *   v1.0.0  first release: bastion → bake → batches
 *   v2.0.0  upgrade: bastion → bake → batches
 *   v3.0.0  broken on three hosts: the brake trips → continue → retry (failures only) → rollback
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { main } from '../../src/cli/index';
import { buildPackage } from '../../src/package/tarball';
import { EXIT } from '../../src/model/errors';
import { startRealFleet } from '../../test/support/real-fleet';
import { hostReachableDir } from '../../test/support/host-reachable';

const ROOT = resolve(process.env.ROLLGATE_DEMO_DIR ?? '.demo');
const APP_DIR = resolve(__dirname, '../app');
// Where the sshd fleet listens; the demo's own test moves it to addresses of its own.
const FIRST_HOST = Number(process.env.ROLLGATE_DEMO_FIRST_HOST ?? 201);
const FRONTEND = process.env.ROLLGATE_DEMO_FRONTEND ?? '127.0.6.1:18600';
const PORT = Number(process.env.ROLLGATE_DEMO_PORT ?? 18080);
const EXIT_NAME = Object.fromEntries(Object.entries(EXIT).map(([k, v]) => [v, k]));
const DEPLOYMENT = `  maxUnavailable: 40%
  bastion: 1
  waitBetweenBatches: 1s
  waitFromBatch3: 0s
  startTimeout: 3s
  verifyInterval: 50ms`;

interface Probe {
  stop(): Promise<{ ok: number; failed: number; errors: string[] }>;
}

interface DemoFleet {
  mode: string;
  groupFile: string;
  addresses: string[];
  packages: string;
  probe?: () => Probe;
  stop(): Promise<void>;
}

async function sshFleet(): Promise<DemoFleet> {
  // sshd reads authorized_keys as the deploy user, who must reach the hosts' files too: a clone
  // in a private directory (root's home, anything under mktemp -d) keeps them elsewhere. The
  // group file, packages and record stay in ROOT (only rollgate, as root, reads them).
  const place = hostReachableDir(join(ROOT, 'env', 'ssh'), 'rollgate-demo-fleet-');
  if (place.movedBecause) {
    console.log(
      `the deploy user cannot enter ${place.movedBecause} (a private directory), so the demo hosts' files go in ${place.dir} (removed at the end)`,
    );
  }
  const removePlace = () =>
    place.movedBecause ? rm(place.dir, { recursive: true, force: true }) : Promise.resolve();
  let f: Awaited<ReturnType<typeof startRealFleet>>;
  try {
    f = await startRealFleet({
      n: 6,
      first: FIRST_HOST,
      appPort: PORT,
      frontend: FRONTEND,
      dir: join(ROOT, 'env'),
      sshDir: place.dir,
      deployment: DEPLOYMENT,
    });
  } catch (err) {
    await removePlace();
    throw err;
  }
  return {
    mode: `SSH to 6 sshd hosts (127.0.2.${FIRST_HOST}–${FIRST_HOST + 5}) behind HAProxy ${f.lb.url}`,
    groupFile: f.groupFile,
    addresses: f.hosts.map((h) => h.address),
    packages: f.packages,
    probe: () => f.probe(4),
    async stop() {
      await f.stop();
      await removePlace();
    },
  };
}

function localFleet(): DemoFleet {
  const hosts = Array.from({ length: 6 }, (_, i) => ({
    host: `web-0${i + 1}`,
    address: `127.0.0.${11 + i}`,
  }));
  const groupFile = join(ROOT, 'group.yml');
  writeFileSync(
    groupFile,
    `# Written by the demo. See examples/groups/ for documented group files.
group: demo-shop
docBase: /srv/shop
port: ${PORT}
keep: 3
service:
  start: node server.js
  stopTimeout: 5s
package:
  source: ./packages/app-{version}.tar.gz
deployment:
${DEPLOYMENT}
transport: { kind: local, root: ./fleet }
store: { dir: ./state }
targets:
${hosts.map((h) => `  - { host: ${h.host}, address: ${h.address} }`).join('\n')}
`,
  );
  return {
    mode: 'local transport: 6 host directories, apps on 127.0.0.11–16 (no load balancer)',
    groupFile,
    addresses: hosts.map((h) => h.address),
    packages: join(ROOT, 'packages'),
    async stop() {
      for (const h of hosts) {
        const pidFile = join(ROOT, 'fleet', h.host, 'srv/shop/.rollgate/app.pid');
        if (!existsSync(pidFile)) continue;
        try {
          process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
        } catch {
          // already gone
        }
      }
    },
  };
}

async function step(
  fleet: DemoFleet,
  title: string,
  args: string[],
  expect: number,
): Promise<void> {
  console.log(`\n▶ ${title}\n  $ rollgate ${args.join(' ')} -g ${fleet.groupFile}`);
  const code = await main([...args, '-g', fleet.groupFile], {
    ...process.env,
    ROLLGATE_WHO: 'demo',
  });
  console.log(`  exit ${code} (${EXIT_NAME[code] ?? 'unknown'})`);
  if (code !== expect) {
    throw new Error(
      `"rollgate ${args[0]}" exited ${code}, the demo expected ${expect} (${EXIT_NAME[expect]})`,
    );
  }
}

/** Runs `body` with a load probe through HAProxy (when there is one) and reports the failures. */
async function underLoad(
  fleet: DemoFleet,
  what: string,
  body: () => Promise<void>,
): Promise<number> {
  const probe = fleet.probe?.();
  await body();
  if (!probe) return 0;
  const s = await probe.stop();
  console.log(
    `  load probe through HAProxy during ${what}: ${s.ok + s.failed} requests, ${s.failed} failed`,
  );
  return s.failed;
}

async function run(): Promise<void> {
  const started = Date.now();
  rmSync(ROOT, { recursive: true, force: true });
  mkdirSync(ROOT, { recursive: true });
  let fleet: DemoFleet;
  try {
    fleet = await sshFleet();
  } catch (err) {
    console.log(
      `cannot set up sshd hosts + HAProxy here: ${err instanceof Error ? err.message : String(err)}`,
    );
    console.log('falling back to the local transport');
    fleet = localFleet();
  }
  let failedRequests = 0;
  try {
    await buildPackage({ appDir: APP_DIR, version: '1.0.0', outDir: fleet.packages });
    await buildPackage({ appDir: APP_DIR, version: '2.0.0', outDir: fleet.packages });
    // v3 is broken on web-02…web-04 only: a host-specific fault the bastion cannot see.
    await buildPackage({
      appDir: APP_DIR,
      version: '3.0.0',
      outDir: fleet.packages,
      broken: { onHosts: fleet.addresses.slice(1, 4) },
    });
    console.log(`demo fleet: ${fleet.mode}`);

    await step(fleet, 'plan v1.0.0: touches nothing', ['plan', '--version', '1.0.0'], EXIT.success);
    await step(
      fleet,
      'release v1.0.0: the bastion first, up to VERIFY_SUCCESS',
      ['deploy', '--version', '1.0.0'],
      EXIT.waiting,
    );
    await step(fleet, 'bake: the bastion takes traffic', ['bake'], EXIT.waiting);
    await step(fleet, 'continue: the other batches', ['continue'], EXIT.success);

    failedRequests += await underLoad(fleet, 'the v2.0.0 release', async () => {
      await step(fleet, 'release v2.0.0', ['deploy', '--version', '2.0.0'], EXIT.waiting);
      await step(fleet, 'bake v2.0.0', ['bake'], EXIT.waiting);
      await step(fleet, 'continue v2.0.0', ['continue'], EXIT.success);
    });

    failedRequests += await underLoad(fleet, 'the v3.0.0 release', async () => {
      await step(
        fleet,
        'release v3.0.0 (broken on web-02…web-04): the bastion web-01 is fine',
        ['deploy', '--version', '3.0.0'],
        EXIT.waiting,
      );
      await step(fleet, 'bake v3.0.0', ['bake'], EXIT.waiting);
      await step(
        fleet,
        'continue: batch 2 fails, batch 3 fails once more → the brake stops the release',
        ['continue'],
        EXIT.waiting,
      );
      await step(
        fleet,
        'continue after the brake: the last batch rolls',
        ['continue'],
        EXIT.failure,
      );
      await step(fleet, 'retry: only the three failed targets', ['retry'], EXIT.failure);
    });
    failedRequests += await underLoad(fleet, 'the rollback', async () => {
      await step(
        fleet,
        'rollback: back to v2.0.0 — no bastion, 50% batches, no download',
        ['rollback'],
        EXIT.success,
      );
    });
    await step(fleet, 'status: the one page', ['status', '--log', '5'], EXIT.success);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const probe = fleet.probe ? `; ${failedRequests} requests failed through HAProxy` : '';
    console.log(
      `\nDEMO OK — v1 → v2 → v3 braked, retried, rolled back to v2.0.0 on every host, in ${secs} s${probe}`,
    );
  } finally {
    await fleet.stop();
    console.log(`demo fleet stopped; the record stays in ${ROOT}`);
    console.log(
      `the page over it: npx rollgate serve --store ${join(dirname(fleet.groupFile), 'state')} (then open http://127.0.0.1:8080/)`,
    );
  }
}

run().catch((err) => {
  console.error(`\nDEMO FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
