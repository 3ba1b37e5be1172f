import { basename } from 'node:path';
import { InputError } from '../model/errors';
import { readInventory, toInventoryHosts, type InventoryHost } from './ansible-inventory';
import { bareMessage, type Problems } from './group-file-issues';
import type { RawGroupFile, RawTarget } from './raw-group-file';
import { USER_NAME, type Draft } from './target-drafts';

/** Targets from the Ansible inventory the group file names: one draft per host of its group. */

/** The inventory variable a draft field came from, for messages. */
const INVENTORY_VAR: Partial<Record<keyof RawTarget, string>> = {
  host: 'host name',
  address: 'ansible_host',
  port: 'rollgate_port',
  docBase: 'rollgate_doc_base',
  lbName: 'rollgate_lb_name',
};

export async function inventoryDrafts(
  raw: RawGroupFile,
  problems: Problems,
  local: (path: string) => string,
): Promise<Draft[]> {
  const inventory = raw.inventory;
  if (!inventory) return [];
  const file = local(inventory.file);
  const source = basename(file);
  const groupName = inventory.group ?? 'all';
  let entries;
  try {
    entries = (await readInventory(file, inventory.format)).hostsOf(groupName);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    problems.add(error.field, bareMessage(error));
    return [];
  }
  if (entries.length === 0) {
    problems.add('inventory.group', `group "${groupName}" in ${source} has no hosts`);
    return [];
  }
  return toInventoryHosts(entries, inventory.pulledOutVar).map((host) =>
    inventoryDraft(host, source, raw, problems),
  );
}

function inventoryDraft(
  host: InventoryHost,
  source: string,
  raw: RawGroupFile,
  problems: Problems,
): Draft {
  const label = `${source}${host.line === undefined ? '' : `:${host.line}`} (${host.host})`;
  const fail = (key: keyof RawTarget | undefined, message: string): void => {
    const what = key === undefined ? '' : `${INVENTORY_VAR[key] ?? key} `;
    problems.add('inventory.file', `${label}: ${what}${message}`);
  };
  const draft: Draft = {
    host: host.host,
    address: host.address,
    port: host.port ?? raw.port,
    docBase: host.docBase ?? raw.docBase,
    pulledOut: host.pulledOut,
    label,
    addressFrom: host.address === host.host ? 'the inventory name' : 'ansible_host',
    fromInventory: true,
    fail,
  };
  for (const problem of host.problems) problems.add('inventory.file', `${label}: ${problem}`);
  if (host.lbName !== undefined) draft.lbName = host.lbName;
  if (raw.altPort !== undefined) draft.altPort = raw.altPort;
  if (host.sshUser !== undefined) {
    if (USER_NAME.test(host.sshUser)) draft.sshUser = host.sshUser;
    else
      problems.add(
        'inventory.file',
        `${label}: ansible_user "${host.sshUser}" is not a valid user name`,
      );
  }
  if (host.sshPort !== undefined) draft.sshPort = host.sshPort;
  return draft;
}
