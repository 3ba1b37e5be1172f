import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalExecutor, TIMED_OUT } from '../../../src/transport/local/local-executor';
import { processAlive } from '../../support/host-fleet';

const HOST = { id: 'web-01', host: 'web-01', address: '127.0.1.1' };

describe('LocalExecutor', () => {
  const executor = new LocalExecutor();
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-exec-'));
  });
  afterAll(async () => {
    await executor.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs sh and captures stdout, stderr and a non-zero exit without rejecting', async () => {
    const result = await executor.exec(HOST, 'echo out; echo err >&2; exit 7');
    expect(result).toEqual({ code: 7, stdout: 'out\n', stderr: 'err\n' });
  });

  it('kills a script that runs past its timeout, children included', async () => {
    const started = Date.now();
    const pidFile = join(dir, 'child.pid');
    const result = await executor.exec(
      HOST,
      `sleep 30 & echo $! >${pidFile}; sleep 30; echo never`,
      {
        timeoutMs: 300,
      },
    );
    expect(Date.now() - started).toBeLessThan(5000);
    const child = Number(await readFile(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 50));
    expect(await processAlive(child)).toBe(false);
    expect(result.code).toBe(TIMED_OUT);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('timed out after 300 ms');
  });

  it('put copies a file and creates the parent directories', async () => {
    const source = join(dir, 'source.txt');
    await writeFile(source, 'payload');
    const target = join(dir, 'a/b/c/target.txt');
    await executor.put(HOST, source, target);
    expect(await readFile(target, 'utf8')).toBe('payload');
  });

  it('put refuses a relative remote path', async () => {
    await expect(executor.put(HOST, join(dir, 'source.txt'), 'relative.txt')).rejects.toThrow(
      /absolute/,
    );
  });
});
