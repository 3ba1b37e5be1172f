/**
 * Issue 13 item 4: over SSH, stdout carries only what the command is for. `status --json` is
 * exactly one JSON document (no `ssh: connected …` lines before it), text `status` prints no
 * connection lines, and `--verbose` shows them on stderr. Real sshd hosts behind HAProxy.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';
import { releaseOnFleet } from '../../support/fleet-invariant';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, ROLLGATE_WHO: 'output-test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('CLI output over SSH: stdout is the data, diagnostics go to stderr', () => {
  let f: RealFleet;

  beforeAll(async () => {
    f = await startRealFleet({
      n: 2,
      first: 196,
      appPort: 19051,
      frontend: '127.0.7.130:19050',
      deployment: '  maxUnavailable: 50%\n  startTimeout: 2s\n  verifyInterval: 50ms',
    });
    await f.build('1.0.0', { startDelayMs: 50 });
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase).toBe('SUCCESS');
  });

  afterAll(async () => f?.stop());

  it('status --json is exactly one JSON document', async () => {
    const r = await cli(['status', '-g', f.groupFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { targets: { id: string; running: string }[] };
    expect(doc.targets.map((t) => [t.id, t.running])).toEqual([
      ['web-01', '1.0.0'],
      ['web-02', '1.0.0'],
    ]);
    expect(r.stdout + r.stderr).not.toContain('ssh: connected');
  });

  it('text status prints no connection lines; --verbose shows them on stderr only', async () => {
    const quiet = await cli(['status', '-g', f.groupFile]);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toMatch(/^web-01 /m);
    expect(quiet.stdout + quiet.stderr).not.toContain('ssh: connected');

    const verbose = await cli(['status', '-g', f.groupFile, '--verbose']);
    expect(verbose.code, verbose.stderr).toBe(0);
    expect(verbose.stdout).not.toContain('ssh: connected');
    expect(verbose.stderr.match(/ssh: connected to web-0\d /g)).toHaveLength(2);
  });

  it('a release prints its log on stdout, failures included', async () => {
    await f.build('2.0.0', { startDelayMs: 50, broken: true });
    const r = await cli(['deploy', '-g', f.groupFile, '--version', '2.0.0']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/web-01\s+VERIFY_FAILURE/);
    expect(r.stdout).not.toContain('ssh: connected');
  });
});
