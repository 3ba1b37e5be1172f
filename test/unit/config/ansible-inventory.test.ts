import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  inventoryFormatFor,
  isTruthy,
  readInventory,
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

describe.each(FORMATS)('Ansible inventory (%s)', (format, text) => {
  const read = (group: string) => readInventoryGroup(text, format, group, `inventory.${format}`);
  const hostNames = (group: string) => read(group).map((h) => h.host);
  const varsOf = (group: string, host: string) => read(group).find((h) => h.host === host)?.vars;

  it('M5: own hosts first, then children in definition order, expanding ranges', () => {
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

  it('types values as Ansible does: ports are numbers', () => {
    expect(varsOf('web', 'web-special')).toMatchObject({
      ansible_host: '10.0.0.9',
      ansible_port: 2222,
      ansible_user: 'deploy',
      note: 'two words',
    });
    expect(varsOf('api', 'api-c')).toMatchObject({ ansible_port: 2200, rollgate_port: 9001 });
  });

  it('maps Ansible and rollgate vars onto targets (M6: pulled-out var)', () => {
    const hosts = toInventoryHosts(read('prod'), 'rollgate_pulled_out');
    const byName = new Map(hosts.map((h) => [h.host, h]));
    expect(byName.get('web-special')).toMatchObject({
      address: '10.0.0.9',
      sshUser: 'deploy',
      sshPort: 2222,
      pulledOut: false,
      problems: [],
    });
    expect(byName.get('web01.example.com')).toMatchObject({
      address: 'web01.example.com',
      pulledOut: false,
    });
    expect(byName.get('web01.example.com')?.sshPort).toBeUndefined();
    expect(byName.get('web02.example.com')?.pulledOut).toBe(true);
    expect(byName.get('api-a')).toMatchObject({ port: 9001, sshPort: 2200 });
  });

  it('names inventory.group and lists the known groups for an unknown group', () => {
    const call = () => read('webb');
    expect(call).toThrow(InputError);
    expect(call).toThrow(/^inventory\.group: unknown group "webb"/);
    expect(call).toThrow(/known groups: aaa, all, api, db, prod, ungrouped, web, zzz/);
  });

  it('notes the line where each host first appears', () => {
    const lines = read('prod').map((h) => h.line);
    expect(lines.every((l) => typeof l === 'number' && l > 1)).toBe(true);
  });
});

const ini = (text: string, group = 'all') => readInventoryGroup(text, 'ini', group, 'hosts.ini');
const yaml = (text: string, group = 'all') =>
  readInventoryGroup(text, 'yaml', group, 'inventory.yml');

describe('INI values are read as Ansible reads them (shlex, then ast.literal_eval)', () => {
  it.each([
    ['p=0x1F90', 8080],
    ['p=8_080', 8080],
    ['p=07', '07'],
    ['p=0o17', 15],
    ['p=1e3', 1000],
    ['p=True', true],
    ['p=true', 'true'],
    ['p=None', null],
    ['p=yes', 'yes'],
    ['p="a b"', 'a b'],
    [`p='"quoted"'`, 'quoted'],
    ['p=a\\tb', 'atb'],
    ['p="a\\tb"', 'a\\tb'],
    [`p='"a\\tb"'`, 'a\tb'],
    ['p=x=y', 'x=y'],
    [`p="[1, 'two']"`, [1, 'two']],
    [`p="{'a': [True, None]}"`, { a: [true, null] }],
    ['p=2+3', '2+3'],
    ['p=--5', '--5'],
    ['p=+5', 5],
    ['p=" 2222"', 2222],
    ['p=a#b', 'a'],
  ] as const)('%s', (assignment, value) => {
    expect(ini(`h1 ${assignment}\n`)[0]?.vars.p).toEqual(value);
  });

  it.each([
    ['k = "quoted value"', 'quoted value'],
    ['k = 22 # a Python comment', 22],
    ['k = deploy # not a comment', 'deploy # not a comment'],
    ['k = a=b=c', 'a=b=c'],
    ['k = "a\\tb"', 'a\tb'],
    ['k = 0x8AE', 2222],
    ['k = 010', '010'],
    ['k =', ''],
  ] as const)('[g:vars] %s', (line, value) => {
    expect(ini(`[g]\nh1\n[g:vars]\n${line}\n`, 'g')[0]?.vars.k).toEqual(value);
  });
});

describe('INI hosts and groups', () => {
  it.each([
    ['web[01:03]', ['web01', 'web02', 'web03']],
    ['web[8:10].x', ['web8.x', 'web9.x', 'web10.x']],
    ['n[1:9:4]', ['n1', 'n5', 'n9']],
    ['db-[a:c]', ['db-a', 'db-b', 'db-c']],
    ['DB[X:Z]', ['DBX', 'DBY', 'DBZ']],
    ['r[1:2]-[a:b]', ['r1-a', 'r1-b', 'r2-a', 'r2-b']],
    ['[0:2]node', ['0node', '1node', '2node']],
    ['web[3:1]', []],
    ['2001:db8::10', ['2001:db8::10']],
    ['fe80::[a:b]', ['fe80::a', 'fe80::b']],
  ] as const)('expands %s', (pattern, hosts) => {
    expect(ini(`[g]\n${pattern}\n`, 'g').map((h) => h.host)).toEqual(hosts);
  });

  it.each([
    ['web1:2222', 'web1', 2222],
    ['[web2]:2201', 'web2', 2201],
    ['[2001:db8::11]:2222', '2001:db8::11', 2222],
    ['10.0.2.5:2200', '10.0.2.5', 2200],
  ] as const)('%s is host %s on port %i', (pattern, host, port) => {
    expect(ini(`[g]\n${pattern}\n`, 'g')).toEqual([
      { host, vars: { ansible_port: port }, line: 2 },
    ]);
  });

  it('a host:port on a second mention is ignored, as Ansible ignores it', () => {
    const hosts = ini('[a]\nweb1\nweb3:2201\n[b]\nweb1:2222\nweb3:2202\n', 'b');
    expect(hosts.map((h) => h.vars.ansible_port)).toEqual([undefined, 2201]);
  });

  it('ungrouped keeps only hosts in no other group; all starts with them', () => {
    const text = 'u1\nlater\n[web]\nw1\nlater\n[ungrouped]\nu3\n';
    expect(ini(text, 'ungrouped').map((h) => h.host)).toEqual(['u1', 'u3']);
    expect(ini(text, 'all').map((h) => h.host)).toEqual(['u1', 'u3', 'w1', 'later']);
  });

  it('[x:children] and [x:vars] may come before [x]', () => {
    const text = '[top:children]\nlater\n[later:vars]\nlv=1\n[later]\nl1\n';
    expect(ini(text, 'top')).toEqual([{ host: 'l1', vars: { lv: 1 }, line: 6 }]);
  });

  it('ties at one depth go by ansible_group_priority, then code-point name order', () => {
    const text = '[B]\nh1\n[a]\nh1\n[_x]\nh1\n[B:vars]\nv=B\n[a:vars]\nv=a\n[_x:vars]\nv=_x\n';
    expect(ini(text)[0]?.vars.v).toBe('a');
    const prioritised = `${text}[B:vars]\nansible_group_priority=5\n`;
    expect(ini(prioritised)[0]?.vars.v).toBe('B');
    expect(ini(prioritised)[0]?.vars).not.toHaveProperty('ansible_group_priority');
  });

  it('the deeper group wins whatever its name', () => {
    const text =
      '[leaf]\nh1\n[mid:children]\nleaf\n[zz]\nh1\n[leaf:vars]\nv=leaf\n[zz:vars]\nv=zz\n';
    expect(ini(text)[0]?.vars.v).toBe('leaf');
  });

  it('refuses a group name that is also a host, saying why', () => {
    const text = 'web\n[db]\nd1\n[app]\ndb\n';
    expect(() => ini(text, 'db')).toThrow(/"db" is both a host and a group.*refuses to guess/);
    expect(ini(text, 'app').map((h) => h.host)).toEqual(['db']);
  });

  it.each([
    ['[web:foo]\nh1\n', /section \[web:foo\] has an unknown type "foo"/, 1],
    ['[web]\n[2001:db8::1]\n', /neither a section header.*IPv6 address/, 2],
    ['[web]\nfe80::\n', /ends in ":".*IPv6/, 2],
    ['[web]\nh1 novalue\n', /expected key=value/, 2],
    ['[web]\nh1 a="open\n', /cannot split the host line/, 2],
    ['[web:vars]\njust-a-word\n', /expected key=value/, 2],
    ['[web:children]\na b\n', /one group name/, 2],
    ['[web:children]\nmissing\n', /names the group "missing", which is never declared/, 2],
    ['[web]\nh\n[nowhere:vars]\nx=1\n', /\[nowhere:vars\] is for a group that is never/, 3],
    ['[a:children]\nb\n[b:children]\na\n', /creates a loop/, 4],
    ['[web]\nh[1:2:0]\n', /is not a step/, 2],
    ['[web]\nh[0:99999]\n', /more than 10000 hosts/, 2],
  ] as const)('refuses %j with inventory.file and the line', (text, message, line) => {
    const call = () => ini(text);
    expect(call).toThrow(/^inventory\.file: hosts\.ini/);
    expect(call).toThrow(message);
    expect(call).toThrow(`hosts.ini:${line}:`);
  });
});

describe('YAML inventories are YAML 1.1, as PyYAML reads them', () => {
  it.each([
    ['010000', 4096],
    ['0x1F90', 8080],
    ['8_080', 8080],
    ['1:30', 90],
    ['yes', true],
    ['Off', false],
    ['y', 'y'],
    ['09', '09'],
    ['1e3', '1e3'],
    ['1.0e+3', 1000],
    ['0o17', '0o17'],
    ['~', null],
    ['2024-01-02', '2024-01-02'],
    ['2024-01-02 10:11:12', '2024-01-02T10:11:12'],
    ['"010"', '010'],
    ['!!str 10', '10'],
  ] as const)('%s', (scalar, value) => {
    expect(yaml(`g:\n  hosts:\n    h1:\n      v: ${scalar}\n`)[0]?.vars.v).toEqual(value);
  });

  it('keeps the first place and the last value of a duplicate key', () => {
    const text = 'g:\n  hosts:\n    w1:\n      a: 1\n    w2:\n    w1:\n      b: 2\n';
    expect(yaml(text)).toEqual([
      { host: 'w1', vars: { b: 2 }, line: 3 },
      { host: 'w2', vars: {}, line: 5 },
    ]);
  });

  it('accepts merge keys, string shorthands and hosts directly under all', () => {
    const text =
      'all:\n  hosts:\n    d1:\n  children:\n    web:\n      hosts: w1\n      vars: &v\n        u: ops\n    db:\n      children: web\n      vars:\n        <<: *v\n        x: 1\n';
    expect(yaml(text, 'db')).toEqual([{ host: 'w1', vars: { u: 'ops', x: 1 }, line: 6 }]);
    expect(yaml(text, 'ungrouped').map((h) => h.host)).toEqual(['d1']);
  });

  it('reads !vault values as Ansible prints them and refuses to use one for an address', () => {
    const text =
      'g:\n  hosts:\n    h1:\n      ansible_host: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n';
    const [entry] = yaml(text);
    expect(entry?.vars.ansible_host).toEqual({
      __ansible_vault: '$ANSIBLE_VAULT;1.1;AES256\n6162\n',
    });
    expect(toInventoryHosts([entry!])[0]?.problems).toEqual([
      expect.stringMatching(
        /ansible_host is encrypted with ansible-vault; rollgate cannot decrypt/,
      ),
    ]);
  });

  it.each([
    ['- a\n- b\n', /a mapping of group names/],
    ['web:\n  hosts: [a, b]\n', /"hosts" of group "web" must be a mapping/],
    ['web:\n  hosts:\n    h1: 3\n', /variables of host "h1"/],
    ['web:\n  hosts:\n    10:\n', /host 10 in group "web" must be a string: quote it/],
    ['web:\n  hosts:\n    h1: {\n', /inventory\.yml:/],
    [
      'plugin: aws_ec2\n',
      /inventory plugin "aws_ec2".*ansible-inventory -i inventory\.yml --list --yaml --export/,
    ],
  ] as const)('refuses %j naming inventory.file', (text, message) => {
    const call = () => yaml(text);
    expect(call).toThrow(/^inventory\.file: /);
    expect(call).toThrow(message);
  });
});

describe('which reader a file gets', () => {
  it.each([
    ['hosts', 'auto'],
    ['hosts.ini', 'ini'],
    ['inv.yml', 'auto'],
    ['inv.YAML', 'auto'],
    ['inv.json', 'auto'],
    ['.hosts', 'auto'],
  ] as const)('%s is %s', (file, format) => {
    expect(inventoryFormatFor(file)).toBe(format);
  });

  it('a file without extension holding YAML is YAML; a .yml holding INI is INI', () => {
    expect(readInventoryGroup('web:\n  hosts:\n    w1:\n', 'auto', 'web', 'hosts')).toHaveLength(1);
    expect(readInventoryGroup('[web]\nw1 p=1\n', 'auto', 'web', 'hosts.yml')).toEqual([
      { host: 'w1', vars: { p: 1 }, line: 2 },
    ]);
  });
});

describe('the SSH login a host gets', () => {
  const hosts = (vars: Record<string, unknown>) =>
    toInventoryHosts([{ host: 'h1', vars }], 'out')[0]!;

  it('prefers the ssh forms, as Ansible does (MAGIC_VARIABLE_MAPPING)', () => {
    expect(
      hosts({
        ansible_host: '10.0.0.1',
        ansible_ssh_host: '10.0.0.2',
        ansible_port: 2222,
        ansible_ssh_port: '2200',
        ansible_user: 'deploy',
        ansible_ssh_user: 'ops',
      }),
    ).toMatchObject({ address: '10.0.0.2', sshPort: 2200, sshUser: 'ops', problems: [] });
  });

  it('reads ports with Python int() and says why it refuses one', () => {
    expect(hosts({ ansible_port: ' 2_222 ' }).sshPort).toBe(2222);
    expect(hosts({ ansible_port: '0x1F90' }).problems).toEqual([
      expect.stringMatching(/ansible_port "0x1F90" is not a port.*int\(\)/),
    ]);
    expect(hosts({ ansible_port: 70000 }).problems).toEqual([
      expect.stringMatching(/ansible_port 70000 is not a port \(1 to 65535\)/),
    ]);
  });

  it.each([
    [true, true],
    ['yes', true],
    ['On', true],
    [1, true],
    ['y', true],
    [false, false],
    ['no', false],
    [undefined, false],
  ] as const)('pulled out when the var is %j: %s', (value, pulledOut) => {
    expect(hosts({ out: value }).pulledOut).toBe(pulledOut);
    expect(isTruthy(value)).toBe(pulledOut);
  });
});

describe('group_vars/ and host_vars/ beside the inventory', () => {
  it('applies them with Ansible precedence; a host pulled out there is pulled out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rollgate-inv-'));
    try {
      await writeFile(join(dir, 'hosts'), '[web]\nw1 hv=inventory\nw2\n[web:vars]\ngv=inventory\n');
      await mkdir(join(dir, 'group_vars', 'web'), { recursive: true });
      await mkdir(join(dir, 'host_vars'));
      await writeFile(join(dir, 'group_vars', 'all.yml'), 'gv: all_file\nav: 1\n');
      await writeFile(join(dir, 'group_vars', 'web', '10.yml'), 'wv: dir\n');
      await writeFile(join(dir, 'group_vars', 'web', '.hidden.yml'), 'wv: hidden\n');
      await writeFile(join(dir, 'host_vars', 'w2.json'), '{"rollgate_pulled_out": true}');
      const entries = (await readInventory(join(dir, 'hosts'))).hostsOf('web');
      expect(entries.map((e) => e.vars)).toEqual([
        { gv: 'all_file', av: 1, wv: 'dir', hv: 'inventory' },
        { gv: 'all_file', av: 1, wv: 'dir', rollgate_pulled_out: true },
      ]);
      const hosts = toInventoryHosts(entries, 'rollgate_pulled_out');
      expect(hosts.map((h) => h.pulledOut)).toEqual([false, true]);

      await writeFile(join(dir, 'script'), '#!/bin/sh\necho {}\n', { mode: 0o755 });
      await expect(readInventory(join(dir, 'script'))).rejects.toThrow(
        /script is an executable inventory script; rollgate reads static INI and YAML/,
      );
      await expect(readInventory(dir)).rejects.toThrow(/EISDIR.*not a directory of them/);

      await writeFile(join(dir, 'host_vars', 'w1.yml'), '$ANSIBLE_VAULT;1.1;AES256\n6162\n');
      await expect(readInventory(join(dir, 'hosts'))).rejects.toThrow(
        /host_vars\/w1\.yml: is encrypted with ansible-vault; rollgate cannot decrypt it/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
