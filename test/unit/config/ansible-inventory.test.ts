import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  expandHostPattern,
  inventoryFormatFor,
  readInventoryGroup,
  toInventoryHosts,
  type InventoryFormat,
} from '../../../src/config/ansible-inventory';
import { InputError } from '../../../src/model/errors';

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/config/${name}`, import.meta.url), 'utf8');

const FORMATS: Array<[InventoryFormat, string]> = [
  ['ini', fixture('inventory.ini')],
  ['yaml', fixture('inventory.yml')],
];

const fail = (message: string): never => {
  throw new InputError('inventory.file', message);
};

describe.each(FORMATS)('Ansible inventory (%s)', (format, text) => {
  const read = (group: string) => readInventoryGroup(text, format, group, `inventory.${format}`);
  const hostNames = (group: string) => read(group).map((h) => h.host);
  const varsOf = (group: string, host: string) => read(group).find((h) => h.host === host)?.vars;

  it('M5: follows children, in order of appearance, expanding ranges', () => {
    expect(hostNames('prod')).toEqual([
      'web01.example.com',
      'web02.example.com',
      'web03.example.com',
      'web-special',
      'api-a',
      'api-b',
      'api-c',
    ]);
  });

  it('all holds every host; ungrouped the ones in no group', () => {
    expect(hostNames('all')).toContain('loose.example.com');
    expect(hostNames('all')).toContain('db1');
    expect(hostNames('all')).toHaveLength(9);
    expect(hostNames('ungrouped')).toEqual(['loose.example.com']);
  });

  it('merges vars: host > group > parent > all', () => {
    expect(varsOf('prod', 'web-special')?.level).toBe('host');
    expect(varsOf('prod', 'web03.example.com')?.level).toBe('group');
    expect(varsOf('prod', 'api-b')?.level).toBe('parent');
    expect(varsOf('all', 'db1')?.level).toBe('all');
    expect(varsOf('prod', 'web03.example.com')).toMatchObject({
      only_all: 'yes',
      only_parent: 'yes',
    });
  });

  it('groups at the same depth apply in name order, as in Ansible', () => {
    expect(varsOf('aaa', 'web01.example.com')?.color).toBe('from-zzz');
  });

  it('reads inline host vars, quoted values, and a host listed twice', () => {
    expect(varsOf('web', 'web-special')).toMatchObject({
      ansible_host: '10.0.0.9',
      ansible_port: '2222',
      ansible_user: 'deploy',
      note: 'two words',
    });
    expect(varsOf('web', 'web02.example.com')?.rollgate_pulled_out).toBe('yes');
    expect(varsOf('api', 'api-c')).toMatchObject({ ansible_port: '2200', rollgate_port: '9001' });
  });

  it('names inventory.group and lists the known groups for an unknown group', () => {
    const call = () => read('webb');
    expect(call).toThrow(InputError);
    expect(call).toThrow(/^inventory\.group: unknown group "webb"/);
    expect(call).toThrow(/known groups: aaa, all, api, db, prod, ungrouped, web, zzz/);
  });

  it('maps Ansible and rollgate vars onto targets (M6: pulled-out var)', () => {
    const hosts = toInventoryHosts(read('prod'), 'rollgate_pulled_out');
    const byName = new Map(hosts.map((h) => [h.host, h]));
    expect(byName.get('web-special')).toMatchObject({
      address: '10.0.0.9',
      sshUser: 'deploy',
      sshPort: '2222',
      pulledOut: false,
    });
    expect(byName.get('web01.example.com')).toMatchObject({
      address: 'web01.example.com',
      pulledOut: false,
    });
    expect(byName.get('web01.example.com')?.sshPort).toBeUndefined();
    expect(byName.get('web02.example.com')?.pulledOut).toBe(true);
    expect(byName.get('api-a')).toMatchObject({ port: '9001', sshPort: '2200' });
  });

  it('notes the line where each host first appears', () => {
    const lines = read('prod').map((h) => h.line);
    expect(lines.every((l) => typeof l === 'number' && l > 1)).toBe(true);
  });
});

describe('INI inventory details', () => {
  it.each([
    ['web[01:03]', ['web01', 'web02', 'web03']],
    ['web[8:10].x', ['web8.x', 'web9.x', 'web10.x']],
    ['web[08:10]', ['web08', 'web09', 'web10']],
    ['n[1:9:4]', ['n1', 'n5', 'n9']],
    ['db-[a:c]', ['db-a', 'db-b', 'db-c']],
    ['DB[X:Z]', ['DBX', 'DBY', 'DBZ']],
    ['r[1:2]-[a:b]', ['r1-a', 'r1-b', 'r2-a', 'r2-b']],
    ['[:2]x', ['0x', '1x', '2x']],
    ['plain.example.com', ['plain.example.com']],
  ] as const)('expands %s', (pattern, hosts) => {
    expect(expandHostPattern(pattern, fail)).toEqual(hosts);
  });

  it.each(['web[3:1]', 'web[a:3]', 'web[1]', 'web[1:2:0]', 'web[1:2', 'web[a:Z]', 'h[0:99999]'])(
    'refuses the range %s',
    (pattern) => {
      expect(() => expandHostPattern(pattern, fail)).toThrow(InputError);
    },
  );

  it('reads host:port as ansible_port and puts top hosts in ungrouped', () => {
    const hosts = readInventoryGroup('top:2201\n[g]\nh1:2222 x=1\n', 'ini', 'all');
    expect(hosts).toEqual([
      { host: 'top', vars: { ansible_port: '2201' }, line: 1 },
      { host: 'h1', vars: { ansible_port: '2222', x: '1' }, line: 3 },
    ]);
    expect(readInventoryGroup('top\n[g]\nh1\n', 'ini', 'ungrouped').map((h) => h.host)).toEqual([
      'top',
    ]);
  });

  it('handles escapes, single quotes and # inside quotes', () => {
    const [host] = readInventoryGroup(
      `h1 a='x y' b="say \\"hi\\"" c="#not-a-comment" d=e\\ f # comment\n`,
      'ini',
      'all',
    );
    expect(host?.vars).toEqual({ a: 'x y', b: 'say "hi"', c: '#not-a-comment', d: 'e f' });
  });

  it.each([
    ['[web:foo]\nh1\n', /unknown section kind ":foo"/, 1],
    ['[web\nh1\n', /not a section header/, 1],
    ['[web]\nh1 novalue\n', /expected key=value/, 2],
    ['[web]\nh1 a="open\n', /unclosed " quote/, 2],
    ['[web:vars]\njust-a-word\n', /expected key=value/, 2],
    ['[web:children]\na b\n', /one group name/, 2],
    ['[a:children]\nb\n[b:children]\na\n', /its own ancestor/, undefined],
  ] as const)('refuses %j with inventory.file and the line', (text, message, line) => {
    const call = () => readInventoryGroup(text, 'ini', 'all', 'hosts.ini');
    expect(call).toThrow(/^inventory\.file: hosts\.ini/);
    expect(call).toThrow(message);
    if (line !== undefined) expect(call).toThrow(`hosts.ini:${line}:`);
  });

  it('keeps = in [group:vars] values and strips matching quotes', () => {
    const [host] = readInventoryGroup('[g]\nh\n[g:vars]\nopts = "a=b c"\nraw=x=y\n', 'ini', 'g');
    expect(host?.vars).toEqual({ opts: 'a=b c', raw: 'x=y' });
  });
});

describe('YAML inventory details', () => {
  it('stringifies non-string values and accepts empty groups', () => {
    const text =
      'all:\n  hosts:\n    h1:\n      n: 5\n      b: true\n      l: [1, 2]\n  children:\n    empty:\n';
    expect(readInventoryGroup(text, 'yaml', 'all')).toEqual([
      { host: 'h1', vars: { n: '5', b: 'true', l: '[1,2]' }, line: 3 },
    ]);
    expect(readInventoryGroup(text, 'yaml', 'empty')).toEqual([]);
  });

  it('accepts merge keys (<<) as Ansible does', () => {
    const text =
      'all:\n  hosts:\n    h1: &base\n      ansible_user: ops\n    h2:\n      <<: *base\n      x: "1"\n';
    expect(readInventoryGroup(text, 'yaml', 'all').find((h) => h.host === 'h2')?.vars).toEqual({
      ansible_user: 'ops',
      x: '1',
    });
  });

  it.each([
    ['- a\n- b\n', /a mapping of group names/],
    ['web:\n  hosts: [a, b]\n', /"hosts" of group "web" must be a mapping/],
    ['web:\n  hosts:\n    h1: 3\n', /variables of host "h1"/],
    ['web:\n  hosts:\n    h1: {\n', /inventory\.yml/],
  ] as const)('refuses %j naming inventory.file', (text, message) => {
    const call = () => readInventoryGroup(text, 'yaml', 'all', 'inventory.yml');
    expect(call).toThrow(/^inventory\.file: /);
    expect(call).toThrow(message);
  });
});

describe('inventoryFormatFor', () => {
  it.each([
    ['hosts', 'ini'],
    ['hosts.ini', 'ini'],
    ['inv.yml', 'yaml'],
    ['inv.YAML', 'yaml'],
    ['inv.json', 'yaml'],
  ] as const)('%s is %s', (file, format) => {
    expect(inventoryFormatFor(file)).toBe(format);
  });
});

describe('YAML inventory scalars', () => {
  it('keeps y/n/on/off keys and values as text, and tolerates !vault tags', () => {
    const text =
      'all:\n  hosts:\n    n:\n      y: on\n      secret: !vault |\n        $ANSIBLE_VAULT;1.1\n';
    const [host] = readInventoryGroup(text, 'yaml', 'all');
    expect(host?.host).toBe('n');
    expect(host?.vars.y).toBe('on');
    expect(host?.vars.secret).toContain('$ANSIBLE_VAULT');
  });
});
