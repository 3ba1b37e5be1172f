import { extname } from 'node:path';
import { InputError } from '../model/errors';
import { YamlSource, type YamlPath } from './yaml-source';

/**
 * Ansible inventories (INI and YAML) read into hosts with their merged variables, as Ansible
 * would see them: group variables by group depth (all < parent < child), then host variables.
 */

export type InventoryFormat = 'ini' | 'yaml';

export interface InventoryEntry {
  host: string;
  vars: Record<string, string>;
  /** Line in the inventory file where the host first appears. */
  line?: number;
}

/** An inventory host read as a rollgate target, with what the SSH transport may need later. */
export interface InventoryHost {
  host: string;
  /** `ansible_host`, or the inventory name. */
  address: string;
  /** `rollgate_port`, `rollgate_doc_base`, `rollgate_lb_name` overrides (raw text; checked by the loader). */
  port?: string;
  docBase?: string;
  lbName?: string;
  /** M6: the pulledOutVar is truthy for this host. */
  pulledOut: boolean;
  /** `ansible_user` / `ansible_port` (the SSH login, not the app's port). */
  sshUser?: string;
  sshPort?: string;
  line?: number;
  vars: Record<string, string>;
}

const FIELD = 'inventory.file';
const MAX_HOSTS = 10_000;
const GROUP_NAME = /^[A-Za-z0-9_.-]+$/;

interface GroupDef {
  name: string;
  hosts: string[];
  children: string[];
  vars: Record<string, string>;
}

class Inventory {
  readonly groups = new Map<string, GroupDef>();
  readonly hostVars = new Map<string, Record<string, string>>();
  readonly hostLines = new Map<string, number>();

  constructor(readonly source: string) {
    this.group('all');
    this.group('ungrouped');
  }

  group(name: string, line?: number): GroupDef {
    if (!GROUP_NAME.test(name)) this.fail(line, `"${name}" is not a valid group name`);
    let group = this.groups.get(name);
    if (!group) {
      group = { name, hosts: [], children: [], vars: {} };
      this.groups.set(name, group);
    }
    return group;
  }

  addHost(groupName: string, host: string, vars: Record<string, string>, line?: number): void {
    const group = this.group(groupName, line);
    if (!group.hosts.includes(host)) group.hosts.push(host);
    this.hostVars.set(host, { ...this.hostVars.get(host), ...vars });
    if (line !== undefined && !this.hostLines.has(host)) this.hostLines.set(host, line);
    if (this.hostVars.size > MAX_HOSTS) this.fail(line, `more than ${MAX_HOSTS} hosts`);
  }

  addChild(parent: string, child: string, line?: number): void {
    const group = this.group(parent, line);
    this.group(child, line);
    if (child === 'all') this.fail(line, '"all" cannot be a child group');
    if (!group.children.includes(child)) group.children.push(child);
  }

  fail(line: number | undefined, message: string): never {
    throw new InputError(
      FIELD,
      `${this.source}${line === undefined ? '' : `:${line}`}: ${message}`,
    );
  }

  /** Groups that are nobody's child hang under `all`; `ungrouped` gets hosts in no other group. */
  finish(): void {
    const all = this.group('all');
    const isChild = new Set([...this.groups.values()].flatMap((g) => g.children));
    for (const name of this.groups.keys()) {
      if (name !== 'all' && !isChild.has(name) && !all.children.includes(name)) {
        all.children.push(name);
      }
    }
    const grouped = new Set(
      [...this.groups.values()]
        .filter((g) => g.name !== 'all' && g.name !== 'ungrouped')
        .flatMap((g) => g.hosts),
    );
    const ungrouped = this.group('ungrouped');
    for (const host of [...all.hosts, ...this.hostVars.keys()]) {
      if (!grouped.has(host) && !ungrouped.hosts.includes(host)) ungrouped.hosts.push(host);
    }
    all.hosts = [];
  }

  depths(): Map<string, number> {
    const depth = new Map<string, number>();
    const visit = (name: string, d: number, path: string[]): void => {
      if (path.includes(name)) {
        this.fail(
          undefined,
          `group "${name}" is its own ancestor (${[...path, name].join(' > ')})`,
        );
      }
      if ((depth.get(name) ?? -1) >= d) return;
      depth.set(name, d);
      for (const child of this.groups.get(name)?.children ?? [])
        visit(child, d + 1, [...path, name]);
    };
    visit('all', 0, []);
    for (const name of this.groups.keys()) {
      if (!depth.has(name)) this.fail(undefined, `group "${name}" is its own ancestor`);
    }
    return depth;
  }

  /** Hosts of the group and its descendants, in order of appearance, with merged vars. */
  hostsOf(groupName: string): InventoryEntry[] {
    const depth = this.depths();
    const start = this.groups.get(groupName);
    if (!start) {
      const known = [...this.groups.keys()].sort().join(', ');
      throw new InputError(
        'inventory.group',
        `unknown group "${groupName}" in ${this.source}; known groups: ${known}`,
      );
    }
    const hosts: string[] = [];
    const seen = new Set<string>();
    const walk = (group: GroupDef): void => {
      if (seen.has(group.name)) return;
      seen.add(group.name);
      const own = group.name === 'all' ? [...this.hostVars.keys()] : group.hosts;
      for (const host of own) if (!hosts.includes(host)) hosts.push(host);
      for (const child of group.children) walk(this.groups.get(child)!);
    };
    walk(start);

    const parents = new Map<string, string[]>();
    for (const group of this.groups.values()) {
      for (const child of group.children)
        parents.set(child, [...(parents.get(child) ?? []), group.name]);
    }
    return hosts.map((host) => {
      const member = new Set<string>(['all']);
      const climb = (name: string): void => {
        if (member.has(name)) return;
        member.add(name);
        for (const parent of parents.get(name) ?? []) climb(parent);
      };
      for (const group of this.groups.values()) if (group.hosts.includes(host)) climb(group.name);
      const ordered = [...member]
        .map((name) => this.groups.get(name)!)
        .sort(
          (a, b) =>
            (depth.get(a.name) ?? 0) - (depth.get(b.name) ?? 0) ||
            priority(a) - priority(b) ||
            a.name.localeCompare(b.name),
        );
      const vars: Record<string, string> = {};
      for (const group of ordered) Object.assign(vars, group.vars);
      Object.assign(vars, this.hostVars.get(host));
      const line = this.hostLines.get(host);
      return line === undefined ? { host, vars } : { host, vars, line };
    });
  }
}

function priority(group: GroupDef): number {
  const value = Number(group.vars.ansible_group_priority ?? 1);
  return Number.isFinite(value) ? value : 1;
}

/** `.yml`, `.yaml` and `.json` are YAML; anything else (`hosts`, `.ini`) is INI, as in Ansible. */
export function inventoryFormatFor(file: string): InventoryFormat {
  return ['.yml', '.yaml', '.json'].includes(extname(file).toLowerCase()) ? 'yaml' : 'ini';
}

/**
 * Hosts of `groupName` (children followed) with their variables merged:
 * host > child group > parent group > all. Errors name `inventory.file` or `inventory.group`.
 */
export function readInventoryGroup(
  text: string,
  format: InventoryFormat,
  groupName: string,
  source = 'inventory',
): InventoryEntry[] {
  const inventory = format === 'ini' ? parseIni(text, source) : parseYaml(text, source);
  inventory.finish();
  return inventory.hostsOf(groupName);
}

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on', 'y', 't']);

export function isTruthy(value: string | undefined): boolean {
  return value !== undefined && TRUE_WORDS.has(value.trim().toLowerCase());
}

/** Maps Ansible's and rollgate's variables onto target fields. */
export function toInventoryHosts(
  entries: readonly InventoryEntry[],
  pulledOutVar?: string,
): InventoryHost[] {
  return entries.map(({ host, vars, line }) => {
    const pick = (...names: string[]): string | undefined =>
      names.map((n) => vars[n]).find((v) => v !== undefined && v !== '');
    const result: InventoryHost = {
      host,
      address: pick('ansible_host', 'ansible_ssh_host') ?? host,
      pulledOut: pulledOutVar === undefined ? false : isTruthy(vars[pulledOutVar]),
      vars,
    };
    const optional = {
      port: pick('rollgate_port'),
      docBase: pick('rollgate_doc_base'),
      lbName: pick('rollgate_lb_name'),
      sshUser: pick('ansible_user', 'ansible_ssh_user'),
      sshPort: pick('ansible_port', 'ansible_ssh_port'),
      line,
    };
    for (const [key, value] of Object.entries(optional)) {
      if (value !== undefined) Object.assign(result, { [key]: value });
    }
    return result;
  });
}

/** `web[01:03].example.com` → web01…web03; `db-[a:c]`; `[1:9:2]` has a stride. */
export function expandHostPattern(pattern: string, fail: (message: string) => never): string[] {
  const match = /^([^[]*)\[([^\]]*)\](.*)$/.exec(pattern);
  if (!match) {
    if (/[[\]]/.test(pattern)) fail(`"${pattern}" has an unclosed host range`);
    return [pattern];
  }
  const [, head = '', body = '', tail = ''] = match;
  const bounds = body.split(':');
  if (bounds.length < 2 || bounds.length > 3) {
    fail(`"[${body}]" is not a host range: use [01:10], [a:f] or [1:9:2]`);
  }
  const [begin = '', end = '', stepText = '1'] = bounds;
  const step = Number(stepText);
  if (!Number.isInteger(step) || step < 1) fail(`"[${body}]": the step must be a positive integer`);

  let values: string[] = [];
  if (/^\d*$/.test(begin) && /^\d+$/.test(end)) {
    const from = Number(begin || '0');
    const to = Number(end);
    const width = begin.length > 1 && begin.startsWith('0') ? begin.length : 0;
    if (from > to) fail(`"[${body}]": the range runs backwards`);
    if ((to - from) / step >= MAX_HOSTS)
      fail(`"[${body}]" expands to more than ${MAX_HOSTS} hosts`);
    for (let n = from; n <= to; n += step) values.push(String(n).padStart(width, '0'));
  } else if (/^(?:[a-z]:[a-z]|[A-Z]:[A-Z])$/.test(`${begin}:${end}`)) {
    const from = begin.charCodeAt(0);
    const to = end.charCodeAt(0);
    if (from > to) fail(`"[${body}]": the range runs backwards`);
    for (let c = from; c <= to; c += step) values.push(String.fromCharCode(c));
  } else {
    fail(`"[${body}]" is not a host range: use [01:10], [a:f] or [1:9:2]`);
  }
  values = values.map((v) => head + v);
  const rest = expandHostPattern(tail, fail);
  const hosts = values.flatMap((v) => rest.map((r) => v + r));
  if (hosts.length > MAX_HOSTS) fail(`"${pattern}" expands to more than ${MAX_HOSTS} hosts`);
  return hosts;
}

/** Splits a host line like a POSIX shell with comments: quotes group, `#` ends the line. */
function splitHostLine(line: string, fail: (message: string) => never): string[] {
  const tokens: string[] = [];
  let token = '';
  let inToken = false;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (quote === '"' && c === '\\' && i + 1 < line.length) token += line[++i];
      else token += c;
    } else if (/\s/.test(c)) {
      if (inToken) tokens.push(token);
      token = '';
      inToken = false;
    } else if (c === '#') {
      break;
    } else if (c === '"' || c === "'") {
      quote = c;
      inToken = true;
    } else if (c === '\\' && i + 1 < line.length) {
      token += line[++i];
      inToken = true;
    } else {
      token += c;
      inToken = true;
    }
  }
  if (quote) fail(`unclosed ${quote} quote`);
  if (inToken) tokens.push(token);
  return tokens;
}

function unquote(value: string): string {
  const match = /^(["'])(.*)\1$/.exec(value);
  return match ? match[2]! : value;
}

function parseIni(text: string, source: string): Inventory {
  const inventory = new Inventory(source);
  let section: { group: string; kind: 'hosts' | 'vars' | 'children' } = {
    group: 'ungrouped',
    kind: 'hosts',
  };
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const lineNo = index + 1;
    const fail = (message: string): never => inventory.fail(lineNo, message);
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;

    if (line.startsWith('[')) {
      const header = /^\[([^:\]\s]+)(?::([^\]\s]+))?\]\s*(?:[#;].*)?$/.exec(line);
      if (!header)
        fail(`"${line}" is not a section header like [web], [web:vars] or [web:children]`);
      const [, group = '', kind] = header!;
      if (kind !== undefined && kind !== 'vars' && kind !== 'children') {
        fail(`unknown section kind ":${kind}" (use :vars or :children)`);
      }
      inventory.group(group, lineNo);
      section = { group, kind: kind === 'vars' || kind === 'children' ? kind : 'hosts' };
      continue;
    }

    if (section.kind === 'vars') {
      const eq = line.indexOf('=');
      if (eq <= 0) fail(`expected key=value in [${section.group}:vars], got "${line}"`);
      const key = line.slice(0, eq).trim();
      inventory.group(section.group).vars[key] = unquote(line.slice(eq + 1).trim());
    } else if (section.kind === 'children') {
      const [child, ...extra] = splitHostLine(line, fail);
      if (child === undefined) continue;
      if (extra.length > 0) fail(`expected one group name in [${section.group}:children]`);
      inventory.addChild(section.group, child, lineNo);
    } else {
      const [hostField, ...assignments] = splitHostLine(line, fail);
      if (hostField === undefined) continue;
      const vars: Record<string, string> = {};
      let pattern = hostField;
      const withPort = /^(.+):(\d+)$/.exec(hostField);
      if (withPort) {
        pattern = withPort[1]!;
        vars.ansible_port = withPort[2]!;
      }
      for (const assignment of assignments) {
        const eq = assignment.indexOf('=');
        if (eq <= 0) fail(`expected key=value after the host name, got "${assignment}"`);
        vars[assignment.slice(0, eq)] = assignment.slice(eq + 1);
      }
      for (const host of expandHostPattern(pattern, fail)) {
        inventory.addHost(section.group, host, vars, lineNo);
      }
    }
  }
  return inventory;
}

function parseYaml(text: string, source: string): Inventory {
  const inventory = new Inventory(source);
  let yaml: YamlSource;
  try {
    yaml = YamlSource.parse(text, FIELD, { merge: true });
  } catch (error) {
    if (error instanceof InputError)
      inventory.fail(undefined, error.message.slice(FIELD.length + 2));
    throw error;
  }
  const at = (path: YamlPath, key = true): number | undefined => yaml.lineOf(path, key);
  const root = yaml.toJS();
  if (root === null || root === undefined) return inventory;
  if (!isRecord(root)) inventory.fail(1, 'a YAML inventory is a mapping of group names');

  const readGroup = (name: string, body: unknown, path: YamlPath): void => {
    inventory.group(name, at(path));
    if (body === null || body === undefined) return;
    if (!isRecord(body))
      inventory.fail(at(path), `group "${name}" must be a mapping (hosts, vars, children)`);
    for (const [key, value] of Object.entries(body)) {
      if (value === null || value === undefined) continue;
      const here = [...path, key];
      if (!isRecord(value))
        inventory.fail(at(here), `"${key}" of group "${name}" must be a mapping`);
      if (key === 'hosts') {
        for (const [pattern, hostVars] of Object.entries(value)) {
          const hostPath = [...here, pattern];
          if (hostVars !== null && hostVars !== undefined && !isRecord(hostVars)) {
            inventory.fail(at(hostPath), `the variables of host "${pattern}" must be a mapping`);
          }
          const vars = stringifyVars(isRecord(hostVars) ? hostVars : {});
          const fail = (message: string): never => inventory.fail(at(hostPath), message);
          for (const host of expandHostPattern(pattern, fail)) {
            inventory.addHost(name, host, vars, at(hostPath));
          }
        }
      } else if (key === 'vars') {
        Object.assign(inventory.group(name).vars, stringifyVars(value));
      } else if (key === 'children') {
        for (const [child, childBody] of Object.entries(value)) {
          inventory.addChild(name, child, at([...here, child]));
          readGroup(child, childBody, [...here, child]);
        }
      }
    }
  };
  for (const [name, body] of Object.entries(root)) readGroup(name, body, [name]);
  return inventory;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}

function stringifyVars(vars: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(vars)) {
    if (value === null || value === undefined) out[key] = '';
    else if (value instanceof Date) out[key] = value.toISOString();
    else if (typeof value === 'object') out[key] = JSON.stringify(value);
    else out[key] = String(value);
  }
  return out;
}
