/**
 * F8: a dynamic inventory's JSON is read as Ansible's script plugin reads it. The same answers
 * go to the real `ansible-inventory` (as a script) and to rollgate's parser; per group the hosts
 * and their order (`ansible <group> --list-hosts`) and per host every variable
 * (`ansible-inventory --host`) must agree.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDynamicInventory } from '../../../src/config/ansible-inventory';
import { ensureAnsible, inventoryHost, listHosts } from '../../support/ansible';

const FIXTURE = readFileSync(
  new URL('../../fixtures/config/dynamic-inventory.json', import.meta.url),
  'utf8',
);

const CASES: Record<string, unknown> = {
  'the fixture (groups, children, vars, hostvars)': JSON.parse(FIXTURE),
  'list form, a host-like group, children named before they are defined': {
    all: { children: ['late'] },
    web: ['w2', 'w1'],
    solo: { ansible_host: '10.9.9.9', role: 'alone' },
    late: { hosts: ['w1', 'l1'], vars: { v: 'late' } },
    _meta: { hostvars: { w1: { v: 'host' }, l1: { ansible_port: 2201 } } },
  },
  'group priority and depth decide which group variable wins': {
    top: { children: ['a', 'b'], vars: { v: 'top' } },
    a: { hosts: ['h1', 'h2'], vars: { v: 'a', ansible_group_priority: 5 } },
    b: { hosts: ['h1'], vars: { v: 'b' } },
    c: { hosts: ['h2'], vars: { v: 'c', only_c: true } },
    _meta: { hostvars: { h2: { n: 1.5, list: [1, 'x'], nested: { k: null } } } },
  },
};

let skip: string | null = null;
beforeAll(async () => {
  skip = await ensureAnsible();
}, 600_000);

describe("dynamic inventory parity with ansible-inventory's script plugin", () => {
  it.each(Object.keys(CASES))('%s', async (name) => {
    if (skip) {
      console.warn(`skipped: ${skip}`);
      return;
    }
    const answer = JSON.stringify(CASES[name]);
    const dir = mkdtempSync(join(tmpdir(), 'rollgate-script-parity-'));
    const script = join(dir, 'inventory.sh');
    writeFileSync(join(dir, 'answer.json'), answer);
    writeFileSync(script, `#!/bin/sh\ncat "$(dirname "$0")/answer.json"\n`);
    chmodSync(script, 0o755);
    const ours = parseDynamicInventory(answer, 'inventory.command', 'inventory.sh');
    let compared = 0;
    for (const group of ours.groupNames()) {
      const theirs = await listHosts(script, group);
      if (!Array.isArray(theirs)) throw new Error(theirs.stderr);
      let mine: string[];
      try {
        mine = ours.hostsOf(group).map((h) => h.host);
      } catch {
        continue; // a group named like a host: rollgate refuses it on purpose
      }
      expect(mine, `group ${group}`).toEqual(theirs);
      compared += 1;
    }
    for (const { host, vars } of ours.hostsOf('all')) {
      const theirs = await inventoryHost(script, host);
      expect(theirs.ok, theirs.stderr).toBe(true);
      expect(vars, `host ${host}`).toEqual(JSON.parse(theirs.stdout));
      compared += 1;
    }
    expect(compared).toBeGreaterThan(3);
  });
});
