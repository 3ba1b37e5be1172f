/**
 * Inventory parity: every inventory in test/fixtures/ansible/ is read by the real
 * `ansible-inventory` (ansible-core from Debian) and by rollgate, and the two readings are
 * compared per group: hosts, their order, the SSH address, port and user each target gets,
 * pulled-out flags and every variable. Cases Ansible rejects must be rejected by rollgate too;
 * cases rollgate refuses on purpose (case.json `refuse`) must be refused with a message that says so.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGroupFile } from '../../../src/config/group-file';
import { InputError } from '../../../src/model/errors';
import { ensureAnsible, inventoryHost, inventoryList, listHosts } from '../../support/ansible';
import { rollgateVars } from '../../support/ansible-parity';

const FIXTURES = fileURLToPath(new URL('../../fixtures/ansible/', import.meta.url));
const DEFAULT_SSH_USER = 'rollgate';
const DEFAULT_SSH_PORT = 22;

interface CaseMeta {
  inventory: string;
  groups: string[];
  pulledOutVar?: string;
  /** Ansible rejects the inventory; rollgate must too, naming this. */
  ansibleFails?: boolean;
  error?: string;
  /** Ansible accepts it, rollgate refuses on purpose with a message containing this. */
  refuse?: string;
  /** Per group: rollgate refuses to read this group, with a message containing the text. */
  refuseGroups?: Record<string, string>;
}

const CASES = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

const ASPECTS = ['hosts', 'order', 'address', 'port', 'user', 'pulledOut', 'vars'] as const;
type Aspect = (typeof ASPECTS)[number] | 'fails' | 'refused';

interface Outcome {
  name: string;
  checks: Array<{ group: string; aspect: Aspect; ok: boolean; detail?: string }>;
}

const outcomes: Outcome[] = [];
let skipReason: string | null = null;

beforeAll(async () => {
  skipReason = await ensureAnsible();
}, 600_000);

afterAll(() => {
  if (outcomes.length === 0) return;
  const inventoriesOk = outcomes.filter((o) => o.checks.every((c) => c.ok)).length;
  const checks = outcomes.flatMap((o) => o.checks);
  const byAspect = new Map<string, [number, number]>();
  for (const check of checks) {
    const [ok, all] = byAspect.get(check.aspect) ?? [0, 0];
    byAspect.set(check.aspect, [ok + (check.ok ? 1 : 0), all + 1]);
  }
  const aspects = [...byAspect].map(([aspect, [ok, all]]) => `${aspect} ${ok}/${all}`).join(', ');
  console.log(
    `ansible parity: ${inventoriesOk} of ${outcomes.length} inventories agree; ` +
      `${checks.filter((c) => c.ok).length} of ${checks.length} checks (${aspects})`,
  );
  for (const outcome of outcomes) {
    for (const check of outcome.checks.filter((c) => !c.ok)) {
      console.log(`  ✗ ${outcome.name} [${check.group}] ${check.aspect}: ${check.detail ?? ''}`);
    }
  }
});

describe('Ansible inventory parity with ansible-inventory', () => {
  it.each(CASES)('%s', async (name) => {
    if (skipReason) {
      console.warn(`skipped: ${skipReason}`);
      return;
    }
    const dir = join(FIXTURES, name);
    const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as CaseMeta;
    const file = join(dir, meta.inventory);
    const outcome: Outcome = { name, checks: [] };
    outcomes.push(outcome);

    const list = await inventoryList(file);
    // Ansible rejects: rollgate must reject too, naming what Ansible names.
    if (meta.ansibleFails) {
      expect(list.ok, `ansible-inventory should reject ${name}`).toBe(false);
      const ours = await rollgateReading(file, meta.groups[0]!, meta);
      const ok = ours instanceof Error && ours.message.includes(meta.error ?? '');
      outcome.checks.push({
        group: meta.groups[0]!,
        aspect: 'fails',
        ok,
        detail: ours instanceof Error ? ours.message : 'rollgate accepted it',
      });
      expect(ok, ours instanceof Error ? ours.message : 'rollgate accepted it').toBe(true);
      return;
    }
    expect(list.ok, `ansible-inventory --list failed: ${list.stderr}`).toBe(true);
    const inventory = JSON.parse(list.stdout) as AnsibleList;
    const hostvars = unwrap(inventory._meta.hostvars) as Record<string, Vars>;

    if (meta.refuse !== undefined) {
      const ours = await rollgateReading(file, meta.groups[0]!, meta);
      const ok = ours instanceof Error && ours.message.includes(meta.refuse);
      outcome.checks.push({
        group: meta.groups[0]!,
        aspect: 'refused',
        ok,
        detail: ours instanceof Error ? ours.message : 'rollgate accepted it',
      });
      expect(ok, ours instanceof Error ? ours.message : 'rollgate accepted it').toBe(true);
      return;
    }

    // --host gives the same variables as --list (for the first host of the first group).
    let hostChecked = false;
    const orders = await Promise.all(meta.groups.map((group) => listHosts(file, group)));
    for (const [i, group] of meta.groups.entries()) {
      const hosts = orders[i]!;
      if (!Array.isArray(hosts)) throw new Error(`ansible --list-hosts ${group}: ${hosts.stderr}`);
      const refusal = meta.refuseGroups?.[group];
      const ours = await rollgateReading(file, group, meta);
      if (refusal !== undefined) {
        const ok = ours instanceof Error && ours.message.includes(refusal);
        outcome.checks.push({
          group,
          aspect: 'refused',
          ok,
          detail: ours instanceof Error ? ours.message : 'rollgate accepted it',
        });
        continue;
      }
      if (!hostChecked && hosts[0] !== undefined) {
        hostChecked = true;
        const single = await inventoryHost(file, hosts[0]);
        expect(single.ok, single.stderr).toBe(true);
        expect(unwrap(JSON.parse(single.stdout))).toEqual(hostvars[hosts[0]] ?? {});
      }
      if (ours instanceof Error) {
        for (const aspect of ASPECTS) {
          outcome.checks.push({ group, aspect, ok: false, detail: `rollgate: ${ours.message}` });
        }
        continue;
      }
      const theirs = hosts.map((host) => ansibleTarget(host, hostvars[host] ?? {}, meta));
      compare(outcome, group, theirs, ours, definedPrefix(inventory, group, hosts.length));
    }
    const failed = outcome.checks.filter((c) => !c.ok);
    expect(failed.map((c) => `[${c.group}] ${c.aspect}: ${c.detail}`)).toEqual([]);
  });
});

type Vars = Record<string, unknown>;

interface AnsibleList {
  _meta: { hostvars: Record<string, Vars> };
  [group: string]: { hosts?: string[]; children?: string[] } | AnsibleList['_meta'];
}

interface Reading {
  host: string;
  address: string;
  port: number | string;
  user: string;
  pulledOut: boolean;
  vars: Vars;
}

/** ansible-inventory prints `!unsafe` values as {"__ansible_unsafe": value}. */
function unwrap(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrap);
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 1 && entries[0]![0] === '__ansible_unsafe') return entries[0]![1];
    return Object.fromEntries(entries.map(([k, v]) => [k, unwrap(v)]));
  }
  return value;
}

/**
 * The SSH endpoint Ansible uses, from ansible/constants.py MAGIC_VARIABLE_MAPPING (the first
 * name that is set wins: remote_addr = ansible_ssh_host, ansible_host; port = ansible_ssh_port,
 * ansible_port; remote_user = ansible_ssh_user, ansible_user) and the ssh plugin's `type: int`.
 */
function ansibleTarget(host: string, vars: Vars, meta: CaseMeta): Reading {
  const first = (...names: string[]): unknown =>
    names.map((n) => vars[n]).find((v) => v !== undefined && v !== null);
  const port = first('ansible_ssh_port', 'ansible_port');
  return {
    host,
    address: String(first('ansible_ssh_host', 'ansible_host') ?? host),
    port: port === undefined ? DEFAULT_SSH_PORT : (pythonInt(port) ?? `int(${String(port)}) fails`),
    user: String(first('ansible_ssh_user', 'ansible_user') ?? DEFAULT_SSH_USER),
    pulledOut: meta.pulledOutVar === undefined ? false : convertBool(vars[meta.pulledOutVar]),
    vars,
  };
}

/** Python's int() of a value (what Ansible's ensure_type does for `type: int`). */
function pythonInt(value: unknown): number | undefined {
  if (typeof value === 'number') return Math.trunc(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return /^[+-]?\d+(?:_\d+)*$/.test(text) ? Number(text.replaceAll('_', '')) : undefined;
}

/** ansible.module_utils.parsing.convert_bool.boolean(strict=False). */
function convertBool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value === 1;
  if (typeof value !== 'string') return false;
  return ['y', 'yes', 'on', '1', 'true', 't'].includes(value.trim().toLowerCase());
}

/**
 * How many of Ansible's hosts come in a defined order. Ansible lists a group's own hosts, then
 * its children's in definition order; deeper levels come from iterating a Python set of groups,
 * whose order is not defined (two runs of `ansible <group> --list-hosts` can differ). Where no
 * level below the first has two groups with children of their own, the whole order is defined;
 * otherwise only the own and first-level hosts are.
 */
function definedPrefix(inventory: AnsibleList, group: string, total: number): number {
  const entry = (name: string) =>
    inventory[name] as { hosts?: string[]; children?: string[] } | undefined;
  const childrenOf = (name: string): string[] => entry(name)?.children ?? [];
  let level = childrenOf(group);
  const seen = new Set([group, ...level]);
  while (level.length > 0) {
    const withChildren = level.filter((g) => childrenOf(g).some((c) => !seen.has(c)));
    if (withChildren.length > 1) {
      const first = [group, ...childrenOf(group)].flatMap((g) => entry(g)?.hosts ?? []);
      return new Set(first).size;
    }
    const next = [...new Set(level.flatMap(childrenOf))].filter((g) => !seen.has(g));
    next.forEach((g) => seen.add(g));
    level = next;
  }
  return total;
}

function compare(
  outcome: Outcome,
  group: string,
  theirs: Reading[],
  ours: Reading[],
  definedPrefix: number,
): void {
  const push = (aspect: Aspect, ok: boolean, detail?: string) =>
    outcome.checks.push({ group, aspect, ok, ...(ok ? {} : { detail }) });
  const names = (r: Reading[]) => r.map((x) => x.host);
  const sameSet = JSON.stringify(names(theirs).sort()) === JSON.stringify(names(ours).sort());
  push('hosts', sameSet, `ansible ${names(theirs).join(',')} / rollgate ${names(ours).join(',')}`);
  const prefix = (r: Reading[]) => JSON.stringify(names(r).slice(0, definedPrefix));
  const inOrder = sameSet && prefix(theirs) === prefix(ours);
  push('order', inOrder, `ansible ${names(theirs).join(',')} / rollgate ${names(ours).join(',')}`);
  const byHost = new Map(ours.map((r) => [r.host, r]));
  for (const aspect of ['address', 'port', 'user', 'pulledOut', 'vars'] as const) {
    const diffs = theirs.flatMap((t) => {
      const o = byHost.get(t.host);
      if (!o) return [`${t.host} missing`];
      return JSON.stringify(sortKeys(t[aspect])) === JSON.stringify(sortKeys(o[aspect]))
        ? []
        : [
            `${t.host}: ansible ${JSON.stringify(t[aspect])} / rollgate ${JSON.stringify(o[aspect])}`,
          ];
    });
    push(aspect, diffs.length === 0, diffs.join('; '));
  }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}

const WORK = mkdtempSync(join(tmpdir(), 'rollgate-parity-'));
let groupFiles = 0;

/** What rollgate makes of the group: the targets a group file gets from it, and their variables. */
async function rollgateReading(
  file: string,
  group: string,
  meta: CaseMeta,
): Promise<Reading[] | Error> {
  const groupFile = join(WORK, `group-${++groupFiles}.yml`);
  const inventory = { file, group, ...(meta.pulledOutVar && { pulledOutVar: meta.pulledOutVar }) };
  writeFileSync(
    groupFile,
    JSON.stringify({
      group: 'parity',
      docBase: '/srv/parity',
      port: 19000,
      service: { start: './run' },
      transport: {
        kind: 'ssh',
        user: DEFAULT_SSH_USER,
        port: DEFAULT_SSH_PORT,
        privateKeyFile: '/dev/null',
      },
      inventory,
    }),
  );
  try {
    const loaded = await loadGroupFile(groupFile, { HOME: WORK });
    const vars = await rollgateVars(file, group);
    return loaded.group.targets.map((target) => {
      const login = loaded.sshOverrides?.[target.id] ?? {};
      return {
        host: target.host,
        address: target.address,
        port: login.port ?? DEFAULT_SSH_PORT,
        user: login.user ?? DEFAULT_SSH_USER,
        pulledOut: target.pulledOut,
        vars: vars.get(target.host) ?? {},
      };
    });
  } catch (error) {
    if (error instanceof InputError) return error;
    throw error;
  }
}
