import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildInputs, dependencyCacheKey } from '../../../src/actions/lib/build-step';
import { scanInputs } from '../../../src/actions/lib/scan-step';
import { inputEnvName } from '../../support/actions-runner';

const set: string[] = [];
function inputs(values: Record<string, string>): void {
  for (const [k, v] of Object.entries(values)) {
    process.env[inputEnvName(k)] = v;
    set.push(inputEnvName(k));
  }
}

afterEach(() => {
  for (const k of set.splice(0)) delete process.env[k];
});

describe('build-image inputs', () => {
  it('reads the inputs into build settings; empty ones stay unset', () => {
    inputs({
      image: 'r.io/acme/app',
      tags: '1.0, stable',
      context: 'app',
      kind: 'static',
      binary: 'bin/app',
      'base-image': 'r.io/base@sha256:' + 'a'.repeat(64),
      'platform-options': 'tz-shanghai ca-certificates',
      builder: 'auto',
      cache: 'true',
      'cache-dir': '/c',
      push: 'true',
      'tls-verify': 'false',
      entry: '',
    });
    expect(buildInputs({})).toEqual({
      image: 'r.io/acme/app',
      tags: ['1.0', 'stable'],
      context: 'app',
      kind: 'static',
      binary: 'bin/app',
      baseImage: 'r.io/base@sha256:' + 'a'.repeat(64),
      platformOptions: ['tz-shanghai', 'ca-certificates'],
      cacheDir: '/c',
      push: true,
      tlsVerify: false,
    });
  });

  it('cache false: no cache dir; a registry user needs the password; errors name the input', () => {
    inputs({ image: 'r.io/a/b', cache: 'false', push: 'false', 'registry-username': 'bot' });
    expect(() => buildInputs({})).toThrow(/^input registry-password: is required/);
    inputs({ 'registry-password': 'pw' });
    expect(buildInputs({})).toMatchObject({
      cacheDir: null,
      push: false,
      registryAuth: { username: 'bot', password: 'pw' },
    });
    inputs({ 'tls-verify': 'maybe' });
    expect(() => buildInputs({})).toThrow(/^input tls-verify: "maybe" is not true or false/);
  });
});

describe('clair-scan inputs', () => {
  it('reads the inputs; the PSK is checked; errors name the input', () => {
    const key = Buffer.from('k'.repeat(32)).toString('base64');
    inputs({
      image: 'r.io/a/b@sha256:' + 'b'.repeat(64),
      'clair-url': 'http://clair:6060',
      psk: key,
      'psk-issuer': 'rollgate',
      severity: 'Critical',
      compliance: 'true',
      'allowed-bases': 'r.io/base/*, r.io/other/**',
      'tls-verify': 'true',
    });
    expect(scanInputs()).toEqual({
      image: 'r.io/a/b@sha256:' + 'b'.repeat(64),
      clairUrl: 'http://clair:6060',
      psk: { key, issuer: 'rollgate' },
      severity: 'Critical',
      compliance: true,
      allowedBases: ['r.io/base/*', 'r.io/other/**'],
      tlsVerify: true,
    });
    inputs({ psk: 'not base64!' });
    expect(() => scanInputs()).toThrow(/^input psk: Clair's PSK is not base64/);
    // No clair-url: a compliance-only scan (issue 13 item 13).
    inputs({ image: 'r.io/a/b:1', 'clair-url': '', psk: '' });
    expect(scanInputs().clairUrl).toBeUndefined();
  });
});

describe('the dependency cache key', () => {
  it('kind + OS + the lockfiles’ hash; restore falls back to the newest of the kind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rollgate-key-'));
    try {
      const none = await dependencyCacheKey(dir, 'node', 'Linux');
      expect(none).toEqual({
        primary: 'rollgate-build-node-linux-no-lockfile',
        restore: ['rollgate-build-node-linux-'],
      });
      await writeFile(join(dir, 'package-lock.json'), '{"lockfileVersion":3}');
      const one = await dependencyCacheKey(dir, 'node', 'Linux');
      expect(one.primary).toMatch(/^rollgate-build-node-linux-[0-9a-f]{32}$/);
      await writeFile(join(dir, 'package-lock.json'), '{"lockfileVersion":3,"x":1}');
      expect((await dependencyCacheKey(dir, 'node', 'Linux')).primary).not.toBe(one.primary);
      expect((await dependencyCacheKey(dir, 'static', 'Linux')).primary).toMatch(
        /^rollgate-build-static-linux-/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
