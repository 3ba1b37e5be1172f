/**
 * A real fleet on this machine: N sshd "hosts" on 127.0.2.<first…> (or another /24: net) (scripts/test-env/sshd.sh),
 * each running the sample app on its own address, behind one real HAProxy, plus a group file
 * that releases to them over SSH and drives HAProxy through its runtime API. Used by the fleet
 * demo, the fault suite and the fleet benchmark.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPackage, type BuildPackageOptions } from '../../src/package/tarball';
import { openRuntime, type Runtime } from '../../src/app/runtime';
import type { Logger } from '../../src/model/logger';
import { startSshFleet, type SshFleet } from './ssh-fleet';
import { ensureHaproxy, startHaproxy, type HaproxyLb } from './haproxy-lb';
import { loadProbe } from './haproxy-backends';
import { sampleAppGroup } from './group-yaml';

export const APP_DIR = fileURLToPath(new URL('../../examples/app', import.meta.url));

export interface RealFleetOptions {
  n: number;
  /** First sshd index: hosts listen on 127.0.2.<first>… */
  first: number;
  appPort: number;
  /** HAProxy frontend, e.g. 127.0.6.1:18600 (the TCP runtime API listens on port + 1). */
  frontend: string;
  /** Lines under `deployment:` (indented two spaces). */
  deployment?: string;
  /** Extra top-level group file lines. */
  extra?: string;
  dir?: string;
  /**
   * Where the sshd hosts' files go (default `<dir>/ssh`): the deploy user must be able to enter
   * every directory on the way (see host-reachable.ts).
   */
  sshDir?: string;
  /** HAProxy's `stats timeout` (idle runtime API connections are closed after it). */
  statsTimeoutMs?: number;
  /** The sshd hosts' loopback /24 (default 127.0.2) and their SSH port (default 22). */
  net?: string;
  sshPort?: number;
  /**
   * Side-by-side (S7): each host's second slot port. HAProxy then declares a pair per target,
   * `<id>` and `<id>-b` (disabled), and the group file gets `altPort` (set `strategy:
   * side-by-side` in `deployment`).
   */
  altPort?: number;
}

export interface RealFleetHost {
  id: string;
  address: string;
  docBase: string;
  sshIndex: number;
}

export interface RealFleet {
  dir: string;
  ssh: SshFleet;
  lb: HaproxyLb;
  hosts: RealFleetHost[];
  groupFile: string;
  packages: string;
  build(
    version: string,
    extra?: Omit<BuildPackageOptions, 'appDir' | 'version' | 'outDir'>,
  ): Promise<void>;
  runtime(o?: { logger?: Logger; degrade?: string[]; who?: string }): Promise<Runtime>;
  /** Version `current` points at on a host, read from the file system. */
  current(id: string): Promise<string | null>;
  probe(concurrency?: number): ReturnType<typeof loadProbe>;
  /** Kills the sample apps (by pid file) and stops sshd and HAProxy. */
  stop(): Promise<void>;
}

export async function startRealFleet(o: RealFleetOptions): Promise<RealFleet> {
  const why = await ensureHaproxy();
  if (why) throw new Error(why);
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'rollgate-fleet-')));
  await mkdir(dir, { recursive: true });
  // The deploy user must reach its home under here (mkdtemp makes 0700 directories).
  await chmod(dir, 0o755);
  const ssh = await startSshFleet({
    n: o.n,
    first: o.first,
    dir: o.sshDir ?? join(dir, 'ssh'),
    ...(o.net ? { net: o.net } : {}),
    ...(o.sshPort ? { port: o.sshPort } : {}),
  });
  const hosts: RealFleetHost[] = ssh.hosts.map((h, i) => ({
    id: `web-${String(i + 1).padStart(2, '0')}`,
    address: h.address,
    docBase: join(h.root, 'srv/app'),
    sshIndex: h.index,
  }));
  let lb: HaproxyLb;
  try {
    lb = await startHaproxy({
      dir: join(dir, 'haproxy'),
      frontend: o.frontend,
      backend: 'app',
      servers: hosts.flatMap((h) => [
        { name: h.id, address: h.address, port: o.appPort },
        ...(o.altPort
          ? [{ name: `${h.id}-b`, address: h.address, port: o.altPort, disabled: true }]
          : []),
      ]),
      ...(o.statsTimeoutMs ? { statsTimeoutMs: o.statsTimeoutMs } : {}),
    });
  } catch (err) {
    await ssh.stop();
    throw err;
  }
  const groupFile = join(dir, 'group.yml');
  const packages = join(dir, 'packages');
  await writeFile(
    groupFile,
    sampleAppGroup({
      group: 'fleet-shop',
      docBase: '/srv/app',
      port: o.appPort,
      healthCheckUrl: '/health',
      stopTimeout: '5s',
      deployment:
        o.deployment ?? '  maxUnavailable: 50%\n  startTimeout: 10s\n  verifyInterval: 20ms',
      sections: [
        `transport:
  kind: ssh
  user: ${ssh.user}${o.sshPort ? `\n  port: ${o.sshPort}` : ''}
  privateKeyFile: ${ssh.keyFile}
  knownHostsFile: ${ssh.knownHostsFile}`,
        `traffic:
  kind: haproxy
  sockets: [${lb.endpoints.unix}]
  backend: app
  drainTimeout: 10s`,
        'store:\n  dir: ./state',
        o.altPort ? `altPort: ${o.altPort}` : '',
        o.extra ?? '',
      ],
      targets: hosts.map((h) => ({ host: h.id, address: h.address, docBase: h.docBase })),
    }),
  );
  const fleet: RealFleet = {
    dir,
    ssh,
    lb,
    hosts,
    groupFile,
    packages,
    async build(version, extra) {
      await buildPackage({ appDir: APP_DIR, version, outDir: packages, ...extra });
    },
    runtime(r = {}) {
      return openRuntime({
        groupFile,
        env: process.env,
        logger: r.logger ?? {
          info: () => undefined,
          warn: () => undefined,
          error: () => undefined,
        },
        who: r.who ?? 'fleet-test',
        ...(r.degrade ? { degrade: r.degrade } : {}),
      });
    },
    async current(id) {
      const h = hosts.find((x) => x.id === id)!;
      try {
        return (await readFile(join(h.docBase, 'current', 'VERSION'), 'utf8')).trim();
      } catch {
        return null;
      }
    },
    probe(concurrency = 4) {
      return loadProbe(lb.url, concurrency);
    },
    async stop() {
      for (const pidFile of hosts.flatMap((h) =>
        ['app.pid', 'app-b.pid'].map((f) => join(h.docBase, '.rollgate', f)),
      )) {
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
      // Side-by-side: the hosts' keep-warm timers (a sleeping sh naming its docBase), by PID.
      for (const pid of keepWarmTimers(hosts.map((h) => h.docBase))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await lb.stop().catch(() => undefined);
      await ssh.stop().catch(() => undefined);
      if (!o.dir) await rm(dir, { recursive: true, force: true });
    },
  };
  return fleet;
}

/** PIDs of side-by-side keep-warm timers (`rollgate-keep-warm`) started for these docBases. */
function keepWarmTimers(docBases: string[]): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes('rollgate-keep-warm') && docBases.some((d) => cmd.includes(d))) {
        pids.push(Number(name));
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}
