import type { SshTransportSpec } from '../../config/specs';

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
