/**
 * Container tooling for tests and the bench: buildah/podman/skopeo from Debian (installed by
 * scripts/test-env/containers.sh when missing), private storage (overlay, runc, chroot
 * isolation — never the system default), a real docker-registry on 127.0.11.1:<15000–15009>
 * (or another loopback address: RegistryPlace), and base images made locally (no Docker Hub
 * here).
 *
 * With CI=true a component that cannot be installed throws (the suite fails, never skips).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RegistryClient } from '../../src/registry/client';

const exec = promisify(execFile);
export const SCRIPT = fileURLToPath(
  new URL('../../scripts/test-env/containers.sh', import.meta.url),
);
export const REGISTRY_HOST = '127.0.11.1';

/** Storage, configs and registry data shared by the test files (kept between runs). */
export function containersDir(): string {
  return process.env.ROLLGATE_CONTAINERS_DIR ?? path.join(os.tmpdir(), 'rollgate-containers');
}

function have(cmd: string): boolean {
  return (process.env.PATH ?? '')
    .split(':')
    .some((d) => d !== '' && fs.existsSync(path.join(d, cmd)));
}

const TOOLS = ['buildah', 'podman', 'skopeo', 'docker-registry', 'runc'];

/**
 * Installs what is missing. Returns null when everything is there, or why not; with CI=true
 * throws instead.
 */
export async function ensureContainerTools(): Promise<string | null> {
  if (TOOLS.every(have) && fs.existsSync('/bin/busybox')) return null;
  let why: string;
  try {
    await exec('bash', [SCRIPT, 'install'], { timeout: 600_000 });
    if (TOOLS.every(have)) return null;
    why = `containers.sh install finished but ${TOOLS.filter((t) => !have(t)).join(', ')} missing`;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    why = `container tools are missing and could not be installed: ${(e.stderr || e.message).trim()}`;
  }
  if (process.env.CI === 'true') throw new Error(`${why} (CI=true: failing, not skipping)`);
  return why;
}

/** The environment builders run with: this process's, plus the private CONTAINERS_* files. */
export function containerEnv(dir = containersDir()): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.CONTAINERS_STORAGE_CONF = path.join(dir, 'conf', 'storage.conf');
  env.CONTAINERS_CONF = path.join(dir, 'conf', 'containers.conf');
  env.CONTAINERS_REGISTRIES_CONF = path.join(dir, 'conf', 'registries.conf');
  env.BUILDAH_ISOLATION = 'chroot';
  env.TMPDIR = path.join(dir, 'tmp');
  return env;
}

/** The variables of containerEnv that point a builder at the private storage (for a runner). */
export function builderVars(env = containerEnv()): Record<string, string> {
  const keep = [
    'CONTAINERS_STORAGE_CONF',
    'CONTAINERS_CONF',
    'CONTAINERS_REGISTRIES_CONF',
    'BUILDAH_ISOLATION',
    'TMPDIR',
  ];
  return Object.fromEntries(keep.map((k) => [k, env[k]!]));
}

export async function writeContainerConf(dir = containersDir()): Promise<void> {
  await exec('bash', [SCRIPT, 'conf', dir]);
}

export interface TestRegistry {
  addr: string;
  url: string;
  pid: number;
  client(): RegistryClient;
  stop(): Promise<void>;
}

/** Where a registry listens and keeps its data; the defaults are this file's (127.0.11.1). */
export interface RegistryPlace {
  /** Loopback address to listen on. */
  host?: string;
  /** Directory under the containers dir for config, data and log. */
  subdir?: string;
}

/**
 * Starts docker-registry on `host`:<port> (default 127.0.11.1) with data under the shared
 * containers dir (`subdir`, default registry).
 */
export async function startRegistry(
  port: number,
  dir = containersDir(),
  { host = REGISTRY_HOST, subdir = 'registry' }: RegistryPlace = {},
): Promise<TestRegistry> {
  // 30000–30999: issue 17's package-store tests (their own loopback range, 127.0.30.x).
  if ((port < 15000 || port > 15009) && (port < 30000 || port > 30999)) {
    throw new Error(`registry port ${port} outside 15000–15009 and 30000–30999`);
  }
  const addr = `${host}:${port}`;
  const busy = await fetch(`http://${addr}/v2/`).then(
    () => true,
    () => false,
  );
  if (busy) throw new Error(`something already answers on ${addr}: a registry left running?`);
  const rdir = path.join(dir, subdir);
  fs.mkdirSync(path.join(rdir, 'data'), { recursive: true });
  const config = path.join(rdir, `config-${port}.yml`);
  fs.writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(rdir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${addr}`,
      '',
    ].join('\n'),
  );
  const log = fs.openSync(path.join(rdir, `${port}.log`), 'a');
  const child: ChildProcess = spawn('docker-registry', ['serve', config], {
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://${addr}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/v2/`);
      if (res.ok && child.exitCode === null) break;
    } catch {
      // not yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const text = fs.readFileSync(path.join(rdir, `${port}.log`), 'utf8').slice(-2000);
      throw new Error(`docker-registry on ${addr} did not start:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    addr,
    url,
    pid: child.pid!,
    client: () => new RegistryClient(addr, { insecure: true }),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export interface BaseImages {
  /** `127.0.11.1:<port>/rollgate-base/busybox@sha256:…` */
  busybox: string;
  /** busybox + this machine's node, its libraries and npm. */
  node: string;
  nodeVersion: string;
}

/** Builds the base images when missing (first run: ~20 s) and pushes them to the registry. */
export async function ensureBaseImages(addr: string, dir = containersDir()): Promise<BaseImages> {
  const { stdout } = await exec('bash', [SCRIPT, 'bases', dir, addr], {
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const vars = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=') as [string, string]),
  );
  if (!vars.BUSYBOX_BASE || !vars.NODE_BASE) throw new Error(`containers.sh bases said: ${stdout}`);
  return { busybox: vars.BUSYBOX_BASE, node: vars.NODE_BASE, nodeVersion: vars.NODE_VERSION ?? '' };
}

export interface ContainersFixture {
  dir: string;
  env: Record<string, string>;
  registry: TestRegistry;
  bases: BaseImages;
  /** A fresh scratch directory under the containers dir (removed by stop). */
  scratch(prefix: string): string;
  stop(): Promise<void>;
}

/**
 * Everything an image test needs: tools (installed when missing), private storage, a registry
 * on `port` (at `place`), base images. Returns the reason instead when tools are missing
 * outside CI. Scratch directories go under tmp/<scratchPrefix><port>-….
 */
export async function containersFixture(
  port: number,
  { scratchPrefix = 't', ...place }: RegistryPlace & { scratchPrefix?: string } = {},
): Promise<ContainersFixture | string> {
  const missing = await ensureContainerTools();
  if (missing) return missing;
  const dir = containersDir();
  await writeContainerConf(dir);
  const registry = await startRegistry(port, dir, place);
  const scratchRoot = fs.mkdtempSync(path.join(dir, 'tmp', `${scratchPrefix}${port}-`));
  try {
    const bases = await ensureBaseImages(registry.addr, dir);
    return {
      dir,
      env: containerEnv(dir),
      registry,
      bases,
      scratch: (prefix) => fs.mkdtempSync(path.join(scratchRoot, `${prefix}-`)),
      async stop() {
        await registry.stop();
        fs.rmSync(scratchRoot, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}

/** Runs a container tool with the private storage; rejects on a non-zero exit. */
export async function tool(
  env: Record<string, string>,
  cmd: string,
  args: string[],
  timeout = 120_000,
): Promise<string> {
  const { stdout } = await exec(cmd, args, { env, timeout, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** `podman run` that works here: runc, no network, ulimits (platform notes, section 6). */
export async function podmanRun(
  env: Record<string, string>,
  image: string,
  args: string[] = [],
  runArgs: string[] = [],
): Promise<string> {
  return tool(env, 'podman', [
    '--runtime',
    'runc',
    'run',
    '--rm',
    '--network',
    'none',
    '--pull=missing',
    '--tls-verify=false',
    ...runArgs,
    image,
    ...args,
  ]);
}
