import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type DocumentOptions,
  type ParseOptions,
  type SchemaOptions,
} from 'yaml';
import { InputError } from '../model/errors';
import { explainYamlError } from './yaml-errors';

export type YamlPath = ReadonlyArray<string | number>;

/** A parsed YAML text that can say on which line a value (or its key) stands. */
export class YamlSource {
  private constructor(
    readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /**
   * Throws InputError(field, `line N: …`) for syntax errors, duplicate keys and several documents.
   */
  static parse(
    text: string,
    field: string,
    options: ParseOptions & DocumentOptions & SchemaOptions = {},
  ): YamlSource {
    const lines = new LineCounter();
    const doc = parseDocument(text, { ...options, lineCounter: lines, prettyErrors: false });
    const [first] = doc.errors;
    if (first) {
      const problem = explainYamlError(text, first, lines);
      throw new InputError(field, `line ${problem.line}: ${problem.message}`);
    }
    return new YamlSource(doc, lines);
  }

  toJS(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
  }

  /**
   * Line of the node at `path`, or of its key when `key` is set and the node sits in a mapping.
   * Falls back to the nearest ancestor that exists (to its key, when `key` is set).
   */
  lineOf(path: YamlPath, key = false): number | undefined {
    let node: unknown = this.doc.contents;
    let offset = rangeStart(node);
    let keyOffset: number | undefined;
    for (const [i, segment] of path.entries()) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isScalar(p.key) && String(p.key.value) === String(segment),
        );
        if (!pair) {
          if (key && keyOffset !== undefined) offset = keyOffset;
          break;
        }
        keyOffset = rangeStart(pair.key);
        if (key && i === path.length - 1) return this.line(keyOffset ?? offset);
        node = pair.value;
        offset = rangeStart(node) ?? keyOffset ?? offset;
      } else if (isSeq(node)) {
        node = node.items[Number(segment)];
        if (node === undefined) break;
        keyOffset = undefined;
        offset = rangeStart(node) ?? offset;
      } else {
        break;
      }
    }
    return this.line(offset);
  }

  private line(offset: number | undefined): number | undefined {
    return offset === undefined ? undefined : this.lines.linePos(offset).line;
  }
}

function rangeStart(node: unknown): number | undefined {
  if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
  const range = (node as { range?: [number, number, number] | null }).range;
  return range ? range[0] : undefined;
}

/** `targets[2].address` → ['targets', 2, 'address']. */
export function fieldToPath(field: string): Array<string | number> {
  const path: Array<string | number> = [];
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) path.push(Number(match[2]));
    else if (match[1] !== undefined) path.push(match[1]);
  }
  return path;
}

/** ['targets', 2, 'address'] → `targets[2].address`. */
export function pathToField(path: YamlPath): string {
  let field = '';
  for (const segment of path) {
    if (typeof segment === 'number') field += `[${segment}]`;
    else field += field === '' ? segment : `.${segment}`;
  }
  return field;
}
