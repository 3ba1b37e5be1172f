import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShellHost } from '../../../src/host/shell-host';
import { LockHeldError, StepError } from '../../../src/model/errors';
import type { Group, Target } from '../../../src/model/types';
import type { BuiltPackage } from '../../../src/package/tarball';
import { sha256File } from '../../../src/host/file-hash';
import { LocalExecutor } from '../../../src/transport/local/local-executor';
import {
  CountingExecutor,
  DiskFullExecutor,
  TruncatingExecutor,
} from '../../support/host-executors';
import {
  appPid,
  makeHostFleet,
  processAlive,
  waitFor,
  type HostFleet,
} from '../../support/host-fleet';

const HOSTS = [
  { id: 'web-01', address: '127.0.1.11', port: 18111 },
  { id: 'web-02', address: '127.0.1.12', port: 18112 },
  { id: 'web-03', address: '127.0.1.13', port: 18113 },
  { id: 'web-04', address: '127.0.1.14', port: 18114 },
];

let fleet: HostFleet;
let counting: CountingExecutor;
let host: ShellHost;
const pkgs: Record<string, BuiltPackage> = {};
const extraHosts: ShellHost[] = [];

function shellHost(
  group: Partial<Group> = {},
  executor = new CountingExecutor(new LocalExecutor()),
) {
  const made = new ShellHost({ executor, group: { ...fleet.group, ...group } });
  extraHosts.push(made);
  return made;
}

async function healthy(h: ShellHost, target: Target, version: string) {
  return waitFor(`${target.id} healthy on ${version}`, async () => {
    const result = await h.health(target);
    return result.ok && result.version === version ? result : undefined;
  });
}

/** Everything hidden or half-done a failed download could leave behind. */
async function leftovers(target: Target): Promise<string[]> {
  const list = async (dir: string) =>
    readdir(join(target.docBase, dir)).catch(() => [] as string[]);
  const releases = (await list('releases')).filter((name) => name.startsWith('.'));
  return [...releases, ...(await list('.rollgate/incoming'))];
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** Names and contents of every file in a release dir, to prove it was not touched. */
async function fingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(dir)).sort()) {
    const info = await lstat(join(dir, name));
    hash.update(`${name}:${info.mtimeMs}:`);
    if (info.isFile()) hash.update(await readFile(join(dir, name)));
  }
  return hash.digest('hex');
}

describe('ShellHost with LocalExecutor on a temp fleet', () => {
  beforeAll(async () => {
    fleet = await makeHostFleet(HOSTS);
    counting = new CountingExecutor(new LocalExecutor());
    host = new ShellHost({ executor: counting, group: fleet.group });
    pkgs.v1 = await fleet.build('1.0.0');
    pkgs.v2 = await fleet.build('2.0.0');
    pkgs.broken = await fleet.build('3.0.0-broken', { broken: true });
    pkgs.exits = await fleet.build('4.0.0-exits', { broken: 'exit' });
    pkgs.v5 = await fleet.build('5.0.0');
    pkgs.v6 = await fleet.build('6.0.0');
  });

  afterAll(async () => {
    await host?.close();
    for (const h of extraHosts) await h.close();
    await fleet?.cleanup();
  });

  const web = (n: number) => fleet.target(`web-0${n}`);

  describe('probe and download (S1 download, S6, F6)', () => {
    it('probe: a fresh host has no current and no releases', async () => {
      expect(await host.probe(web(1))).toEqual({ current: null, releases: [], lock: null });
    });

    it('S1 download: the package lands complete in releases/<version> with its checksum marker', async () => {
      expect(await host.download(web(1), pkgs.v1!)).toEqual({ skipped: false });
      const dir = join(web(1).docBase, 'releases/1.0.0');
      expect((await readdir(dir)).sort()).toEqual(['.rollgate-complete', 'VERSION', 'server.js']);
      expect((await readFile(join(dir, '.rollgate-complete'), 'utf8')).trim()).toBe(
        pkgs.v1!.sha256,
      );
      expect(await leftovers(web(1))).toEqual([]);
      expect(await host.probe(web(1))).toEqual({ current: null, releases: ['1.0.0'], lock: null });
    });

    it('F3 download: skipped when releases/<version> is complete with the same checksum', async () => {
      counting.reset();
      expect(await host.download(web(1), pkgs.v1!)).toEqual({ skipped: true });
      expect(counting.puts).toBe(0);
      expect(counting.execs).toBe(1);
    });

    it('download: computes the sha256 when the package reference has none', async () => {
      const { version, path } = pkgs.v1!;
      expect(await host.download(web(2), { version, path })).toEqual({ skipped: false });
      const marker = await readFile(
        join(web(2).docBase, 'releases/1.0.0/.rollgate-complete'),
        'utf8',
      );
      expect(marker.trim()).toBe(await sha256File(path));
    });

    it('S6 download: a package whose checksum does not match never lands in releases/', async () => {
      const wrong = { version: '9.0.0', path: pkgs.v1!.path, sha256: pkgs.v2!.sha256 };
      const error = await host.download(web(1), wrong).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StepError);
      expect((error as Error).message).toMatch(/web-01.*checksum mismatch/s);
      expect(await exists(join(web(1).docBase, 'releases/9.0.0'))).toBe(false);
      expect(await leftovers(web(1))).toEqual([]);
    });

    it('S6 download: a partial transfer fails and leaves nothing behind', async () => {
      const truncating = shellHost({}, new TruncatingExecutor(new LocalExecutor()));
      await expect(truncating.download(web(1), pkgs.v2!)).rejects.toThrow(/checksum mismatch/);
      expect(await exists(join(web(1).docBase, 'releases/2.0.0'))).toBe(false);
      expect(await leftovers(web(1))).toEqual([]);
    });

    it('download: a copy that fails (disk full) fails with the cause and leaves nothing behind', async () => {
      const full = shellHost({}, new DiskFullExecutor(new LocalExecutor()));
      await expect(full.download(web(1), pkgs.v2!)).rejects.toThrow(
        /download on web-01: copying .* failed: ENOSPC: no space left on device/,
      );
      expect(await exists(join(web(1).docBase, 'releases/2.0.0'))).toBe(false);
      expect(await leftovers(web(1))).toEqual([]);
    });

    it("download: an archive tar cannot unpack fails with tar's own message", async () => {
      const garbage = join(fleet.root, 'packages/garbage.tar.gz');
      await writeFile(garbage, 'this is not a gzip file\n');
      const pkg = { version: '8.0.0', path: garbage, sha256: await sha256File(garbage) };
      await expect(host.download(web(1), pkg)).rejects.toThrow(/not in gzip format/);
      expect(await exists(join(web(1).docBase, 'releases/8.0.0'))).toBe(false);
      expect(await leftovers(web(1))).toEqual([]);
    });

    it('F6 download: another package under an existing version is refused, the release untouched', async () => {
      const dir = join(web(1).docBase, 'releases/1.0.0');
      const before = await fingerprint(dir);
      const other = { version: '1.0.0', path: pkgs.v2!.path, sha256: pkgs.v2!.sha256 };
      await expect(host.download(web(1), other)).rejects.toThrow(/never replaced \(F6\)/);
      expect(await fingerprint(dir)).toBe(before);
    });
  });

  describe('install, verify-by-health, rollback (S1 install, S6, F3, F4)', () => {
    let firstPid: number;

    it('S1 install: v1 starts detached and answers health with its version', async () => {
      expect(await host.install(web(1), '1.0.0')).toEqual({ alreadyRunning: false });
      const health = await healthy(host, web(1), '1.0.0');
      expect(health).toEqual({ ok: true, version: '1.0.0', detail: 'HTTP 200' });
      expect(await readlink(join(web(1).docBase, 'current'))).toBe('releases/1.0.0');
      expect(await host.probe(web(1))).toEqual({
        current: '1.0.0',
        releases: ['1.0.0'],
        lock: null,
      });
      firstPid = (await appPid(web(1)))!;
      expect(await processAlive(firstPid)).toBe(true);
      // A plain start command is exec'd: the recorded pid is node itself, leading its own group.
      expect(await readlink(`/proc/${firstPid}/exe`)).toBe(process.execPath);
      const stat = await readFile(`/proc/${firstPid}/stat`, 'utf8');
      expect(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]).toBe(String(firstPid));
    });

    it('health: a full URL with {address} and {port} works too', async () => {
      const templated = shellHost({ healthCheckUrl: 'http://{address}:{port}/health' });
      expect(await templated.health(web(1))).toMatchObject({ ok: true, version: '1.0.0' });
    });

    it('F3 install: skipped when current is the version and the app is healthy', async () => {
      expect(await host.install(web(1), '1.0.0')).toEqual({ alreadyRunning: true });
      expect(await appPid(web(1))).toBe(firstPid);
      expect(await processAlive(firstPid)).toBe(true);
    });

    it('install given the probe the chain took under its lock asks the host nothing more', async () => {
      const probe = await host.probe(web(1));
      counting.reset();
      expect(await host.install(web(1), '1.0.0', undefined, { probe })).toEqual({
        alreadyRunning: true,
      });
      expect(counting.execs).toBe(0);
      expect(await appPid(web(1))).toBe(firstPid);
    });

    it('S6 install v2: current switches atomically and never goes missing', async () => {
      await host.download(web(1), pkgs.v2!);
      const link = join(web(1).docBase, 'current');
      const seen = new Set<string>();
      let installing = true;
      const watcher = (async () => {
        while (installing) {
          seen.add(await readlink(link).catch((e: NodeJS.ErrnoException) => `error ${e.code}`));
          await new Promise((r) => setImmediate(r));
        }
      })();
      try {
        expect(await host.install(web(1), '2.0.0')).toEqual({ alreadyRunning: false });
      } finally {
        installing = false;
        await watcher;
      }
      expect([...seen].sort()).toEqual(['releases/1.0.0', 'releases/2.0.0']);
      expect((await lstat(link)).isSymbolicLink()).toBe(true);
      await healthy(host, web(1), '2.0.0');
      expect(await processAlive(firstPid)).toBe(false);
    });

    it('F4 rollback: back to v1 with no download, fast', async () => {
      counting.reset();
      const started = Date.now();
      expect(await host.install(web(1), '1.0.0')).toEqual({ alreadyRunning: false });
      const installed = Date.now();
      await healthy(host, web(1), '1.0.0');
      const elapsed = { installMs: installed - started, untilHealthyMs: Date.now() - started };
      console.log(`F4 rollback on web-01: ${JSON.stringify(elapsed)}`);
      expect(counting.puts).toBe(0);
      expect(elapsed.untilHealthyMs).toBeLessThan(3000);
      expect(await host.probe(web(1))).toEqual({
        current: '1.0.0',
        releases: ['1.0.0', '2.0.0'],
        lock: null,
      });
    });

    it('S6: a broken version fails health while the previous release stays intact', async () => {
      const previous = join(web(1).docBase, 'releases/1.0.0');
      const before = await fingerprint(previous);
      await host.download(web(1), pkgs.broken!);
      expect(await host.install(web(1), '3.0.0-broken')).toEqual({ alreadyRunning: false });
      const health = await waitFor('the broken app to answer', async () => {
        const result = await host.health(web(1));
        return result.detail.startsWith('HTTP') ? result : undefined;
      });
      expect(health).toMatchObject({ ok: false, version: '3.0.0-broken' });
      expect(health.detail).toMatch(/^HTTP 500: /);
      expect(await fingerprint(previous)).toBe(before);
      expect((await host.probe(web(1))).releases).toContain('1.0.0');

      await host.install(web(1), '1.0.0');
      await healthy(host, web(1), '1.0.0');
    });

    it('a version that exits at start: health says connection refused', async () => {
      await host.download(web(1), pkgs.exits!);
      await host.install(web(1), '4.0.0-exits');
      await new Promise((r) => setTimeout(r, 300));
      expect(await host.health(web(1))).toEqual({ ok: false, detail: 'connection refused' });

      await host.install(web(1), '1.0.0');
      await healthy(host, web(1), '1.0.0');
    });

    it('F4 install: a release not on the host fails clearly and the running app is untouched', async () => {
      const pid = await appPid(web(1));
      const error = await host.install(web(1), '7.7.7').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StepError);
      expect((error as Error).message).toMatch(
        /install on web-01: release 7\.7\.7 is not on the host/,
      );
      expect((error as Error).message).toMatch(/rollback needs the old release kept/);
      expect(await readlink(join(web(1).docBase, 'current'))).toBe('releases/1.0.0');
      expect(await appPid(web(1))).toBe(pid);
      expect(await host.health(web(1))).toMatchObject({ ok: true, version: '1.0.0' });
    });
  });

  describe('prune (keep, F4)', () => {
    it('keeps current and previous, removing the oldest others first', async () => {
      const keep2 = shellHost({ keep: 2 });
      const t = web(2);
      await keep2.install(t, '1.0.0');
      await keep2.download(t, pkgs.v2!);
      await keep2.download(t, pkgs.v5!);
      expect((await keep2.probe(t)).releases).toEqual(['1.0.0', '2.0.0', '5.0.0']);

      await keep2.install(t, '5.0.0');
      expect(await keep2.probe(t)).toEqual({
        current: '5.0.0',
        releases: ['1.0.0', '5.0.0'],
        lock: null,
      });

      await keep2.download(t, pkgs.v6!);
      await keep2.install(t, '6.0.0');
      expect(await keep2.probe(t)).toEqual({
        current: '6.0.0',
        releases: ['5.0.0', '6.0.0'],
        lock: null,
      });

      await keep2.install(t, '5.0.0');
      expect(await keep2.probe(t)).toEqual({
        current: '5.0.0',
        releases: ['5.0.0', '6.0.0'],
        lock: null,
      });
      await healthy(keep2, t, '5.0.0');
      expect(await readdir(join(t.docBase, 'releases'))).toEqual(
        expect.arrayContaining(['5.0.0', '6.0.0']),
      );
      expect((await readdir(join(t.docBase, 'releases'))).length).toBe(2);
    });

    it('never prunes what a rollback returns to, after releases that did not succeed', async () => {
      // 1.0.0 is the last good release; 5.0.0 and 6.0.0 were aborted or failed. With keep 2,
      // the plain rule (current + previous) would drop 1.0.0 and leave nothing to roll back to.
      const keep2 = shellHost({ keep: 2 });
      const t = web(3);
      await keep2.download(t, pkgs.v1!);
      await keep2.install(t, '1.0.0');
      await keep2.download(t, pkgs.v5!);
      await keep2.install(t, '5.0.0', undefined, { protect: ['1.0.0'] });
      await keep2.download(t, pkgs.v6!);
      await keep2.install(t, '6.0.0', undefined, { protect: ['1.0.0'] });
      expect((await keep2.probe(t)).releases).toEqual(['1.0.0', '5.0.0', '6.0.0']);
      // Without the protection the same step prunes it (the rule it guards against).
      await keep2.install(t, '5.0.0');
      expect((await keep2.probe(t)).releases).toEqual(['5.0.0', '6.0.0']);
    });
  });

  describe('per-host lock', () => {
    const alice = { deploymentId: 'd-1', who: 'alice' };
    const bob = { deploymentId: 'd-2', who: 'bob' };
    const lockFile = () => join(web(3).docBase, '.rollgate/lock');

    it('a lock held by another deployment is refused with the holder and since', async () => {
      await host.lock(web(3), alice);
      const error = await host.lock(web(3), bob).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockHeldError);
      const held = error as LockHeldError;
      expect(held.what).toBe('host web-03');
      expect(held.holder).toBe('alice (deployment d-1)');
      expect(new Date(held.since).toISOString()).toBe(held.since);
      expect(held.exitCode).toBe(5);
    });

    it('the lock answers with the probe read under it, in one round trip', async () => {
      const fresh = new CountingExecutor(new LocalExecutor());
      const h = shellHost({}, fresh);
      const probe = await h.lock(web(4), { deploymentId: 'd-7', who: 'dave' });
      expect(fresh.execs).toBe(1);
      expect(probe).toEqual({
        ...(await host.probe(web(4))),
        lock: expect.objectContaining({ deploymentId: 'd-7', who: 'dave' }) as unknown,
      });
      expect(await h.unlock(web(4), { deploymentId: 'd-7', who: 'dave' })).toBe(true);
    });

    it('a killed run of the same deployment takes its lock over', async () => {
      await host.lock(web(3), { deploymentId: 'd-1', who: 'alice again' });
      expect(JSON.parse(await readFile(lockFile(), 'utf8'))).toMatchObject({
        deploymentId: 'd-1',
        who: 'alice again',
      });
    });

    it('probe reports who holds the host (reconcile and status read it)', async () => {
      expect((await host.probe(web(3))).lock).toMatchObject({
        deploymentId: 'd-1',
        who: 'alice again',
      });
    });

    it('a lock of a deployment that runs nowhere is taken over when named; any other is still refused', async () => {
      const carol = { deploymentId: 'd-9', who: 'carol' };
      const wrong = await host.lock(web(3), { ...carol, takeOver: 'd-2' }).catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(LockHeldError);
      expect((wrong as LockHeldError).deploymentId).toBe('d-1');
      await host.lock(web(3), { ...carol, takeOver: 'd-1' });
      expect(JSON.parse(await readFile(lockFile(), 'utf8'))).toMatchObject({ deploymentId: 'd-9' });
      expect(await host.unlock(web(3), carol)).toBe(true);
      await host.lock(web(3), alice);
    });

    it('unlock removes only our own lock', async () => {
      expect(await host.unlock(web(3), bob)).toBe(false);
      expect(await exists(lockFile())).toBe(true);
      expect(await host.unlock(web(3), alice)).toBe(true);
      expect(await exists(lockFile())).toBe(false);
    });

    it('of two deployments locking at once, exactly one wins', async () => {
      const owners = ['d-3', 'd-4', 'd-5'].map((id) => ({ deploymentId: id, who: id }));
      const results = await Promise.allSettled(owners.map((o) => host.lock(web(3), o)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [owners[i]!] : []));
      expect(won).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LockHeldError);
      }
      await host.unlock(web(3), won[0]!);
      expect(await exists(lockFile())).toBe(false);
    });
  });

  describe('stopping the app (S1 install)', () => {
    it('an app that ignores SIGTERM is killed after stopTimeoutMs', async () => {
      const stubborn = shellHost({
        service: { start: "trap '' TERM; sleep 60", stopTimeoutMs: 500, env: {} },
      });
      const t = web(3);
      await stubborn.download(t, pkgs.v1!);
      await stubborn.download(t, pkgs.v2!);
      await stubborn.install(t, '1.0.0');
      const pid = (await appPid(t))!;
      expect(await processAlive(pid)).toBe(true);
      const started = Date.now();
      await stubborn.install(t, '2.0.0');
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      expect(await processAlive(pid)).toBe(false);
      expect(await appPid(t)).not.toBe(pid);
    });

    it('service.stop runs in current with the old VERSION instead of the default TERM', async () => {
      const stopLog = join(fleet.root, 'stop.log');
      const withStop = shellHost({
        service: {
          ...fleet.group.service,
          stop: 'echo "stop $VERSION" >>"$STOP_LOG"; kill -TERM "-$(cat ../../.rollgate/app.pid)"',
          env: { ...fleet.group.service.env, STOP_LOG: stopLog },
        },
      });
      const t = web(4);
      await withStop.download(t, pkgs.v1!);
      await withStop.download(t, pkgs.v2!);
      await withStop.install(t, '1.0.0');
      await healthy(withStop, t, '1.0.0');
      const pid = (await appPid(t))!;
      await withStop.install(t, '2.0.0');
      await healthy(withStop, t, '2.0.0');
      expect(await readFile(stopLog, 'utf8')).toBe('stop 1.0.0\n');
      expect(await processAlive(pid)).toBe(false);
    });
  });
});
