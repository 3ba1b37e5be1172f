/** Executors that wrap a real one to count calls or to break transfers on purpose. */
import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ExecOptions, ExecResult, Executor, HostRef } from '../../src/host/executor';

export class CountingExecutor implements Executor {
  execs = 0;
  puts = 0;
  /** Bytes of scripts and stdin lines sent to hosts (package bytes go by put). */
  sentBytes = 0;
  /** Every script and stdin line sent, to check what reached a command line. */
  readonly scripts: string[] = [];
  readonly inputs: string[] = [];
  constructor(private readonly inner: Executor) {}

  exec(host: HostRef, script: string, options?: ExecOptions): Promise<ExecResult> {
    this.execs++;
    this.sentBytes += Buffer.byteLength(script) + Buffer.byteLength(options?.input ?? '');
    this.scripts.push(script);
    if (options?.input !== undefined) this.inputs.push(options.input);
    return this.inner.exec(host, script, options);
  }

  put(host: HostRef, localPath: string, remotePath: string): Promise<void> {
    this.puts++;
    return this.inner.put(host, localPath, remotePath);
  }

  reset(): void {
    this.execs = 0;
    this.puts = 0;
    this.sentBytes = 0;
    this.scripts.length = 0;
    this.inputs.length = 0;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Copies only the first half of each file, as a dropped connection would. */
export class TruncatingExecutor extends CountingExecutor {
  override async put(_host: HostRef, localPath: string, remotePath: string): Promise<void> {
    this.puts++;
    const { size } = await stat(localPath);
    const half = Buffer.alloc(Math.floor(size / 2));
    const source = await open(localPath, 'r');
    await source.read(half, 0, half.length, 0);
    await source.close();
    await mkdir(dirname(remotePath), { recursive: true });
    const target = await open(remotePath, 'w');
    await target.write(half);
    await target.close();
  }
}

/** Every transfer fails as on a full disk. */
export class DiskFullExecutor extends CountingExecutor {
  override async put(): Promise<void> {
    this.puts++;
    throw Object.assign(new Error('ENOSPC: no space left on device, copyfile'), { code: 'ENOSPC' });
  }
}
