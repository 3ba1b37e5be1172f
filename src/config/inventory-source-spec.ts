import type { Problems } from './group-file-issues';
import type { Duration, RawGroupFile } from './raw-group-file';
import type { CachePolicy, InventorySource } from '../inventory/source';

type RawInventory = NonNullable<RawGroupFile['inventory']>;

/** `inventory:` as the loader uses it: a file, or a dynamic source with its cache policy. */
export type InventorySpec =
  | { kind: 'file'; file: string }
  | { kind: 'dynamic'; source: InventorySource; policy: CachePolicy };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks `inventory:` beyond the schema: one of file, command and url; the fields that belong to
 * only one of them; header values read from the environment (a missing variable names itself).
 */
export function buildInventorySpec(
  raw: RawInventory,
  o: {
    problems: Problems;
    env: Record<string, string | undefined>;
    dir: string;
    local: (path: string) => string;
    ms: (
      field: string,
      value: Duration | undefined,
      fallback: Duration,
      positive?: boolean,
    ) => number;
  },
): InventorySpec | null {
  const { problems } = o;
  const before = problems.issues.length;
  const spec = readSpec(raw, o);
  // A source is asked only when its settings are sound (a missing token asks nothing).
  return problems.issues.length === before ? spec : null;
}

function readSpec(
  raw: RawInventory,
  o: Parameters<typeof buildInventorySpec>[1],
): InventorySpec | null {
  const { problems } = o;
  const given = (['file', 'command', 'url'] as const).filter((k) => raw[k] !== undefined);
  if (given.length !== 1) {
    problems.add(
      'inventory',
      given.length === 0
        ? 'give where the hosts come from: file (an INI or YAML inventory), command (a dynamic inventory script) or url (an HTTP(S) URL answering its JSON)'
        : `give one of file, command and url, not ${given.join(' and ')}`,
    );
    return null;
  }
  const only = (field: keyof RawInventory, owner: string) => {
    if (raw[field] !== undefined) {
      problems.add(`inventory.${field}`, `belongs to inventory.${owner}: remove it`);
    }
  };
  if (raw.file !== undefined) {
    for (const field of ['headers', 'timeout', 'cache'] as const) only(field, 'command or url');
    return { kind: 'file', file: raw.file };
  }
  only('format', 'file (a source answers JSON)');
  const timeoutMs = o.ms('inventory.timeout', raw.timeout, '10s', true);
  const policy: CachePolicy = {
    freshMs: o.ms('inventory.cache.fresh', raw.cache?.fresh, '10s'),
    maxAgeMs:
      raw.cache?.maxAge === undefined
        ? null
        : o.ms('inventory.cache.maxAge', raw.cache.maxAge, '0s', true),
  };
  if (raw.command !== undefined) {
    only('headers', 'url (a command reads its credentials from the environment itself)');
    return {
      kind: 'dynamic',
      source: { kind: 'command', argv: raw.command, cwd: o.dir, env: o.env, timeoutMs },
      policy,
    };
  }
  const url = checkUrl(raw.url!, problems);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw.headers ?? {})) {
    const field = `inventory.headers.${name}`;
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      problems.add(field, `"${name}" is not an HTTP header name`);
      continue;
    }
    const read = fromEnv(value, o.env);
    if (typeof read === 'string') headers[name] = read;
    else problems.add(field, read.problem);
  }
  return { kind: 'dynamic', source: { kind: 'url', url, headers, timeoutMs }, policy };
}

function checkUrl(text: string, problems: Problems): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    problems.add('inventory.url', `"${text}" is not a URL`);
    return text;
  }
  if (url.username || url.password) {
    problems.add(
      'inventory.url',
      'carries a user name or password, which would be shown and cached with it: move it to ' +
        'inventory.headers, read from the environment (Authorization: "Basic {env:CMDB_BASIC}")',
    );
  }
  return text;
}

/** `env:NAME` is the variable; `{env:NAME}` inside text is replaced by it. */
function fromEnv(
  value: string,
  env: Record<string, string | undefined>,
): string | { problem: string } {
  const whole = /^env:(.*)$/.exec(value);
  const names = whole ? [whole[1]!] : [...value.matchAll(/\{env:([^}]*)\}/g)].map((m) => m[1]!);
  for (const name of names) {
    if (!ENV_NAME.test(name)) return { problem: `"${name}" is not an environment variable name` };
    if (env[name] === undefined || env[name] === '') {
      return {
        problem:
          `the environment variable ${name} is not set: export it before running rollgate ` +
          `(in a workflow: env: ${name}: \${{ secrets.${name} }})`,
      };
    }
  }
  const out = whole
    ? env[whole[1]!]!
    : value.replace(/\{env:([^}]*)\}/g, (_m, name: string) => env[name]!);
  if (/[\r\n\0]/.test(out))
    return { problem: 'the value holds a line break, which no header can carry' };
  return out;
}
