/**
 * An Ansible inventory in memory, built the way ansible/inventory/data.py and group.py build it:
 * groups and hosts in the order they were first seen, child groups in the order they were added,
 * `all` and `ungrouped` made by reconcile(), group depth the longest path from `all`.
 */

export type Vars = Record<string, unknown>;

export class InventoryError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

export class Group {
  readonly hosts: Host[] = [];
  readonly hostSet = new Set<Host>();
  readonly children: Group[] = [];
  readonly parents: Group[] = [];
  vars: Vars = Object.create(null) as Vars;
  priority = 1;

  constructor(readonly name: string) {}

  ancestors(): Set<Group> {
    const seen = new Set<Group>();
    const walk = (group: Group): void => {
      for (const parent of group.parents) {
        if (seen.has(parent)) continue;
        seen.add(parent);
        walk(parent);
      }
    };
    walk(this);
    return seen;
  }
}

export class Host {
  readonly vars: Vars = Object.create(null) as Vars;
  /** The groups the host was put in directly (ancestors are worked out when needed). */
  readonly groups: Group[] = [];

  constructor(
    readonly name: string,
    port: number | undefined,
    readonly line: number | undefined,
  ) {
    // Ansible: `if port: set_variable('ansible_port', int(port))` — only when the host is new.
    if (port) this.vars.ansible_port = port;
  }
}

export class InventoryData {
  readonly groups = new Map<string, Group>();
  readonly hosts = new Map<string, Host>();
  static readonly MAX_HOSTS = 10_000;

  constructor() {
    this.addGroup('all');
    this.addGroup('ungrouped');
    this.addChild('all', 'ungrouped');
  }

  addGroup(name: unknown, line?: number): string {
    if (typeof name !== 'string') {
      throw new InventoryError(`group name ${JSON.stringify(name)} must be a string`, line);
    }
    if (name === '') throw new InventoryError('a group name is empty', line);
    if (!this.groups.has(name)) this.groups.set(name, new Group(name));
    return name;
  }

  addHost(name: string, groupName: string, port: number | undefined, line?: number): Host {
    if (name === '') throw new InventoryError('a host name is empty', line);
    let host = this.hosts.get(name);
    if (!host) {
      host = new Host(name, port, line);
      this.hosts.set(name, host);
      if (this.hosts.size > InventoryData.MAX_HOSTS) {
        throw new InventoryError(
          `more than ${InventoryData.MAX_HOSTS} hosts, rollgate's limit for one inventory`,
          line,
        );
      }
    }
    const group = this.groups.get(groupName);
    if (!group) throw new InventoryError(`could not find group ${groupName}`, line);
    this.putHost(group, host);
    return host;
  }

  private putHost(group: Group, host: Host): void {
    if (group.hostSet.has(host)) return;
    group.hosts.push(host);
    group.hostSet.add(host);
    host.groups.push(group);
  }

  setGroupVar(name: string, key: string, value: unknown, line?: number): void {
    const group = this.groups.get(name);
    if (!group) throw new InventoryError(`could not identify group ${name}`, line);
    if (key === 'ansible_group_priority') {
      const priority = pythonIntOf(value);
      if (priority === undefined) {
        throw new InventoryError(
          `ansible_group_priority of group "${name}" must be a whole number, got ${JSON.stringify(value)}`,
          line,
        );
      }
      group.priority = priority;
    } else {
      group.vars[key] = value;
    }
  }

  /** `add_child`: a group or, failing that, a host of that name goes under `parent`. */
  addChild(parentName: string, childName: string, line?: number): void {
    const parent = this.groups.get(parentName);
    if (!parent) throw new InventoryError(`${parentName} is not a known group`, line);
    const child = this.groups.get(childName);
    if (child) {
      this.addChildGroup(parent, child, line);
      return;
    }
    const host = this.hosts.get(childName);
    if (!host) throw new InventoryError(`${childName} is not a known host nor group`, line);
    this.putHost(parent, host);
  }

  private addChildGroup(parent: Group, child: Group, line?: number): void {
    if (parent === child) {
      throw new InventoryError(`group "${parent.name}" cannot be a child of itself`, line);
    }
    if (parent.children.includes(child)) return;
    if (parent.ancestors().has(child)) {
      throw new InventoryError(
        `adding group "${child.name}" as a child of "${parent.name}" creates a loop: ` +
          `"${child.name}" is already an ancestor of "${parent.name}"`,
        line,
      );
    }
    parent.children.push(child);
    if (!child.parents.some((g) => g.name === parent.name)) child.parents.push(parent);
  }

  /** `reconcile_inventory`: groups without a parent go under `all`; `ungrouped` is settled. */
  reconcile(): void {
    const all = this.groups.get('all')!;
    const ungrouped = this.groups.get('ungrouped')!;
    for (const group of this.groups.values()) {
      if (group !== all && group.parents.length === 0) this.addChildGroup(all, group);
    }
    for (const host of this.hosts.values()) {
      const mine = this.groupsOf(host);
      if (mine.has(ungrouped)) {
        if ([...mine].some((g) => g !== all && g !== ungrouped)) {
          ungrouped.hosts.splice(ungrouped.hosts.indexOf(host), 1);
          ungrouped.hostSet.delete(host);
          host.groups.splice(host.groups.indexOf(ungrouped), 1);
        }
      } else if (mine.size === 0 || (mine.size === 1 && mine.has(all))) {
        this.putHost(ungrouped, host);
      }
    }
  }

  /** The host's groups and all their ancestors (Host.get_groups()). */
  groupsOf(host: Host): Set<Group> {
    const out = new Set<Group>();
    for (const group of host.groups) {
      out.add(group);
      for (const ancestor of group.ancestors()) out.add(ancestor);
    }
    return out;
  }

  /** Group depth: the longest path from `all` (Ansible raises it as children are added). */
  depths(): Map<Group, number> {
    const depth = new Map<Group, number>();
    const all = this.groups.get('all')!;
    const order: Group[] = [];
    const state = new Map<Group, 'open' | 'done'>();
    const visit = (group: Group): void => {
      if (state.get(group) === 'done') return;
      state.set(group, 'open');
      for (const child of group.children) if (!state.has(child)) visit(child);
      state.set(group, 'done');
      order.push(group);
    };
    visit(all);
    depth.set(all, 0);
    for (const group of order.reverse()) {
      const d = depth.get(group) ?? 0;
      for (const child of group.children) depth.set(child, Math.max(depth.get(child) ?? 0, d + 1));
    }
    return depth;
  }

  /**
   * Group.get_hosts(): the group's own hosts, then its children's in the order they were added,
   * then theirs, level by level. (Below the first level Ansible walks a Python set, whose order
   * is not defined; rollgate keeps the order the children were added in.)
   */
  hostsOf(group: Group): Host[] {
    const ordered: Group[] = [group, ...group.children];
    const seen = new Set<Group>(ordered);
    let level = [...group.children];
    while (level.length > 0) {
      const next: Group[] = [];
      for (const g of level) {
        for (const child of g.children) {
          if (seen.has(child)) continue;
          seen.add(child);
          ordered.push(child);
          next.push(child);
        }
      }
      level = next;
    }
    const hosts: Host[] = [];
    const have = new Set<Host>();
    for (const g of ordered) {
      for (const host of g.hosts) {
        if (have.has(host)) continue;
        have.add(host);
        hosts.push(host);
      }
    }
    return hosts;
  }

  /**
   * The host's groups without `all`, in the order their variables apply: by depth, then
   * ansible_group_priority, then name as Python sorts strings (by code point).
   */
  sortedGroupsOf(host: Host, depths = this.depths()): Group[] {
    return [...this.groupsOf(host)]
      .filter((g) => g.name !== 'all')
      .sort(
        (a, b) =>
          (depths.get(a) ?? 0) - (depths.get(b) ?? 0) ||
          a.priority - b.priority ||
          compareCodePoints(a.name, b.name),
      );
  }
}

export function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Python's int() of a value: a whole number, a bool, or text like ` 2_222 `; else undefined. */
export function pythonIntOf(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return /^[+-]?\d+(?:_\d+)*$/.test(text) ? Number(text.replaceAll('_', '')) : undefined;
}
