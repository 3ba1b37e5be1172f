/**
 * Pieces the scale benches share (bench/scale.ts, bench/slow-link.ts): the check after a release
 * and the stand-in apps' teardown.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HaproxyLb } from '../../test/support/haproxy-lb';

export interface BenchHost {
  id: string;
  address: string;
  docBase: string;
}

/** Every host answers `version` on /health and HAProxy has every server of `backend` UP. */
export async function checkFleet(
  hosts: readonly BenchHost[],
  appPort: number,
  lb: HaproxyLb,
  backend: string,
  version: string,
): Promise<void> {
  const wrong: string[] = [];
  for (let i = 0; i < hosts.length; i += 32) {
    await Promise.all(
      hosts.slice(i, i + 32).map(async (host) => {
        try {
          const res = await fetch(`http://${host.address}:${appPort}/health`);
          const body = (await res.json()) as { version?: string };
          if (body.version !== version) wrong.push(`${host.id} answers ${body.version}`);
        } catch (err) {
          wrong.push(`${host.id}: ${(err as Error).message}`);
        }
      }),
    );
  }
  // An app that just came back is UP after `rise` checks (2 × 500 ms).
  const deadline = Date.now() + 5000;
  for (;;) {
    const stat = await lb.cli(`show stat ${backend} 4 -1`);
    const notUp = stat
      .split('\n')
      .filter((l) => l.startsWith(`${backend},`) && !l.startsWith(`${backend},BACKEND`))
      .filter((l) => !l.split(',')[17]?.startsWith('UP'));
    if (notUp.length === 0) break;
    if (Date.now() > deadline) {
      wrong.push(`${notUp.length} servers not UP in HAProxy (${notUp[0]?.split(',')[1]} …)`);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (wrong.length) throw new Error(`after ${version}: ${wrong.slice(0, 5).join('; ')}`);
}

/** SIGKILLs each host's stand-in app (its process group first), by the pid rollgate recorded. */
export async function killApps(hosts: readonly BenchHost[]): Promise<void> {
  for (const host of hosts) {
    const pidFile = join(host.docBase, '.rollgate/app.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}
