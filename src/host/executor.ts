/** Runs shell on a host: this machine (local transport) or over SSH. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs?: number;
  /** A hard stop: the command is killed (its process group, or the SSH channel) and exec rejects. */
  signal?: AbortSignal;
  /**
   * One line the script reads from its stdin (`read -r`), for a secret that must stay off every
   * command line. Without it stdin is /dev/null.
   */
  input?: string;
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
  /** Copies a local file to an absolute path on the host; an aborted signal ends the copy. */
  put(
    host: HostRef,
    localPath: string,
    remotePath: string,
    options?: { signal?: AbortSignal },
  ): Promise<void>;
  /**
   * Opens what later calls to the host use (an SSH connection), running nothing on it. Lets
   * connects overlap other work; an executor with nothing to open leaves it out.
   */
  connect?(host: HostRef, options?: { signal?: AbortSignal }): Promise<void>;
  close(): Promise<void>;
}
