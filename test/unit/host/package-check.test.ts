import { spawnSync } from 'node:child_process';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LISTING_AWK,
  listingCheckLines,
  MAX_NAMED,
  PACKAGE_REFUSED,
  packageRefusalMessage,
  treeCheckLines,
} from '../../../src/host/package-check';
import { downloadScript } from '../../../src/host/scripts';
import { packDirectory } from '../../../src/package/pack';
import { writeRawTarball, type RawEntry } from '../../support/raw-tarball';

/** Every awk the host may have: the check must read the same in each. */
const AWKS = ['mawk', 'gawk', 'busybox awk'].filter(
  (awk) => spawnSync('sh', ['-c', `command -v ${awk.split(' ')[0]}`]).status === 0,
);

function judgeListing(listing: string, awk = 'awk') {
  const [cmd, ...args] = awk.split(' ');
  const result = spawnSync(cmd!, [...args, LISTING_AWK], {
    input: listing,
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
  });
  expect(result.stderr).toBe('');
  return { code: result.status, lines: result.stdout.split('\n').filter((l) => l !== '') };
}

/** Runs the host's listing check on a tarball, as the download script does. */
function checkTarball(path: string) {
  const script = ['set -u', 'inc=$1', 'lst=$2', ...listingCheckLines(), 'echo clean'].join('\n');
  const result = spawnSync('sh', ['-c', script, 'sh', path, `${path}.list`], {
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the host's check of an unpacked tree on a directory. */
function checkTree(dir: string) {
  const script = ['set -u', 'tmp=$1', ...treeCheckLines(), 'echo clean'].join('\n');
  const result = spawnSync('sh', ['-c', script, 'sh', dir], { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const line = (type: string, name: string, link = '') =>
  `${type}rw-r--r-- 0/0               0 1980-01-01 00:00 "${name}"${link}`;

describe('the listing check: what GNU tar lists, judged before anything is unpacked', () => {
  const cases: Array<[string, string[], string[]]> = [
    ['a plain package', [line('d', './'), line('-', './server.js'), line('-', 'lib/a.js')], []],
    ['a symlink inside the tree', [line('l', 'lib/b', ' -> "../server.js"')], []],
    ['a hard link to another entry', [line('h', 'copy', ' link to "server.js"')], []],
    [
      'names with quotes, newlines, arrows and UTF-8',
      [
        line('-', 'we\\"ird\\nname -> x link to y'),
        line('l', 'sp ace', ' -> "a b -> c"'),
        line('-', '\\303\\274n\\303\\257'),
      ],
      [],
    ],
    ['an absolute name', [line('-', '/etc/cron.d/x')], ['entry /etc/cron.d/x is an absolute path']],
    [
      'a ".." component',
      [line('-', '../x'), line('-', 'a/../../y')],
      [
        'entry ../x has a ".." component, which leads outside the release',
        'entry a/../../y has a ".." component, which leads outside the release',
      ],
    ],
    [
      'a symlink to /etc/passwd',
      [line('l', './x', ' -> "/etc/passwd"')],
      ['entry ./x is a symlink to /etc/passwd, outside the release'],
    ],
    [
      'a symlink above the tree',
      [line('l', 'lib/up', ' -> "../../etc"')],
      ['entry lib/up is a symlink to ../../etc, which leads outside the release'],
    ],
    [
      'a chain of links that leaves through another link',
      [line('l', 'b', ' -> "."'), line('l', 'c', ' -> "b/../x"')],
      ['entry c is a symlink to b/../x, which leads outside the release'],
    ],
    [
      'a link whose own directory is a link to the root',
      [line('l', 'a', ' -> "."'), line('l', 'a/l', ' -> "../x"')],
      ['entry a/l is a symlink to ../x, which leads outside the release'],
    ],
    [
      'a chain through a directory link that stays inside',
      [line('l', 'cur', ' -> "lib/v1"'), line('l', 'lib/main', ' -> "../cur/main.js"')],
      [],
    ],
    ['a loop (resolves nowhere)', [line('l', 'a', ' -> "b"'), line('l', 'b', ' -> "a"')], []],
    [
      'hard links out of the tree',
      [line('h', 'h1', ' link to "/etc/passwd"'), line('h', 'h2', ' link to "../x"')],
      [
        'entry h1 is a hard link to /etc/passwd, outside the release',
        'entry h2 is a hard link to ../x, outside the release',
      ],
    ],
    [
      'devices, FIFOs, sockets and other types',
      [line('p', 'fifo'), line('c', 'tty'), line('b', 'sda'), line('s', 'sock'), line('V', 'vol')],
      [
        'entry fifo is a FIFO (named pipe)',
        'entry tty is a character device',
        'entry sda is a block device',
        'entry sock is a socket',
        'entry vol is not a regular file, directory or link (tar type V)',
      ],
    ],
    [
      'the names the host gives a meaning to',
      [line('-', './.rollgate-complete'), line('-', 'IMAGE'), line('-', 'sub/IMAGE')],
      [
        'entry ./.rollgate-complete is the marker the host writes itself once a release is unpacked',
        'entry IMAGE is a top-level IMAGE file, which makes the host run a container image (image releases are deployed with --image)',
      ],
    ],
    [
      'a line it cannot read',
      ['-rw-r--r-- 0/0 0 1980-01-01 00:00 no quotes'],
      [
        'entry listing has 1 line(s) rollgate cannot read: the archive is not a plain tar of files, directories and links',
      ],
    ],
  ];

  it.each(AWKS)('reads the same in %s', (awk) => {
    for (const [, listing, refused] of cases) {
      expect(judgeListing(listing.join('\n') + '\n', awk)).toEqual({
        code: refused.length > 0 ? 1 : 0,
        lines: refused,
      });
    }
  });

  it.each(cases)('%s', (_, listing, refused) => {
    expect(judgeListing(listing.join('\n') + '\n')).toEqual({
      code: refused.length > 0 ? 1 : 0,
      lines: refused,
    });
  });

  it(`names the first ${MAX_NAMED} entries and counts the rest`, () => {
    const listing = Array.from({ length: 25 }, (_, i) => line('p', `f${i}`)).join('\n');
    const { code, lines } = judgeListing(listing + '\n');
    expect(code).toBe(1);
    expect(lines).toHaveLength(MAX_NAMED + 1);
    expect(lines.at(-1)).toBe('... and 5 more');
  });
});

describe('the listing check on real tarballs (GNU tar lists them)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-check-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const tarball = async (name: string, entries: RawEntry[]) =>
    (await writeRawTarball(join(dir, name), entries)).path;

  it('passes a rollgate pack package and a plain `tar -C dir .` one with odd names', async () => {
    const app = join(dir, 'app');
    await mkdir(join(app, 'lib'), { recursive: true });
    await writeFile(join(app, 'server.js'), 'x');
    await writeFile(join(app, 'lib', 'we"ird\nname -> x'), 'y');
    await symlink('../server.js', join(app, 'lib', 'main.js'));
    const packed = await packDirectory({ dir: app, version: '1.0.0', output: join(dir, 'p.tgz') });
    expect(checkTarball(packed.path)).toEqual({ code: 0, stdout: 'clean\n', stderr: '' });
    const plain = join(dir, 'plain.tgz');
    expect(spawnSync('tar', ['-czf', plain, '-C', app, '.']).status).toBe(0);
    expect(checkTarball(plain)).toEqual({ code: 0, stdout: 'clean\n', stderr: '' });
  });

  it('refuses each hostile entry, named as in the archive', async () => {
    const path = await tarball('evil.tgz', [
      { name: './', type: 'directory' },
      { name: './server.js', content: 'x' },
      { name: './x', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'b', type: 'symlink', linkname: '.' },
      { name: 'c', type: 'symlink', linkname: 'b/../x' },
      { name: '/abs/y', content: 'a' },
      { name: '../up', content: 'a' },
      { name: 'fifo', type: 'fifo' },
      { name: 'null', type: 'character-device' },
      { name: 'hl', type: 'link', linkname: '/etc/passwd' },
    ]);
    const result = checkTarball(path);
    expect(result.code).toBe(PACKAGE_REFUSED);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n').filter(Boolean).sort()).toEqual(
      [
        'entry ./x is a symlink to /etc/passwd, outside the release',
        'entry c is a symlink to b/../x, which leads outside the release',
        'entry /abs/y is an absolute path',
        'entry ../up has a ".." component, which leads outside the release',
        'entry fifo is a FIFO (named pipe)',
        'entry null is a character device',
        'entry hl is a hard link to /etc/passwd, outside the release',
      ].sort(),
    );
  });

  it('an archive tar cannot read fails with tar’s own message', async () => {
    const path = join(dir, 'garbage.tgz');
    await writeFile(path, 'not gzip\n');
    const result = checkTarball(path);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^cannot read the package: .*not in gzip format/s);
  });
});

describe('the tree check: the unpacked tree as the kernel sees it (backstop)', () => {
  let root: string;
  let n = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rollgate-tree-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A tree with a server.js, a lib/ and an inside link, plus what `extra` adds. */
  const tree = async (extra: (dir: string) => Promise<void> = async () => undefined) => {
    const dir = join(root, `t${n++}`);
    await mkdir(join(dir, 'lib'), { recursive: true });
    await writeFile(join(dir, 'server.js'), 'x');
    await symlink('../server.js', join(dir, 'lib', 'main.js'));
    await link(join(dir, 'server.js'), join(dir, 'lib', 'copy.js'));
    await extra(dir);
    return dir;
  };

  it('passes files, directories, inside links and hard links within the tree', async () => {
    expect(checkTree(await tree())).toEqual({ code: 0, stdout: 'clean\n', stderr: '' });
  });

  it('refuses a symlink out of the tree, directly or through another link', async () => {
    const dir = await tree(async (d) => {
      await symlink('/etc/passwd', join(d, 'x'));
      await symlink('.', join(d, 'b'));
      await symlink('b/../elsewhere', join(d, 'c'));
      await symlink('b/inside', join(d, 'lib', 'd'));
      await symlink('../lib/../../y', join(d, 'lib', 'up'));
    });
    const result = checkTree(dir);
    expect(result.code).toBe(PACKAGE_REFUSED);
    expect(result.stderr.split('\n').filter(Boolean).sort()).toEqual([
      'entry c is a symlink to b/../elsewhere, which leads outside the release',
      'entry lib/up is a symlink to ../lib/../../y, which leads outside the release',
      'entry x is a symlink to /etc/passwd, which leads outside the release',
    ]);
  });

  it('refuses a FIFO and a hard link to a file outside the tree', async () => {
    const outside = join(root, 'outside.txt');
    await writeFile(outside, 'secret');
    const dir = await tree(async (d) => {
      expect(spawnSync('mkfifo', [join(d, 'lib', 'pipe')]).status).toBe(0);
      await link(outside, join(d, 'stolen'));
    });
    const result = checkTree(dir);
    expect(result.code).toBe(PACKAGE_REFUSED);
    expect(result.stderr.split('\n').filter(Boolean).sort()).toEqual([
      'entry lib/pipe is a FIFO (named pipe)',
      'entry stolen is a hard link to a file outside the release',
    ]);
  });

  it('names an odd name without letting it forge message lines', async () => {
    const dir = await tree(async (d) => {
      await symlink('/etc', join(d, 'a\nentry forged'));
    });
    const result = checkTree(dir);
    expect(result.code).toBe(PACKAGE_REFUSED);
    expect(result.stderr).toBe(
      'entry a?entry forged is a symlink to /etc, which leads outside the release\n',
    );
  });
});

describe('the download script and the message', () => {
  it('judges the listing before unpacking and the tree before the marker and the rename', () => {
    const script = downloadScript({
      docBase: '/srv/app',
      version: '1.0.0',
      sha256: 'a'.repeat(64),
      incoming: '/srv/app/.rollgate/incoming/1.0.0.abc.tgz',
      tag: 'abc',
    });
    const at = (needle: string) => {
      const i = script.indexOf(needle);
      expect(i, needle).toBeGreaterThan(-1);
      return i;
    };
    expect(at('tar -tvzP')).toBeLessThan(at('mkdir -- "$tmp"'));
    expect(at('tar -xzf')).toBeLessThan(at('find "$tmp" -type l'));
    expect(at('find "$tmp" -type l')).toBeLessThan(at('>"$tmp/.rollgate-complete"'));
    expect(at('find "$tmp" -type l')).toBeLessThan(at('mv -T -- "$tmp" "$rel"'));
    const syntax = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
    expect(syntax.stderr).toBe('');
  });

  it('one entry reads as one sentence a person acts on', () => {
    expect(
      packageRefusalMessage(
        'web-01',
        'app-2.0.0.tar.gz',
        'entry ./x is a symlink to /etc/passwd, outside the release\n',
      ),
    ).toBe(
      'download on web-01: package app-2.0.0.tar.gz: entry ./x is a symlink to /etc/passwd, outside the release — rebuild it with rollgate pack, which refuses such entries and names them; the release was not installed',
    );
  });

  it('several entries are named on the same one line', () => {
    expect(
      packageRefusalMessage(
        'web-01',
        'app.tgz',
        'entry a is a FIFO (named pipe)\nentry /b is an absolute path\n',
      ),
    ).toBe(
      'download on web-01: package app.tgz: 2 entries a release must not have: entry a is a FIFO (named pipe); entry /b is an absolute path — rebuild it with rollgate pack, which refuses such entries and names them; the release was not installed',
    );
  });
});
