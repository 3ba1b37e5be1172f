/**
 * Issue 17, the host side with the local transport: each host fetches the package itself from a
 * real HTTP store on loopback (curl, else wget), its sha256 checked before anything is unpacked;
 * the credential goes on stdin, never on a command line or the record, and its file is gone
 * once the fetch ends.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShellHost } from '../../../src/host/shell-host';
import { StepError } from '../../../src/model/errors';
import type { PackageRef } from '../../../src/model/types';
import type { BuiltPackage } from '../../../src/package/tarball';
import { LocalExecutor } from '../../../src/transport/local/local-executor';
import { fetchScript, NO_FETCHER } from '../../../src/host/store-fetch';
import { CountingExecutor } from '../../support/host-executors';
import { makeHostFleet, type HostFleet } from '../../support/host-fleet';
import { startPackageStore, type PackageStoreServer } from '../../support/package-store-server';

const run = promisify(execFile);
const SECRET = 'Bearer pkg-store-token-7f3a91';
const HOSTS = [
  { id: 'web-01', address: '127.0.30.21', port: 30121 },
  { id: 'web-02', address: '127.0.30.22', port: 30122 },
  { id: 'web-03', address: '127.0.30.23', port: 30123 },
];

let fleet: HostFleet;
let store: PackageStoreServer;
let counting: CountingExecutor;
let host: ShellHost;
const pkgs: Record<string, BuiltPackage> = {};

function storeRef(pkg: BuiltPackage, url: string, sha256 = pkg.sha256): PackageRef {
  return {
    version: pkg.version,
    sha256,
    store: { kind: 'http', urls: { default: url }, authEnv: 'PKG_AUTH', checksumFrom: 'test' },
  };
}

async function stepError(p: Promise<unknown>): Promise<string> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  return (error as StepError).message;
}

async function releases(id: string): Promise<string[]> {
  return readdir(join(fleet.target(id).docBase, 'releases')).catch(() => []);
}

async function incoming(id: string): Promise<string[]> {
  return readdir(join(fleet.target(id).docBase, '.rollgate/incoming')).catch(() => []);
}

describe('hosts fetch the package from an HTTP store (issue 17)', () => {
  beforeAll(async () => {
    fleet = await makeHostFleet(HOSTS);
    pkgs.v1 = await fleet.build('1.0.0');
    pkgs.v2 = await fleet.build('2.0.0');
    store = await startPackageStore({
      host: '127.0.30.1',
      port: 30080,
      dir: join(fleet.root, 'packages'),
      authorization: SECRET,
    });
    counting = new CountingExecutor(new LocalExecutor());
    host = new ShellHost({ executor: counting, group: fleet.group, env: { PKG_AUTH: SECRET } });
  });

  afterAll(async () => {
    await host?.close();
    await store?.close();
    await fleet?.cleanup();
  });

  const url = (pkg: BuiltPackage) => `${store.url}/${pkg.path.split('/').pop()}`;

  it('installs from the store: no package byte sent by rollgate, the credential only on stdin', async () => {
    counting.reset();
    const gate = store.hold();
    const download = host.download(fleet.target('web-01'), storeRef(pkgs.v1!, url(pkgs.v1!)));
    download.catch(() => gate.release());
    await Promise.race([gate.arrived, download]);
    // While the host's fetch runs: no process shows the credential, and its file is 0600.
    const cmdlines = await run('sh', ['-c', 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " "']);
    expect(cmdlines.stdout).toContain(url(pkgs.v1!));
    expect(cmdlines.stdout).not.toContain('pkg-store-token');
    const auth = (await incoming('web-01')).filter((f) => f.startsWith('.auth.'));
    expect(auth).toHaveLength(1);
    const mode = await run('stat', [
      '-c',
      '%a',
      join(fleet.target('web-01').docBase, '.rollgate/incoming', auth[0]!),
    ]);
    expect(mode.stdout.trim()).toBe('600');
    gate.release();
    expect(await download).toEqual({ skipped: false });

    expect(await releases('web-01')).toEqual(['1.0.0']);
    expect(
      (
        await readFile(
          join(fleet.target('web-01').docBase, 'releases/1.0.0/.rollgate-complete'),
          'utf8',
        )
      ).trim(),
    ).toBe(pkgs.v1!.sha256);
    expect(counting.puts).toBe(0);
    expect(counting.sentBytes).toBeLessThan(20_000);
    expect(store.bytesServed).toBe((await stat(pkgs.v1!.path)).size);
    expect(store.requests.at(-1)).toEqual({
      agent: 'curl',
      path: `/${url(pkgs.v1!).split('/').pop()}`,
      authorization: SECRET,
      status: 200,
    });
    expect(counting.inputs).toEqual([SECRET]);
    expect(counting.scripts.some((s) => s.includes('pkg-store-token'))).toBe(false);
    expect(await incoming('web-01')).toEqual([]);
  });

  it('a second download of the same release is skipped without fetching', async () => {
    const before = store.requests.length;
    expect(await host.download(fleet.target('web-01'), storeRef(pkgs.v1!, url(pkgs.v1!)))).toEqual({
      skipped: true,
    });
    expect(store.requests.length).toBe(before);
  });

  it('a wrong checksum fails the download with both digests, nothing installed', async () => {
    const wrong = 'ab'.repeat(32);
    const msg = await stepError(
      host.download(fleet.target('web-02'), storeRef(pkgs.v2!, url(pkgs.v2!), wrong)),
    );
    expect(msg).toContain(`download on web-02: the package fetched from ${url(pkgs.v2!)}`);
    expect(msg).toContain(pkgs.v2!.sha256);
    expect(msg).toContain(wrong);
    expect(msg).toContain('nothing installed');
    expect(await releases('web-02')).toEqual([]);
    expect(await incoming('web-02')).toEqual([]);
  });

  it('a store that answers 404 fails that host with the status', async () => {
    const msg = await stepError(
      host.download(fleet.target('web-02'), storeRef(pkgs.v2!, `${store.url}/nope-2.0.0.tgz`)),
    );
    expect(msg).toContain(`the store answered HTTP 404 for ${store.url}/nope-2.0.0.tgz`);
    expect(await releases('web-02')).toEqual([]);
  });

  it('a wrong credential is a 401, said as such', async () => {
    const other = new ShellHost({
      executor: new LocalExecutor(),
      group: fleet.group,
      env: { PKG_AUTH: 'Bearer wrong' },
    });
    const msg = await stepError(
      other.download(fleet.target('web-02'), storeRef(pkgs.v2!, url(pkgs.v2!))),
    );
    expect(msg).toContain('HTTP 401');
    await other.close();
  });

  it('a store that is down fails the download with the connection error', async () => {
    const msg = await stepError(
      host.download(
        fleet.target('web-03'),
        storeRef(pkgs.v2!, 'http://127.0.30.1:30081/web-2.0.0.tgz'),
      ),
    );
    expect(msg).toMatch(
      /cannot reach the store at http:\/\/127\.0\.30\.1:30081\/web-2\.0\.0\.tgz: .*(refused|Failed to connect)/i,
    );
    expect(await releases('web-03')).toEqual([]);
    expect(await incoming('web-03')).toEqual([]);
  });

  describe('the fetcher a host has', () => {
    /** A PATH with only the tools named (plus sh's basics), so curl or wget can be left out. */
    async function pathWith(name: string, tools: string[]): Promise<string> {
      const dir = join(fleet.root, `bin-${name}`);
      await mkdir(dir, { recursive: true });
      const basics = ['sh', 'mkdir', 'mktemp', 'rm', 'tail', 'sed', 'grep', 'cat'];
      for (const tool of [...basics, ...tools]) {
        const { stdout } = await run('sh', ['-c', `command -v ${tool}`]);
        await symlink(stdout.trim(), join(dir, tool));
      }
      return dir;
    }
    const runFetch = async (path: string, target: string, file: string, input?: string) => {
      const script = fetchScript({
        url: `${store.url}/${file}`,
        incoming: target,
        auth: input !== undefined,
        timeoutS: 30,
      });
      return new Promise<{ code: number; stderr: string }>((resolve) => {
        const child = execFile('sh', ['-c', script], { env: { PATH: path } }, (error, _o, stderr) =>
          resolve({ code: error ? Number(error.code) : 0, stderr }),
        );
        child.stdin?.end(input === undefined ? '' : `${input}\n`);
      });
    };

    it('wget when there is no curl (credential through --config)', async () => {
      const path = await pathWith('wget', ['wget']);
      const target = join(fleet.root, 'wget-in', 'pkg.tgz');
      const file = pkgs.v2!.path.split('/').pop()!;
      const r = await runFetch(path, target, file, SECRET);
      expect(r).toEqual({ code: 0, stderr: '' });
      const { stdout } = await run('sha256sum', [target]);
      expect(stdout.split(' ')[0]).toBe(pkgs.v2!.sha256);
      expect(store.requests.at(-1)?.authorization).toBe(SECRET);
      expect((await readdir(join(fleet.root, 'wget-in'))).sort()).toEqual(['pkg.tgz']);
    });

    it('wget: a 404 is said with its status', async () => {
      const path = await pathWith('wget404', ['wget']);
      const r = await runFetch(path, join(fleet.root, 'wget-404', 'p.tgz'), 'missing.tgz', SECRET);
      expect(r.code).toBe(21);
      expect(r.stderr).toContain('the store answered HTTP 404');
    });

    it('neither curl nor wget: refused, saying what to install', async () => {
      const path = await pathWith('none', []);
      const r = await runFetch(path, join(fleet.root, 'none-in', 'p.tgz'), 'x.tgz');
      expect(r.code).toBe(NO_FETCHER);
      expect(r.stderr).toContain('this host has neither curl nor wget');
      expect(r.stderr).toContain('install curl');
    });
  });
});
