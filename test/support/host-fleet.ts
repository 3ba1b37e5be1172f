/** A temp fleet of local "hosts" (one directory each) for the host-side tests. */
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killGroup } from './kill-app';
import { shq } from '../../src/host/quote';
import type { Group, Target } from '../../src/model/types';
import {
  buildPackage,
  type BuildPackageOptions,
  type BuiltPackage,
} from '../../src/package/tarball';

export const APP_DIR = fileURLToPath(new URL('../../examples/app', import.meta.url));

export interface FleetHost {
  id: string;
  address: string;
  port: number;
}

export interface HostFleet {
  root: string;
  group: Group;
  targets: Target[];
  target(id: string): Target;
  build(
    version: string,
    extra?: Omit<BuildPackageOptions, 'appDir' | 'version' | 'outDir'>,
  ): Promise<BuiltPackage>;
  /** Kills every process whose working directory is inside the fleet, then removes it. */
  cleanup(): Promise<void>;
}

export async function makeHostFleet(
  hosts: FleetHost[],
  group: Partial<Omit<Group, 'targets'>> = {},
): Promise<HostFleet> {
  const root = await mkdtemp(join(tmpdir(), 'rollgate-host-'));
  const targets: Target[] = hosts.map((h) => ({
    id: h.id,
    host: h.id,
    address: h.address,
    port: h.port,
    docBase: join(root, '.fleet', h.id, 'srv/app'),
    pulledOut: false,
  }));
  const fullGroup: Group = {
    name: 'web',
    path: '/',
    docBase: '/srv/app',
    port: hosts[0]?.port ?? 18100,
    healthCheckUrl: '/health',
    keep: 3,
    service: {
      start: `${shq(process.execPath)} server.js`,
      stopTimeoutMs: 3000,
      env: { START_DELAY_MS: '50' },
    },
    ...group,
    targets,
  };
  return {
    root,
    group: fullGroup,
    targets,
    target(id) {
      const found = targets.find((t) => t.id === id);
      if (!found) throw new Error(`no target ${id}`);
      return found;
    },
    build: (version, extra = {}) =>
      buildPackage({ appDir: APP_DIR, version, outDir: join(root, 'packages'), ...extra }),
    async cleanup() {
      for (const target of targets) {
        const pid = await appPid(target);
        if (pid !== null) killGroup(pid);
      }
      await killProcessesUnder(root);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The pid rollgate recorded for the app of this target, or null. */
export async function appPid(target: Target): Promise<number | null> {
  try {
    const pid = Number((await readFile(join(target.docBase, '.rollgate/app.pid'), 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export { killGroup };

export async function killProcessesUnder(root: string): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => '');
    if (cwd.startsWith(`${root}/`)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** True while the process lives and is not a zombie. */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
