import type { ErrorObject } from 'ajv';
import type { YamlPath } from './yaml-source';

/** One problem found in a group file, before the line number is added. */
export interface SchemaProblem {
  path: YamlPath;
  message: string;
  /** Point at the key (unknown or missing setting) rather than at the value. */
  atKey: boolean;
}

const FRIENDLY: Record<string, string> = {
  duration: 'is not a duration: use a number of seconds or e.g. 250ms, 30s, 5m, 1h, 1m30s',
  percent:
    'is not a percentage: use e.g. 25% (or the fraction 0.25), more than 0% and at most 100%',
  host: 'is not a valid host name or address',
  targetId: 'is not a valid target id: letters, digits and . _ : -',
  absolutePath: 'must be an absolute path of letters, digits and . _ / - (no "..")',
  port: 'is not a port: use a whole number from 1 to 65535',
  userName: 'is not a valid user name: letters, digits and . _ - (not starting with -)',
  envName: 'is not a valid environment variable name: letters, digits and _',
};

const BY_FIELD: Record<string, string> = {
  group: 'is not a valid group name: letters, digits and . _ - (starting with a letter or digit)',
  'deployment.batchPattern': 'is not a batch pattern like 10%+20%+70%',
  healthCheckUrl: 'must be a path like /health or a URL like http://{address}:{port}/health',
  path: 'must be a path starting with /',
};

/** Turns ajv's errors into messages a person can act on, with the path of the offending value. */
export function describeSchemaErrors(
  errors: readonly ErrorObject[],
  data: unknown,
): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  // Errors inside propertyNames repeat what the propertyNames error itself says.
  const specific = errors.filter(
    (e) => e.keyword !== 'oneOf' && e.keyword !== 'if' && e.propertyName === undefined,
  );
  for (const error of specific.length > 0 ? specific : errors) {
    const path = pointerToPath(error.instancePath, data);
    const value = valueAt(data, path);
    problems.push(describe(error, path, value));
  }
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path.join('\0')}\0${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function describe(error: ErrorObject, path: YamlPath, value: unknown): SchemaProblem {
  const atValue = (message: string): SchemaProblem => ({ path, message, atKey: false });
  const params = error.params as Record<string, unknown>;
  const defName = /^#\/\$defs\/([^/]+)\//.exec(error.schemaPath)?.[1];
  const fieldName = path.filter((s) => typeof s === 'string').join('.');

  switch (error.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      return { path: [...path, missing], message: 'is required', atKey: true };
    }
    case 'additionalProperties': {
      const extra = String(params.additionalProperty);
      const allowed = Object.keys(
        (error.parentSchema as { properties?: object } | undefined)?.properties ?? {},
      );
      const guess = closest(extra, allowed);
      const hint = guess
        ? `did you mean "${guess}"?`
        : `known settings here: ${allowed.join(', ')}`;
      return { path: [...path, extra], message: `unknown setting; ${hint}`, atKey: true };
    }
    case 'discriminator': {
      const kinds = kindsOf(error.parentSchema);
      const tagValue = params.tagValue;
      if (params.error === 'mapping' && tagValue !== undefined) {
        return {
          path: [...path, 'kind'],
          message: `${show(tagValue)} is not a known kind: use ${kinds.join(', ')}`,
          atKey: false,
        };
      }
      return {
        path: [...path, 'kind'],
        message: `is required: one of ${kinds.join(', ')}`,
        atKey: true,
      };
    }
    case 'propertyNames': {
      const name = String(params.propertyName);
      return { path: [...path, name], message: `${show(name)} ${FRIENDLY.envName}`, atKey: true };
    }
  }

  if (defName && FRIENDLY[defName] && error.keyword !== 'const') {
    return atValue(`${show(value)} ${FRIENDLY[defName]}`);
  }
  if (error.keyword === 'pattern' && BY_FIELD[fieldName]) {
    return atValue(`${show(value)} ${BY_FIELD[fieldName]}`);
  }
  switch (error.keyword) {
    case 'type': {
      const types = ([] as unknown[]).concat(params.type).map(String);
      const wanted = types.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      return atValue(`${show(value)} must be ${wanted}`);
    }
    case 'enum':
      return atValue(
        `${show(value)} must be one of: ${((params.allowedValues as unknown[]) ?? []).join(', ')}`,
      );
    case 'const':
      return atValue(`${show(value)} must be ${show(params.allowedValue)}`);
    case 'uniqueItems':
      return atValue(`lists the same item twice (items ${params.j} and ${params.i})`);
    default:
      return atValue(`${show(value)} ${error.message ?? 'is not valid'}`);
  }
}

const TYPE_WORDS: Record<string, string> = {
  boolean: 'true or false',
  integer: 'a whole number',
  number: 'a number',
  string: 'text',
  object: 'a mapping (key: value)',
  array: 'a list',
};

function kindsOf(schema: unknown): string[] {
  const branches = (schema as { oneOf?: Array<{ properties?: { kind?: { const?: string } } }> })
    ?.oneOf;
  return (branches ?? []).map((b) => b.properties?.kind?.const ?? '?');
}

function show(value: unknown): string {
  if (value === undefined) return 'the value';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function pointerToPath(pointer: string, data: unknown): Array<string | number> {
  if (pointer === '') return [];
  const path: Array<string | number> = [];
  let node = data;
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      path.push(Number(segment));
      node = node[Number(segment)];
    } else {
      path.push(segment);
      node = (node as Record<string, unknown> | undefined)?.[segment];
    }
  }
  return path;
}

function valueAt(data: unknown, path: YamlPath): unknown {
  let node = data;
  for (const segment of path)
    node = (node as Record<string | number, unknown> | undefined)?.[segment];
  return node;
}

/** The allowed name within edit distance 2 (case ignored), if one stands out. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}
