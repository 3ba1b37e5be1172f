/** Runs shell on a host: this machine (local transport) or over SSH. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs?: number;
}

export interface HostRef {
  /** Target id, for messages. */
  id: string;
  host: string;
  address: string;
}

export interface Executor {
  /** Runs a POSIX `sh` script on the host. Resolves with the exit code; rejects only when the host cannot be reached. */
  exec(host: HostRef, script: string, options?: ExecOptions): Promise<ExecResult>;
  /** Copies a local file to an absolute path on the host. */
  put(host: HostRef, localPath: string, remotePath: string): Promise<void>;
  close(): Promise<void>;
}
