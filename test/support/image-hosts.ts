/**
 * For image-release tests: a registry on any loopback address (containers.sh registry-start, data
 * in a directory of the test's own), and the podman settings "hosts" on this machine use — a
 * private storage of their own, runc, cgroupfs, file events and the ulimits that work here
 * (platform notes, section 6) — as a group file's package.image podmanArgs and runArgs.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { SCRIPT } from './registry-env';

const exec = promisify(execFile);

export interface AddressedRegistry {
  addr: string;
  dir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  up(): Promise<boolean>;
}

/** docker-registry on `addr`, data under `dir`/registry (kept across stop and start). */
export function registryAt(dir: string, addr: string): AddressedRegistry {
  const registry: AddressedRegistry = {
    addr,
    dir,
    async start() {
      await exec('bash', [SCRIPT, 'registry-start', dir, addr], { timeout: 30_000 });
    },
    async stop() {
      await exec('bash', [SCRIPT, 'registry-stop', dir, addr], { timeout: 30_000 });
    },
    up: () =>
      fetch(`http://${addr}/v2/`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      ),
  };
  return registry;
}

export interface HostPodman {
  /** Global flags: the hosts' own storage under `dir`. */
  podmanArgs: string[];
  runArgs: string[];
  /** Runs podman with those flags on this machine; resolves with stdout. */
  run(args: string[], timeoutMs?: number): Promise<string>;
  /** Names and images of the running containers whose name starts with `prefix`. */
  running(prefix: string): Promise<Array<{ name: string; image: string; id: string }>>;
  exists(image: string): Promise<boolean>;
}

export function hostPodman(dir: string): HostPodman {
  for (const sub of ['storage', 'run', 'tmp'])
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const podmanArgs = [
    '--root',
    path.join(dir, 'storage'),
    '--runroot',
    path.join(dir, 'run'),
    '--tmpdir',
    path.join(dir, 'tmp'),
    '--storage-driver',
    'overlay',
    '--runtime',
    '/usr/sbin/runc',
    '--cgroup-manager',
    'cgroupfs',
    '--events-backend',
    'file',
  ];
  const host: HostPodman = {
    podmanArgs,
    runArgs: ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768'],
    async run(args, timeoutMs = 60_000) {
      const { stdout } = await exec('podman', [...podmanArgs, ...args], {
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout;
    },
    async running(prefix) {
      const out = await host.run(['ps', '--format', '{{.Names}} {{.Image}} {{.ID}}']);
      return out
        .split('\n')
        .filter((l) => l.startsWith(prefix))
        .map((l) => {
          const [name = '', image = '', id = ''] = l.trim().split(' ');
          return { name, image, id };
        })
        .sort((a, b) => a.name.localeCompare(b.name));
    },
    exists: (image) =>
      exec('podman', [...podmanArgs, 'image', 'exists', image]).then(
        () => true,
        () => false,
      ),
  };
  return host;
}
