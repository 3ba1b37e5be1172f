/**
 * For the image tests: a registry on any loopback address (containers.sh registry-start, data
 * in a directory of the test's own), and the podman settings "hosts" on this machine use — a
 * private storage of their own, runc, cgroupfs, file events and the ulimits that work here
 * (platform notes, section 6) — as a group file's package.image podmanArgs and runArgs.
 *
 * Around them what the image tests share: the fleet (startImageFleet: work directory, hosts'
 * storage, registry, base images; its cleanup), the sample app (examples/app/server.js) built
 * into an image (buildSampleImage), the group file of an image release (writeImageGroup), what
 * the hosts answer (hostVersions), the rollgate command with its output captured (runCli), and
 * a Clair double that finds nothing (startCleanClair).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { vi } from 'vitest';
import { main } from '../../src/cli/index';
import { buildImage } from '../../src/image/build';
import { spawnRunner } from '../../src/image/command';
import { fixtureReport, startClairDouble, type ClairDouble } from './clair-double';
import { captureLogger, wallClock } from './haproxy-fixture';
import {
  SCRIPT,
  containerEnv,
  containersDir,
  ensureBaseImages,
  tool,
  writeContainerConf,
  type BaseImages,
} from './registry-env';
import { killApp } from './kill-app';

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

/** The sample app the image tests build. */
export const SERVER_JS = fileURLToPath(new URL('../../examples/app/server.js', import.meta.url));

/** Writes the sample app (server.js, a package.json named `name`) and `files` into `app`. */
export function writeSampleApp(
  app: string,
  { name = 'sample-app', files = {} }: { name?: string; files?: Record<string, string> } = {},
): void {
  fs.mkdirSync(app, { recursive: true });
  fs.copyFileSync(SERVER_JS, path.join(app, 'server.js'));
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', private: true, main: 'server.js' }),
  );
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(app, file), text);
}

export interface ImageFleet {
  /** The shared containers dir (registry-env). */
  dir: string;
  /** The builders' environment: the containers dir's private storage. */
  buildEnv: Record<string, string>;
  /** The test's own directory under the containers dir's tmp (the registry's data too). */
  work: string;
  /** The hosts' podman storage, in a short path under the system tmp. */
  hostDir: string;
  host: HostPodman;
  registry: AddressedRegistry;
  bases: BaseImages;
  /**
   * Kills the apps (by the pid file under each docBase), removes the hosts' `containers` and
   * every image of theirs, stops the registry, removes the builder's `tags`, puts back the
   * containers dir's bases.env and removes both directories. Never throws for what is gone.
   */
  cleanup(what?: { docBases?: string[]; containers?: string[]; tags?: string[] }): Promise<void>;
}

/**
 * Private storage, a work directory (tmp/`workPrefix`…), the hosts' storage (`hostPrefix`…),
 * a registry of the test's own on `registry` (refused when something answers there) and the base
 * images pushed to it. The containers dir's bases.env, which names them, is put back by cleanup.
 * On a failure what was made is removed before it throws.
 */
export async function startImageFleet(o: {
  registry: string;
  workPrefix: string;
  hostPrefix: string;
}): Promise<ImageFleet> {
  const dir = containersDir();
  const buildEnv = containerEnv(dir);
  await writeContainerConf(dir);
  const work = fs.mkdtempSync(path.join(dir, 'tmp', o.workPrefix));
  // podman refuses a runroot longer than 50 characters: the hosts' storage lives in a short path
  const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), o.hostPrefix));
  const host = hostPodman(hostDir);
  const registry = registryAt(work, o.registry);
  const basesEnv = path.join(dir, 'bases.env');
  let basesEnvBefore: string | null = null;

  async function cleanup({
    docBases = [],
    containers = [],
    tags = [],
  }: { docBases?: string[]; containers?: string[]; tags?: string[] } = {}): Promise<void> {
    for (const docBase of docBases) killApp(path.join(docBase, '.rollgate/app.pid'));
    if (containers.length > 0)
      await host.run(['rm', '-f', '--ignore', '-t', '0', ...containers]).catch(() => undefined);
    await host.run(['rmi', '-a', '-f']).catch(() => undefined);
    await registry.stop().catch(() => undefined);
    if (tags.length > 0)
      await tool(buildEnv, 'buildah', ['rmi', '-f', ...tags]).catch(() => undefined);
    if (basesEnvBefore !== null) fs.writeFileSync(basesEnv, basesEnvBefore);
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(hostDir, { recursive: true, force: true });
  }

  try {
    if (await registry.up()) throw new Error(`something already answers on ${o.registry}`);
    await registry.start();
    basesEnvBefore = fs.existsSync(basesEnv) ? fs.readFileSync(basesEnv, 'utf8') : null;
    const bases = await ensureBaseImages(o.registry, dir);
    return { dir, buildEnv, work, hostDir, host, registry, bases, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export interface SampleImage {
  /** The image's tag, its provenance version, and its app's directory under work/apps. */
  tag: string;
  repository: string;
  /** The provenance source (a repository URL). */
  source: string;
  baseImage: string;
  /** More files of the app: name → content. */
  files?: Record<string, string>;
  /**
   * The app brings its own Containerfile without USER (kind custom): the image runs as root
   * (rule non-root).
   */
  asRoot?: boolean;
}

/** Builds the sample app with buildImage (buildah) and pushes it to its repository. */
export async function buildSampleImage(
  fleet: Pick<ImageFleet, 'work' | 'buildEnv'>,
  { tag, repository, source, baseImage, files = {}, asRoot = false }: SampleImage,
): Promise<{ reference: string; digest: string }> {
  const app = path.join(fleet.work, 'apps', tag);
  writeSampleApp(app, {
    files: asRoot
      ? {
          ...files,
          Containerfile: `FROM ${baseImage}\nWORKDIR /app\nCOPY server.js package.json /app/\nCMD ["node", "server.js"]\n`,
        }
      : files,
  });
  const result = await buildImage(
    {
      builder: 'buildah',
      appDir: app,
      kind: asRoot ? 'custom' : 'node',
      ...(asRoot ? { containerfile: 'Containerfile' } : { baseImage }),
      image: `${repository}:${tag}`,
      provenance: {
        commit: '0123456789abcdef0123456789abcdef01234567',
        source,
        version: tag,
        created: Date.now(),
      },
      registry: { insecure: true },
      workDir: path.join(fleet.work, 'build', tag),
    },
    {
      runner: spawnRunner(),
      env: fleet.buildEnv,
      clock: wallClock,
      logger: captureLogger().logger,
    },
  );
  return { reference: result.reference!, digest: result.digest! };
}

export interface ImageGroup {
  group: string;
  docBase: string;
  port: number;
  /** The repository of package.image; the hosts' podmanArgs and runArgs. */
  repository: string;
  host: Pick<HostPodman, 'podmanArgs' | 'runArgs'>;
  targets: ReadonlyArray<{ host: string; address: string }>;
  /** Releases kept on a host (left out: the default). */
  keep?: number;
  /** deployment.startTimeout, e.g. `6s`. */
  startTimeout: string;
  /** store.dir (left out: none, as in the actions, which keep the ledger as artifacts). */
  store?: string;
}

/**
 * Writes the group file of an image release over the local transport (./fleet): all at once
 * (maxUnavailable 100%), from plain-HTTP registries.
 */
export function writeImageGroup(file: string, g: ImageGroup): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    `group: ${g.group}
docBase: ${g.docBase}
port: ${g.port}
${g.keep !== undefined ? `keep: ${g.keep}\n` : ''}service:
  stopTimeout: 5s
package:
  image:
    repository: ${g.repository}
    tlsVerify: false
    podmanArgs: ${JSON.stringify(g.host.podmanArgs)}
    runArgs: ${JSON.stringify(g.host.runArgs)}
deployment:
  maxUnavailable: 100%
  startTimeout: ${g.startTimeout}
  verifyInterval: 100ms
transport: { kind: local, root: ./fleet }
${g.store !== undefined ? `store: { dir: ${g.store} }\n` : ''}targets:
${g.targets.map((h) => `  - { host: ${h.host}, address: ${h.address} }`).join('\n')}
`,
  );
}

/**
 * The containers an image release of `group` runs on `port`, one a host, and the prefix all their
 * names share: `rollgate-<group>-<address>-<port>`.
 */
export function imageContainers(
  group: string,
  hosts: ReadonlyArray<{ address: string }>,
  port: number,
): { prefix: string; names: string[] } {
  const prefix = `rollgate-${group}-`;
  return { prefix, names: hosts.map((h) => `${prefix}${h.address}-${port}`) };
}

/** What each host's app says on /version, in order; `down` for no answer within 2 s. */
export function hostVersions(
  hosts: ReadonlyArray<{ address: string }>,
  port: number,
): Promise<string[]> {
  return Promise.all(
    hosts.map((h) =>
      fetch(`http://${h.address}:${port}/version`, { signal: AbortSignal.timeout(2000) }).then(
        async (r) => (await r.text()).trim(),
        () => 'down',
      ),
    ),
  );
}

export interface CliRun {
  code: number;
  /** Everything printed, in order. */
  out: string;
  /** console.log only. */
  stdout: string;
  /** console.warn and console.error. */
  stderr: string;
}

/** The rollgate command (`main()`) with its console output captured; process.exitCode cleared. */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<CliRun> {
  const all: string[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const into =
    (...lists: string[][]) =>
    (...parts: unknown[]) => {
      const line = parts.map(String).join(' ');
      for (const list of lists) list.push(line);
    };
  const spies = [
    vi.spyOn(console, 'log').mockImplementation(into(all, out)),
    vi.spyOn(console, 'warn').mockImplementation(into(all, err)),
    vi.spyOn(console, 'error').mockImplementation(into(all, err)),
  ];
  process.exitCode = undefined;
  try {
    const code = await main(args, env);
    return { code, out: all.join('\n'), stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    for (const spy of spies) spy.mockRestore();
    process.exitCode = undefined;
  }
}

/**
 * `rollgate scan` of `reference` against the Clair at `clairUrl`, the PSK in $CLAIR_PSK, base
 * images allowed from `registry`'s rollgate-base, over plain HTTP.
 */
export function clairScanArgs(reference: string, clairUrl: string, registry: string): string[] {
  return [
    'scan',
    reference,
    '--clair',
    clairUrl,
    '--psk-env',
    'CLAIR_PSK',
    '--allowed-base',
    `${registry}/rollgate-base/*`,
    '--tls-verify=false',
  ];
}

/** The Clair double on `host` with PSK auth (`key`, issuer rollgate) that finds no vulnerability. */
export function startCleanClair(host: string, key: string): Promise<ClairDouble> {
  return startClairDouble({
    host,
    psk: { key, issuers: ['rollgate'] },
    report: (m) => fixtureReport(m, 'vulnerability-report-empty.json'),
  });
}
