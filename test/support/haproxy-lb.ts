import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../scripts/test-env/haproxy.sh', import.meta.url));

/**
 * Makes sure haproxy is installed (installing it with apt through scripts/test-env/haproxy.sh).
 * Returns null when it is there, or why not; with CI=true a missing haproxy throws instead, so
 * the suite fails rather than skips.
 */
export async function ensureHaproxy(): Promise<string | null> {
  if (await haproxyVersion()) return null;
  let why: string;
  try {
    await run('bash', [SCRIPT, 'install'], { timeout: 300_000 });
    if (await haproxyVersion()) return null;
    why = 'haproxy.sh install finished but haproxy is still not on PATH';
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    why = `haproxy is missing and could not be installed: ${(e.stderr || e.message).trim()}`;
  }
  if (process.env.CI === 'true') throw new Error(`${why} (CI=true: failing, not skipping)`);
  return why;
}

async function haproxyVersion(): Promise<string | null> {
  try {
    const { stdout } = await run('haproxy', ['-v']);
    return stdout.split('\n')[0] ?? null;
  } catch {
    return null;
  }
}

export interface LbServer {
  name: string;
  address: string;
  port: number;
  weight?: number;
  /** Port of an agent-check (HAProxy asks it for `up`, `drain`, `50%`, …). */
  agentPort?: number;
  /** Starts in maintenance (side-by-side's idle slot). */
  disabled?: boolean;
}

export interface HaproxyOptions {
  /** Where the config, socket, pid and log go. */
  dir: string;
  /** `127.0.3.1:18300` */
  frontend: string;
  backend: string;
  servers: LbServer[];
  /** HTTP health checks on /health (default true). */
  check?: boolean;
  /** TCP runtime API address; default: the frontend address, port + 1. */
  runtime?: string;
  /** `stats timeout`: how long HAProxy keeps an idle runtime API connection (default 10 s). */
  statsTimeoutMs?: number;
}

export interface HaproxyLb {
  pid: number;
  socketPath: string;
  /** `127.0.3.1:18301` */
  tcpRuntime: string;
  /** The same, as traffic.sockets entries. */
  endpoints: { unix: string; tcp: string };
  /** `http://127.0.3.1:18300` */
  url: string;
  configPath: string;
  logPath: string;
  /** One runtime API command on a fresh connection. */
  cli(command: string): Promise<string>;
  stop(): Promise<void>;
  /** SIGKILL, for fault injection. */
  kill(): Promise<void>;
}

export function haproxyConfig(opts: HaproxyOptions, socketPath: string, runtime: string): string {
  const check = opts.check ?? true;
  const servers = opts.servers.map((s) => {
    const parts = [`    server ${s.name} ${s.address}:${s.port}`];
    if (check) parts.push('check');
    parts.push(`weight ${s.weight ?? 100}`);
    if (s.agentPort) parts.push(`agent-check agent-port ${s.agentPort} agent-inter 1s`);
    if (s.disabled) parts.push('disabled');
    return parts.join(' ');
  });
  return [
    'global',
    `    stats socket ${socketPath} mode 600 level admin`,
    `    stats socket ipv4@${runtime} level admin`,
    ...(opts.statsTimeoutMs ? [`    stats timeout ${opts.statsTimeoutMs}ms`] : []),
    '    log stderr format raw local0 notice',
    'defaults',
    '    mode http',
    '    log global',
    '    timeout connect 2s',
    '    timeout client 10s',
    '    timeout server 10s',
    '    option http-server-close',
    'frontend fe',
    `    bind ${opts.frontend}`,
    `    default_backend ${opts.backend}`,
    `backend ${opts.backend}`,
    '    balance roundrobin',
    ...(check
      ? ['    option httpchk GET /health', '    default-server inter 500ms fall 2 rise 2']
      : []),
    ...servers,
    '',
  ].join('\n');
}

export async function startHaproxy(opts: HaproxyOptions): Promise<HaproxyLb> {
  fs.mkdirSync(opts.dir, { recursive: true });
  const socketPath = path.join(opts.dir, 'admin.sock');
  const configPath = path.join(opts.dir, 'haproxy.cfg');
  const logPath = path.join(opts.dir, 'haproxy.log');
  const [feHost, fePort] = splitHostPort(opts.frontend);
  const runtime = opts.runtime ?? `${feHost}:${fePort + 1}`;
  fs.writeFileSync(configPath, haproxyConfig(opts, socketPath, runtime));
  fs.rmSync(socketPath, { force: true });
  try {
    await run('haproxy', ['-c', '-q', '-f', configPath]);
  } catch (err) {
    throw new Error(`haproxy config check failed: ${(err as { stderr?: string }).stderr ?? err}`, {
      cause: err,
    });
  }

  const log = fs.openSync(logPath, 'a');
  const child = spawn('haproxy', ['-db', '-f', configPath], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid === undefined) throw new Error('haproxy did not start');
  const pid = child.pid;

  const cli = (command: string) => oneShot(socketPath, command);
  try {
    await waitAnswering(cli, child);
  } catch (err) {
    await stopChild(child, exited, 'SIGKILL');
    throw new Error(
      `${(err as Error).message}; log:\n${fs.readFileSync(logPath, 'utf8').slice(-2000)}`,
      { cause: err },
    );
  }
  return {
    pid,
    socketPath,
    tcpRuntime: runtime,
    endpoints: { unix: `unix:${socketPath}`, tcp: `tcp:${runtime}` },
    url: `http://${opts.frontend}`,
    configPath,
    logPath,
    cli,
    stop: () => stopChild(child, exited, 'SIGTERM'),
    kill: () => stopChild(child, exited, 'SIGKILL'),
  };
}

function splitHostPort(hp: string): [string, number] {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i), Number(hp.slice(i + 1))];
}

async function waitAnswering(cli: (c: string) => Promise<string>, child: ChildProcess) {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`haproxy exited (${child.exitCode ?? child.signalCode}) before answering`);
    }
    try {
      if ((await cli('show info')).includes('Pid:')) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('haproxy runtime API did not answer within 5 s');
}

async function stopChild(child: ChildProcess, exited: Promise<void>, signal: NodeJS.Signals) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

/** Non-interactive mode: one command, HAProxy answers and closes. */
export function oneShot(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: socketPath });
    let out = '';
    s.setEncoding('utf8');
    s.setTimeout(3000, () => s.destroy(new Error(`no answer to '${command}'`)));
    s.on('connect', () => s.write(`${command}\n`));
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}
