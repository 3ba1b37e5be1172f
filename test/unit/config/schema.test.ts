import { readdirSync, readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import { describe, expect, it } from 'vitest';
import schema from '../../../schema/group.schema.json';

type Node = Record<string, unknown>;

const ajv = () => new Ajv2020({ strict: true, allowUnionTypes: true, discriminator: true });
const defs = (schema as Node).$defs as Record<string, Node>;
const resolve = (node: Node): Node => {
  const ref = node.$ref;
  return typeof ref === 'string' ? { ...defs[ref.replace('#/$defs/', '')], ...node } : node;
};

/** Every schema node with its JSON pointer, walking properties, items, oneOf and $defs. */
function walk(node: Node, pointer = ''): Array<[string, Node]> {
  const out: Array<[string, Node]> = [[pointer, node]];
  const children: Array<[string, unknown]> = [];
  for (const [key, value] of Object.entries((node.properties as Node | undefined) ?? {})) {
    children.push([`${pointer}/properties/${key}`, value]);
  }
  for (const [key, value] of Object.entries((node.$defs as Node | undefined) ?? {})) {
    children.push([`${pointer}/$defs/${key}`, value]);
  }
  ((node.oneOf as unknown[] | undefined) ?? []).forEach((b, i) =>
    children.push([`${pointer}/oneOf/${i}`, b]),
  );
  if (typeof node.items === 'object') children.push([`${pointer}/items`, node.items]);
  if (typeof node.additionalProperties === 'object') {
    children.push([`${pointer}/additionalProperties`, node.additionalProperties]);
  }
  for (const [p, child] of children) out.push(...walk(child as Node, p));
  return out;
}

const nodes = walk(schema as Node);
const properties = nodes.filter(([p]) => /\/properties\/[^/]+$/.test(p));

describe('schema/group.schema.json', () => {
  it('compiles in ajv strict mode (draft 2020-12)', () => {
    expect((schema as Node).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(() => ajv().compile(schema)).not.toThrow();
  });

  it.each(properties)('%s has a title and a description for editors', (_pointer, node) => {
    const full = resolve(node);
    expect(typeof full.title).toBe('string');
    expect(typeof full.description).toBe('string');
  });

  it.each(nodes.filter(([, n]) => n.properties !== undefined))(
    '%s refuses unknown settings (typos)',
    (_pointer, node) => {
      expect(node.additionalProperties).toBe(false);
    },
  );

  const withSamples = nodes.flatMap(([pointer, node]) => [
    ...((node.examples as unknown[] | undefined) ?? []).map(
      (e) => [pointer, 'example', e] as const,
    ),
    ...(node.default === undefined ? [] : [[pointer, 'default', node.default] as const]),
  ]);
  it.each(withSamples)('%s: the %s %j is valid', (_pointer, _kind, sample) => {
    const node = nodes.find(([p]) => p === _pointer)![1];
    const validate = ajv().compile({ $defs: defs, ...node });
    expect(validate(sample), JSON.stringify(validate.errors)).toBe(true);
  });

  it('is the schema every example group file points at', () => {
    const dir = new URL('../../../examples/groups/', import.meta.url);
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.yml'))) {
      const first = readFileSync(new URL(name, dir), 'utf8').split('\n')[0];
      expect(first).toBe('# yaml-language-server: $schema=../../schema/group.schema.json');
    }
  });
});
