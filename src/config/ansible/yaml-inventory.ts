/**
 * Ansible's YAML inventory plugin (ansible/plugins/inventory/yaml.py): top-level keys are groups,
 * each with `hosts`, `vars` and `children` (a string stands for a one-key mapping); other keys
 * and groups that are not mappings are skipped, as Ansible skips them with a warning.
 */
import { expandHostPattern, HostPatternError } from './address';
import { InventoryData, InventoryError } from './inventory-data';
import { jsonKey } from './py-literal';
import { readAnsibleData } from './vars-files';
import { toVar, YamlMap, type YamlValue } from './yaml11';

export function parseYamlInventory(text: string): InventoryData {
  const data = readAnsibleData(text);
  if (data === null || data === false || data === '' || data === 0) {
    throw new InventoryError('the YAML inventory is empty');
  }
  if (!(data instanceof YamlMap)) {
    throw new InventoryError('a YAML inventory is a mapping of group names', 1);
  }
  if (data.entries.length === 0) throw new InventoryError('the YAML inventory is empty');
  const plugin = data.get('plugin');
  if (plugin !== undefined && plugin !== null && plugin !== false && plugin !== '') {
    throw new PluginConfigError(String(toVar(plugin)));
  }
  const inventory = new InventoryData();
  for (const [name, body, line] of data.entries) readGroup(inventory, name, body, line);
  return inventory;
}

/** A YAML file that configures an inventory plugin (`plugin: aws_ec2`) rather than listing hosts. */
export class PluginConfigError extends InventoryError {
  constructor(readonly plugin: string) {
    super(`this file configures the inventory plugin "${plugin}"`);
  }
}

function readGroup(
  inventory: InventoryData,
  name: unknown,
  body: YamlValue,
  line: number | undefined,
): string {
  if (body !== null && !(body instanceof YamlMap)) return String(name);
  const group = inventory.addGroup(name, line);
  if (body === null) return group;

  const sections = new Map<string, YamlMap | null>();
  for (const section of ['vars', 'children', 'hosts']) {
    if (!body.has(section)) continue;
    let value = body.get(section)!;
    const at = body.entries.find(([k]) => k === section)?.[2] ?? line;
    if (typeof value === 'string') value = new YamlMap([[value, null, at]]);
    if (value !== null && !(value instanceof YamlMap)) {
      throw new InventoryError(
        `"${section}" of group "${group}" must be a mapping, not ${describe(value)}`,
        at,
      );
    }
    sections.set(section, value);
  }
  for (const [key, raw] of body.entries) {
    const value = typeof key === 'string' && sections.has(key) ? sections.get(key)! : raw;
    if (!(value instanceof YamlMap)) continue;
    if (key === 'vars') {
      for (const [varName, varValue, varLine] of value.entries) {
        inventory.setGroupVar(group, jsonKey(varName), toVar(varValue), varLine);
      }
    } else if (key === 'children') {
      for (const [child, childBody, childLine] of value.entries) {
        const childName = readGroup(inventory, child, childBody, childLine);
        inventory.addChild(group, childName, childLine);
      }
    } else if (key === 'hosts') {
      for (const [pattern, hostVars, hostLine] of value.entries) {
        readHosts(inventory, group, pattern, hostVars, hostLine);
      }
    }
  }
  return group;
}

function readHosts(
  inventory: InventoryData,
  group: string,
  pattern: unknown,
  hostVars: YamlValue,
  line: number | undefined,
): void {
  if (typeof pattern !== 'string') {
    throw new InventoryError(
      `host ${JSON.stringify(pattern)} in group "${group}" must be a string: ` +
        `quote it ("${String(pattern)}"), as Ansible requires`,
      line,
    );
  }
  const vars = isFalsy(hostVars) ? new YamlMap([]) : hostVars;
  if (!(vars instanceof YamlMap)) {
    throw new InventoryError(
      `the variables of host "${pattern}" must be a mapping, not ${describe(hostVars)}`,
      line,
    );
  }
  let expanded: { hosts: string[]; port?: number };
  try {
    expanded = expandHostPattern(pattern);
  } catch (error) {
    if (!(error instanceof HostPatternError)) throw error;
    throw new InventoryError(error.message, line);
  }
  for (const name of expanded.hosts) {
    const host = inventory.addHost(name, group, expanded.port, line);
    for (const [key, value] of vars.entries) host.vars[jsonKey(key)] = toVar(value);
  }
}

/** Python's falsiness for `group_data[host] or {}`. */
function isFalsy(value: YamlValue): boolean {
  return (
    value === null ||
    value === false ||
    value === 0 ||
    value === '' ||
    (Array.isArray(value) && value.length === 0) ||
    (value instanceof YamlMap && value.entries.length === 0)
  );
}

function describe(value: YamlValue): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the text "${value}"`;
  return JSON.stringify(toVar(value));
}
