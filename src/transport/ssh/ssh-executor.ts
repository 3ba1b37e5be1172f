import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { abortReason } from '../../model/abort';
import type { ExecOptions, ExecResult, Executor, HostRef } from '../../host/executor';
import { InputError } from '../../model/errors';
import { runScript } from './channel';
import { ChannelNotOpenedError, unreachable, type Connection } from './connection';
import { checkCredentials } from './credentials';
import type { SshExecutorOptions, SshExecutorStats } from './options';
import { ConnectionPool } from './pool';
import { putFile } from './sftp';

export type { SshExecutorOptions, SshExecutorStats, SshLogger } from './options';

/** Runs commands and copies files over SSH: one kept connection per host. */
export class SshExecutor implements Executor {
  readonly stats: SshExecutorStats = {
    connects: 0,
    connectRetries: 0,
    reconnects: 0,
    channelRetries: 0,
  };

  private readonly options: SshExecutorOptions;
  private readonly pool: ConnectionPool;

  constructor(options: SshExecutorOptions) {
    this.options = options;
    for (const field of ['maxChannelsPerHost', 'maxConnecting', 'connectTimeoutMs'] as const) {
      const value = options[field];
      if (!Number.isInteger(value) || value < 1) {
        throw new InputError(`transport.${field}`, `must be a positive integer, got ${value}`);
      }
    }
    checkCredentials(options, options.env ?? {});
    this.pool = new ConnectionPool(options, this.stats);
  }

  async exec(host: HostRef, script: string, options: ExecOptions = {}): Promise<ExecResult> {
    const limits = {
      timeoutMs: options.timeoutMs ?? this.options.timeoutMs ?? 60_000,
      maxOutputBytes: this.options.maxOutputBytes ?? 1 << 20,
    };
    const { signal } = options;
    // A connect under way is not cut (it ends on its own timeout); the caller is let go at once.
    return raceAbort(
      this.onHost(host, (connection) =>
        runScript(connection, this.stats, script, limits, signal, options.input),
      ),
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
    const settings = {
      chunkSize: this.options.sftpChunkSize ?? 64 * 1024,
      concurrency: this.options.sftpConcurrency ?? 16,
      endAfter: this.options.maxChannelsPerHost < 2,
    };
    const copy = this.onHost(host, (connection) =>
      putFile(connection, this.stats, { localPath, remotePath, partial, mode }, settings, signal),
    );
    await raceAbort(copy, signal);
  }

  async connect(host: HostRef, options: { signal?: AbortSignal } = {}): Promise<void> {
    await raceAbort(this.pool.connection(this.pool.endpointOf(host)), options.signal);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** Runs fn on the host's connection; reconnects once if it turns out to have dropped. */
  private async onHost<T>(ref: HostRef, fn: (connection: Connection) => Promise<T>): Promise<T> {
    const endpoint = this.pool.endpointOf(ref);
    const connection = await this.pool.connection(endpoint);
    try {
      return await fn(connection);
    } catch (error) {
      if (!(error instanceof ChannelNotOpenedError)) throw error;
      if (!error.connectionGone) throw unreachable(endpoint, error.message, error);
      this.pool.drop(connection);
      this.stats.reconnects++;
      this.options.logger.info(
        `ssh: connection to ${ref.host} dropped (${error.message}); reconnecting`,
      );
      const again = await this.pool.connection(endpoint);
      try {
        return await fn(again);
      } catch (retryError) {
        if (retryError instanceof ChannelNotOpenedError) {
          throw unreachable(endpoint, retryError.message, retryError);
        }
        throw retryError;
      }
    }
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
