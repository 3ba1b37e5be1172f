import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import { InputError } from '../model/errors';
import { parseIniInventory } from './ansible/ini';
import {
  InventoryData,
  InventoryError,
  pythonIntOf,
  type Host,
  type Vars,
} from './ansible/inventory-data';
import { readVarsFiles, VarsFileError, type VarsSource } from './ansible/vars-files';
import { parseScriptInventory } from './ansible/script-inventory';
import { parseYamlInventory, PluginConfigError } from './ansible/yaml-inventory';
import { YamlReadError } from './ansible/yaml11';

/**
 * Ansible inventories (INI and YAML) read as ansible-core reads them (checked against
 * `ansible-inventory` by test/integration/config/ansible-parity.test.ts): the same hosts in the
 * same order, the same variables with the same precedence — inventory groups by depth, then
 * ansible_group_priority, then name; `group_vars/` and `host_vars/` beside the inventory — and
 * the SSH address, port and user Ansible would connect with.
 */

export type InventoryFormat = 'ini' | 'yaml';

export interface InventoryEntry {
  host: string;
  /** Every variable of the host, typed as Ansible types it (ints, booleans, lists, …). */
  vars: Vars;
  /** Line in the inventory file where the host first appears. */
  line?: number;
}

/** An inventory host read as a rollgate target. */
export interface InventoryHost {
  host: string;
  /** `ansible_ssh_host`, else `ansible_host`, else the inventory name. */
  address: string;
  /** `rollgate_port`, `rollgate_doc_base`, `rollgate_lb_name`. */
  port?: number;
  docBase?: string;
  lbName?: string;
  /** `rollgate_site`: the data centre, which picks the package store (package.sources). */
  site?: string;
  /** M6: the pulledOutVar is true for this host (true, yes, on, 1, y, t as Ansible's bool). */
  pulledOut: boolean;
  /** `ansible_ssh_user` else `ansible_user`; `ansible_ssh_port` else `ansible_port`. */
  sshUser?: string;
  sshPort?: number;
  line?: number;
  vars: Vars;
  /** What rollgate cannot use, each naming the variable and why. */
  problems: string[];
}

const FIELD = 'inventory.file';

/** An inventory read from its file, with group_vars/ and host_vars/ beside it. */
export class AnsibleInventory {
  private depthCache: ReturnType<InventoryData['depths']> | undefined;

  constructor(
    private readonly data: InventoryData,
    private readonly source: string,
    private readonly files: VarsSource = { groups: new Map(), hosts: new Map() },
  ) {}

  groupNames(): string[] {
    return [...this.data.groups.keys()];
  }

  /** Hosts of `groupName` (its children followed, in Ansible's order) with their variables. */
  hostsOf(groupName: string): InventoryEntry[] {
    const group = this.data.groups.get(groupName);
    if (!group) {
      const known = [...this.data.groups.keys()].sort().join(', ');
      const pattern = /[:,*?!&~[]/.test(groupName)
        ? ' (inventory.group names one group; Ansible host patterns are not read)'
        : '';
      throw new InputError(
        'inventory.group',
        `unknown group "${groupName}" in ${this.source}${pattern}; known groups: ${known}`,
      );
    }
    if (this.data.hosts.has(groupName)) {
      throw new InputError(
        'inventory.group',
        `"${groupName}" is both a host and a group in ${this.source}: Ansible's pattern ` +
          `"${groupName}" would pick the host ${groupName} alone, while inventory.group means ` +
          `the group; rollgate refuses to guess. Rename the host or the group`,
      );
    }
    return this.data.hostsOf(group).map((host) => {
      const entry: InventoryEntry = { host: host.name, vars: this.varsOf(host) };
      if (host.line !== undefined) entry.line = host.line;
      return entry;
    });
  }

  /** VariableManager.get_vars for a host (the precedence ansible-core 2.14 uses by default). */
  private varsOf(host: Host): Vars {
    this.depthCache ??= this.data.depths();
    const groups = this.data.sortedGroupsOf(host, this.depthCache);
    const vars: Vars = Object.create(null) as Vars;
    const add = (source: Vars | undefined): void => {
      if (source) for (const key of Object.keys(source)) vars[key] = source[key];
    };
    add(this.data.groups.get('all')!.vars);
    for (const group of groups) add(group.vars);
    add(this.files.groups.get('all'));
    for (const group of groups) add(this.files.groups.get(group.name));
    add(host.vars);
    add(this.files.hosts.get(host.name));
    return { ...vars };
  }
}

/**
 * Which plugin reads the file: `.yml`, `.yaml`, `.json` and names without an extension are tried
 * as YAML first, then INI (as Ansible tries its yaml plugin, then ini); anything else is INI.
 */
export function inventoryFormatFor(file: string): InventoryFormat | 'auto' {
  const ext = extname(basename(file).replace(/^\.+/, '')).toLowerCase();
  if (ext === '') return 'auto';
  return ['.yml', '.yaml', '.json'].includes(ext) ? 'auto' : 'ini';
}

/** Parses inventory text (without group_vars/host_vars); errors name inventory.file. */
export function parseInventory(
  text: string,
  format: InventoryFormat | 'auto',
  source = 'inventory',
): AnsibleInventory {
  return new AnsibleInventory(parseData(text, format, source), source);
}

function parseData(text: string, format: InventoryFormat | 'auto', source: string): InventoryData {
  const fail = (error: unknown): never => {
    if (error instanceof PluginConfigError) {
      throw new InputError(
        FIELD,
        `${source}: ${error.message}; rollgate reads static INI and YAML inventories only. ` +
          `Write one with: ansible-inventory -i ${source} --list --yaml --export > hosts.yml`,
      );
    }
    if (error instanceof InventoryError || error instanceof YamlReadError) {
      const at = error.line === undefined ? '' : `:${error.line}`;
      throw new InputError(FIELD, `${source}${at}: ${error.message}`);
    }
    throw error;
  };
  const ini = (): InventoryData => parseIniInventory(text);
  const yaml = (): InventoryData => parseYamlInventory(text);
  let data: InventoryData;
  try {
    if (format === 'ini') data = ini();
    else if (format === 'yaml') data = yaml();
    else data = withFallback(yaml, ini, source);
  } catch (error) {
    return fail(error);
  }
  try {
    data.reconcile();
  } catch (error) {
    return fail(error);
  }
  return data;
}

/** YAML first; when that fails (and it is no plugin file), INI; when both fail, the likelier error. */
function withFallback(
  yaml: () => InventoryData,
  ini: () => InventoryData,
  source: string,
): InventoryData {
  try {
    return yaml();
  } catch (yamlError) {
    if (yamlError instanceof PluginConfigError) throw yamlError;
    try {
      return ini();
    } catch (iniError) {
      const yamlName = /\.(?:ya?ml|json)$/i.test(source);
      throw yamlName ? yamlError : iniError;
    }
  }
}

/**
 * Parses a dynamic inventory's answer (Ansible's `--list` JSON); errors name `field`
 * (inventory.command or inventory.url) and the source.
 */
export function parseDynamicInventory(
  text: string,
  field: string,
  source: string,
): AnsibleInventory {
  let data: InventoryData;
  try {
    data = parseScriptInventory(text);
    data.reconcile();
  } catch (error) {
    if (!(error instanceof InventoryError)) throw error;
    throw new InputError(field, `${source}: ${error.message}`);
  }
  return new AnsibleInventory(data, source);
}

/** Reads an inventory file and the group_vars/ and host_vars/ beside it. */
export async function readInventory(
  file: string,
  format?: InventoryFormat,
): Promise<AnsibleInventory> {
  const source = basename(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(
      FIELD,
      `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})` +
        ((error as NodeJS.ErrnoException).code === 'EISDIR'
          ? ': rollgate reads one inventory file, not a directory of them'
          : ''),
    );
  }
  if (text.startsWith('#!') && ((await stat(file)).mode & 0o111) !== 0) {
    throw new InputError(
      FIELD,
      `${source} is an executable inventory script; rollgate reads static INI and YAML ` +
        `inventories only in inventory.file. Run the script as inventory.command: ` +
        `[./${source}, --list] (its answer is cached), or write a file with: ` +
        `ansible-inventory -i ${source} --list --yaml --export > hosts.yml`,
    );
  }
  const data = parseData(text, format ?? inventoryFormatFor(file), source);
  let files: VarsSource;
  try {
    files = await readVarsFiles(dirname(file), [...data.groups.keys()], [...data.hosts.keys()]);
  } catch (error) {
    if (!(error instanceof VarsFileError)) throw error;
    const at = error.line === undefined ? '' : `:${error.line}`;
    throw new InputError(FIELD, `${error.file}${at}: ${error.message}`);
  }
  return new AnsibleInventory(data, source, files);
}

/** Hosts of `groupName` from inventory text (no group_vars/host_vars); for tests and tools. */
export function readInventoryGroup(
  text: string,
  format: InventoryFormat | 'auto',
  groupName: string,
  source = 'inventory',
): InventoryEntry[] {
  return parseInventory(text, format, source).hostsOf(groupName);
}

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on', 'y', 't']);

/** Ansible's `bool` (convert_bool.boolean): true, 1, and yes/on/true/1/y/t in any case. */
export function isTruthy(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value === 1;
  return typeof value === 'string' && TRUE_WORDS.has(value.trim().toLowerCase());
}

function isVault(value: unknown): boolean {
  return typeof value === 'object' && value !== null && '__ansible_vault' in value;
}

/**
 * Maps Ansible's and rollgate's variables onto target fields. Where several names mean one thing
 * the `ssh` form wins, as in Ansible (constants.py MAGIC_VARIABLE_MAPPING: remote_addr is
 * ansible_ssh_host then ansible_host; port and remote_user alike); a null value counts as unset.
 */
export function toInventoryHosts(
  entries: readonly InventoryEntry[],
  pulledOutVar?: string,
): InventoryHost[] {
  return entries.map(({ host, vars, line }) => {
    const problems: string[] = [];
    const pick = (...names: string[]): [string, unknown] | undefined => {
      for (const name of names) {
        const value = vars[name];
        if (value !== undefined && value !== null) return [name, value];
      }
      return undefined;
    };
    const text = (...names: string[]): string | undefined => {
      const found = pick(...names);
      if (!found) return undefined;
      const [name, value] = found;
      if (isVault(value)) {
        problems.push(
          `${name} is encrypted with ansible-vault; rollgate cannot decrypt it: give it in plain text`,
        );
        return undefined;
      }
      if (typeof value === 'number') return String(value);
      if (typeof value !== 'string') {
        problems.push(`${name} must be text, got ${JSON.stringify(value)}`);
        return undefined;
      }
      return value;
    };
    const port = (...names: string[]): number | undefined => {
      const found = pick(...names);
      if (!found) return undefined;
      const [name, value] = found;
      if (isVault(value)) {
        problems.push(
          `${name} is encrypted with ansible-vault; rollgate cannot decrypt it: give it in plain text`,
        );
        return undefined;
      }
      const number =
        typeof value === 'boolean' || (typeof value === 'number' && !Number.isInteger(value))
          ? undefined
          : pythonIntOf(value);
      if (number === undefined || number < 1 || number > 65535) {
        problems.push(
          `${name} ${JSON.stringify(value)} is not a port (1 to 65535)` +
            (typeof value === 'string' && /^\s*0[xob]/i.test(value)
              ? ': Ansible converts ports with int(), which reads only decimal text, so Ansible ' +
                'could not connect with it either (unquoted in INI it would be a number)'
              : ''),
        );
        return undefined;
      }
      return number;
    };

    const address = text('ansible_ssh_host', 'ansible_host');
    const result: InventoryHost = {
      host,
      address: address ?? host,
      pulledOut: false,
      vars,
      problems,
    };
    if (address === '') problems.push('ansible_host is empty');
    if (pulledOutVar !== undefined) {
      const value = vars[pulledOutVar];
      if (isVault(value)) {
        problems.push(
          `${pulledOutVar} is encrypted with ansible-vault; rollgate cannot decrypt it`,
        );
      }
      result.pulledOut = isTruthy(value);
    }
    const optional = {
      port: port('rollgate_port'),
      docBase: text('rollgate_doc_base'),
      lbName: text('rollgate_lb_name'),
      site: text('rollgate_site'),
      sshUser: text('ansible_ssh_user', 'ansible_user'),
      sshPort: port('ansible_ssh_port', 'ansible_port'),
      line,
    };
    for (const [key, value] of Object.entries(optional)) {
      if (value !== undefined) Object.assign(result, { [key]: value });
    }
    return result;
  });
}
