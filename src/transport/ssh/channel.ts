import { constants as osConstants } from 'node:os';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { abortReason } from '../../model/abort';
import type { ExecResult } from '../../host/executor';
import { shq } from '../../host/quote';
import { ChannelNotOpenedError, isGone, unreachable, type Connection } from './connection';
import type { SshExecutorStats } from './options';
import { ExecTimeoutError } from './errors';

/**
 * Opens a session channel under the per-connection limit. The permit is held until the
 * channel closes. A refusal by the server (sshd counts a closing session a little longer
 * than we do) is retried a few times; the command had not started.
 */
export async function openChannel<T extends ClientChannel | SFTPWrapper>(
  connection: Connection,
  stats: SshExecutorStats,
  open: (callback: (error: Error | undefined, channel: T) => void) => void,
): Promise<{ channel: T; release: () => void }> {
  const policy = retry(
    handleWhen((error) => error instanceof ChannelNotOpenedError && !error.connectionGone),
    { maxAttempts: 4, backoff: new ExponentialBackoff({ initialDelay: 20, maxDelay: 250 }) },
  );
  policy.onRetry(() => stats.channelRetries++);
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
            if (error) reject(new ChannelNotOpenedError(connection.closed || isGone(error), error));
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

/** Runs a shell script on a channel of its own; kills it at the timeout or on abort. */
export async function runScript(
  connection: Connection,
  stats: SshExecutorStats,
  script: string,
  limits: { timeoutMs: number; maxOutputBytes: number },
  signal?: AbortSignal,
  input?: string,
): Promise<ExecResult> {
  if (signal?.aborted) throw abortReason(signal);
  const { timeoutMs, maxOutputBytes } = limits;
  const { channel } = await openChannel<ClientChannel>(connection, stats, (callback) =>
    // stdin from /dev/null on the host (as LocalExecutor): our side of the channel stays
    // writable, which ssh2 requires to send the timeout's signal. An input line is written
    // without ending the channel, for the same reason: the script reads one line.
    connection.client.exec(
      input === undefined ? `sh -c ${shq(script)} </dev/null` : `sh -c ${shq(script)}`,
      callback,
    ),
  );
  if (input !== undefined) channel.write(`${input}\n`);
  const ref = connection.endpoint.ref;
  return new Promise<ExecResult>((resolve, reject) => {
    const stdout = new Collector(maxOutputBytes);
    const stderr = new Collector(maxOutputBytes);
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
          unreachable(
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

/** Keeps the first `limit` bytes of a stream. */
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

function signalNumber(signal: string | undefined): number {
  const numbers = osConstants.signals as Record<string, number | undefined>;
  return (signal && numbers[signal]) || 0;
}
