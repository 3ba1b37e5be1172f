/**
 * An SSH group for the actions and the workflow driver: real sshd "hosts" on 127.0.2.<first…>
 * (scripts/test-env/sshd.sh), each running the sample app on its own address, and a workspace
 * whose group file releases to them over SSH with the key in ROLLGATE_SSH_KEY (as the
 * workflow's `ssh-private-key` secret gives it) and host keys pinned in ~/.ssh/known_hosts (as
 * its `known-hosts` secret writes them). Traffic is a `command` load balancer that keeps each
 * target's state in a file on the runner, so tests can see which targets are in traffic.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPackage, type BuildPackageOptions } from '../../src/package/tarball';
import { APP_DIR, healthVersion } from './actions-runner';
import { killApp } from './kill-app';
import { startSshFleet, type SshFleet } from './ssh-fleet';
import { commandTraffic, commandTrafficState, sampleAppGroup } from './group-yaml';

export interface SshActionsHost {
  id: string;
  address: string;
  docBase: string;
}

export interface SshActionsFleet {
  workspace: string;
  groupFile: string;
  group: string;
  hosts: SshActionsHost[];
  ssh: SshFleet;
  /** The workflow's secrets for this fleet: the deploy key and the known_hosts lines. */
  secrets: { 'ssh-private-key': string; 'known-hosts': string };
  build(
    version: string,
    extra?: Omit<BuildPackageOptions, 'appDir' | 'version' | 'outDir'>,
  ): Promise<void>;
  current(id: string): string | null;
  releases(id: string): string[];
  traffic(id: string): 'up' | 'down' | null;
  health(id: string): Promise<string | null>;
  cleanup(): Promise<void>;
}

export interface SshActionsFleetOptions {
  group: string;
  n: number;
  /** First sshd index: hosts listen on 127.0.2.<first>… */
  first: number;
  port: number;
  /** YAML lines under `deployment:` (indented two spaces). */
  deployment?: string;
  keep?: number;
}

export async function makeSshActionsFleet(o: SshActionsFleetOptions): Promise<SshActionsFleet> {
  const base = await mkdtemp(join(tmpdir(), 'rollgate-ssh-ws-'));
  // The deploy user must reach its host directories under here.
  await chmod(base, 0o755);
  const ssh = await startSshFleet({ n: o.n, first: o.first, dir: join(base, 'ssh') });
  const workspace = join(base, 'ws');
  const deploy = join(workspace, 'deploy');
  const lb = join(deploy, 'lb');
  await mkdir(lb, { recursive: true });
  const hosts: SshActionsHost[] = ssh.hosts.map((h, i) => ({
    id: `web-${String(i + 1).padStart(2, '0')}`,
    address: h.address,
    docBase: join(h.root, 'srv/shop'),
  }));
  const groupFile = `deploy/${o.group}.yml`;
  await writeFile(
    join(workspace, groupFile),
    sampleAppGroup({
      group: o.group,
      docBase: '/srv/shop',
      port: o.port,
      ...(o.keep !== undefined ? { keep: o.keep } : {}),
      stopTimeout: '3s',
      deployment:
        o.deployment ?? '  maxUnavailable: 34%\n  startTimeout: 8s\n  verifyInterval: 50ms',
      sections: [
        `transport: { kind: ssh, user: ${ssh.user}, port: 22, privateKeyEnv: ROLLGATE_SSH_KEY }`,
        commandTraffic(lb),
      ],
      targets: hosts.map((h) => ({ host: h.id, address: h.address, docBase: h.docBase })),
    }),
  );
  const find = (id: string): SshActionsHost => {
    const h = hosts.find((x) => x.id === id);
    if (!h) throw new Error(`no host ${id}`);
    return h;
  };
  return {
    workspace,
    groupFile,
    group: o.group,
    hosts,
    ssh,
    secrets: {
      'ssh-private-key': await readFile(ssh.keyFile, 'utf8'),
      'known-hosts': await readFile(ssh.knownHostsFile, 'utf8'),
    },
    async build(version, extra) {
      await buildPackage({ appDir: APP_DIR, version, outDir: join(deploy, 'packages'), ...extra });
    },
    current(id) {
      try {
        return readFileSync(join(find(id).docBase, 'current', 'VERSION'), 'utf8').trim();
      } catch {
        return null;
      }
    },
    releases(id) {
      try {
        return readdirSync(join(find(id).docBase, 'releases')).sort();
      } catch {
        return [];
      }
    },
    traffic(id) {
      return commandTrafficState(lb, id);
    },
    health(id) {
      return healthVersion(find(id).address, o.port);
    },
    async cleanup() {
      for (const h of hosts) killApp(join(h.docBase, '.rollgate/app.pid'));
      await ssh.stop();
      await rm(base, { recursive: true, force: true });
    },
  };
}
