import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import { constants as osConstants, homedir } from 'node:os';
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import {
  Client,
  utils as ssh2Utils,
  type ClientChannel,
  type ConnectConfig,
  type SFTPWrapper,
  type ServerHostKeyAlgorithm,
} from 'ssh2';
import type { SshTransportSpec } from '../../config/specs';
import type { ExecOptions, ExecResult, Executor, HostRef } from '../../host/executor';
import { shq } from '../../host/quote';
import { InputError, RollgateError, StepError } from '../../model/errors';
import { ExecTimeoutError, HostKeyError, HostUnreachableError, hostPort } from './errors';
import {
  fingerprint,
  keyTypeOf,
  knownHostName,
  parseKnownHosts,
  pinnedHostKeyAlgorithms,
  verifyHostKey,
  type KnownHosts,
} from './known-hosts';
import { Semaphore } from './semaphore';
import { abortReason } from '../../model/abort';

export interface SshLogger {
  /** Connection chatter (one line per host connected): shown only when asked for. */
  debug?(line: string): void;
  info(line: string): void;
  warn(line: string): void;
}

export interface SshExecutorOptions extends Omit<SshTransportSpec, 'kind'> {
  kind?: 'ssh';
  logger: SshLogger;
  /** Where privateKeyEnv and SSH_AUTH_SOCK are looked up (the executor never reads process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Retries of a connect the server dropped before the handshake (MaxStartups). Default 2. */
  connectRetries?: number;
  /** SSH keepalive; a silent peer is dropped after 3 unanswered probes. Default 10 000 ms. */
  keepaliveIntervalMs?: number;
  /**
   * SFTP writes of sftpChunkSize bytes, sftpConcurrency of them in flight. Defaults 64 KiB × 16:
   * ssh2's own 32 KiB × 64 fills sshd's 2 MiB channel window, and the first 5 MiB put on a new
   * connection then took ~150 ms instead of ~20 ms.
   */
  sftpChunkSize?: number;
  sftpConcurrency?: number;
  /** Default for exec when the caller gives none (as LocalExecutor). Default 60 000 ms. */
  timeoutMs?: number;
  /** Output kept per stream; the rest is dropped (as LocalExecutor). Default 1 MiB. */
  maxOutputBytes?: number;
  /** Off only to measure what TCP_NODELAY buys; leave it on. */
  noDelay?: boolean;
  /**
   * Per target id, the SSH login that differs from user/port (an inventory's ansible_user and
   * ansible_port).
   */
  hostLogins?: Readonly<Record<string, { user?: string; port?: number }>>;
}

/** Counters for tests and benchmarks. */
export interface SshExecutorStats {
  connects: number;
  connectRetries: number;
  reconnects: number;
  channelRetries: number;
}

interface Endpoint {
  ref: HostRef;
  port: number;
  user: string;
}

interface Connection {
  endpoint: Endpoint;
  client: Client;
  channels: Semaphore;
  sftp?: Promise<SFTPWrapper>;
  closed: boolean;
  lastError?: string;
}

interface Slot {
  ready: Promise<Connection>;
  connection?: Connection;
}

/** The channel never opened, so the command did not run and may be retried. */
class ChannelNotOpenedError extends Error {
  constructor(
    readonly connectionGone: boolean,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

const SFTP_NO_SUCH_FILE = 2;
/** A known_hosts file that takes precedence over transport.knownHostsFile (set by the actions). */
export const KNOWN_HOSTS_ENV = 'ROLLGATE_KNOWN_HOSTS_FILE';
const CLOSE_WAIT_MS = 1000;

/** Runs commands and copies files over SSH: one kept connection per host. */
export class SshExecutor implements Executor {
  readonly stats: SshExecutorStats = {
    connects: 0,
    connectRetries: 0,
    reconnects: 0,
    channelRetries: 0,
  };

  private readonly options: SshExecutorOptions;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly connecting: Semaphore;
  private readonly slots = new Map<string, Slot>();
  private jumpSlot: Slot | undefined;
  private readonly insecureWarned = new Set<string>();
  private readonly knownHostsFile: string | undefined;
  private knownHosts: Promise<KnownHosts> | undefined;
  private privateKey: Promise<Buffer | undefined> | undefined;
  private closed = false;

  constructor(options: SshExecutorOptions) {
    this.options = options;
    this.env = options.env ?? {};
    for (const field of ['maxChannelsPerHost', 'maxConnecting', 'connectTimeoutMs'] as const) {
      const value = options[field];
      if (!Number.isInteger(value) || value < 1) {
        throw new InputError(`transport.${field}`, `must be a positive integer, got ${value}`);
      }
    }
    if (!options.privateKeyFile && !options.privateKeyEnv && !options.agent) {
      throw new InputError('transport', 'set privateKeyFile, privateKeyEnv or agent');
    }
    if (options.privateKeyEnv && !this.env[options.privateKeyEnv]) {
      throw new InputError(
        'transport.privateKeyEnv',
        `environment variable ${options.privateKeyEnv} is empty or not set`,
      );
    }
    if (options.agent && !this.env.SSH_AUTH_SOCK) {
      throw new InputError('transport.agent', 'SSH_AUTH_SOCK is not set: no ssh-agent to use');
    }
    this.connecting = new Semaphore(options.maxConnecting);
    // The run's own file (the actions write their known-hosts input there) beats the group
    // file's: a CI job says which host keys it trusts, never the runner's leftovers.
    this.knownHostsFile = options.insecureIgnoreHostKey
      ? undefined
      : this.env[KNOWN_HOSTS_ENV] ||
        (options.knownHostsFile ?? posix.join(this.env.HOME ?? homedir(), '.ssh', 'known_hosts'));
  }

  async exec(host: HostRef, script: string, options: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? 60_000;
    const { signal } = options;
    // A connect under way is not cut (it ends on its own timeout); the caller is let go at once.
    return raceAbort(
      this.onHost(host, (connection) => this.run(connection, script, timeoutMs, signal)),
      signal,
    );
  }

  async put(
    host: HostRef,
    localPath: string,
    remotePath: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    if (!posix.isAbsolute(remotePath)) {
      throw new InputError('remotePath', `must be an absolute path, got ${remotePath}`);
    }
    const { signal } = options;
    if (signal?.aborted) throw abortReason(signal);
    const mode = (await stat(localPath)).mode & 0o777;
    const partial = `${remotePath}.rollgate-${randomBytes(6).toString('hex')}`;
    const copy = this.onHost(host, async (connection) => {
      const sftp = await this.sftpOf(connection);
      // A hard stop ends the SFTP session: the transfer stops, the partial file stays a partial.
      const onAbort = () => this.endSftp(connection);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        try {
          await this.fastPut(sftp, localPath, partial, mode);
        } catch (error) {
          if (sftpCode(error) !== SFTP_NO_SUCH_FILE || connection.closed) throw error;
          await sftpMkdirs(sftp, posix.dirname(remotePath));
          await this.fastPut(sftp, localPath, partial, mode);
        }
        await renameOver(sftp, partial, remotePath);
      } catch (error) {
        if (!connection.closed && !signal?.aborted) sftp.unlink(partial, () => undefined);
        throw this.sftpFailure(connection, `put ${remotePath}`, error);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        if (this.options.maxChannelsPerHost < 2) this.endSftp(connection);
      }
    });
    await raceAbort(copy, signal);
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map((slot) => this.endSlot(slot)));
    if (this.jumpSlot) await this.endSlot(this.jumpSlot);
    this.jumpSlot = undefined;
  }

  // --- connections ---------------------------------------------------------------------------

  private endpointOf(ref: HostRef): Endpoint {
    const login = this.options.hostLogins?.[ref.id];
    return {
      ref,
      port: login?.port ?? this.options.port,
      user: login?.user ?? this.options.user,
    };
  }

  private keyOf(endpoint: Endpoint): string {
    return `${endpoint.user}@${endpoint.ref.address}:${endpoint.port}`;
  }

  /** Runs fn on the host's connection; reconnects once if it turns out to have dropped. */
  private async onHost<T>(ref: HostRef, fn: (connection: Connection) => Promise<T>): Promise<T> {
    const endpoint = this.endpointOf(ref);
    const connection = await this.connection(endpoint);
    try {
      return await fn(connection);
    } catch (error) {
      if (!(error instanceof ChannelNotOpenedError)) throw error;
      if (!error.connectionGone) throw this.unreachable(endpoint, error.message, error);
      this.drop(connection);
      this.stats.reconnects++;
      this.options.logger.info(
        `ssh: connection to ${ref.host} dropped (${error.message}); reconnecting`,
      );
      const again = await this.connection(endpoint);
      try {
        return await fn(again);
      } catch (retryError) {
        if (retryError instanceof ChannelNotOpenedError) {
          throw this.unreachable(endpoint, retryError.message, retryError);
        }
        throw retryError;
      }
    }
  }

  private connection(endpoint: Endpoint): Promise<Connection> {
    if (this.closed) return Promise.reject(new RollgateError('ssh executor is closed'));
    const key = this.keyOf(endpoint);
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
      throw this.unreachable(endpoint, `via jump host ${jump}: ${error.reason}`, error);
    }
  }

  private async open(endpoint: Endpoint, isJump: boolean): Promise<Connection> {
    const [knownHosts, privateKey] = await Promise.all([
      this.loadKnownHosts(),
      this.loadPrivateKey(),
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
      throw this.unreachable(endpoint, describeConnectError(error, endpoint), error);
    }
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
    const names = [knownHostName(endpoint.ref.address, endpoint.port)];
    if (endpoint.ref.host !== endpoint.ref.address) {
      names.push(knownHostName(endpoint.ref.host, endpoint.port));
    }
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
        keyProblem = this.checkHostKey(endpoint, names, knownHosts, key);
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

  private checkHostKey(
    endpoint: Endpoint,
    names: string[],
    knownHosts: KnownHosts,
    key: Buffer,
  ): HostKeyError | undefined {
    const verdict = verifyHostKey(knownHosts, names, key);
    const file = this.knownHostsFile;
    const address = endpoint.ref.address;
    const offered = `${keyTypeOf(key)} ${fingerprint(key)}`;
    switch (verdict.status) {
      case 'match':
        return undefined;
      case 'unknown': {
        const port = endpoint.port === 22 ? '' : ` -p ${endpoint.port}`;
        return new HostKeyError(
          endpoint.ref,
          endpoint.port,
          'unknown',
          `host key for ${address} is not in ${file}: add it with ` +
            `ssh-keyscan${port} ${address} >> ${file} (and check it offers ${offered})`,
        );
      }
      case 'changed': {
        const pinned = verdict.pinned
          .map((p) => `line ${p.line}: ${p.keyType} ${p.fingerprint}`)
          .join('; ');
        return new HostKeyError(
          endpoint.ref,
          endpoint.port,
          'changed',
          `host key for ${address} has CHANGED (possible man-in-the-middle attack): it offered ` +
            `${offered}, but ${file} pins ${pinned}. If the host was rebuilt, replace that line`,
        );
      }
      case 'revoked':
        return new HostKeyError(
          endpoint.ref,
          endpoint.port,
          'revoked',
          `host key for ${address} (${offered}) is marked @revoked in ${file} line ${verdict.line}`,
        );
    }
  }

  private warnInsecure(endpoint: Endpoint): void {
    const key = this.keyOf(endpoint);
    if (this.insecureWarned.has(key)) return;
    this.insecureWarned.add(key);
    this.options.logger.warn(
      `ssh: insecureIgnoreHostKey is set: not checking the host key of ${endpoint.ref.host} ` +
        `(${hostPort(endpoint.ref.address, endpoint.port)})`,
    );
  }

  private forget(connection: Connection): void {
    const key = this.keyOf(connection.endpoint);
    const slot = this.slots.get(key);
    if (slot?.connection === connection) this.slots.delete(key);
    if (this.jumpSlot?.connection === connection) this.jumpSlot = undefined;
  }

  private drop(connection: Connection): void {
    connection.closed = true;
    this.forget(connection);
    connection.client.destroy();
  }

  private async endSlot(slot: Slot): Promise<void> {
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

  private async loadKnownHosts(): Promise<KnownHosts | undefined> {
    const file = this.knownHostsFile;
    if (!file) return undefined;
    this.knownHosts ??= readFile(file, 'utf8').then(
      (text) => {
        const parsed = parseKnownHosts(text);
        for (const problem of parsed.errors) {
          this.options.logger.warn(`ssh: ${file} line ${problem.line} ignored: ${problem.message}`);
        }
        return parsed;
      },
      (error: NodeJS.ErrnoException) => {
        throw new InputError(
          'transport.knownHostsFile',
          `cannot read ${file} (${error.code ?? error.message}); host keys are pinned unless ` +
            'insecureIgnoreHostKey is set',
        );
      },
    );
    return this.knownHosts;
  }

  private loadPrivateKey(): Promise<Buffer | undefined> {
    this.privateKey ??= (async () => {
      const { privateKeyFile, privateKeyEnv } = this.options;
      let key: Buffer;
      let field: string;
      if (privateKeyFile) {
        field = 'transport.privateKeyFile';
        key = await readFile(privateKeyFile).catch((error: NodeJS.ErrnoException) => {
          throw new InputError(
            field,
            `cannot read ${privateKeyFile} (${error.code ?? error.message})`,
          );
        });
      } else if (privateKeyEnv) {
        field = 'transport.privateKeyEnv';
        let text = (this.env[privateKeyEnv] ?? '').trim();
        // Some secret stores keep a multi-line value with literal \n escapes.
        if (!text.includes('\n') && text.includes('\\n')) text = text.replaceAll('\\n', '\n');
        key = Buffer.from(`${text}\n`);
      } else {
        return undefined;
      }
      const parsed = ssh2Utils.parseKey(key);
      if (parsed instanceof Error) {
        throw new InputError(field, `not a usable private key: ${parsed.message}`);
      }
      return key;
    })();
    return this.privateKey;
  }

  private unreachable(endpoint: Endpoint, reason: string, cause: unknown): HostUnreachableError {
    return new HostUnreachableError(endpoint.ref, endpoint.port, reason, { cause });
  }

  // --- channels ------------------------------------------------------------------------------

  /**
   * Opens a session channel under the per-connection limit. The permit is held until the
   * channel closes. A refusal by the server (sshd counts a closing session a little longer
   * than we do) is retried a few times; the command had not started.
   */
  private async openChannel<T extends ClientChannel | SFTPWrapper>(
    connection: Connection,
    open: (callback: (error: Error | undefined, channel: T) => void) => void,
  ): Promise<{ channel: T; release: () => void }> {
    const policy = retry(
      handleWhen((error) => error instanceof ChannelNotOpenedError && !error.connectionGone),
      { maxAttempts: 4, backoff: new ExponentialBackoff({ initialDelay: 20, maxDelay: 250 }) },
    );
    policy.onRetry(() => this.stats.channelRetries++);
    return policy.execute(async () => {
      const release = await connection.channels.acquire();
      try {
        const channel = await new Promise<T>((resolve, reject) => {
          if (connection.closed) {
            reject(new ChannelNotOpenedError(true, connection.lastError ?? 'connection closed'));
            return;
          }
          try {
            open((error, channel) => {
              if (error)
                reject(new ChannelNotOpenedError(connection.closed || isGone(error), error));
              else resolve(channel);
            });
          } catch (error) {
            reject(new ChannelNotOpenedError(true, error));
          }
        });
        channel.once('close', release);
        return { channel, release };
      } catch (error) {
        release();
        throw error;
      }
    });
  }

  private async run(
    connection: Connection,
    script: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ExecResult> {
    if (signal?.aborted) throw abortReason(signal);
    const { channel } = await this.openChannel<ClientChannel>(connection, (callback) =>
      // stdin from /dev/null on the host (as LocalExecutor): our side of the channel stays
      // writable, which ssh2 requires to send the timeout's signal.
      connection.client.exec(`sh -c ${shq(script)} </dev/null`, callback),
    );
    const ref = connection.endpoint.ref;
    const limit = this.options.maxOutputBytes ?? 1 << 20;
    return new Promise<ExecResult>((resolve, reject) => {
      const stdout = new Collector(limit);
      const stderr = new Collector(limit);
      let timedOut = false;
      const kill = () => {
        try {
          // sshd delivers this to the command's whole process group.
          channel.signal('KILL');
        } catch {
          // connection already gone: close() below is enough
        }
        channel.close();
      };
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
        reject(new ExecTimeoutError(ref, timeoutMs));
      }, timeoutMs);
      const onAbort = () => {
        timedOut = true;
        clearTimeout(timer);
        kill();
        reject(abortReason(signal!));
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      channel.on('data', (chunk: Buffer) => stdout.add(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));
      // The exit status comes with 'close': an 'exit' event may fire (in the same socket read as
      // the channel's confirmation) before these listeners exist.
      channel.on('close', (code?: number | null, exitSignal?: string) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (timedOut) return;
        if (code === undefined) {
          const why = connection.lastError ? `: ${connection.lastError}` : '';
          reject(
            this.unreachable(
              connection.endpoint,
              `connection lost while the command ran${why}`,
              connection.lastError,
            ),
          );
          return;
        }
        const exit = code ?? 128 + signalNumber(exitSignal);
        resolve({ code: exit, stdout: stdout.text(), stderr: stderr.text() });
      });
    });
  }

  // --- sftp ----------------------------------------------------------------------------------

  private sftpOf(connection: Connection): Promise<SFTPWrapper> {
    connection.sftp ??= this.openChannel<SFTPWrapper>(connection, (callback) =>
      connection.client.sftp(callback),
    ).then(
      ({ channel }) => {
        channel.once('close', () => {
          connection.sftp = undefined;
        });
        return channel;
      },
      (error: unknown) => {
        connection.sftp = undefined;
        throw error;
      },
    );
    return connection.sftp;
  }

  private endSftp(connection: Connection): void {
    const pending = connection.sftp;
    connection.sftp = undefined;
    void pending?.then((sftp) => sftp.end()).catch(() => undefined);
  }

  private fastPut(sftp: SFTPWrapper, local: string, remote: string, mode: number): Promise<void> {
    return new Promise((resolve, reject) => {
      sftp.fastPut(
        local,
        remote,
        {
          mode,
          chunkSize: this.options.sftpChunkSize ?? 64 * 1024,
          concurrency: this.options.sftpConcurrency ?? 16,
        },
        (error) => (error ? reject(error) : resolve()),
      );
    });
  }

  private sftpFailure(connection: Connection, what: string, error: unknown): Error {
    if (error instanceof RollgateError || error instanceof ChannelNotOpenedError) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (connection.closed || isGone(error)) {
      return this.unreachable(
        connection.endpoint,
        `connection lost during ${what}: ${message}`,
        error,
      );
    }
    return new StepError(`${what} on ${connection.endpoint.ref.host}: ${message}`, {
      cause: error,
    });
  }
}

/** Settles with `work`, or rejects as soon as `signal` is aborted (work goes on unwatched). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => undefined);
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

class Collector {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    if (this.size >= this.limit) return;
    this.chunks.push(chunk.subarray(0, this.limit - this.size));
    this.size += chunk.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** `mkdir -p` over SFTP: another put may create the same directories at the same time. */
async function sftpMkdirs(sftp: SFTPWrapper, dir: string): Promise<void> {
  const missing: string[] = [];
  for (let current = dir; current !== '/' && !(await sftpIsDir(sftp, current));) {
    missing.unshift(current);
    current = posix.dirname(current);
  }
  for (const path of missing) {
    await new Promise<void>((resolve, reject) => {
      sftp.mkdir(path, (error) => {
        if (!error) resolve();
        else sftpIsDir(sftp, path).then((exists) => (exists ? resolve() : reject(error)), reject);
      });
    });
  }
}

function sftpIsDir(sftp: SFTPWrapper, path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    sftp.stat(path, (error, stats) => {
      if (!error) resolve(stats.isDirectory());
      else if (sftpCode(error) === SFTP_NO_SUCH_FILE) resolve(false);
      else reject(error);
    });
  });
}

function renameOver(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null) => (error ? reject(error) : resolve());
    try {
      sftp.ext_openssh_rename(from, to, done);
    } catch {
      // Plain SFTP rename refuses to replace a file.
      sftp.unlink(to, () => sftp.rename(from, to, done));
    }
  });
}

function sftpCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function isGone(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return message === 'No response from server' || message === 'Not connected';
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

function signalNumber(signal: string | undefined): number {
  const numbers = osConstants.signals as Record<string, number | undefined>;
  return (signal && numbers[signal]) || 0;
}
