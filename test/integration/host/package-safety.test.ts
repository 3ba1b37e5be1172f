/**
 * A host refuses, over real SSH as the unprivileged deploy user, every tarball entry
 * `rollgate pack` refuses (package.source can be any tarball): symlinks and hard links out of the
 * release, absolute names, "..", FIFOs, devices. Each refusal names the entry; nothing lands in
 * releases/, nothing is left behind, and the host keeps serving the old version. A package
 * `rollgate pack` made, and a plain `tar -C dir .` one, still install.
 */
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShellHost } from '../../../src/host/shell-host';
import { StepError } from '../../../src/model/errors';
import type { Group, Target } from '../../../src/model/types';
import { sha256File } from '../../../src/host/file-hash';
import { buildPackage } from '../../../src/package/tarball';
import { packDirectory } from '../../../src/package/pack';
import { SshExecutor } from '../../../src/transport/ssh/ssh-executor';
import { appPid, APP_DIR, killGroup, waitFor } from '../../support/host-fleet';
import { appEntries, writeRawTarball, type RawEntry } from '../../support/raw-tarball';
import { ensureSshd, sshOptionsFor, startSshFleet, type SshFleet } from '../../support/ssh-fleet';

const unavailable = await ensureSshd();
if (unavailable) console.warn(`skipping package safety tests: ${unavailable}`);

const FIRST = 81;
const PORTS = [19150, 19151];

describe.skipIf(unavailable !== null)('the host refuses unsafe package entries (over SSH)', () => {
  let fleet: SshFleet;
  let executor: SshExecutor;
  let host: ShellHost;
  let targets: Target[];
  let packages: string;
  let server: string;

  beforeAll(async () => {
    fleet = await startSshFleet({ n: 2, first: FIRST });
    targets = fleet.hosts.map((h, i) => ({
      id: `web-0${i + 1}`,
      host: `web-0${i + 1}`,
      address: h.address,
      port: PORTS[i]!,
      docBase: join(h.root, 'srv/app'),
      pulledOut: false,
    }));
    const group: Group = {
      name: 'shop',
      path: '/',
      docBase: '/srv/app',
      port: PORTS[0]!,
      healthCheckUrl: '/health',
      keep: 5,
      service: { start: 'node server.js', stopTimeoutMs: 3000, env: { START_DELAY_MS: '50' } },
      targets,
    };
    executor = new SshExecutor(sshOptionsFor(fleet));
    host = new ShellHost({ executor, group });
    packages = join(fleet.dir, 'packages');
    await mkdir(packages, { recursive: true });
    server = spawnSync('cat', [join(APP_DIR, 'server.js')], { encoding: 'utf8' }).stdout;
    const v1 = await buildPackage({ appDir: APP_DIR, version: '1.0.0', outDir: packages });
    await host.download(targets[0]!, v1);
    await host.install(targets[0]!, '1.0.0');
    await serving(targets[0]!, '1.0.0');
  }, 60_000);

  afterAll(async () => {
    for (const t of targets ?? []) {
      const pid = await appPid(t);
      if (pid !== null) killGroup(pid);
    }
    await host?.close();
    await fleet?.stop();
  });

  const web1 = () => targets[0]!;

  async function serving(target: Target, version: string) {
    return waitFor(`${target.id} serving ${version}`, async () => {
      const health = await host.health(target);
      return health.ok && health.version === version ? health : undefined;
    });
  }

  /** Hidden temp dirs, listings and uploads a download can leave behind. */
  async function leftovers(target: Target): Promise<string[]> {
    const list = (dir: string) => readdir(join(target.docBase, dir)).catch(() => [] as string[]);
    const hidden = (await list('releases')).filter((n) => n.startsWith('.'));
    return [...hidden, ...(await list('.rollgate/incoming'))];
  }

  /** What a hostile entry is, the entries that make it, and the sentence naming it. */
  const hostile: Array<[string, RawEntry[], string]> = [
    [
      'a symlink to /etc',
      [{ name: './etc', type: 'symlink', linkname: '/etc' }],
      'entry ./etc is a symlink to /etc, outside the release',
    ],
    [
      'a symlink to /etc/passwd',
      [{ name: './x', type: 'symlink', linkname: '/etc/passwd' }],
      'entry ./x is a symlink to /etc/passwd, outside the release',
    ],
    [
      'a chain of links that escapes',
      [
        { name: 'lib/', type: 'directory' },
        { name: 'here', type: 'symlink', linkname: '.' },
        { name: 'lib/up', type: 'symlink', linkname: '../here/../../../current' },
      ],
      'entry lib/up is a symlink to ../here/../../../current, which leads outside the release',
    ],
    [
      'an absolute path',
      [{ name: '/tmp/rollgate-planted', content: 'planted' }],
      'entry /tmp/rollgate-planted is an absolute path',
    ],
    [
      'a ../ entry',
      [{ name: '../planted', content: 'planted' }],
      'entry ../planted has a ".." component, which leads outside the release',
    ],
    ['a FIFO', [{ name: 'pipe', type: 'fifo' }], 'entry pipe is a FIFO (named pipe)'],
    [
      'a character device (0,0: the one an unprivileged user can make)',
      [{ name: 'null', type: 'character-device' }],
      'entry null is a character device',
    ],
    [
      'a hard link outside',
      [{ name: 'passwd', type: 'link', linkname: '/etc/passwd' }],
      'entry passwd is a hard link to /etc/passwd, outside the release',
    ],
  ];

  it.each(hostile.map(([what, entries, message], i) => ({ what, entries, message, i })))(
    'refuses $what, names it, installs nothing and keeps serving 1.0.0',
    async ({ entries, message, i }) => {
      const version = `2.0.${i}`;
      const file = `app-${version}.tar.gz`;
      const pkg = await writeRawTarball(join(packages, file), [
        ...appEntries(version, server),
        ...entries,
      ]);
      const error = await host
        .download(web1(), { version, path: pkg.path, sha256: pkg.sha256 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StepError);
      expect((error as Error).message).toBe(
        `download on web-01: package ${file}: ${message} — rebuild it with rollgate pack, which refuses such entries and names them; the release was not installed`,
      );
      expect(await readdir(join(web1().docBase, 'releases'))).toEqual(['1.0.0']);
      expect(await leftovers(web1())).toEqual([]);
      expect(await readlink(join(web1().docBase, 'current'))).toBe('releases/1.0.0');
      expect(await host.health(web1())).toMatchObject({ ok: true, version: '1.0.0' });
      expect((await host.probe(web1())).releases).toEqual(['1.0.0']);
      // The install the engine would run next finds nothing to switch to.
      await expect(host.install(web1(), version)).rejects.toThrow(/is not on the host/);
      await serving(web1(), '1.0.0');
    },
  );

  it('names every unsafe entry of one package at once', async () => {
    const version = '2.1.0';
    const pkg = await writeRawTarball(join(packages, `app-${version}.tar.gz`), [
      ...appEntries(version, server),
      ...hostile.flatMap(([, entries]) => entries),
    ]);
    const error = await host
      .download(web1(), { version, path: pkg.path, sha256: pkg.sha256 })
      .catch((e: unknown) => e);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toMatch(
      new RegExp(
        `^download on web-01: package app-${version}\\.tar\\.gz: 8 entries a release must not have: entry `,
      ),
    );
    for (const [, , named] of hostile) expect(message).toContain(named);
    expect(message).toMatch(/— rebuild it with rollgate pack.*; the release was not installed$/);
    expect(await readdir(join(web1().docBase, 'releases'))).toEqual(['1.0.0']);
    expect(await leftovers(web1())).toEqual([]);
  });

  it('a rollgate pack package and a plain `tar -C dir .` package with inside links still install', async () => {
    const app = join(fleet.dir, 'app-plain');
    await mkdir(join(app, 'lib'), { recursive: true });
    await writeFile(join(app, 'server.js'), server);
    await writeFile(join(app, 'VERSION'), '3.0.0\n');
    await symlink('../server.js', join(app, 'lib', 'main.js'));
    await symlink('lib/main.js', join(app, 'entry.js'));
    const plain = join(packages, 'app-3.0.0.tar.gz');
    expect(spawnSync('tar', ['-czf', plain, '-C', app, '.']).status).toBe(0);
    await host.download(web1(), { version: '3.0.0', path: plain });
    await host.install(web1(), '3.0.0');
    await serving(web1(), '3.0.0');
    expect(await readlink(join(web1().docBase, 'releases/3.0.0/entry.js'))).toBe('lib/main.js');

    await rm(join(app, 'VERSION'));
    const packed = await packDirectory({
      dir: app,
      version: '4.0.0',
      output: join(packages, 'app-4.0.0.tar.gz'),
    });
    expect(packed.symlinks).toBe(2);
    expect(await host.download(web1(), packed)).toEqual({ skipped: false });
    await host.install(web1(), '4.0.0');
    await serving(web1(), '4.0.0');
    expect((await lstat(join(web1().docBase, 'releases/4.0.0/lib/main.js'))).isSymbolicLink()).toBe(
      true,
    );
  });

  it('a package whose directories its owner cannot enter installs with them made enterable', async () => {
    const version = '3.5.0';
    const pkg = await writeRawTarball(join(packages, `app-${version}.tar.gz`), [
      { name: './', type: 'directory', mode: 0o600 },
      ...appEntries(version, server),
      { name: 'lib/', type: 'directory', mode: 0o500 },
      { name: 'lib/a.js', content: 'a' },
    ]);
    await host.download(web1(), { version, path: pkg.path, sha256: pkg.sha256 });
    await host.install(web1(), version);
    await serving(web1(), version);
    const mode = async (path: string) =>
      (await lstat(join(web1().docBase, 'releases', version, path))).mode & 0o777;
    expect(await mode('.')).toBe(0o700);
    expect(await mode('lib')).toBe(0o700);
    expect(await leftovers(web1())).toEqual([]);
  });

  it('a large package (5,000 files, 200 links): the time of the download step', async () => {
    const big = join(fleet.dir, 'big');
    for (let d = 0; d < 100; d++) {
      await mkdir(join(big, `d${d}`), { recursive: true });
      for (let f = 0; f < 50; f++) {
        await writeFile(join(big, `d${d}`, `f${f}.js`), `// ${d}/${f}\n`.repeat(100));
      }
    }
    for (let l = 0; l < 200; l++) await symlink('../d0/f0.js', join(big, 'd1', `link${l}.js`));
    await writeFile(join(big, 'server.js'), server);
    const pkg = await packDirectory({
      dir: big,
      version: '5.0.0',
      output: join(packages, 'app-5.0.0.tar.gz'),
    });
    expect(pkg.sha256).toBe(await sha256File(pkg.path));
    const started = performance.now();
    await host.download(targets[1]!, pkg);
    const ms = Math.round(performance.now() - started);
    console.log(
      `download of a ${pkg.files}-file, ${pkg.symlinks}-link package (${Math.round(pkg.bytes / 1024)} KiB) over SSH: ${ms} ms`,
    );
    expect((await readdir(join(targets[1]!.docBase, 'releases/5.0.0'))).length).toBe(103);
  }, 120_000);
});
