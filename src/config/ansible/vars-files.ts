/**
 * `group_vars/` and `host_vars/` beside the inventory, found and read as Ansible's
 * host_group_vars plugin and DataLoader do: `<name>` (a file, or a directory read recursively in
 * sorted order, skipping hidden files, backups `~` and other extensions), else `<name>.yml`,
 * `<name>.yaml`, `<name>.json` — the first that exists is the only one read. Each file is JSON if
 * it parses as JSON, else YAML 1.1; an empty file adds nothing.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { InventoryError, type Vars } from './inventory-data';
import { jsonKey } from './py-literal';
import { readYaml11, toVar, YamlMap, YamlReadError, type YamlKey, type YamlValue } from './yaml11';

const EXTENSIONS = ['.yml', '.yaml', '.json'];

/** A file the vars plugin would read that rollgate cannot: named, with the reason. */
export class VarsFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** Ansible's DataLoader.load: JSON first, then YAML. */
export function readAnsibleData(text: string): YamlValue {
  try {
    JSON.parse(text);
  } catch {
    return readYaml11(text);
  }
  return fromJson(parseDocument(text, { schema: 'json', uniqueKeys: false }).contents);
}

function fromJson(node: unknown): YamlValue {
  if (isMap(node)) {
    const entries: Array<[YamlKey, YamlValue, undefined]> = [];
    const at = new Map<string, number>();
    for (const pair of node.items) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const value = fromJson(pair.value);
      const index = at.get(key);
      if (index === undefined) {
        at.set(key, entries.length);
        entries.push([key, value, undefined]);
      } else {
        entries[index] = [key, value, undefined];
      }
    }
    return new YamlMap(entries);
  }
  if (isSeq(node)) return node.items.map(fromJson);
  if (isScalar(node)) return node.value as YamlKey;
  return null;
}

export interface VarsSource {
  /** Variables from `group_vars/<group>`, by group name (only groups that have any). */
  groups: Map<string, Vars>;
  /** Variables from `host_vars/<host>`, by host name. */
  hosts: Map<string, Vars>;
}

/** Reads group_vars/ and host_vars/ in `dir` for the given group and host names. */
export async function readVarsFiles(
  dir: string,
  groupNames: readonly string[],
  hostNames: readonly string[],
): Promise<VarsSource> {
  return {
    groups: await readVarsDir(join(dir, 'group_vars'), groupNames),
    hosts: await readVarsDir(join(dir, 'host_vars'), hostNames),
  };
}

async function readVarsDir(dir: string, names: readonly string[]): Promise<Map<string, Vars>> {
  const out = new Map<string, Vars>();
  let real: string;
  try {
    real = await realpath(dir);
    if (!(await stat(real)).isDirectory()) return out;
  } catch {
    return out;
  }
  const listing = new Set(await readdir(real));
  for (const name of names) {
    // Ansible skips names that start with a path separator (chroot-style hosts).
    if (name.startsWith('/')) continue;
    const files = await findVarsFiles(real, name, listing);
    let vars: Vars | undefined;
    for (const file of files) {
      const data = await loadVarsFile(file, dir, relative(real, file));
      if (data === undefined) continue;
      vars ??= Object.create(null) as Vars;
      for (const key of Object.keys(data)) vars[key] = data[key];
    }
    if (vars !== undefined) out.set(name, vars);
  }
  return out;
}

async function findVarsFiles(dir: string, name: string, listing: Set<string>): Promise<string[]> {
  for (const ext of ['', ...EXTENSIONS]) {
    const candidate = name + ext;
    if (!candidate.includes('/') && !listing.has(candidate)) continue;
    const path = join(dir, candidate);
    let info;
    try {
      info = await stat(path);
    } catch {
      continue;
    }
    return info.isDirectory() ? dirVarsFiles(path) : [path];
  }
  return [];
}

async function dirVarsFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const entries = (await readdir(dir)).sort(compareUtf16AsPython);
  for (const entry of entries) {
    if (entry.startsWith('.') || entry.endsWith('~')) continue;
    const ext = pythonExt(entry);
    const path = join(dir, entry);
    let info;
    try {
      info = await stat(path);
    } catch {
      continue;
    }
    if (info.isDirectory() && ext === '') found.push(...(await dirVarsFiles(path)));
    else if (info.isFile() && (ext === '' || EXTENSIONS.includes(ext))) found.push(path);
  }
  return found;
}

/** os.path.splitext: a leading dot is not an extension. */
function pythonExt(name: string): string {
  const stripped = name.replace(/^\.+/, '');
  return stripped.includes('.') ? extname(stripped) : '';
}

function compareUtf16AsPython(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0)!);
  const y = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

async function loadVarsFile(file: string, dir: string, shown: string): Promise<Vars | undefined> {
  const label = join(dir, shown);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new VarsFileError(label, `cannot read it (${(error as NodeJS.ErrnoException).code})`);
  }
  if (text.trimStart().startsWith('$ANSIBLE_VAULT')) {
    throw new VarsFileError(
      label,
      'is encrypted with ansible-vault; rollgate cannot decrypt it. Keep the variables rollgate ' +
        'needs (addresses, ports, users, rollgate_*) in a plain file beside it',
    );
  }
  let data: YamlValue;
  try {
    data = readAnsibleData(text);
  } catch (error) {
    if (error instanceof YamlReadError) throw new VarsFileError(label, error.message, error.line);
    if (error instanceof InventoryError) throw new VarsFileError(label, error.message, error.line);
    throw error;
  }
  if (isEmpty(data)) return undefined;
  if (!(data instanceof YamlMap)) {
    throw new VarsFileError(
      label,
      'must be a mapping of variable names to values, as Ansible requires',
    );
  }
  const vars = Object.create(null) as Vars;
  for (const [key, value] of data.entries) vars[jsonKey(key)] = toVar(value);
  return vars;
}

function isEmpty(value: YamlValue): boolean {
  return (
    value === null ||
    value === false ||
    value === 0 ||
    value === '' ||
    (Array.isArray(value) && value.length === 0) ||
    (value instanceof YamlMap && value.entries.length === 0)
  );
}
