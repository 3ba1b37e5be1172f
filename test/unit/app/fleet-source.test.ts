import { appendFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { environmentLabel, FleetSource } from '../../../src/app/fleet-source';
import { quietLogger } from '../../support/fakes';

const ledger = (group: string) =>
  JSON.stringify({
    schemaVersion: 1,
    group,
    current: null,
    history: [
      {
        id: `${group}-1`,
        kind: 'deploy',
        version: '1.0.0',
        outcome: 'success',
        createdAt: 1,
        endedAt: 2,
        by: 'a',
      },
    ],
    quarantined: {},
  });

describe('FleetSource: the groups of a file store, and a watch on it', () => {
  let dir = '';
  let source: FleetSource | null = null;
  afterEach(async () => {
    await source?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists every group with a record; not a directory without state.json, not dot-directories', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-fleet-'));
    for (const g of ['shop', 'api']) {
      await mkdir(join(dir, g));
      await writeFile(join(dir, g, 'state.json'), ledger(g));
    }
    await mkdir(join(dir, 'empty'));
    await mkdir(join(dir, '.verdicts'));
    source = await FleetSource.open({
      storeDirs: [dir],
      groupFiles: [],
      env: {},
      logger: quietLogger,
    });
    expect(await source.groupNames()).toEqual(['api', 'shop']);
    expect((await source.home()).map((r) => [r.name, r.version])).toEqual([
      ['api', '1.0.0'],
      ['shop', '1.0.0'],
    ]);
    expect(source.canOperate('shop')).toBe(false); // no group file given
    expect(await source.group('nope')).toBeNull();
  });

  it('stores labelled with their environment: one row per group, a column per environment', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-fleet-'));
    for (const [env, version] of [
      ['staging', '2.0.0'],
      ['production', '1.0.0'],
    ] as const) {
      await mkdir(join(dir, env, 'shop'), { recursive: true });
      await writeFile(
        join(dir, env, 'shop', 'state.json'),
        ledger('shop').replace('1.0.0', version),
      );
    }
    source = await FleetSource.open({
      storeDirs: [`staging=${join(dir, 'staging')}`, `production=${join(dir, 'production')}`],
      groupFiles: [],
      env: {},
      logger: quietLogger,
    });
    // Before labels both stores' "shop" were one key, the second hiding the first.
    expect(await source.groupNames()).toEqual(['production/shop', 'staging/shop']);
    expect((await source.home()).map((r) => [r.group, r.environment, r.version])).toEqual([
      ['shop', 'production', '1.0.0'],
      ['shop', 'staging', '2.0.0'],
    ]);
    expect((await source.group('staging/shop'))?.environment).toBe('staging');
    const changes: string[][] = [];
    source.watch((g) => changes.push([...g]), 50);
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(join(dir, 'staging', 'shop', 'events.ndjson'), '{}\n');
    for (let waited = 0; changes.length === 0 && waited < 3000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(changes).toEqual([['staging/shop']]);
  });

  it('one store cannot be two environments', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-fleet-'));
    await expect(
      FleetSource.open({
        storeDirs: [`staging=${dir}`, `production=${dir}`],
        groupFiles: [],
        env: {},
        logger: quietLogger,
      }),
    ).rejects.toThrow(/labelled both staging and production/);
  });

  it.each([
    ['production=/srv/rec', false, { environment: 'production', path: '/srv/rec' }],
    ['/srv/rec', false, { environment: null, path: '/srv/rec' }],
    ['a=b', true, { environment: null, path: 'a=b' }], // a path that exists as written
    ['=x', false, { environment: null, path: '=x' }],
    ['pro d=x', false, { environment: null, path: 'pro d=x' }],
  ])('environmentLabel(%j)', (arg, exists, want) => {
    expect(environmentLabel(arg, () => exists)).toEqual(want);
  });

  it('a burst of writes to one group is one change naming it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-fleet-'));
    await mkdir(join(dir, 'shop'));
    await writeFile(join(dir, 'shop', 'state.json'), ledger('shop'));
    source = await FleetSource.open({
      storeDirs: [dir],
      groupFiles: [],
      env: {},
      logger: quietLogger,
    });
    const changes: string[][] = [];
    source.watch((g) => changes.push([...g]), 100);
    await new Promise((r) => setTimeout(r, 50));
    // Five writes within a millisecond: one debounce window.
    for (let i = 0; i < 5; i++) appendFileSync(join(dir, 'shop', 'events.ndjson'), '{}\n');
    for (let waited = 0; changes.length === 0 && waited < 3000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(changes).toEqual([['shop']]);
  });

  it('refuses a store that is not a directory, naming --store', async () => {
    await expect(
      FleetSource.open({
        storeDirs: ['/nonexistent/x'],
        groupFiles: [],
        env: {},
        logger: quietLogger,
      }),
    ).rejects.toThrow(/--store: \/nonexistent\/x is not a directory/);
  });
});
