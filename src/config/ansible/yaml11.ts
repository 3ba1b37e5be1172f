/**
 * YAML as Ansible reads it: PyYAML's YAML 1.1 resolution of plain scalars (`010000` is octal
 * 4096, `yes`/`on` are booleans but `y` is text, `8_080` is 8080, `1:30` is 90, `1e3` is text),
 * merge keys, duplicate keys (the last value wins, at the first key's place), and Ansible's
 * `!unsafe` and `!vault` tags.
 */
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  Scalar,
} from 'yaml';
import { jsonKey } from './py-literal';

/** A mapping with its order kept and keys as YAML typed them (a host key must be a string). */
export class YamlMap {
  constructor(readonly entries: ReadonlyArray<readonly [YamlKey, YamlValue, number | undefined]>) {}

  get(key: string): YamlValue | undefined {
    return this.entries.find(([k]) => k === key)?.[1];
  }

  has(key: string): boolean {
    return this.entries.some(([k]) => k === key);
  }
}

/** A `!vault` value: rollgate cannot decrypt it; ansible-inventory prints it like this too. */
export interface VaultValue {
  __ansible_vault: string;
}

export type YamlKey = string | number | boolean | null;
export type YamlValue = YamlKey | VaultValue | YamlValue[] | YamlMap;

export class YamlReadError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** Parses one YAML document; errors carry the line. */
export function readYaml11(text: string): YamlValue {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    schema: 'failsafe',
    uniqueKeys: false,
    lineCounter: lines,
    prettyErrors: false,
    strict: false,
  });
  const [first] = doc.errors;
  if (first) {
    throw new YamlReadError(first.message.split('\n')[0]!, lines.linePos(first.pos[0]).line);
  }
  const lineOf = (node: unknown): number | undefined => {
    const range = (node as { range?: [number, number, number] | null } | null)?.range;
    return range ? lines.linePos(range[0]).line : undefined;
  };
  return new Converter(doc, lineOf).value(doc.contents, 0);
}

const BOOL = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const FLOAT =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const INT =
  /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const NULL = /^(?:~|null|Null|NULL|)$/;
const TIMESTAMP =
  /^(?:([0-9]{4})-([0-9]{2})-([0-9]{2})|([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?)$/;

const YAML_TAG = 'tag:yaml.org,2002:';

/** What PyYAML's resolver makes of a plain (unquoted) scalar. */
export function resolvePlain(text: string): YamlKey {
  if (BOOL.test(text)) return /^(?:yes|true|on)$/i.test(text);
  if (FLOAT.test(text)) return float(text);
  if (INT.test(text)) return int(text);
  if (NULL.test(text)) return null;
  const stamp = timestamp(text);
  if (stamp !== undefined) return stamp;
  if (text === '=') throw new YamlReadError('a plain "=" is a YAML 1.1 value key, not a value');
  return text;
}

function int(text: string): number {
  let value = text.replaceAll('_', '');
  let sign = 1;
  if (value[0] === '-') sign = -1;
  if ('+-'.includes(value[0]!)) value = value.slice(1);
  if (value === '0') return 0;
  if (value.startsWith('0b')) return sign * Number.parseInt(value.slice(2), 2);
  if (value.startsWith('0x')) return sign * Number.parseInt(value.slice(2), 16);
  if (value[0] === '0') return sign * Number.parseInt(value, 8);
  if (value.includes(':')) return sign * sexagesimal(value);
  return sign * Number(value);
}

function float(text: string): number {
  let value = text.replaceAll('_', '').toLowerCase();
  let sign = 1;
  if (value[0] === '-') sign = -1;
  if ('+-'.includes(value[0]!)) value = value.slice(1);
  if (value === '.inf') return sign * Infinity;
  if (value === '.nan') return NaN;
  if (value.includes(':')) return sign * sexagesimal(value);
  return sign * Number(value);
}

function sexagesimal(value: string): number {
  return value.split(':').reduce((total, part) => total * 60 + Number(part), 0);
}

/** PyYAML makes a date or datetime; Ansible prints them in ISO form, and so do we. */
function timestamp(text: string): string | undefined {
  const m = TIMESTAMP.exec(text);
  if (!m) return undefined;
  if (m[1] !== undefined) return `${m[1]}-${m[2]}-${m[3]}`;
  const two = (s: string | undefined) => (s ?? '0').padStart(2, '0');
  let out = `${m[4]}-${two(m[5])}-${two(m[6])}T${two(m[7])}:${m[8]}:${m[9]}`;
  const micro = Number((m[10] ?? '').slice(0, 6).padEnd(6, '0'));
  if (micro !== 0) out += `.${String(micro).padStart(6, '0')}`;
  if (m[11] === 'Z') out += '+00:00';
  else if (m[11] !== undefined) out += `${m[12]}${two(m[13])}:${two(m[14])}`;
  return out;
}

class Converter {
  constructor(
    private readonly doc: Document,
    private readonly lineOf: (node: unknown) => number | undefined,
  ) {}

  value(node: unknown, depth: number): YamlValue {
    if (depth > 100) throw new YamlReadError('the YAML nests too deep (a recursive alias?)');
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.value(node.resolve(this.doc), depth + 1);
    const tag = (node as Node).tag;
    if (isScalar(node)) return this.scalar(node, tag);
    if (isSeq(node)) {
      this.checkTag(tag, 'seq', node);
      return node.items.map((item) => this.value(item, depth + 1));
    }
    if (isMap(node)) {
      this.checkTag(tag, 'map', node);
      return this.mapping(node, depth);
    }
    throw new YamlReadError('unexpected YAML node', this.lineOf(node));
  }

  private checkTag(tag: string | undefined, kind: string, node: unknown): void {
    if (tag !== undefined && tag !== `${YAML_TAG}${kind}`) {
      throw new YamlReadError(`the tag ${tag} is not one Ansible reads here`, this.lineOf(node));
    }
  }

  private scalar(node: Scalar, tag: string | undefined): YamlKey | VaultValue {
    const text = String(node.value ?? '');
    if (tag === '!vault' || tag === '!vault-encrypted') return { __ansible_vault: text };
    if (tag === '!unsafe' || tag === `${YAML_TAG}str`) return text;
    if (tag === `${YAML_TAG}int`) return int(text);
    if (tag === `${YAML_TAG}float`) return float(text);
    if (tag === `${YAML_TAG}bool`) return /^(?:yes|true|on)$/i.test(text);
    if (tag === `${YAML_TAG}null`) return null;
    if (tag !== undefined) {
      throw new YamlReadError(`the tag ${tag} is not one Ansible reads`, this.lineOf(node));
    }
    if (node.type !== Scalar.PLAIN) return text;
    try {
      return resolvePlain(text);
    } catch (error) {
      if (error instanceof YamlReadError) throw new YamlReadError(error.message, this.lineOf(node));
      throw error;
    }
  }

  private mapping(
    node: { items: Array<{ key: unknown; value: unknown }> },
    depth: number,
  ): YamlMap {
    const merged: Array<[YamlKey, YamlValue, number | undefined]> = [];
    const own: Array<[YamlKey, YamlValue, number | undefined]> = [];
    for (const pair of node.items) {
      const keyNode = isAlias(pair.key) ? pair.key.resolve(this.doc) : pair.key;
      if (
        isScalar(keyNode) &&
        keyNode.type === Scalar.PLAIN &&
        keyNode.value === '<<' &&
        !keyNode.tag
      ) {
        const value = isAlias(pair.value) ? pair.value.resolve(this.doc) : pair.value;
        const sources = isSeq(value) ? [...value.items].reverse() : [value];
        for (const source of sources) {
          const resolved = this.value(source, depth + 1);
          if (!(resolved instanceof YamlMap)) {
            throw new YamlReadError('a merge key (<<) needs a mapping', this.lineOf(pair.key));
          }
          merged.push(
            ...resolved.entries.map(
              ([k, v, l]) => [k, v, l] as [YamlKey, YamlValue, number | undefined],
            ),
          );
        }
        continue;
      }
      const key = this.value(keyNode, depth + 1);
      if (typeof key === 'object' && key !== null) {
        throw new YamlReadError('a mapping key must be a plain value', this.lineOf(pair.key));
      }
      own.push([key, this.value(pair.value, depth + 1), this.lineOf(pair.key)]);
    }
    const entries: Array<[YamlKey, YamlValue, number | undefined]> = [];
    const at = new Map<string, number>();
    for (const [key, value, line] of [...merged, ...own]) {
      const id = `${typeof key}:${String(key)}`;
      const index = at.get(id);
      if (index === undefined) {
        at.set(id, entries.length);
        entries.push([key, value, line]);
      } else {
        entries[index] = [entries[index]![0], value, entries[index]![2]];
      }
    }
    return new YamlMap(entries);
  }
}

/** A YAML value as a variable: mappings become objects keyed the way Python's json writes keys. */
export function toVar(value: YamlValue): unknown {
  if (value instanceof YamlMap) {
    const out = Object.create(null) as Record<string, unknown>;
    for (const [key, item] of value.entries) out[jsonKey(key)] = toVar(item);
    return out;
  }
  if (Array.isArray(value)) return value.map(toVar);
  return value;
}
