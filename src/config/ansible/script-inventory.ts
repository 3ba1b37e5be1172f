/**
 * The JSON an Ansible dynamic inventory prints for `--list` (what the script plugin reads,
 * ansible/plugins/inventory/script.py): top-level keys are groups, each a list of hosts or a
 * mapping with `hosts`, `vars` and `children` (a mapping with none of them is one host named like
 * the group, whose variables it holds); `_meta.hostvars` gives each host's variables.
 */
import { InventoryData, InventoryError, type Vars } from './inventory-data';

export function parseScriptInventory(text: string): InventoryData {
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch (error) {
    const snippet = text.trim().slice(0, 60).replace(/\s+/g, ' ');
    throw new InventoryError(
      `the answer is not JSON (${(error as Error).message})${snippet ? `; it starts "${snippet}"` : '; it is empty'}`,
    );
  }
  if (!isMapping(answer)) {
    throw new InventoryError(
      `the answer must be a JSON object of groups (Ansible's --list format), not ${describe(answer)}`,
    );
  }
  const inventory = new InventoryData();
  const hosts = new Set<string>();
  let hostvars: Record<string, unknown> | undefined;
  for (const [name, body] of Object.entries(answer)) {
    if (name === '_meta') {
      if (isMapping(body) && 'hostvars' in body) {
        if (!isMapping(body.hostvars)) {
          throw new InventoryError(
            `_meta.hostvars must be an object, not ${describe(body.hostvars)}`,
          );
        }
        hostvars = body.hostvars;
      }
      continue;
    }
    readGroup(inventory, hosts, name, body);
  }
  if (hostvars === undefined) {
    throw new InventoryError(
      'the answer has no _meta.hostvars: rollgate reads host variables from there only (Ansible ' +
        'would run the script again with --host for each host); add "_meta": {"hostvars": {}} ' +
        'when the hosts have no variables',
    );
  }
  for (const name of hosts) {
    const vars = hostvars[name] ?? {};
    if (!isMapping(vars)) {
      throw new InventoryError(
        `_meta.hostvars["${name}"] must be an object of variables, not ${describe(vars)}`,
      );
    }
    const host = inventory.hosts.get(name)!;
    for (const [key, value] of Object.entries(vars)) host.vars[key] = value;
  }
  return inventory;
}

function readGroup(inventory: InventoryData, hosts: Set<string>, name: string, raw: unknown): void {
  const group = inventory.addGroup(name);
  let body: Vars;
  if (!isMapping(raw)) body = { hosts: raw };
  else if (!('hosts' in raw || 'vars' in raw || 'children' in raw)) {
    body = { hosts: [group], vars: raw };
  } else body = raw;

  if ('hosts' in body) {
    if (!Array.isArray(body.hosts)) {
      throw new InventoryError(
        `group "${group}": "hosts" must be a list of host names, not ${describe(body.hosts)}`,
      );
    }
    for (const host of body.hosts) {
      if (typeof host !== 'string') {
        throw new InventoryError(
          `group "${group}": host ${JSON.stringify(host)} must be a string, as Ansible requires`,
        );
      }
      hosts.add(host);
      inventory.addHost(host, group, undefined);
    }
  }
  if ('vars' in body) {
    if (!isMapping(body.vars)) {
      throw new InventoryError(
        `group "${group}": "vars" must be an object of variables, not ${describe(body.vars)}`,
      );
    }
    for (const [key, value] of Object.entries(body.vars)) inventory.setGroupVar(group, key, value);
  }
  if ('children' in body) {
    if (!Array.isArray(body.children)) {
      throw new InventoryError(
        `group "${group}": "children" must be a list of group names, not ${describe(body.children)}`,
      );
    }
    for (const child of body.children) {
      inventory.addChild(group, inventory.addGroup(child));
    }
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'string') return `the text "${value.slice(0, 40)}"`;
  return `${typeof value} ${JSON.stringify(value)}`;
}
