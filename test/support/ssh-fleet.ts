/** Real sshd "hosts" on 127.0.2.x for tests, through scripts/test-env/sshd.sh. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { HostRef } from '../../src/host/executor';
import type { SshExecutorOptions } from '../../src/transport/ssh/ssh-executor';

const run = promisify(execFile);

export const SSHD_SCRIPT = fileURLToPath(
  new URL('../../scripts/test-env/sshd.sh', import.meta.url),
);
export const SSH_USER = 'deploy';

export interface SshFleetHost {
  /** 1-based suffix: the host listens on <net>.<index> (127.0.2.<index> by default). */
  index: number;
  address: string;
  port: number;
  /** A directory the deploy user owns: this host's files. */
  root: string;
}

export interface SshFleetOptions {
  n: number;
  /**
   * Defaults to a new temp dir, removed by stop(). Fleets that share a dir share the client key
   * and known_hosts; each stops only its own hosts.
   */
  dir?: string;
  /** The hosts' loopback /24 (default 127.0.2). */
  net?: string;
  /** First address suffix (<net>.<first>). Default 1. */
  first?: number;
  /** sshd MaxSessions; the fleet default is 50, OpenSSH's is 10. */
  maxSessions?: number;
  /** sshd MaxStartups; the fleet default is 100:30:200, OpenSSH's is 10:30:100. */
  maxStartups?: string;
  /** Extra sshd_config lines (keywords the script does not set). */
  extraConfig?: string;
  /** The port every host of this fleet listens on (SSHD_PORT). Default 22. */
  port?: number;
}

export interface SshFleet {
  dir: string;
  hosts: SshFleetHost[];
  knownHostsFile: string;
  keyFile: string;
  user: string;
  /** PID of host k's listener. */
  pid(index: number): Promise<number>;
  /** SIGKILLs host k's listener and its sessions. */
  kill(index: number): Promise<void>;
  /** Starts stopped listeners again (same host keys). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

let installed: Promise<void> | undefined;

/**
 * Makes sure sshd is installed. Under CI=true a failure throws (the test fails); elsewhere it
 * returns the reason so the caller can skip.
 */
export async function ensureSshd(): Promise<string | null> {
  if (process.getuid?.() !== 0) {
    const reason = 'the sshd test fleet needs root (it adds a user and binds port 22)';
    if (process.env.CI === 'true') throw new Error(`sshd is required in CI: ${reason}`);
    return reason;
  }
  installed ??= run('bash', [SSHD_SCRIPT, 'install'], { timeout: 300_000 }).then(() => undefined);
  try {
    await installed;
    return null;
  } catch (error) {
    installed = undefined;
    const detail = (error as { stderr?: string }).stderr?.trim() || String(error);
    if (process.env.CI === 'true') {
      throw new Error(`sshd is required in CI: ${detail}`, { cause: error });
    }
    return detail;
  }
}

export async function startSshFleet(options: SshFleetOptions): Promise<SshFleet> {
  const reason = await ensureSshd();
  if (reason) throw new Error(`sshd unavailable: ${reason}`);
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'rollgate-sshd-')));
  const first = options.first ?? 1;
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (options.maxSessions !== undefined) env.SSHD_MAX_SESSIONS = String(options.maxSessions);
  if (options.maxStartups !== undefined) env.SSHD_MAX_STARTUPS = options.maxStartups;
  if (options.extraConfig !== undefined) env.SSHD_EXTRA_CONFIG = options.extraConfig;
  if (options.port !== undefined) env.SSHD_PORT = String(options.port);
  const net = options.net ?? '127.0.2';
  env.SSHD_NET = net;
  const script = (...args: string[]) =>
    run('bash', [SSHD_SCRIPT, ...args], { env, timeout: 60_000 });

  try {
    await script('up', dir, String(options.n), String(first));
  } catch (error) {
    const indexes = Array.from({ length: options.n }, (_, i) => String(first + i));
    await script('down', dir, ...indexes).catch(() => undefined);
    throw error;
  }
  const hosts = Array.from({ length: options.n }, (_, i) => ({
    index: first + i,
    address: `${net}.${first + i}`,
    port: options.port ?? 22,
    root: join(dir, 'hosts', `h${first + i}`),
  }));
  return {
    dir,
    hosts,
    knownHostsFile: join(dir, 'known_hosts'),
    keyFile: join(dir, 'client_key'),
    user: SSH_USER,
    pid: async (index) => Number((await readFile(join(dir, `sshd-${index}.pid`), 'utf8')).trim()),
    kill: async (index) => {
      await script('kill', dir, String(index));
    },
    restart: async () => {
      await script('up', dir, String(options.n), String(first));
    },
    stop: async () => {
      await script('down', dir, ...hosts.map((host) => String(host.index)));
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Executor options for a fleet: pinned keys, the fleet's client key, quiet logger. */
export function sshOptionsFor(
  fleet: SshFleet,
  overrides: Partial<SshExecutorOptions> = {},
): SshExecutorOptions {
  return {
    user: fleet.user,
    port: 22,
    privateKeyFile: fleet.keyFile,
    knownHostsFile: fleet.knownHostsFile,
    insecureIgnoreHostKey: false,
    maxChannelsPerHost: 8,
    maxConnecting: 8,
    connectTimeoutMs: 10_000,
    logger: { info: () => undefined, warn: () => undefined },
    ...overrides,
  };
}

export function hostRef(host: SshFleetHost): HostRef {
  return { id: `h${host.index}`, host: `h${host.index}`, address: host.address };
}
