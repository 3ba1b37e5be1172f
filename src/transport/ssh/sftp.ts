import { posix } from 'node:path';
import type { SFTPWrapper } from 'ssh2';
import { RollgateError, StepError } from '../../model/errors';
import { openChannel } from './channel';
import { ChannelNotOpenedError, isGone, unreachable, type Connection } from './connection';
import type { SshExecutorStats } from './options';

const SFTP_NO_SUCH_FILE = 2;

export interface PutSettings {
  /** Bytes per SFTP write. */
  chunkSize: number;
  /** SFTP writes in flight. */
  concurrency: number;
  /** End the SFTP session after the copy (a host allowed one channel needs it back for exec). */
  endAfter: boolean;
}

/**
 * Copies a local file to remotePath over the connection's SFTP session: written to `partial`
 * beside it (missing directories made), then renamed over it.
 */
export async function putFile(
  connection: Connection,
  stats: SshExecutorStats,
  file: { localPath: string; remotePath: string; partial: string; mode: number },
  settings: PutSettings,
  signal?: AbortSignal,
): Promise<void> {
  const { localPath, remotePath, partial, mode } = file;
  const sftp = await sftpOf(connection, stats);
  // A hard stop ends the SFTP session: the transfer stops, the partial file stays a partial.
  const onAbort = () => endSftp(connection);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      await fastPut(sftp, localPath, partial, mode, settings);
    } catch (error) {
      if (sftpCode(error) !== SFTP_NO_SUCH_FILE || connection.closed) throw error;
      await sftpMkdirs(sftp, posix.dirname(remotePath));
      await fastPut(sftp, localPath, partial, mode, settings);
    }
    await renameOver(sftp, partial, remotePath);
  } catch (error) {
    if (!connection.closed && !signal?.aborted) sftp.unlink(partial, () => undefined);
    throw sftpFailure(connection, `put ${remotePath}`, error);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (settings.endAfter) endSftp(connection);
  }
}

/** The connection's one SFTP session, opened on first use. */
function sftpOf(connection: Connection, stats: SshExecutorStats): Promise<SFTPWrapper> {
  connection.sftp ??= openChannel<SFTPWrapper>(connection, stats, (callback) =>
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

function endSftp(connection: Connection): void {
  const pending = connection.sftp;
  connection.sftp = undefined;
  void pending?.then((sftp) => sftp.end()).catch(() => undefined);
}

function fastPut(
  sftp: SFTPWrapper,
  local: string,
  remote: string,
  mode: number,
  settings: PutSettings,
): Promise<void> {
  return new Promise((resolve, reject) => {
    sftp.fastPut(
      local,
      remote,
      { mode, chunkSize: settings.chunkSize, concurrency: settings.concurrency },
      (error) => (error ? reject(error) : resolve()),
    );
  });
}

function sftpFailure(connection: Connection, what: string, error: unknown): Error {
  if (error instanceof RollgateError || error instanceof ChannelNotOpenedError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (connection.closed || isGone(error)) {
    return unreachable(connection.endpoint, `connection lost during ${what}: ${message}`, error);
  }
  return new StepError(`${what} on ${connection.endpoint.ref.host}: ${message}`, {
    cause: error,
  });
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
