import { describe, expect, it } from 'vitest';
import {
  compareNames,
  linkEscapes,
  normalisedMode,
  planPackage,
  type DirNode,
} from '../../../src/package/layout';

const file = (path: string, mode = 0o644, size = 1): DirNode => ({
  path,
  kind: 'file',
  mode,
  size,
});
const dir = (path: string, mode = 0o755): DirNode => ({ path, kind: 'dir', mode, size: 4096 });
const link = (path: string, linkTarget: string): DirNode => ({
  path,
  kind: 'symlink',
  mode: 0o777,
  size: linkTarget.length,
  linkTarget,
});

describe('planPackage: what goes in', () => {
  it('files at the archive root, VERSION added, entries in byte order, a directory’s entries right after it', () => {
    const plan = planPackage(
      [file('server.js'), dir('lib'), file('lib/b.js'), file('lib-a.js'), file('Z'), file('a')],
      '2.0.0',
    );
    expect(plan.refusals).toEqual([]);
    expect(plan.entries.map((e) => e.name)).toEqual([
      'VERSION',
      'Z',
      'a',
      'lib/',
      'lib/b.js',
      'lib-a.js',
      'server.js',
    ]);
    const version = plan.entries.find((e) => e.name === 'VERSION')!;
    expect(version.content?.toString()).toBe('2.0.0\n');
    expect(version.size).toBe(6);
    expect(plan.entries.find((e) => e.name === 'lib/b.js')?.source).toBe('lib/b.js');
  });

  it.each([
    ['file', 0o600, 0o644],
    ['file', 0o664, 0o644],
    ['file', 0o700, 0o755],
    ['file', 0o4755, 0o755],
    ['file', 0o611, 0o644],
    ['dir', 0o700, 0o755],
    ['dir', 0o2775, 0o755],
    ['symlink', 0o777, 0o777],
  ] as const)('mode of a %s %o becomes %o', (kind, mode, want) => {
    expect(normalisedMode(kind, mode)).toBe(want);
  });

  it('a VERSION that agrees with --version is replaced by the same content; generated files are added', () => {
    const plan = planPackage(
      [file('server.js'), { ...file('VERSION'), text: '1.0.0\n' }],
      '1.0.0',
      { BROKEN: 'exit\n' },
    );
    expect(plan.refusals).toEqual([]);
    expect(plan.entries.map((e) => [e.name, e.content?.toString()])).toEqual([
      ['BROKEN', 'exit\n'],
      ['VERSION', '1.0.0\n'],
      ['server.js', undefined],
    ]);
  });

  it('links that stay inside the tree go in as links', () => {
    const plan = planPackage(
      [
        dir('bin'),
        link('bin/app', '../lib/app.js'),
        dir('lib'),
        file('lib/app.js'),
        link('cur', '.'),
      ],
      '1',
    );
    expect(plan.refusals).toEqual([]);
    expect(plan.entries.filter((e) => e.type === 'symlink')).toEqual([
      { name: 'bin/app', type: 'symlink', mode: 0o777, size: 0, linkname: '../lib/app.js' },
      { name: 'cur', type: 'symlink', mode: 0o777, size: 0, linkname: '.' },
    ]);
  });
});

describe('planPackage: what the host must never get, each named', () => {
  it.each<[string, DirNode[], string, RegExp]>([
    ['an absolute path', [file('/etc/passwd')], '/etc/passwd', /absolute path/],
    ['a ".." component', [file('../evil')], '../evil', /path with "\.\."/],
    ['a ".." inside', [file('a/../../evil')], 'a/../../evil', /"\.\."/],
    [
      'a block device',
      [{ path: 'sda', kind: 'block-device', mode: 0o660, size: 0 }],
      'sda',
      /block device/,
    ],
    [
      'a character device',
      [{ path: 'dev/null', kind: 'character-device', mode: 0o666, size: 0 }],
      'dev/null',
      /character device/,
    ],
    ['a FIFO', [{ path: 'queue', kind: 'fifo', mode: 0o644, size: 0 }], 'queue', /FIFO/],
    [
      'a socket',
      [{ path: 'run/app.sock', kind: 'socket', mode: 0o755, size: 0 }],
      'run/app.sock',
      /socket/,
    ],
    ['an absolute link', [link('etc', '/etc')], 'etc', /link to \/etc, which leads out/],
    [
      'a link above the root',
      [link('up', '../shared')],
      'up',
      /link to \.\.\/shared, which leads out/,
    ],
    [
      'a deep link above the root',
      [dir('a'), dir('a/b'), link('a/b/c', '../../../x')],
      'a/b/c',
      /leads out/,
    ],
    ['an empty link', [link('nothing', '')], 'nothing', /leads out/],
    [
      'a name that is not UTF-8',
      [{ ...file('caf\ufffd'), badName: true }],
      'caf\ufffd',
      /not UTF-8/,
    ],
    ['IMAGE at the root', [file('IMAGE')], 'IMAGE', /container image/],
    ['the complete marker', [file('.rollgate-complete')], '.rollgate-complete', /marker/],
    [
      'a VERSION that disagrees',
      [{ ...file('VERSION'), text: '1.0.0\n' }],
      'VERSION',
      /holds "1\.0\.0", but the version is 2\.0\.0/,
    ],
    ['a VERSION directory', [dir('VERSION')], 'VERSION', /writes VERSION/],
    ['a file rollgate generates', [file('BROKEN')], 'BROKEN', /writes this file itself/],
  ])('%s', (_, nodes, path, reason) => {
    const plan = planPackage(
      [file('server.js'), ...nodes],
      '2.0.0',
      nodes.some((n) => n.path === 'BROKEN') ? { BROKEN: 'x\n' } : {},
    );
    expect(plan.refusals).toHaveLength(1);
    expect(plan.refusals[0]!.path).toBe(path);
    expect(plan.refusals[0]!.reason).toMatch(reason);
    expect(plan.entries.filter((e) => e.source === path)).toEqual([]);
  });

  it('nested IMAGE or VERSION files are ordinary files', () => {
    const plan = planPackage([dir('doc'), file('doc/IMAGE'), file('doc/VERSION')], '1');
    expect(plan.refusals).toEqual([]);
  });

  it('every refusal is listed, in byte order', () => {
    const plan = planPackage(
      [
        { path: 'z', kind: 'fifo', mode: 0, size: 0 },
        link('a', '/x'),
        { path: 'M', kind: 'socket', mode: 0, size: 0 },
      ],
      '1',
    );
    expect(plan.refusals.map((r) => r.path)).toEqual(['M', 'a', 'z']);
  });
});

describe('linkEscapes: resolved through the package’s other links, as the host resolves it', () => {
  const tree = (...nodes: DirNode[]) => new Map(nodes.map((n) => [n.path, n]));

  it.each<[string, string, string, DirNode[], boolean]>([
    ['sibling', 'a/l', 'b', [dir('a')], false],
    ['parent then down', 'a/l', '../b/c', [dir('a'), dir('b')], false],
    ['to the root itself', 'a/l', '..', [dir('a')], false],
    ['above the root', 'a/l', '../..', [dir('a')], true],
    ['absolute', 'l', '/srv/app/x', [], true],
    ['dot-dot hidden behind a link to "."', 'q', 'p/..', [link('p', '.')], true],
    [
      'through a link into a deeper dir and back',
      'q',
      'p/..',
      [link('p', 'a/b'), dir('a'), dir('a/b')],
      false,
    ],
    ['through a link that itself leaves', 'q', 'p/x', [link('p', '/etc')], true],
    ['a loop leads nowhere', 'q', 'r', [link('r', 's'), link('s', 'r')], false],
  ])('%s', (_, path, target, nodes, escapes) => {
    expect(linkEscapes(path, target, tree(...nodes))).toBe(escapes);
  });
});

describe('compareNames', () => {
  it('orders by UTF-8 bytes, not by locale', () => {
    const names = ['é', 'e', 'Z', 'a', '_', '-'];
    expect([...names].sort(compareNames)).toEqual(['-', 'Z', '_', 'a', 'e', 'é']);
  });
});
