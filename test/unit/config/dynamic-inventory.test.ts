import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  parseDynamicInventory,
  readInventoryGroup,
  toInventoryHosts,
} from '../../../src/config/ansible-inventory';

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/config/${name}`, import.meta.url), 'utf8');

const read = (text: string) => parseDynamicInventory(text, 'inventory.url', 'cmdb');

describe("dynamic inventory JSON (Ansible's --list format)", () => {
  const json = read(fixture('dynamic-inventory.json'));
  const yaml = fixture('inventory.yml');

  it.each(['all', 'prod', 'web', 'api', 'db', 'aaa', 'ungrouped'])(
    'group %s: the same hosts, order and variables as the same inventory in YAML',
    (group) => {
      expect(json.hostsOf(group).map(({ host, vars }) => ({ host, vars }))).toEqual(
        readInventoryGroup(yaml, 'yaml', group).map(({ host, vars }) => ({ host, vars })),
      );
    },
  );

  it('maps ansible_host, ports, user and the pulled-out variable onto targets', () => {
    const hosts = toInventoryHosts(json.hostsOf('web'), 'rollgate_pulled_out');
    expect(hosts.map((h) => [h.host, h.address, h.pulledOut, h.sshUser, h.sshPort])).toEqual([
      ['web01.example.com', 'web01.example.com', false, undefined, undefined],
      ['web02.example.com', 'web02.example.com', true, undefined, undefined],
      ['web03.example.com', 'web03.example.com', false, undefined, undefined],
      ['web-special', '10.0.0.9', false, 'deploy', 2222],
    ]);
  });

  it('a group given as a list is its hosts; a mapping without hosts/vars/children is one host', () => {
    const inv = read(
      JSON.stringify({
        web: ['w1', 'w2'],
        solo: { ansible_host: '10.1.1.1' },
        _meta: { hostvars: {} },
      }),
    );
    expect(inv.hostsOf('web').map((h) => h.host)).toEqual(['w1', 'w2']);
    expect(inv.hostsOf('all').at(-1)).toEqual({ host: 'solo', vars: { ansible_host: '10.1.1.1' } });
    // As for a file: a host named like its group is refused as inventory.group.
    expect(() => inv.hostsOf('solo')).toThrow(/"solo" is both a host and a group/);
  });

  it('host variables override group variables; ansible_group_priority orders siblings', () => {
    const inv = read(
      JSON.stringify({
        a: { hosts: ['h'], vars: { v: 'a', ansible_group_priority: 2 } },
        b: { hosts: ['h'], vars: { v: 'b' } },
        _meta: { hostvars: { h: { own: 1 } } },
      }),
    );
    expect(inv.hostsOf('a')[0]!.vars).toEqual({ v: 'a', own: 1 });
  });

  it.each([
    ['', /inventory\.url: cmdb: the answer is not JSON .*; it is empty/],
    ['<html>502 Bad Gateway</html>', /not JSON .*it starts "<html>502 Bad Gateway/],
    ['[1, 2]', /must be a JSON object of groups .*not a list/],
    ['{"web": ["w1"]}', /no _meta\.hostvars: .*"_meta": \{"hostvars": \{\}\}/],
    ['{"web": "w1", "_meta": {"hostvars": {}}}', /group "web": "hosts" must be a list/],
    ['{"web": {"hosts": [1]}, "_meta": {"hostvars": {}}}', /host 1 must be a string/],
    ['{"web": {"vars": [1]}, "_meta": {"hostvars": {}}}', /"vars" must be an object/],
    ['{"web": {"children": "x"}, "_meta": {"hostvars": {}}}', /"children" must be a list/],
    ['{"a": {"children": ["b"]}, "b": {"children": ["a"]}, "_meta": {"hostvars": {}}}', /loop/],
    ['{"web": ["w1"], "_meta": {"hostvars": {"w1": 3}}}', /hostvars\["w1"\] must be an object/],
    ['{"web": ["w1"], "_meta": {"hostvars": []}}', /_meta\.hostvars must be an object/],
  ])('refuses %j naming the field and the source', (text, message) => {
    expect(() => read(text)).toThrow(message);
    expect(() => read(text)).toThrow(/^inventory\.url: cmdb: /);
  });

  it('an unknown group names the known ones', () => {
    expect(() => json.hostsOf('webb')).toThrow(/unknown group "webb" in cmdb; known groups: /);
  });
});
