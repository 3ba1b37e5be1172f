/**
 * `rollgate pack` on real directories: the same input gives the same sha256 whatever the files'
 * times, owners, permission bits and creation order; the host's own unpack takes the result; what
 * the host must never get is refused, each entry named, and nothing is written.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/index';
import { InputError } from '../../../src/model/errors';
import { DEFAULT_MTIME, packDirectory, packMtime } from '../../../src/package/pack';

const isRoot = process.getuid?.() === 0;
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'rollgate-pack-'));
  chmodSync(scratch, 0o755);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
const fresh = (name: string) => {
  const d = join(scratch, `${name}-${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
};

/** An app tree; `order` reverses the creation order, `touch` gives every file another time. */
function writeApp(dir: string, o: { reverse?: boolean; touch?: number; loose?: boolean } = {}) {
  const files: [string, string, number][] = [
    ['server.js', 'console.log("hi")\n', 0o644],
    ['bin/start', '#!/bin/sh\nexec node server.js\n', 0o755],
    ['lib/util.js', 'module.exports = 1;\n', 0o644],
    ['lib/deep/data.json', '{"a":1}\n', 0o600],
    ['public/index.html', '<h1>hi</h1>\n', 0o644],
  ];
  for (const [path, text, mode] of o.reverse ? [...files].reverse() : files) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
    chmodSync(join(dir, path), o.loose ? mode | 0o066 : mode);
    if (o.touch !== undefined) utimesSync(join(dir, path), o.touch, o.touch);
  }
  mkdirSync(join(dir, 'empty'), { recursive: true });
  if (o.loose) chmodSync(join(dir, 'lib'), 0o775);
  symlinkSync('../lib/util.js', join(dir, 'bin/util'));
}

const sha = (path: string) => execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0];

describe('packDirectory: deterministic', () => {
  it('the same directory and version give the same sha256, whatever times, owners, modes and creation order', async () => {
    const a = fresh('a');
    writeApp(a);
    const b = fresh('b');
    writeApp(b, { reverse: true, touch: 1_700_000_000, loose: true });
    if (isRoot) {
      execFileSync('chown', ['-R', '1234:1234', b]);
    }
    const first = await packDirectory({ dir: a, version: '1.4.0', output: join(scratch, 'a.tgz') });
    const again = await packDirectory({
      dir: a,
      version: '1.4.0',
      output: join(scratch, 'a2.tgz'),
    });
    const other = await packDirectory({ dir: b, version: '1.4.0', output: join(scratch, 'b.tgz') });
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(first.sha256).toBe(sha(first.path));
    expect(again.sha256).toBe(first.sha256);
    expect(other.sha256).toBe(first.sha256);
    expect(readFileSync(other.path).equals(readFileSync(first.path))).toBe(true);
    expect(first).toMatchObject({ version: '1.4.0', files: 5 + 1, directories: 5, symlinks: 1 });

    writeFileSync(join(b, 'lib/util.js'), 'module.exports = 2;\n');
    const changed = await packDirectory({
      dir: b,
      version: '1.4.0',
      output: join(scratch, 'c.tgz'),
    });
    expect(changed.sha256).not.toBe(first.sha256);
    const version = await packDirectory({
      dir: a,
      version: '1.4.1',
      output: join(scratch, 'd.tgz'),
    });
    expect(version.sha256).not.toBe(first.sha256);
  });

  it('entries: root-level names, sorted, owner 0:0, one time, normalised modes, VERSION added', async () => {
    const a = fresh('list');
    writeApp(a, { loose: true });
    const r = await packDirectory({ dir: a, version: '2.0.0', output: join(scratch, 'list.tgz') });
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', r.path], {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC' },
    })
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/))
      .map(([mode, owner, , date, time, ...name]) => [
        mode,
        owner,
        `${date} ${time}`,
        name.join(' '),
      ]);
    expect(listing).toEqual([
      ['-rw-r--r--', '0/0', '1980-01-01 00:00:00', 'VERSION'],
      ['drwxr-xr-x', '0/0', '1980-01-01 00:00:00', 'bin/'],
      ['-rwxr-xr-x', '0/0', '1980-01-01 00:00:00', 'bin/start'],
      ['lrwxrwxrwx', '0/0', '1980-01-01 00:00:00', 'bin/util -> ../lib/util.js'],
      ['drwxr-xr-x', '0/0', '1980-01-01 00:00:00', 'empty/'],
      ['drwxr-xr-x', '0/0', '1980-01-01 00:00:00', 'lib/'],
      ['drwxr-xr-x', '0/0', '1980-01-01 00:00:00', 'lib/deep/'],
      ['-rw-r--r--', '0/0', '1980-01-01 00:00:00', 'lib/deep/data.json'],
      ['-rw-r--r--', '0/0', '1980-01-01 00:00:00', 'lib/util.js'],
      ['drwxr-xr-x', '0/0', '1980-01-01 00:00:00', 'public/'],
      ['-rw-r--r--', '0/0', '1980-01-01 00:00:00', 'public/index.html'],
      ['-rw-r--r--', '0/0', '1980-01-01 00:00:00', 'server.js'],
    ]);
    const gz = readFileSync(r.path);
    expect(gz.readUInt32LE(4)).toBe(0); // no gzip time
    expect(gz[3]! & 0x08).toBe(0); // no file name
    expect(gz[9]).toBe(255); // OS unknown: zlib's build does not show
  });

  it('SOURCE_DATE_EPOCH sets the entries’ time (and so the checksum)', async () => {
    expect(packMtime({})).toBe(DEFAULT_MTIME);
    expect(packMtime({ SOURCE_DATE_EPOCH: '1700000000' })).toBe(1_700_000_000);
    expect(() => packMtime({ SOURCE_DATE_EPOCH: 'yesterday' })).toThrow(/SOURCE_DATE_EPOCH/);
    const a = fresh('epoch');
    writeApp(a);
    const one = await packDirectory({ dir: a, version: '1', output: join(scratch, 'e1.tgz') });
    const two = await packDirectory({
      dir: a,
      version: '1',
      output: join(scratch, 'e2.tgz'),
      mtime: 1_700_000_000,
    });
    expect(two.sha256).not.toBe(one.sha256);
    const line = execFileSync('tar', ['--full-time', '-tvzf', two.path, 'VERSION'], {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC' },
    });
    expect(line).toContain('2023-11-14 22:13:20');
  });

  it('an output inside the directory is left out, so packing again gives the same checksum', async () => {
    const a = fresh('inside');
    writeApp(a);
    const out = join(a, 'app.tgz');
    const one = await packDirectory({ dir: a, version: '1', output: out });
    const two = await packDirectory({ dir: a, version: '1', output: out });
    expect(two.sha256).toBe(one.sha256);
    expect(execFileSync('tar', ['-tzf', out], { encoding: 'utf8' })).not.toContain('app.tgz');
  });

  it.skipIf(!isRoot)(
    'the host unpacks it as the deploy user does (tar -xzf --no-same-owner, exit 0), to the same tree',
    async () => {
      const a = fresh('host');
      writeApp(a);
      writeFileSync(join(a, 'VERSION'), '3.0.0\n'); // agrees with --version: kept as is
      const r = await packDirectory({ dir: a, version: '3.0.0', output: join(scratch, 'h.tgz') });
      const into = fresh('unpacked');
      chownSync(into, 65534, 65534);
      execFileSync('runuser', [
        '-u',
        'nobody',
        '--',
        'tar',
        '-xzf',
        r.path,
        '-C',
        into,
        '--no-same-owner',
      ]);
      expect(readFileSync(join(into, 'VERSION'), 'utf8')).toBe('3.0.0\n');
      // diff -r exits 1 on any difference, links compared as links.
      const diff = execFileSync('diff', ['-r', '--no-dereference', a, into], {
        encoding: 'utf8',
      }).trim();
      expect(diff).toBe('');
    },
  );
});

describe('packDirectory: refuses what the host must never get, each entry named, nothing written', () => {
  it('FIFO, socket, device, links leading out, a name that is not UTF-8, IMAGE at the root', async () => {
    const a = fresh('bad');
    writeApp(a);
    execFileSync('mkfifo', [join(a, 'queue')]);
    const sock = createServer();
    await new Promise<void>((done) => sock.listen(join(a, 'lib/app.sock'), done));
    if (isRoot) execFileSync('mknod', [join(a, 'null0'), 'c', '1', '3']);
    symlinkSync('/etc', join(a, 'etc'));
    symlinkSync('../../shared/logs', join(a, 'lib/logs'));
    writeFileSync(Buffer.from(`${a}/caf\xe9`, 'latin1'), 'x');
    writeFileSync(join(a, 'IMAGE'), 'registry/app@sha256:00\n');
    const output = join(scratch, 'bad.tgz');
    const err = await packDirectory({ dir: a, version: '1', output }).catch((e: unknown) => e);
    sock.close();
    expect(err).toBeInstanceOf(InputError);
    const text = (err as Error).message;
    const count = isRoot ? 7 : 6;
    expect(text).toContain(`<dir>: ${count} entries in ${a} cannot go into a package:`);
    expect(text).toMatch(/^ {2}IMAGE: .*container image/m);
    expect(text).toMatch(/^ {2}caf\uFFFD: its name is not UTF-8/m);
    expect(text).toMatch(/^ {2}etc: a symbolic link to \/etc, which leads out of the package/m);
    expect(text).toMatch(/^ {2}lib\/app\.sock: a socket/m);
    expect(text).toMatch(
      /^ {2}lib\/logs: a symbolic link to \.\.\/\.\.\/shared\/logs, which leads out/m,
    );
    expect(text).toMatch(/^ {2}queue: a FIFO/m);
    if (isRoot) expect(text).toMatch(/^ {2}null0: a character device/m);
    expect(existsSync(output)).toBe(false);
    expect(existsSync(`${output}.tmp-${process.pid}`)).toBe(false);
  });

  it('a directory that does not exist, a file, an empty tree, a bad version', async () => {
    const file = join(scratch, 'plain.txt');
    writeFileSync(file, 'x');
    const out = join(scratch, 'x.tgz');
    await expect(
      packDirectory({ dir: join(scratch, 'nope'), version: '1', output: out }),
    ).rejects.toThrow(/does not exist/);
    await expect(packDirectory({ dir: file, version: '1', output: out })).rejects.toThrow(
      /is not a directory/,
    );
    await expect(packDirectory({ dir: fresh('empty'), version: '1', output: out })).rejects.toThrow(
      /holds no files/,
    );
    await expect(
      packDirectory({ dir: scratch, version: '1;rm -rf /', output: out }),
    ).rejects.toThrow(/--version/);
  });
});

describe('rollgate pack (CLI)', () => {
  const run = async (args: string[], env: Record<string, string | undefined> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const spies = [
      vi.spyOn(console, 'log').mockImplementation((...p: unknown[]) => void out.push(p.join(' '))),
      vi
        .spyOn(console, 'error')
        .mockImplementation((...p: unknown[]) => void err.push(p.join(' '))),
    ];
    try {
      const code = await main(args, env);
      return { code, stdout: out.join('\n'), stderr: err.join('\n') };
    } finally {
      for (const s of spies) s.mockRestore();
      process.exitCode = undefined;
    }
  };
  afterEach(() => {
    process.exitCode = undefined;
  });

  it('prints the path and the sha256; --json the same as data', async () => {
    const a = fresh('cli');
    writeApp(a);
    const out = join(scratch, 'cli', 'app-2.0.0.tar.gz');
    const r = await run(['pack', a, '--version', '2.0.0', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const digest = sha(out)!;
    expect(r.stdout).toContain(`path    ${out}`);
    expect(r.stdout).toContain(`sha256  ${digest}`);
    expect(r.stdout).toMatch(/^packed 2\.0\.0: 6 files, 5 directories, 1 symbolic link \(/);
    const j = await run(['pack', a, '--version', '2.0.0', '-o', out, '--json']);
    expect(JSON.parse(j.stdout)).toEqual({
      path: out,
      sha256: digest,
      version: '2.0.0',
      bytes: readFileSync(out).length,
      files: 6,
      directories: 5,
      symlinks: 1,
    });
  });

  it('-g writes where the group file’s package.source points, which deploy reads', async () => {
    const a = fresh('grp');
    writeApp(a);
    const deploy = fresh('deploy');
    const group = join(deploy, 'web.yml');
    writeFileSync(
      group,
      `group: web\ndocBase: /srv/web\nport: 8080\nservice: { start: node server.js }\npackage:\n  source: ./build/web-{version}.tar.gz\ntransport: { kind: local, root: ./fleet }\nstore: { dir: ./state }\ntargets:\n  - { host: web-01, address: 127.0.0.1 }\n`,
    );
    const r = await run(['pack', a, '--version', '3.1.0', '-g', group]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`path    ${join(deploy, 'build', 'web-3.1.0.tar.gz')}`);
    expect(existsSync(join(deploy, 'build', 'web-3.1.0.tar.gz'))).toBe(true);
  });

  it('a refusal exits 2 and names the entry; SOURCE_DATE_EPOCH is read', async () => {
    const a = fresh('cli-bad');
    writeApp(a);
    symlinkSync('/etc/passwd', join(a, 'passwd'));
    const r = await run(['pack', a, '--version', '1', '-o', join(scratch, 'no.tgz')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('passwd: a symbolic link to /etc/passwd, which leads out');
    const e = await run(['pack', a, '--version', '1', '-o', join(scratch, 'no.tgz')], {
      SOURCE_DATE_EPOCH: 'soon',
    });
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('SOURCE_DATE_EPOCH');
  });
});
