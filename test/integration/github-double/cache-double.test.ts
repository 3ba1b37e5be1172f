/**
 * The cache service v2 of the GitHub double, driven by the real @actions/cache in this process:
 * save, restore by exact key and by restore-key prefix, a second save of the same key refused
 * (as GitHub does), and requests that break the protobuf messages recorded as violations.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_TWIRP_PREFIX } from '../../support/github-double/cache-double';
import {
  applyEnv,
  runnerEnv,
  runtimeToken,
  startGitHubDouble,
  type GitHubDouble,
} from '../../support/github-double/github-double';

type CacheModule = typeof import('@actions/cache');

let double: GitHubDouble;
let dir: string;
let restoreEnv: () => void;
let cache: CacheModule;
let quiet: () => void;

beforeAll(async () => {
  double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: '127.0.13.4' });
  await double.storage();
  dir = await mkdtemp(join(tmpdir(), 'gh-cache-double-'));
  restoreEnv = applyEnv({
    ...runnerEnv(double, { runId: 7001, jobId: 'build' }),
    ACTIONS_CACHE_SERVICE_V2: 'true',
    RUNNER_TEMP: join(dir, 'temp'),
    GITHUB_WORKSPACE: dir,
  });
  await mkdir(join(dir, 'temp'), { recursive: true });
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  quiet = () => {
    process.stdout.write = write;
  };
  cache = await import('@actions/cache');
});

afterAll(async () => {
  quiet?.();
  restoreEnv?.();
  await double?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the cache service double with @actions/cache', () => {
  const deps = () => join(dir, 'deps');

  it('saves, restores by exact key and by prefix; the bytes come back', async () => {
    await mkdir(deps(), { recursive: true });
    const payload = randomBytes(200_000);
    await writeFile(join(deps(), 'blob.bin'), payload);
    const id = await cache.saveCache([deps()], 'deps-node-abc');
    expect(id).toBeGreaterThan(0);
    expect(double.cache.entries).toMatchObject([
      { key: 'deps-node-abc', finalized: true, runId: 7001 },
    ]);

    await rm(deps(), { recursive: true, force: true });
    expect(await cache.restoreCache([deps()], 'deps-node-abc')).toBe('deps-node-abc');
    expect((await readFile(join(deps(), 'blob.bin'))).equals(payload)).toBe(true);

    await rm(deps(), { recursive: true, force: true });
    expect(await cache.restoreCache([deps()], 'deps-node-other', ['deps-node-'])).toBe(
      'deps-node-abc',
    );
    expect(await cache.restoreCache([deps()], 'deps-static-x', ['deps-static-'])).toBeUndefined();
    // Another set of paths is another version: no hit.
    expect(await cache.restoreCache([join(dir, 'elsewhere')], 'deps-node-abc')).toBeUndefined();
    expect(double.violations).toEqual([]);
  });

  it('a second save of the same key and version is refused (409), which the client only logs', async () => {
    expect(await cache.saveCache([deps()], 'deps-node-abc')).toBe(-1);
    expect(
      double.requests
        .filter((r) => r.operationId === 'CacheService/CreateCacheEntry')
        .map((r) => r.status),
    ).toEqual([200, 409]);
    expect(double.cache.entries).toHaveLength(1);
    expect(double.violations).toEqual([]);
  });

  it('requests that are not the protobuf messages are refused and recorded', async () => {
    const token = runtimeToken(double.state.runs.get(7001)!.backendId, 'build');
    const post = (method: string, body: unknown, auth = `Bearer ${token}`) =>
      fetch(`${double.url}${CACHE_TWIRP_PREFIX}${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: auth },
        body: JSON.stringify(body),
      });
    expect((await post('CreateCacheEntry', { key: 'k', version: 'v', size: 3 })).status).toBe(400);
    expect((await post('NoSuchMethod', {})).status).toBe(404);
    expect((await post('GetCacheEntryDownloadURL', { key: 'k', version: 'v' }, '')).status).toBe(
      401,
    );
    expect(double.violations.map((v) => `${v.operationId} ${v.part}`)).toEqual([
      'CacheService/CreateCacheEntry body',
      'CacheService/NoSuchMethod body',
      'CacheService/GetCacheEntryDownloadURL body',
    ]);
    double.violations.length = 0;
  });
});
