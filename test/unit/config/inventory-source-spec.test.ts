import { describe, expect, it } from 'vitest';
import { GroupFileError, parseGroupFile } from '../../../src/config/group-file';
import type { CachedInventory, InventoryCache } from '../../../src/inventory/cache';
import type { InventorySources } from '../../../src/inventory/sources';
import type { CachePolicy, InventorySource } from '../../../src/inventory/source';

const BASE = [
  'group: shop',
  'docBase: /srv/shop',
  'port: 8080',
  'service: { start: node server.js }',
  'inventory:',
];
const ANSWER = JSON.stringify({
  web: ['w1', 'w2'],
  _meta: { hostvars: { w1: { ansible_host: '10.0.0.1' } } },
});

/** Records what the loader was asked for; answers ANSWER as if fetched now. */
function recordingSources() {
  const asked: { source: InventorySource; policy: CachePolicy }[] = [];
  const sources = {
    load: (source: InventorySource, policy: CachePolicy) => {
      asked.push({ source, policy });
      return Promise.resolve({
        text: ANSWER,
        origin: {
          kind: source.kind,
          source: 'x',
          fetchedAt: new Date(0).toISOString(),
          from: 'source' as const,
          ageMs: 0,
        },
      });
    },
  } as unknown as InventorySources;
  return { sources, asked };
}
const noCache: InventoryCache = {
  location: '/nowhere',
  get: () => Promise.resolve(null),
  put: (_e: CachedInventory) => Promise.resolve(),
};

async function load(lines: string[], env: Record<string, string> = {}) {
  const { sources, asked } = recordingSources();
  const loaded = await parseGroupFile([...BASE, ...lines, ''].join('\n'), '/tmp/groups', {
    env: { USER: 'tester', HOME: '/home/tester', ...env },
    inventorySources: sources,
    inventoryCache: noCache,
  });
  return { loaded, asked };
}

async function issues(lines: string[], env: Record<string, string> = {}) {
  const { sources, asked } = recordingSources();
  try {
    await parseGroupFile([...BASE, ...lines, ''].join('\n'), '/tmp/groups', {
      env: { USER: 'tester', HOME: '/home/tester', ...env },
      inventorySources: sources,
      inventoryCache: noCache,
    });
  } catch (error) {
    expect(error).toBeInstanceOf(GroupFileError);
    expect(asked).toEqual([]);
    return (error as GroupFileError).issues.map((i) => [i.field, i.line, i.message]);
  }
  throw new Error('expected a GroupFileError');
}

describe('inventory: command and url in the group file', () => {
  it('a command runs in the group file folder with the defaults (10s timeout, fresh 10s)', async () => {
    const { loaded, asked } = await load(['  command: [./cmdb.sh, --list]', '  group: web']);
    expect(asked).toEqual([
      {
        source: {
          kind: 'command',
          argv: ['./cmdb.sh', '--list'],
          cwd: '/tmp/groups',
          env: { USER: 'tester', HOME: '/home/tester' },
          timeoutMs: 10_000,
        },
        policy: { freshMs: 10_000, maxAgeMs: null },
      },
    ]);
    expect(loaded.group.targets.map((t) => [t.host, t.address])).toEqual([
      ['w1', '10.0.0.1'],
      ['w2', 'w2'],
    ]);
    expect(loaded.inventory).toBe('./cmdb.sh --list');
  });

  it('a url with headers read from the environment, timeout and cache ages', async () => {
    const { asked } = await load(
      [
        '  url: https://cmdb.example.com/ansible?env=prod',
        '  headers: { Authorization: "Bearer {env:TOKEN}", X-Team: env:TEAM, Accept: application/json }',
        '  timeout: 3s',
        '  cache: { fresh: 1m, maxAge: 168h }',
        '  group: web',
      ],
      { TOKEN: 'abc', TEAM: 'shop' },
    );
    expect(asked).toEqual([
      {
        source: {
          kind: 'url',
          url: 'https://cmdb.example.com/ansible?env=prod',
          headers: { Authorization: 'Bearer abc', 'X-Team': 'shop', Accept: 'application/json' },
          timeoutMs: 3000,
        },
        policy: { freshMs: 60_000, maxAgeMs: 7 * 24 * 3600_000 },
      },
    ]);
  });

  it.each<[string, string[], Record<string, string>, [string, number | undefined, RegExp]]>([
    [
      'none of file, command, url',
      ['  group: web'],
      {},
      ['inventory', 6, /^give where the hosts come from: file .*, command .* or url/],
    ],
    [
      'two of them',
      ['  file: ./hosts.ini', '  url: https://cmdb.example.com/x'],
      {},
      ['inventory', 6, /^give one of file, command and url, not file and url$/],
    ],
    [
      'headers with a command',
      ['  command: [./x]', '  headers: { A: b }'],
      {},
      ['inventory.headers', 7, /^belongs to inventory\.url/],
    ],
    [
      'format with a url',
      ['  url: https://cmdb.example.com/x', '  format: ini'],
      {},
      ['inventory.format', 7, /^belongs to inventory\.file/],
    ],
    [
      'cache with a file',
      ['  file: ./hosts.ini', '  cache: { fresh: 1m }'],
      {},
      ['inventory.cache', 7, /^belongs to inventory\.command or url/],
    ],
    [
      'a password in the URL',
      ['  url: https://me:pw@cmdb.example.com/x'],
      {},
      ['inventory.url', 6, /user name or password.*move it to inventory\.headers/],
    ],
    [
      'an unset variable in a header',
      ['  url: https://cmdb.example.com/x', '  headers: { Authorization: "Bearer {env:NOPE}" }'],
      {},
      [
        'inventory.headers.Authorization',
        7,
        /^the environment variable NOPE is not set: export it .*secrets\.NOPE/,
      ],
    ],
    [
      'a zero timeout',
      ['  command: [./x]', '  timeout: 0s'],
      {},
      ['inventory.timeout', 7, /must be longer than 0/],
    ],
  ])('refuses %s, naming the field and the fix, asking nothing', async (_n, lines, env, want) => {
    const [field, line, message] = want;
    expect(await issues(lines, env)).toContainEqual([field, line, expect.stringMatching(message)]);
  });

  it('refuses a command that is not a list and a url that is not http(s) (schema)', async () => {
    expect(await issues(['  command: ./x --list'])).toContainEqual([
      'inventory.command',
      6,
      expect.stringMatching(/list/),
    ]);
    expect(await issues(['  url: ftp://cmdb.example.com/x'])).toContainEqual([
      'inventory.url',
      6,
      expect.any(String),
    ]);
  });
});
