/**
 * Ansible's INI inventory plugin (ansible/plugins/inventory/ini.py), line by line: sections,
 * host lines split like a shell with `#` comments, values read with Python's literal_eval,
 * `[group:children]` and `[group:vars]` allowed before the group itself is declared.
 */
import { expandHostPattern, HostPatternError } from './address';
import { InventoryData, InventoryError } from './inventory-data';
import { literalEval } from './py-literal';
import { shlexSplit, ShlexError } from './shlex';

const SECTION = /^\[([^:\]\s]+)(?::([\p{L}\p{N}_]+))?\]\s*(?:#.*)?$/u;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:#.*)?$/u;
/** Python's str.splitlines() boundaries (\x1c–\x1e are line separators to Python too). */
// eslint-disable-next-line no-control-regex -- these control characters are what is matched
const LINES = /\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/;

interface Pending {
  line: number;
  state: 'vars' | 'children';
  parents: string[];
}

/** `_parse_value`: literal_eval, or the text as written when Python would raise. */
export function iniValue(text: string): unknown {
  const value = literalEval(text);
  return value === undefined ? text : value;
}

export function parseIniInventory(text: string): InventoryData {
  const inventory = new InventoryData();
  const pending = new Map<string, Pending>();
  let group = 'ungrouped';
  let state = 'hosts';
  const lines = text.split(LINES);
  if (lines.at(-1) === '') lines.pop();

  const addPendingChildren = (name: string, lineNo: number): void => {
    for (const parent of pending.get(name)?.parents ?? []) {
      inventory.addChild(parent, name, lineNo);
      if (pending.get(parent)?.state === 'children') addPendingChildren(parent, lineNo);
    }
    pending.delete(name);
  };

  for (const [index, raw] of lines.entries()) {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;

    const section = SECTION.exec(line);
    if (section) {
      group = section[1]!;
      state = section[2] ?? 'hosts';
      if (!['hosts', 'children', 'vars'].includes(state)) {
        throw new InventoryError(
          `section [${group}:${state}] has an unknown type "${state}": use [${group}], ` +
            `[${group}:vars] or [${group}:children]`,
          lineNo,
        );
      }
      if (!inventory.groups.has(group)) {
        if (state === 'vars' && !pending.has(group)) {
          pending.set(group, { line: lineNo, state: 'vars', parents: [] });
        }
        inventory.addGroup(group, lineNo);
      }
      const waiting = pending.get(group);
      if (waiting && state !== 'vars') {
        if (waiting.state === 'children') addPendingChildren(group, lineNo);
        else pending.delete(group);
      }
      continue;
    }
    if (line.startsWith('[') && line.endsWith(']')) {
      throw new InventoryError(
        `"${line}" is neither a section header ([web], [web:vars], [web:children]: no spaces, ` +
          `no ":" in the group name) nor a host line (an IPv6 address with a port is ` +
          `written [2001:db8::1]:2222; without a port, write it bare: 2001:db8::1)`,
        lineNo,
      );
    }

    if (state === 'hosts') {
      hostLine(inventory, group, line, lineNo);
    } else if (state === 'vars') {
      const eq = line.indexOf('=');
      if (eq < 0) {
        throw new InventoryError(`expected key=value in [${group}:vars], got "${line}"`, lineNo);
      }
      const key = line.slice(0, eq).trim();
      inventory.setGroupVar(group, key, iniValue(line.slice(eq + 1).trim()), lineNo);
    } else {
      const match = GROUP_NAME.exec(line);
      if (!match) {
        throw new InventoryError(
          `expected one group name in [${group}:children], got "${line}"`,
          lineNo,
        );
      }
      const child = match[1]!;
      if (!inventory.groups.has(child)) {
        const waiting = pending.get(child);
        if (waiting) waiting.parents.push(group);
        else pending.set(child, { line: lineNo, state: 'children', parents: [group] });
      } else {
        inventory.addChild(group, child, lineNo);
      }
    }
  }

  for (const [name, waiting] of pending) {
    if (waiting.state === 'vars') {
      throw new InventoryError(
        `section [${name}:vars] is for a group that is never declared: add [${name}] or ` +
          `[${name}:children], or list ${name} in another group's :children`,
        waiting.line,
      );
    }
    throw new InventoryError(
      `section [${waiting.parents.at(-1)}:children] names the group "${name}", which is never ` +
        `declared: add a [${name}] section (Ansible refuses this too)`,
      waiting.line,
    );
  }
  return inventory;
}

function hostLine(inventory: InventoryData, group: string, line: string, lineNo: number): void {
  let tokens: string[];
  try {
    tokens = shlexSplit(line);
  } catch (error) {
    if (!(error instanceof ShlexError)) throw error;
    throw new InventoryError(`cannot split the host line "${line}": ${error.message}`, lineNo);
  }
  const [pattern = '', ...assignments] = tokens;
  let expanded: { hosts: string[]; port?: number };
  try {
    expanded = expandHostPattern(pattern);
  } catch (error) {
    if (!(error instanceof HostPatternError)) throw error;
    throw new InventoryError(error.message, lineNo);
  }
  if (pattern.trim().endsWith(':') && expanded.port === undefined) {
    throw new InventoryError(
      `host "${pattern}" ends in ":", which Ansible reserves for a port ` +
        `(an IPv6 address ending in "::" needs brackets and a port: [${pattern}]:22)`,
      lineNo,
    );
  }
  if (expanded.hosts.some((host) => host.trim() === '---')) {
    throw new InventoryError(
      '"---" starts a YAML file: name the file .yml to read it as YAML',
      lineNo,
    );
  }
  const vars: Array<[string, unknown]> = [];
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq < 0) {
      throw new InventoryError(
        `expected key=value after the host name, got "${assignment}"`,
        lineNo,
      );
    }
    vars.push([assignment.slice(0, eq), iniValue(assignment.slice(eq + 1))]);
  }
  for (const name of expanded.hosts) {
    const host = inventory.addHost(name, group, expanded.port, lineNo);
    for (const [key, value] of vars) host.vars[key] = value;
  }
}
