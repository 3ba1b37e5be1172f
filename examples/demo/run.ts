/**
 * `npm run demo`: a real rollout on this machine. Six hosts on loopback (local transport: each
 * host is its own directory and its own app process on its own 127.0.0.x address), released
 * with the same `rollgate` command a Jenkins `sh` step would run:
 *
 *   v1.0.0  first release: bastion → bake → batches
 *   v2.0.0  upgrade: bastion → bake → batches
 *   v3.0.0  broken on three hosts: the brake trips → continue → retry (failures only) → rollback
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { main } from '../../src/cli/index';
import { buildPackage } from '../../src/package/tarball';
import { EXIT } from '../../src/model/errors';

const ROOT = resolve(process.env.ROLLGATE_DEMO_DIR ?? '.demo');
const HOSTS = Array.from({ length: 6 }, (_, i) => ({
  host: `web-0${i + 1}`,
  address: `127.0.0.${11 + i}`,
}));
const PORT = 18080;
const EXIT_NAME = Object.fromEntries(Object.entries(EXIT).map(([k, v]) => [v, k]));

function groupFile(): string {
  return `# Written by the demo. See examples/groups/ for documented group files.
group: demo-shop
docBase: /srv/shop
port: ${PORT}
healthCheckUrl: /health
keep: 3
service:
  start: node server.js
  stopTimeout: 5s
package:
  source: ./packages/app-{version}.tar.gz
deployment:
  maxUnavailable: 40%
  bastion: 1
  waitBetweenBatches: 1s
  waitFromBatch3: 0s
  startTimeout: 3s
  verifyInterval: 100ms
transport:
  kind: local
  root: ./fleet
store:
  dir: ./state
targets:
${HOSTS.map((h) => `  - { host: ${h.host}, address: ${h.address} }`).join('\n')}
`;
}

async function step(title: string, args: string[], expect: number): Promise<void> {
  console.log(`\n▶ ${title}\n  $ rollgate ${args.join(' ')}`);
  const code = await main([...args, '-g', join(ROOT, 'group.yml'), '--who', 'demo'], {
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

function stopApps(): number {
  let stopped = 0;
  for (const h of HOSTS) {
    const pidFile = join(ROOT, 'fleet', h.host, 'srv/shop/.rollgate/app.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      process.kill(pid, 'SIGTERM');
      stopped++;
    } catch {
      // already gone
    }
  }
  return stopped;
}

async function run(): Promise<void> {
  const started = Date.now();
  rmSync(ROOT, { recursive: true, force: true });
  mkdirSync(ROOT, { recursive: true });
  writeFileSync(join(ROOT, 'group.yml'), groupFile());
  const appDir = resolve(__dirname, '../app');
  const out = join(ROOT, 'packages');
  await buildPackage({ appDir, version: '1.0.0', outDir: out });
  await buildPackage({ appDir, version: '2.0.0', outDir: out });
  // v3 is broken on web-02..web-04 only (a host-specific fault the bastion cannot see).
  await buildPackage({
    appDir,
    version: '3.0.0',
    outDir: out,
    broken: { onHosts: HOSTS.slice(1, 4).map((h) => h.address) },
  });
  console.log(
    `demo fleet: ${HOSTS.length} hosts ${HOSTS[0]!.address}…${HOSTS.at(-1)!.address}:${PORT}, state in ${ROOT}`,
  );

  try {
    await step('plan v1.0.0: touches nothing', ['plan', '--version', '1.0.0'], EXIT.success);
    await step(
      'release v1.0.0: the bastion first, up to VERIFY_SUCCESS',
      ['deploy', '--version', '1.0.0'],
      EXIT.waiting,
    );
    await step('bake: the bastion takes traffic', ['bake'], EXIT.waiting);
    await step('continue: the other batches', ['continue'], EXIT.success);

    await step('release v2.0.0', ['deploy', '--version', '2.0.0'], EXIT.waiting);
    await step('bake v2.0.0', ['bake'], EXIT.waiting);
    await step('continue v2.0.0', ['continue'], EXIT.success);

    await step(
      'release v3.0.0 (broken on web-02…web-04): the bastion web-01 is fine',
      ['deploy', '--version', '3.0.0'],
      EXIT.waiting,
    );
    await step('bake v3.0.0', ['bake'], EXIT.waiting);
    await step(
      'continue: batch 2 fails, batch 3 fails once more → the brake stops the release',
      ['continue'],
      EXIT.waiting,
    );
    await step('continue after the brake: the last batch rolls', ['continue'], EXIT.failure);
    await step('retry: only the three failed targets', ['retry'], EXIT.failure);
    await step(
      'rollback: back to v2.0.0 — no bastion, 50% batches, no download',
      ['rollback'],
      EXIT.success,
    );
    await step('status: the one page', ['status', '--log', '5'], EXIT.success);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `\nDEMO OK — v1 → v2 → v3 braked, retried, rolled back to v2.0.0 on every host, in ${secs} s`,
    );
  } finally {
    const n = stopApps();
    console.log(`stopped ${n} demo app processes; the record stays in ${join(ROOT, 'state')}`);
  }
}

run().catch((err) => {
  console.error(`\nDEMO FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
