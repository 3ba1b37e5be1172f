import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { Client, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import type { HostRef } from '../../host/executor';
import { InputError, RollgateError } from '../../model/errors';
import { unreachable, type Connection, type Endpoint } from './connection';
import { readPrivateKey } from './credentials';
import { HostKeyError, HostUnreachableError, hostPort } from './errors';
import {
  hostKeyProblem,
  insecureHostKeyWarning,
  knownHostNames,
  knownHostsFileOf,
  readKnownHosts,
} from './host-key-check';
import { pinnedHostKeyAlgorithms, type KnownHosts } from './known-hosts';
import type { SshExecutorOptions, SshExecutorStats } from './options';
import { Semaphore } from './semaphore';

interface Slot {
  ready: Promise<Connection>;
  connection?: Connection;
}

const CLOSE_WAIT_MS = 1000;

/**
 * One kept connection per login@host:port, opened on first use (through the jump host when
 * one is set), at most maxConnecting handshakes at a time.
 */
export class ConnectionPool {
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly connecting: Semaphore;
  private readonly slots = new Map<string, Slot>();
  private jumpSlot: Slot | undefined;
  private readonly insecureWarned = new Set<string>();
  private readonly knownHostsFile: string | undefined;
  private knownHosts: Promise<KnownHosts> | undefined;
  private privateKey: Promise<Buffer | undefined> | undefined;
  private closed = false;

  constructor(
    private readonly options: SshExecutorOptions,
    private readonly stats: SshExecutorStats,
  ) {
    this.env = options.env ?? {};
    this.connecting = new Semaphore(options.maxConnecting);
    this.knownHostsFile = knownHostsFileOf(options, this.env);
  }

  endpointOf(ref: HostRef): Endpoint {
    const login = this.options.hostLogins?.[ref.id];
    return {
      ref,
      port: login?.port ?? this.options.port,
      user: login?.user ?? this.options.user,
    };
  }

  /** The endpoint's open connection, or a new one. */
  connection(endpoint: Endpoint): Promise<Connection> {
    if (this.closed) return Promise.reject(new RollgateError('ssh executor is closed'));
    const key = keyOf(endpoint);
    const existing = this.slots.get(key);
    if (existing && !existing.connection?.closed) return existing.ready;
    const slot: Slot = {
      ready: this.open(endpoint, false).then(
        (connection) => {
          slot.connection = connection;
          if (connection.closed && this.slots.get(key) === slot) this.slots.delete(key);
          return connection;
        },
        (error: unknown) => {
          if (this.slots.get(key) === slot) this.slots.delete(key);
          throw error;
        },
      ),
    };
    this.slots.set(key, slot);
    return slot.ready;
  }

  /** Closes a connection that turned out dead; the next use opens a new one. */
  drop(connection: Connection): void {
    connection.closed = true;
    this.forget(connection);
    connection.client.destroy();
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map((slot) => endSlot(slot)));
    if (this.jumpSlot) await endSlot(this.jumpSlot);
    this.jumpSlot = undefined;
  }

  private jumpConnection(): Promise<Connection> {
    const jump = this.options.jumpHost;
    if (!jump) throw new Error('no jump host configured');
    if (this.jumpSlot && !this.jumpSlot.connection?.closed) return this.jumpSlot.ready;
    const endpoint: Endpoint = {
      ref: { id: jump.host, host: jump.host, address: jump.host },
      port: jump.port,
      user: jump.user,
    };
    const slot: Slot = {
      ready: this.open(endpoint, true).then(
        (connection) => {
          slot.connection = connection;
          return connection;
        },
        (error: unknown) => {
          if (this.jumpSlot === slot) this.jumpSlot = undefined;
          throw error;
        },
      ),
    };
    this.jumpSlot = slot;
    return slot.ready;
  }

  private async viaJump(endpoint: Endpoint): Promise<Connection> {
    try {
      return await this.jumpConnection();
    } catch (error) {
      if (error instanceof HostKeyError || !(error instanceof HostUnreachableError)) throw error;
      const jump = this.options.jumpHost?.host;
      throw unreachable(endpoint, `via jump host ${jump}: ${error.reason}`, error);
    }
  }

  private async open(endpoint: Endpoint, isJump: boolean): Promise<Connection> {
    const [knownHosts, privateKey] = await Promise.all([
      this.loadKnownHosts(),
      (this.privateKey ??= readPrivateKey(this.options, this.env)),
    ]);
    const policy = retry(
      handleWhen((error) => isTransientConnectError(error)),
      {
        maxAttempts: this.options.connectRetries ?? 2,
        backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }),
      },
    );
    policy.onRetry((reason) => {
      this.stats.connectRetries++;
      const why = 'error' in reason ? reason.error.message : 'unknown';
      this.options.logger.info(`ssh: connect to ${endpoint.ref.host} failed (${why}); retrying`);
    });
    try {
      return await policy.execute(async () => {
        const via = !isJump && this.options.jumpHost ? await this.viaJump(endpoint) : undefined;
        const release = await this.connecting.acquire();
        try {
          if (this.closed) throw new RollgateError('ssh executor is closed');
          const sock = via ? await this.forward(via, endpoint) : this.tcp(endpoint);
          return await this.handshake(endpoint, sock, knownHosts, privateKey);
        } finally {
          release();
        }
      });
    } catch (error) {
      if (error instanceof RollgateError) throw error;
      throw unreachable(endpoint, describeConnectError(error, endpoint), error);
    }
  }

  private loadKnownHosts(): Promise<KnownHosts | undefined> {
    const file = this.knownHostsFile;
    if (!file) return Promise.resolve(undefined);
    this.knownHosts ??= readKnownHosts(file, this.options.logger);
    return this.knownHosts;
  }

  private tcp(endpoint: Endpoint): net.Socket {
    const sock = net.connect({ host: endpoint.ref.address, port: endpoint.port });
    // ssh2 leaves Nagle on: every exec would then wait ~40 ms for a delayed ACK.
    sock.setNoDelay(this.options.noDelay ?? true);
    return sock;
  }

  private forward(via: Connection, endpoint: Endpoint): Promise<Duplex> {
    const jump = via.endpoint.ref.host;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `jump host ${jump} did not open a tunnel within ${this.options.connectTimeoutMs} ms`,
          ),
        );
      }, this.options.connectTimeoutMs);
      try {
        via.client.forwardOut(
          '127.0.0.1',
          0,
          endpoint.ref.address,
          endpoint.port,
          (error, stream) => {
            clearTimeout(timer);
            if (error)
              reject(new Error(`jump host ${jump} could not open a tunnel: ${error.message}`));
            else resolve(stream);
          },
        );
      } catch (error) {
        clearTimeout(timer);
        reject(new Error(`jump host ${jump} is not connected: ${(error as Error).message}`));
      }
    });
  }

  private handshake(
    endpoint: Endpoint,
    sock: Duplex,
    knownHosts: KnownHosts | undefined,
    privateKey: Buffer | undefined,
  ): Promise<Connection> {
    const started = performance.now();
    const names = knownHostNames(endpoint);
    let keyProblem: HostKeyError | undefined;
    const client = new Client();
    const connection: Connection = {
      endpoint,
      client,
      channels: new Semaphore(this.options.maxChannelsPerHost),
      closed: false,
    };
    const config: ConnectConfig = {
      sock: sock as ConnectConfig['sock'],
      username: endpoint.user,
      readyTimeout: this.options.connectTimeoutMs,
      keepaliveInterval: this.options.keepaliveIntervalMs ?? 10_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer): boolean => {
        if (!knownHosts) {
          this.warnInsecure(endpoint);
          return true;
        }
        keyProblem = hostKeyProblem(endpoint, names, knownHosts, this.knownHostsFile!, key);
        return keyProblem === undefined;
      },
    };
    if (privateKey) config.privateKey = privateKey;
    if (this.options.agent) config.agent = this.env.SSH_AUTH_SOCK;
    const algorithms = knownHosts ? pinnedHostKeyAlgorithms(knownHosts, names) : [];
    if (algorithms.length > 0) {
      config.algorithms = { serverHostKey: algorithms as ServerHostKeyAlgorithm[] };
    }

    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        client.destroy();
        reject(keyProblem ?? error);
      };
      client.on('ready', () => {
        settled = true;
        this.stats.connects++;
        const ms = Math.round(performance.now() - started);
        this.options.logger.debug?.(
          `ssh: connected to ${endpoint.ref.host} (${hostPort(endpoint.ref.address, endpoint.port)}) in ${ms} ms`,
        );
        resolve(connection);
      });
      client.on('error', (error: Error) => {
        connection.lastError = error.message;
        fail(error);
      });
      client.on('close', () => {
        connection.closed = true;
        this.forget(connection);
        fail(new Error(connection.lastError ?? 'connection closed during the handshake'));
      });
      sock.on('close', () => {
        connection.closed = true;
      });
      try {
        client.connect(config);
      } catch (error) {
        fail(
          new InputError(
            'transport',
            `cannot start an SSH connection: ${error instanceof Error ? error.message : error}`,
          ),
        );
      }
    });
  }

  private warnInsecure(endpoint: Endpoint): void {
    const key = keyOf(endpoint);
    if (this.insecureWarned.has(key)) return;
    this.insecureWarned.add(key);
    this.options.logger.warn(insecureHostKeyWarning(endpoint));
  }

  private forget(connection: Connection): void {
    const key = keyOf(connection.endpoint);
    const slot = this.slots.get(key);
    if (slot?.connection === connection) this.slots.delete(key);
    if (this.jumpSlot?.connection === connection) this.jumpSlot = undefined;
  }
}

function keyOf(endpoint: Endpoint): string {
  return `${endpoint.user}@${endpoint.ref.address}:${endpoint.port}`;
}

async function endSlot(slot: Slot): Promise<void> {
  const connection = await slot.ready.catch(() => undefined);
  if (!connection || connection.closed) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      connection.client.destroy();
      resolve();
    }, CLOSE_WAIT_MS);
    connection.client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    connection.client.end();
  });
}

function isTransientConnectError(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof RollgateError) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return error.message === 'Connection lost before handshake' || code === 'ECONNRESET';
}

function describeConnectError(error: unknown, endpoint: Endpoint): string {
  if (!(error instanceof Error)) return String(error);
  const level = (error as { level?: string }).level;
  if (level === 'client-authentication') {
    return `authentication as ${endpoint.user} failed (${error.message})`;
  }
  return error.message;
}
