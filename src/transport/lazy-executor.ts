import type { ExecOptions, ExecResult, Executor, HostRef } from '../host/executor';

/**
 * Builds the real executor on first use. A step that reaches no host (stop, a status page
 * without hosts) then needs neither key nor agent; one that does gets the same configuration
 * error as before, at its first host — or earlier, from `ready()`.
 */
export class LazyExecutor implements Executor {
  private inner: Executor | undefined;

  constructor(private readonly build: () => Executor) {}

  /** The executor, built now: its configuration errors (no key, no agent) surface here. */
  ready(): Executor {
    this.inner ??= this.build();
    return this.inner;
  }

  get built(): boolean {
    return this.inner !== undefined;
  }

  async exec(host: HostRef, script: string, options?: ExecOptions): Promise<ExecResult> {
    return this.ready().exec(host, script, options);
  }

  async put(host: HostRef, localPath: string, remotePath: string): Promise<void> {
    return this.ready().put(host, localPath, remotePath);
  }

  async connect(host: HostRef, options?: { signal?: AbortSignal }): Promise<void> {
    await this.ready().connect?.(host, options);
  }

  async close(): Promise<void> {
    await this.inner?.close();
  }
}
