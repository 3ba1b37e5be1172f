import { basename } from 'node:path';
import { InputError } from '../model/errors';
import {
  parseDynamicInventory,
  readInventory,
  toInventoryHosts,
  type AnsibleInventory,
  type InventoryHost,
} from './ansible-inventory';
import type { InventorySpec } from './inventory-source-spec';
import { parseScriptInventory } from './ansible/script-inventory';
import type { InventoryCache } from '../inventory/cache';
import {
  InventoryUnavailableError,
  type InventoryOrigin,
  type InventorySources,
} from '../inventory/sources';
import { shq } from '../host/quote';
import { describeSource, sourceField, type InventorySource } from '../inventory/source';
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
  site: 'rollgate_site',
};

export interface DynamicInventoryContext {
  sources: InventorySources;
  cache: InventoryCache;
}

export interface InventoryDrafts {
  drafts: Draft[];
  /** Where a command's or URL's answer came from (the source, or the cache when it is down). */
  origin?: InventoryOrigin;
}

export async function inventoryDrafts(
  raw: RawGroupFile,
  spec: InventorySpec | null,
  problems: Problems,
  local: (path: string) => string,
  dynamic: DynamicInventoryContext,
): Promise<InventoryDrafts> {
  const inventory = raw.inventory;
  if (!inventory || !spec) return { drafts: [] };
  const groupName = inventory.group ?? 'all';
  let source: string;
  let field: string;
  let origin: InventoryOrigin | undefined;
  let read: () => Promise<AnsibleInventory>;
  if (spec.kind === 'file') {
    const file = local(spec.file);
    source = basename(file);
    field = 'inventory.file';
    read = () => readInventory(file, inventory.format);
  } else {
    source = describeSource(spec.source);
    field = sourceField(spec.source);
    read = async () => {
      let loaded;
      try {
        loaded = await dynamic.sources.load(spec.source, spec.policy, dynamic.cache, (text) =>
          parseScriptInventory(text).reconcile(),
        );
      } catch (error) {
        if (!(error instanceof InventoryUnavailableError)) throw error;
        throw new InputError(field, unavailableMessage(spec.source, error.message, dynamic.cache));
      }
      origin = loaded.origin;
      return parseDynamicInventory(loaded.text, field, source);
    };
  }
  let entries;
  try {
    entries = (await read()).hostsOf(groupName);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    problems.add(error.field, bareMessage(error));
    return { drafts: [] };
  }
  const withOrigin = (drafts: Draft[]): InventoryDrafts =>
    origin ? { drafts, origin } : { drafts };
  if (entries.length === 0) {
    problems.add('inventory.group', `group "${groupName}" in ${source} has no hosts`);
    return withOrigin([]);
  }
  return withOrigin(
    toInventoryHosts(entries, inventory.pulledOutVar).map((host) =>
      inventoryDraft(host, source, field, raw, problems),
    ),
  );
}

/** No answer and no cached one: what failed, and the ways out. Nothing has started. */
function unavailableMessage(
  source: InventorySource,
  reason: string,
  cache: InventoryCache,
): string {
  const shown = describeSource(source);
  const check =
    source.kind === 'command'
      ? `Run it by hand (cd to the group file's directory: ${shown}) and fix what it says`
      : `Check the URL and the credentials in inventory.headers (curl -fsS ${shq(shown)})`;
  return (
    `${shown} gave no inventory: ${reason} (cache: ${cache.location}). Nothing was started. ` +
    `${check}; or, to release now, list the hosts in a file and name it in inventory.file. ` +
    'Once the source answers, rollgate keeps a copy and goes on with it when the source is down'
  );
}

function inventoryDraft(
  host: InventoryHost,
  source: string,
  field: string,
  raw: RawGroupFile,
  problems: Problems,
): Draft {
  const label = `${source}${host.line === undefined ? '' : `:${host.line}`} (${host.host})`;
  const fail = (key: keyof RawTarget | undefined, message: string): void => {
    const what = key === undefined ? '' : `${INVENTORY_VAR[key] ?? key} `;
    problems.add(field, `${label}: ${what}${message}`);
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
  for (const problem of host.problems) problems.add(field, `${label}: ${problem}`);
  if (host.lbName !== undefined) draft.lbName = host.lbName;
  if (raw.altPort !== undefined) draft.altPort = raw.altPort;
  if (host.site !== undefined) {
    if (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(host.site)) draft.site = host.site;
    else fail('site', `"${host.site}" is not a site name: use letters, digits and . _ -`);
  }
  if (host.sshUser !== undefined) {
    if (USER_NAME.test(host.sshUser)) draft.sshUser = host.sshUser;
    else problems.add(field, `${label}: ansible_user "${host.sshUser}" is not a valid user name`);
  }
  if (host.sshPort !== undefined) draft.sshPort = host.sshPort;
  return draft;
}
