/**
 * Issue 17 over real sshd hosts behind a real HAProxy: each host fetches the package from its
 * site's store — two real HTTP stores on loopback (dc1, dc2), then a real docker-registry holding
 * the package as an OCI artifact — and rollgate sends no package byte to any host (no SFTP put).
 * A store that is down fails the download of its site's hosts only, with the reason.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openRuntime, resolvePackage } from '../../../src/app/runtime';
import type { RunResult } from '../../../src/engine/engine';
import { SshExecutor } from '../../../src/transport/ssh/ssh-executor';
import { parseOciSource } from '../../../src/config/package-store';
import { pushPackageArtifact } from '../../../src/registry/push';
import { RegistryError } from '../../../src/registry/client';
import { sha256File } from '../../../src/host/file-hash';
import { APP_DIR, startRealFleet, type RealFleet } from '../../support/real-fleet';
import { main } from '../../../src/cli/index';
import { startPackageStore, type PackageStoreServer } from '../../support/package-store-server';
import { startRegistry, type TestRegistry } from '../../support/registry-env';

const run = promisify(execFile);
const SECRET = 'Bearer fleet-store-token-51c0';
const NET = '127.0.30';
const REGISTRY = `${NET}.2:30500`;

let f: RealFleet;
let dc1: PackageStoreServer;
let dc2: PackageStoreServer;
let registry: TestRegistry;
const puts = vi.spyOn(SshExecutor.prototype, 'put');

/** The fleet's group file with a package section of our own and each target's site. */
async function storeGroup(name: string, file: string, pkg: string): Promise<string> {
  let text = await readFile(f.groupFile, 'utf8');
  text = text.replace(/^group: .*$/m, `group: ${name}`);
  text = text.replace('package:\n  source: ./packages/app-{version}.tar.gz', pkg);
  for (const [i, h] of f.hosts.entries()) {
    const site = i < 2 ? 'dc1' : 'dc2';
    text = text.replace(`docBase: ${h.docBase} }`, `docBase: ${h.docBase}, site: ${site} }`);
  }
  expect(text.match(/site: dc[12] }/g)).toHaveLength(4);
  const path = join(f.dir, file);
  await writeFile(path, text);
  return path;
}

async function release(groupFile: string, version: string) {
  const rt = await openRuntime({
    groupFile,
    env: process.env,
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    who: 'store-test',
  });
  try {
    const pkg = await resolvePackage(rt.loaded, version);
    const states = (r: RunResult) =>
      Object.values(r.deployment.targets).map((t) => ({
        id: t.id,
        state: t.state,
        error: t.error,
      }));
    const d = await rt.engine.deploy({ version, package: pkg });
    if (d.phase !== 'SMOKE_SUCCESS') return { phase: d.phase, targets: states(d), pkg };
    await rt.engine.bake();
    const r = await rt.engine.continue();
    return { phase: r.phase, targets: states(r), pkg };
  } finally {
    await rt.close();
  }
}

describe('hosts fetch from the store of their site (issue 17, real sshd + HAProxy)', () => {
  beforeAll(async () => {
    process.env.PKG_STORE_AUTH = SECRET;
    f = await startRealFleet({
      n: 4,
      first: 41,
      appPort: 30700,
      frontend: `${NET}.5:30600`,
      net: NET,
      sshPort: 30022,
    });
    await f.build('1.0.0', { startDelayMs: 100 });
    await f.build('2.0.0', { startDelayMs: 100 });
    await f.build('3.0.0', { startDelayMs: 100 });
    const opts = { dir: f.packages, authorization: SECRET };
    dc1 = await startPackageStore({ host: `${NET}.1`, port: 30081, ...opts });
    dc2 = await startPackageStore({ host: `${NET}.3`, port: 30082, ...opts });
    registry = await startRegistry(30500, join(f.dir, 'containers'), {
      host: `${NET}.2`,
      subdir: 'registry',
    });
  });

  afterAll(async () => {
    delete process.env.PKG_STORE_AUTH;
    await dc1?.close().catch(() => undefined);
    await dc2?.close().catch(() => undefined);
    await registry?.stop();
    await f?.stop();
  });

  it('each site fetches from its own HTTP store; rollgate reads one copy once and puts nothing', async () => {
    const group = await storeGroup(
      'fleet-http',
      'group-http.yml',
      [
        'package:',
        '  sources:',
        `    dc1: http://${NET}.1:30081/app-{version}.tar.gz`,
        `    dc2: http://${NET}.3:30082/app-{version}.tar.gz`,
        '  auth: env:PKG_STORE_AUTH',
      ].join('\n'),
    );
    puts.mockClear();
    const r = await release(group, '1.0.0');
    expect(r.phase, JSON.stringify(r.targets)).toBe('SUCCESS');
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('1.0.0');
    expect(puts).not.toHaveBeenCalled();
    const size = (await stat(join(f.packages, 'app-1.0.0.tar.gz'))).size;
    const hostsOf = (s: PackageStoreServer) => s.requests.filter((q) => q.agent === 'curl');
    // dc1 is the reference store: rollgate read it once (node), each dc1 host fetched once.
    expect(dc1.requests.filter((q) => q.agent === 'node')).toHaveLength(1);
    expect(dc2.requests.filter((q) => q.agent === 'node')).toHaveLength(0);
    expect(hostsOf(dc1)).toHaveLength(2);
    expect(hostsOf(dc2)).toHaveLength(2);
    expect([...dc1.requests, ...dc2.requests].every((q) => q.authorization === SECRET)).toBe(true);
    expect(dc1.bytesServed + dc2.bytesServed).toBe(5 * size);
    // The record keeps the URLs and the variable's name, never the credential.
    const { stdout: recorded } = await run('grep', [
      '-rl',
      'fleet-store-token',
      join(f.dir, 'state'),
    ]).catch((e: { stdout: string }) => e);
    expect(recorded).toBe('');
    expect(
      JSON.stringify(await readFile(join(f.dir, 'state', 'fleet-http', 'state.json'), 'utf8')),
    ).toContain('PKG_STORE_AUTH');
    expect(r.pkg.store?.urls).toEqual({
      dc1: `http://${NET}.1:30081/app-1.0.0.tar.gz`,
      dc2: `http://${NET}.3:30082/app-1.0.0.tar.gz`,
    });
  });

  it("a store that is down fails its site's downloads only, with the reason; nothing installed there", async () => {
    const group = join(f.dir, 'group-http.yml');
    await dc2.close();
    const r = await release(group, '2.0.0');
    const failed = r.targets.filter((t) => t.state.endsWith('_FAILURE'));
    expect(failed.length, JSON.stringify(r.targets)).toBeGreaterThan(0);
    for (const t of failed) {
      expect(['web-03', 'web-04']).toContain(t.id);
      expect(t.state).toBe('DOWNLOAD_FAILURE');
      expect(t.error).toMatch(
        new RegExp(
          `cannot reach the store at http://${NET.replaceAll('.', '\\.')}\\.3:30082/app-2\\.0\\.0\\.tar\\.gz: .*(refused|Failed to connect)`,
          'i',
        ),
      );
    }
    for (const t of r.targets.filter((x) => x.id === 'web-01' || x.id === 'web-02')) {
      expect(t.state.endsWith('_FAILURE'), JSON.stringify(t)).toBe(false);
    }
    for (const h of f.hosts.slice(2)) {
      expect(await f.current(h.id)).toBe('1.0.0');
      const releases = await readdir(join(h.docBase, 'releases'));
      expect(releases).not.toContain('2.0.0');
    }
  });

  it('an OCI artifact pushed once is fetched by every host from the registry by digest', async () => {
    const tarball = join(f.packages, 'app-3.0.0.tar.gz');
    const target = parseOciSource(`oci+http://${REGISTRY}/acme/app-pkg:3.0.0`);
    const pushed = await pushPackageArtifact({ target, file: tarball, version: '3.0.0' });
    expect(pushed.uploaded).toBe(true);
    // Once per release: pushing the same package again uploads nothing…
    const again = await pushPackageArtifact({ target, file: tarball, version: '3.0.0' });
    expect(again.uploaded).toBe(false);
    // …and another package under the same tag is refused (F6).
    const other = pushPackageArtifact({
      target,
      file: join(f.packages, 'app-2.0.0.tar.gz'),
      version: '3.0.0',
    });
    await expect(other).rejects.toThrow(RegistryError);
    await expect(other).rejects.toThrow(/never replaced/);

    const group = await storeGroup(
      'fleet-oci',
      'group-oci.yml',
      ['package:', `  source: oci+http://${REGISTRY}/acme/app-pkg:{version}`].join('\n'),
    );
    puts.mockClear();
    const r = await release(group, '3.0.0');
    expect(r.phase, JSON.stringify(r.targets)).toBe('SUCCESS');
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('3.0.0');
    expect(puts).not.toHaveBeenCalled();
    expect(r.pkg.sha256).toBe(await sha256File(tarball));
    expect(`sha256:${r.pkg.sha256}`).toBe(pushed.layer);
    expect(r.pkg.store?.urls.dc1).toBe(`http://${REGISTRY}/v2/acme/app-pkg/blobs/${pushed.layer}`);
    for (const h of f.hosts) {
      const marker = await readFile(join(h.docBase, 'releases/3.0.0/.rollgate-complete'), 'utf8');
      expect(marker.trim()).toBe(r.pkg.sha256);
    }
  });

  it('rollgate pack --push builds the tarball and puts it in the registry as a one-layer artifact', async () => {
    const out = join(f.dir, 'pack-out', 'app-9.9.9.tar.gz');
    const logs: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void logs.push(line));
    try {
      const code = await main(
        [
          'pack',
          APP_DIR,
          '--version',
          '9.9.9',
          '-o',
          out,
          '--json',
          '--push',
          `oci+http://${REGISTRY}/acme/app-pkg-cli:{version}`,
        ],
        {},
      );
      expect(code).toBe(0);
    } finally {
      log.mockRestore();
    }
    const result = JSON.parse(logs.join('\n')) as {
      sha256: string;
      pushed: { layer: string; reference: string; uploaded: boolean };
    };
    expect(result.pushed.reference).toBe(`oci://${REGISTRY}/acme/app-pkg-cli:9.9.9`);
    expect(result.pushed.layer).toBe(`sha256:${result.sha256}`);
    const manifest = await registry.client().manifest('acme/app-pkg-cli', '9.9.9');
    expect(manifest.manifest.layers.map((l) => [l.digest, l.mediaType])).toEqual([
      [`sha256:${result.sha256}`, 'application/vnd.rollgate.package.v1.tar+gzip'],
    ]);
  });
});
