/**
 * F5, F8: inventory sources for real — an HTTP server on loopback that answers, fails, hangs,
 * answers slowly and answers garbage, and commands that print JSON, exit non-zero and hang —
 * through the breaker, the timeout, the single flight and the file cache in a store directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseScriptInventory } from '../../../src/config/ansible/script-inventory';
import { loadGroupFile } from '../../../src/config/group-file';
import { GroupFileError } from '../../../src/config/group-file-issues';
import {
  InventorySources,
  InventoryUnavailableError,
  inventoryLine,
} from '../../../src/inventory/sources';
import type { CachePolicy, InventorySource } from '../../../src/inventory/source';
import { FileInventoryCache } from '../../../src/store/file/inventory-cache';
import { startCmdb, webInventory, type CmdbServer } from '../../support/inventory-server';

const HOST = '127.0.25.1';
const PORT = 25001;
const ANSWER = webInventory({ w1: '127.0.25.11', w2: '127.0.25.12' });
const NEWER = webInventory({ w1: '127.0.25.11', w2: '127.0.25.12', w3: '127.0.25.13' });
const ALWAYS_ASK: CachePolicy = { freshMs: 0, maxAgeMs: null };
const check = (text: string) => parseScriptInventory(text).reconcile();

let cmdb: CmdbServer;
let dir: string;
let cache: FileInventoryCache;

beforeAll(async () => {
  cmdb = await startCmdb(HOST, PORT, { kind: 'answer', body: ANSWER });
});
afterAll(async () => cmdb?.stop());

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rollgate-inventory-'));
  cache = new FileInventoryCache(join(dir, 'state'));
  cmdb.mode = { kind: 'answer', body: ANSWER };
  cmdb.requests = [];
  delete cmdb.token;
  return () => rm(dir, { recursive: true, force: true });
});

const url = (o: Partial<Extract<InventorySource, { kind: 'url' }>> = {}): InventorySource => ({
  kind: 'url',
  url: cmdb.url,
  headers: {},
  timeoutMs: 2000,
  ...o,
});
const sources = () => new InventorySources({ now: () => Date.now() });

async function cacheFiles(): Promise<string[]> {
  const where = join(dir, 'state', '.inventory');
  return existsSync(where) ? readdir(where) : [];
}

describe('an inventory URL', () => {
  it('answers: the answer is used and cached in the store with its time and source', async () => {
    const before = Date.now();
    const r = await sources().load(url(), ALWAYS_ASK, cache, check);
    expect(r.text).toBe(ANSWER);
    expect(r.origin).toMatchObject({ kind: 'url', source: cmdb.url, from: 'source', ageMs: 0 });
    const files = await cacheFiles();
    expect(files).toHaveLength(1);
    const kept = JSON.parse(await readFile(join(cache.location, files[0]!), 'utf8'));
    expect(kept).toMatchObject({ kind: 'url', source: cmdb.url, answer: ANSWER });
    expect(Date.parse(kept.fetchedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(inventoryLine(r.origin)).toMatch(
      /^inventory from http:\/\/127\.0\.25\.1:25001\/inventory, fetched /,
    );
  });

  it('fails (500): the cached copy is used, and why is said', async () => {
    const s = sources();
    await s.load(url(), ALWAYS_ASK, cache, check);
    cmdb.mode = { kind: 'fail', status: 500, body: 'database is on fire\n' };
    const r = await s.load(url(), ALWAYS_ASK, cache, check);
    expect(r.text).toBe(ANSWER);
    expect(r.origin.from).toBe('cache');
    expect(r.origin.down).toBe('HTTP 500 Internal Server Error: database is on fire');
    expect(inventoryLine(r.origin)).toMatch(
      /^inventory from cache, \ds old: http:\/\/127\.0\.25\.1:25001\/inventory is down \(HTTP 500 Internal Server Error: database is on fire\)$/,
    );
  });

  it('fails with no cached copy: a clear error, nothing cached', async () => {
    cmdb.mode = { kind: 'fail', status: 503 };
    await expect(sources().load(url(), ALWAYS_ASK, cache, check)).rejects.toThrow(
      new InventoryUnavailableError(
        'HTTP 503 Service Unavailable: cmdb broke; no cached copy to go on with',
      ),
    );
    expect(await cacheFiles()).toEqual([]);
  });

  it('hangs: cut by the timeout, the cached copy is used', async () => {
    const s = sources();
    await s.load(url(), ALWAYS_ASK, cache, check);
    cmdb.mode = { kind: 'hang' };
    const started = Date.now();
    const r = await s.load(url({ timeoutMs: 300 }), ALWAYS_ASK, cache, check);
    const took = Date.now() - started;
    expect(r.origin.down).toBe('no answer within 300ms (inventory.timeout)');
    expect(r.text).toBe(ANSWER);
    // The timeout, not the server, ended it (the server never answers).
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2000);
  });

  it('answers slowly: concurrent refreshes of one source are merged into one request', async () => {
    cmdb.mode = { kind: 'answer', body: NEWER, delayMs: 300 };
    const s = sources();
    const loads = await Promise.all(
      Array.from({ length: 8 }, () => s.load(url(), ALWAYS_ASK, cache, check)),
    );
    expect(cmdb.requests).toHaveLength(1);
    expect(loads.every((l) => l.text === NEWER && l.origin.from === 'source')).toBe(true);
    // Once settled, the next refresh asks again.
    await s.load(url(), ALWAYS_ASK, cache, check);
    expect(cmdb.requests).toHaveLength(2);
  });

  it('answers bad JSON: counted as down, the cached copy is used and kept', async () => {
    const s = sources();
    await s.load(url(), ALWAYS_ASK, cache, check);
    cmdb.mode = { kind: 'answer', body: '<html>maintenance</html>' };
    const r = await s.load(url(), ALWAYS_ASK, cache, check);
    expect(r.origin.down).toMatch(
      /^answered, but not an inventory: the answer is not JSON \(.*\); it starts "<html>maintenance<\/html>"$/,
    );
    expect(r.text).toBe(ANSWER);
    const [file] = await cacheFiles();
    expect(JSON.parse(readFileSync(join(cache.location, file!), 'utf8')).answer).toBe(ANSWER);
  });

  it('a fresh cached copy is used without asking the source', async () => {
    const s = sources();
    await s.load(url(), ALWAYS_ASK, cache, check);
    const r = await s.load(url(), { freshMs: 60_000, maxAgeMs: null }, cache, check);
    expect(cmdb.requests).toHaveLength(1);
    expect(r.origin).toMatchObject({ from: 'cache' });
    expect(r.origin.down).toBeUndefined();
  });

  it('the breaker opens after 3 failures in a row: the source is not asked again for a while', async () => {
    const s = new InventorySources({ now: () => Date.now(), halfOpenAfterMs: 60_000 });
    await s.load(url(), ALWAYS_ASK, cache, check);
    cmdb.mode = { kind: 'fail', status: 502 };
    for (let i = 0; i < 3; i++) await s.load(url(), ALWAYS_ASK, cache, check);
    expect(cmdb.requests).toHaveLength(4);
    const r = await s.load(url(), ALWAYS_ASK, cache, check);
    expect(cmdb.requests).toHaveLength(4);
    expect(r.origin.down).toMatch(
      /^not asked: its circuit is open after 3 failures in a row \(last: HTTP 502 Bad Gateway: cmdb broke\)/,
    );
  });

  it('sends headers read from the environment, and keeps them out of the cache', async () => {
    cmdb.token = 's3cret-token-25';
    const r = await sources().load(
      url({ headers: { Authorization: 'Bearer s3cret-token-25' } }),
      ALWAYS_ASK,
      cache,
      check,
    );
    expect(r.origin.from).toBe('source');
    expect(cmdb.requests[0]!.authorization).toBe('Bearer s3cret-token-25');
    const [file] = await cacheFiles();
    expect(readFileSync(join(cache.location, file!), 'utf8')).not.toContain('s3cret');
  });
});

/** A killed process whose parent is gone may wait as a zombie for PID 1 (a container) to reap it. */
function runningState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' ? 'gone or zombie' : `running (${state})`;
  } catch {
    return 'gone or zombie';
  }
}

describe('an inventory command', () => {
  async function script(name: string, body: string): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
    return `./${name}`;
  }
  const command = (argv: string[], timeoutMs = 2000): InventorySource => ({
    kind: 'command',
    argv,
    cwd: dir,
    env: { PATH: process.env.PATH },
    timeoutMs,
  });

  it('prints JSON: the answer is used and cached; a later non-zero exit uses the copy', async () => {
    await writeFile(join(dir, 'answer.json'), ANSWER);
    const inv = await script(
      'inv.sh',
      'test "$1" = --list || exit 9\necho called >> calls.log\nif [ -e down ]; then echo "cmdb unreachable: ECONNREFUSED" >&2; exit 3; fi\ncat answer.json',
    );
    const s = sources();
    const first = await s.load(command([inv, '--list']), ALWAYS_ASK, cache, check);
    expect(first.text.trim()).toBe(ANSWER);
    expect(first.origin).toMatchObject({
      kind: 'command',
      source: './inv.sh --list',
      from: 'source',
    });

    await writeFile(join(dir, 'down'), '');
    const second = await s.load(command([inv, '--list']), ALWAYS_ASK, cache, check);
    expect(second.origin.from).toBe('cache');
    expect(second.origin.down).toBe('exited with 3: cmdb unreachable: ECONNREFUSED');
    expect(readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('exits non-zero with no cached copy: a clear error', async () => {
    const inv = await script('broken.sh', 'echo "no route to cmdb" >&2; exit 2');
    await expect(sources().load(command([inv]), ALWAYS_ASK, cache, check)).rejects.toThrow(
      'exited with 2: no route to cmdb; no cached copy to go on with',
    );
  });

  it('hangs: killed at the timeout with what it started, the cached copy is used', async () => {
    await writeFile(join(dir, 'answer.json'), ANSWER);
    const inv = await script(
      'slow.sh',
      'if [ -e hang ]; then sleep 30 & echo $! > child.pid; wait; fi\ncat answer.json',
    );
    const s = sources();
    await s.load(command([inv]), ALWAYS_ASK, cache, check);
    await writeFile(join(dir, 'hang'), '');
    const started = Date.now();
    const r = await s.load(command([inv], 400), ALWAYS_ASK, cache, check);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(r.origin.down).toBe('no answer within 400ms (inventory.timeout)');
    const child = Number(readFileSync(join(dir, 'child.pid'), 'utf8'));
    // The script's own child (sleep) went with it: its whole process group was killed.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(runningState(child)).toBe('gone or zombie');
  });

  it('hangs in a process that left its group (setsid): still cut at the timeout', async () => {
    const inv = await script('escape.sh', 'setsid sleep 5');
    const started = Date.now();
    await expect(sources().load(command([inv], 400), ALWAYS_ASK, cache, check)).rejects.toThrow(
      'no answer within 400ms (inventory.timeout); no cached copy to go on with',
    );
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a command that cannot be run says so', async () => {
    await expect(
      sources().load(command(['./missing.sh']), ALWAYS_ASK, cache, check),
    ).rejects.toThrow(/^could not run it \(ENOENT\); no cached copy to go on with$/);
  });
});

describe('a group file naming an inventory URL', () => {
  const group = (inventory: string, store = './state') =>
    [
      'group: shop',
      'docBase: /srv/shop',
      'port: 25080',
      'service: { start: node server.js }',
      'transport: { kind: local, root: ./fleet }',
      `store: { dir: ${store} }`,
      'inventory:',
      inventory,
      '',
    ].join('\n');

  it('loads its targets from the answer, with the header from the environment', async () => {
    cmdb.token = 'tok-25';
    await writeFile(
      join(dir, 'group.yml'),
      group(
        `  url: ${cmdb.url}\n  group: web\n  headers: { Authorization: "Bearer {env:CMDB_TOKEN}" }`,
      ),
    );
    const loaded = await loadGroupFile(join(dir, 'group.yml'), { CMDB_TOKEN: 'tok-25' });
    expect(loaded.group.targets.map((t) => [t.host, t.address])).toEqual([
      ['w1', '127.0.25.11'],
      ['w2', '127.0.25.12'],
    ]);
    expect(loaded.inventory).toBe(cmdb.url);
    expect(loaded.inventoryOrigin?.from).toBe('source');
    expect(await readdir(join(dir, 'state', '.inventory'))).toHaveLength(1);
  });

  it('source down and nothing cached: refused naming inventory.url, the source and the fix', async () => {
    cmdb.mode = { kind: 'fail', status: 500 };
    await writeFile(join(dir, 'group.yml'), group(`  url: ${cmdb.url}\n  group: web`));
    const err = await loadGroupFile(join(dir, 'group.yml'), {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GroupFileError);
    const [issue] = (err as GroupFileError).issues;
    expect(issue!.field).toBe('inventory.url');
    expect(issue!.message).toContain(
      `${cmdb.url} gave no inventory: HTTP 500 Internal Server Error`,
    );
    expect(issue!.message).toContain('no cached copy to go on with');
    expect(issue!.message).toContain('Nothing was started');
    expect(issue!.message).toContain('inventory.file');
  });

  it('a header naming an unset variable is refused before anything is asked', async () => {
    await writeFile(
      join(dir, 'group.yml'),
      group(`  url: ${cmdb.url}\n  headers: { Authorization: env:CMDB_TOKEN }`),
    );
    const err = (await loadGroupFile(join(dir, 'group.yml'), {}).catch(
      (e: unknown) => e,
    )) as GroupFileError;
    expect(err.issues.map((i) => [i.field, i.message])).toContainEqual([
      'inventory.headers.Authorization',
      expect.stringMatching(/^the environment variable CMDB_TOKEN is not set: export it/),
    ]);
    expect(cmdb.requests).toHaveLength(0);
  });
});
