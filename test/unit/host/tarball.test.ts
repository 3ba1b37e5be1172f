import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/model/errors';
import { sha256File } from '../../../src/host/file-hash';
import { buildPackage, listPackage } from '../../../src/package/tarball';
import { APP_DIR } from '../../support/host-fleet';

describe('buildPackage', () => {
  let out: string;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'rollgate-tarball-'));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('tars server.js and VERSION at the archive root, with its sha256', async () => {
    const pkg = await buildPackage({ appDir: APP_DIR, version: '1.2.3', outDir: out });
    expect(pkg.path).toBe(join(out, 'app-1.2.3.tar.gz'));
    expect(pkg.version).toBe('1.2.3');
    expect(await listPackage(pkg.path)).toEqual(['VERSION', 'server.js']);
    expect(pkg.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(pkg.sha256).toBe(
      execFileSync('sha256sum', [pkg.path], { encoding: 'utf8' }).split(' ')[0],
    );
    expect(await sha256File(pkg.path)).toBe(pkg.sha256);
  });

  it('adds BROKEN and start-delay-ms when asked', async () => {
    const pkg = await buildPackage({
      appDir: APP_DIR,
      version: '2-broken',
      outDir: out,
      broken: 'exit',
      startDelayMs: 10,
    });
    expect(await listPackage(pkg.path)).toEqual([
      'BROKEN',
      'VERSION',
      'server.js',
      'start-delay-ms',
    ]);
    const unpacked = join(out, 'unpacked');
    execFileSync('mkdir', ['-p', unpacked]);
    execFileSync('tar', ['-xzf', pkg.path, '-C', unpacked]);
    expect(await readFile(join(unpacked, 'BROKEN'), 'utf8')).toBe('exit\n');
    expect(await readFile(join(unpacked, 'VERSION'), 'utf8')).toBe('2-broken\n');
  });

  it('broken on some hosts only: BROKEN names their addresses', async () => {
    const pkg = await buildPackage({
      appDir: APP_DIR,
      version: '3-some',
      outDir: out,
      broken: { onHosts: ['127.0.1.21', '127.0.1.22'] },
    });
    const text = execFileSync('tar', ['-xzOf', pkg.path, 'BROKEN'], { encoding: 'utf8' });
    expect(text).toBe('hosts 127.0.1.21 127.0.1.22\n');
  });

  it('refuses an unsafe version', async () => {
    await expect(buildPackage({ appDir: APP_DIR, version: '../x', outDir: out })).rejects.toThrow(
      InputError,
    );
  });
});
