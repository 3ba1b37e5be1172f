import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertStoreDir, FileStore } from '../../../src/store/file/file-store';
import { emptyLedger, type Ledger } from '../../../src/engine/ledger';
import {
  InputError,
  LockHeldError,
  RecordDamagedError,
  RecordWriteError,
} from '../../../src/model/errors';
import { Engine } from '../../../src/engine/engine';
import { SimulatedClock } from '../../../src/engine/clock';
import { FakeFleet, FakeTraffic, makeConfig, makeGroup, releaseThrough } from '../../support/fakes';

const dir = () => mkdtempSync(join(tmpdir(), 'rollgate-store-'));

describe('FileStore', () => {
  it('saves state.json atomically and reads it back; coalesces a burst of saves', async () => {
    const d = dir();
    const store = new FileStore(d);
    const ledger = emptyLedger('shop');
    for (let i = 0; i < 1000; i++) {
      ledger.quarantined[`v${i}`] = { reason: 'x', at: i };
      await store.save(ledger);
    }
    await store.flush();
    const back = await new FileStore(d).load('shop');
    expect(Object.keys(back!.quarantined)).toHaveLength(1000);
  });

  it('appends events as ndjson, in order', async () => {
    const store = new FileStore(dir());
    for (let i = 0; i < 50; i++) {
      await store.append('shop', {
        at: 'now',
        group: 'shop',
        deployment: 'd',
        type: 'warn',
        message: `m${i}`,
      });
    }
    const events = await store.events('shop');
    expect(events.map((e) => e.message)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    await store.close();
  });

  it('a second run of a group is refused with who holds it and since when', async () => {
    const d = dir();
    const release = await new FileStore(d).acquireRun('shop', 'alice');
    const err = await new FileStore(d).acquireRun('shop', 'bob').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as Error).message).toMatch(
      /group shop is locked by alice \(pid \d+ on .+\) since 20\d\d-/,
    );
    await release();
    await (
      await new FileStore(d).acquireRun('shop', 'bob')
    )();
  });

  it('takes over a run lock left by a dead process on this machine', async () => {
    const d = dir();
    const store = new FileStore(d);
    await store.acquireRun('shop', 'x');
    const file = join(d, 'shop', 'run.lock');
    const lock = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...lock, pid: 2 ** 22 + 12345 })); // no such pid
    const release = await new FileStore(d).acquireRun('shop', 'y');
    expect(JSON.parse(readFileSync(file, 'utf8')).who).toBe('y');
    await release();
  });

  it('records, reads and clears a stop request', async () => {
    const store = new FileStore(dir());
    expect(await store.stopRequested('shop')).toBeNull();
    await store.requestStop('shop', 'carol');
    expect(await store.stopRequested('shop')).toBe('carol');
    await store.clearStop('shop');
    expect(await store.stopRequested('shop')).toBeNull();
  });

  it('refuses a state.json of another schema version', async () => {
    const d = dir();
    const store = new FileStore(d);
    await store.save(emptyLedger('shop'));
    await store.flush();
    writeFileSync(join(d, 'shop', 'state.json'), JSON.stringify({ schemaVersion: 9 }));
    await expect(store.load('shop')).rejects.toThrow(/schema version 9/);
  });
});

describe('FileStore: a damaged record', () => {
  /** A record and its log as a release leaves them (through the real engine). */
  async function recorded(): Promise<{ d: string; store: FileStore; warnings: string[] }> {
    const d = dir();
    const warnings: string[] = [];
    const logger = {
      info: () => undefined,
      warn: (l: string) => warnings.push(l),
      error: () => undefined,
    };
    const store = new FileStore(d, logger);
    const clock = new SimulatedClock();
    const engine = new Engine(
      { transport: new FakeFleet(clock), traffic: new FakeTraffic(), store, clock, logger },
      makeGroup(4),
      makeConfig(),
      'alice',
    );
    await engine.deploy({ version: '1.0.0', package: { version: '1.0.0', path: '/p.tgz' } });
    await store.close();
    return { d, store: new FileStore(d, logger), warnings };
  }
  const state = (d: string) => join(d, 'shop', 'state.json');
  const log = (d: string) => join(d, 'shop', 'events.ndjson');

  const damages: Array<[string, (text: string) => string, RegExp]> = [
    ['truncated', (t) => t.slice(0, t.length / 2), /not JSON/],
    ['empty', () => '', /empty/],
    ['null', () => 'null', /null/],
    ['wrong types', (t) => t.replace(/"phase": "SMOKE_SUCCESS"/, '"phase": 7'), /phase/],
    ['a list', () => '[]', /record/],
  ];
  it.each(damages)(
    'a %s state.json is rebuilt from events.ndjson with a warning, the damaged file kept',
    async (_name, damage, why) => {
      const { d, store, warnings } = await recorded();
      const saved = JSON.parse(readFileSync(state(d), 'utf8'));
      const damaged = damage(readFileSync(state(d), 'utf8'));
      writeFileSync(state(d), damaged);
      const ledger = await store.load('shop');
      delete saved.openRun;
      expect(ledger).toEqual(saved);
      expect(warnings.join('\n')).toMatch(why);
      expect(warnings.join('\n')).toContain(`the record ${state(d)} is damaged`);
      expect(warnings.join('\n')).toContain('rollgate reconcile -g');
      const kept = readdirSync(join(d, 'shop')).filter((f) => f.startsWith('state.json.damaged-'));
      expect(kept).toHaveLength(1);
      expect(readFileSync(join(d, 'shop', kept[0]!), 'utf8')).toBe(damaged);
    },
  );

  it('read-only: a damaged state.json is rebuilt in memory only, its bytes and the directory untouched, and the repair is reported', async () => {
    const { d, warnings } = await recorded();
    const saved = JSON.parse(readFileSync(state(d), 'utf8'));
    const damaged = readFileSync(state(d), 'utf8').slice(0, 100);
    writeFileSync(state(d), damaged);
    const files = readdirSync(join(d, 'shop')).sort();
    const ro = new FileStore(
      d,
      { info: () => undefined, warn: (l) => warnings.push(l), error: () => undefined },
      { readOnly: true },
    );
    const ledger = await ro.load('shop');
    delete saved.openRun;
    expect(ledger).toEqual(saved);
    expect(readFileSync(state(d), 'utf8')).toBe(damaged);
    expect(readdirSync(join(d, 'shop')).sort()).toEqual(files);
    const notice = ro.repaired('shop');
    expect(notice).toMatch(
      new RegExp(
        `^the record ${state(d)} is damaged \\(not JSON .*\\); rebuilt from ${log(d)} in memory \\(`,
      ),
    );
    expect(warnings.join('\n')).toContain('not written (read-only)');
    // A missing one likewise stays missing.
    unlinkSync(state(d));
    expect((await ro.load('shop'))?.current?.phase).toBe('SMOKE_SUCCESS');
    expect(readdirSync(join(d, 'shop')).sort()).toEqual(files.filter((f) => f !== 'state.json'));
    expect(ro.repaired('shop')).toMatch(/is missing; rebuilt from .* in memory/);
    // Sound again (a writer repaired it): no notice.
    writeFileSync(state(d), JSON.stringify(saved));
    await ro.load('shop');
    expect(ro.repaired('shop')).toBeNull();
  });

  it('a deleted state.json is rebuilt from the log with a warning, never "no release yet"', async () => {
    const { d, store, warnings } = await recorded();
    unlinkSync(state(d));
    const ledger = await store.load('shop');
    expect(ledger?.current?.phase).toBe('SMOKE_SUCCESS');
    expect(warnings.join('\n')).toContain(`the record ${state(d)} is missing; rebuilt from`);
  });

  it('a damaged state.json without a log to rebuild from is refused, naming the file and the way on', async () => {
    const { d, store } = await recorded();
    unlinkSync(log(d));
    writeFileSync(state(d), '{"schemaVersion":1,"gro');
    const err = await store.load('shop').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordDamagedError);
    expect((err as Error).message).toContain(`the record ${state(d)} is damaged`);
    expect((err as Error).message).toContain(`mv ${state(d)} ${state(d)}.bad`);
    // Nothing moved: the person decides.
    expect(readFileSync(state(d), 'utf8')).toBe('{"schemaVersion":1,"gro');
  });

  it('a partial last line of events.ndjson is ignored with a warning naming the file and line', async () => {
    const { d, store, warnings } = await recorded();
    const whole = readFileSync(log(d), 'utf8');
    const lines = whole.trimEnd().split('\n').length;
    writeFileSync(log(d), `${whole}{"at":"2030-01-0`);
    const events = await store.events('shop');
    expect(events).toHaveLength(lines);
    expect(warnings).toContain(
      `warning: ${log(d)}: line ${lines + 1} is a partial last line (a crash or a full disk): ignored`,
    );
    // The next event starts on a line of its own: the cut line stays alone, skipped.
    await store.append('shop', {
      at: 'now',
      group: 'shop',
      deployment: 'x',
      type: 'warn',
      message: 'after',
    });
    const after = await store.events('shop');
    expect(after.at(-1)!.message).toBe('after');
    expect(after).toHaveLength(lines + 1);
    expect(warnings.join('\n')).toMatch(new RegExp(`line ${lines + 1} is damaged`));
    await store.close();
  });

  it('a damaged line in the middle of the log is skipped with a warning', async () => {
    const { d, store, warnings } = await recorded();
    const lines = readFileSync(log(d), 'utf8').trimEnd().split('\n');
    lines.splice(2, 0, '{"at": oops');
    writeFileSync(log(d), `${lines.join('\n')}\n`);
    expect(await store.events('shop')).toHaveLength(lines.length - 1);
    expect(warnings.join('\n')).toContain(`${log(d)}: line 3 is damaged`);
  });
});

describe('FileStore: a record that cannot be written', () => {
  it('a failed state.json write fails flush with the path and the reason, and leaves no temp file', async () => {
    const d = dir();
    const store = new FileStore(d);
    mkdirSync(join(d, 'shop', 'state.json'), { recursive: true }); // a directory in the way
    await store.save(emptyLedger('shop'));
    const err = await store.flush().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordWriteError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^could not write the record ${join(d, 'shop', 'state.json')}: .+ — .+, then run rollgate status -g`,
      ),
    );
    expect(readdirSync(join(d, 'shop')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a store directory that cannot be made fails the run lock with RecordWriteError', async () => {
    const d = dir();
    writeFileSync(join(d, 'shop'), 'a file where the group directory goes');
    const err = await new FileStore(d).acquireRun('shop', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordWriteError);
    expect((err as Error).message).toContain(`could not write the record ${join(d, 'shop')}`);
  });

  it('mid-release, the operation stops like a stop and fails with what it knew, not an outcome', async () => {
    const d = dir();
    const clock = new SimulatedClock();
    const fleet = new FakeFleet(clock, 100);
    let engine: Engine | null = null;
    const failures: string[] = [];
    let reported = (): void => undefined;
    const failed = new Promise<void>((resolve) => (reported = resolve));
    const store = new FileStore(d, undefined, {
      onFailure: (err) => {
        failures.push(err.message);
        engine?.requestStop('rollgate (the record could not be written)');
        reported();
      },
    });
    const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
    engine = new Engine(
      { transport: fleet, traffic: new FakeTraffic(), store, clock, logger },
      makeGroup(8),
      makeConfig(),
      'alice',
    );
    await engine.deploy({ version: '1.0.0', package: { version: '1.0.0', path: '/p.tgz' } });
    await engine.bake();
    fleet.onInstall = async (t) => {
      if (t.id !== 'web-04') return;
      // A directory where the log goes: the next append fails, as a full disk would. The
      // install goes on once the failure is reported (the store's I/O and the simulated clock
      // run at their own pace otherwise).
      renameSync(join(d, 'shop', 'events.ndjson'), join(d, 'shop', 'events.old'));
      mkdirSync(join(d, 'shop', 'events.ndjson'));
      (store as unknown as { logs: Map<string, unknown> }).logs.clear();
      await store.append('shop', {
        at: 'x',
        group: 'shop',
        deployment: 'x',
        type: 'warn',
        message: 'x',
      });
      await failed;
    };
    const err = await engine.continue().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordWriteError);
    expect(failures).toHaveLength(1);
    const unsaved = (err as RecordWriteError).unsaved.join('\n');
    expect(unsaved).toMatch(/phase ABORTED/);
    // The target in flight finished its step; what it knew of every target is listed.
    expect(unsaved).toMatch(/web-04 +batch \d+ +(INSTALL|VERIFY|MARKUP)_SUCCESS/);
    expect(unsaved).toMatch(/web-08 +batch \d+ +PENDING/);
    // Nothing new started after the failure: the later batches never ran.
    expect(fleet.calls.filter((c) => c.op === 'install' && c.target === 'web-08')).toEqual([]);
    // The record on disk is behind, and says so: never SUCCESS.
    const onDisk = JSON.parse(readFileSync(join(d, 'shop', 'state.json'), 'utf8')) as Ledger;
    expect(onDisk.current!.phase).not.toBe('SUCCESS');
    expect(readdirSync(join(d, 'shop')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('assertStoreDir: store.dir must be a writable directory', () => {
  it.each([
    ['/proc/self', /not a writable directory/],
    ['/proc/self/nope/deeper', /not a writable directory|cannot be/],
    ['/etc/hostname', /is not a directory/],
    ['/etc/hostname/state', /cannot be made/],
  ])('%s is refused naming store.dir', async (path, why) => {
    const err = await assertStoreDir(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).field).toBe('store.dir');
    expect((err as Error).message).toMatch(why);
  });

  it('a directory, or a path one can be made at, is accepted and nothing is left there', async () => {
    const d = dir();
    await assertStoreDir(d);
    await assertStoreDir(join(d, 'a', 'b'));
    expect(readdirSync(d)).toEqual([]);
  });
});

describe('events.ndjson is bounded (kept aside at a new release past its size)', () => {
  it('each release past the bound starts a new log; the last `keep` are kept; a rebuild reads them all', async () => {
    const d = dir();
    const infos: string[] = [];
    const logger = {
      info: (l: string) => infos.push(l),
      warn: () => undefined,
      error: () => undefined,
    };
    const store = new FileStore(d, logger, { log: { maxBytes: 2_000, keep: 2 } });
    const clock = new SimulatedClock();
    const engine = new Engine(
      { transport: new FakeFleet(clock), traffic: new FakeTraffic(), store, clock, logger },
      makeGroup(4),
      makeConfig(),
      'alice',
    );
    const shop = join(d, 'shop');
    const lines = (f: string) =>
      readFileSync(join(shop, f), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; deployment: string; message: string });
    for (const v of ['1.0.0', '2.0.0', '3.0.0', '4.0.0', '5.0.0']) {
      expect((await releaseThrough(engine, v)).phase).toBe('SUCCESS');
      await store.flush();
      const current = (await store.load('shop'))!.current!;
      // The current log holds the whole current release, from its first line.
      expect(lines('events.ndjson')[0]).toMatchObject({ type: 'release', deployment: current.id });
      expect((await store.events('shop')).every((e) => e.deployment === current.id)).toBe(true);
    }
    expect(
      readdirSync(shop)
        .filter((f) => f.startsWith('events'))
        .sort(),
    ).toEqual(['events.1.ndjson', 'events.2.ndjson', 'events.ndjson']);
    expect(lines('events.1.ndjson')[0]!.message).toMatch(/4\.0\.0/);
    expect(lines('events.2.ndjson')[0]!.message).toMatch(/3\.0\.0/);
    const rotated = infos.filter((l) => /passed 2000 bytes/.test(l));
    expect(rotated).toHaveLength(4);
    expect(rotated[0]).not.toContain('deleted');
    expect(rotated.at(-1)).toMatch(/the oldest kept log \(events\.2\.ndjson\) was deleted$/);

    // A release started again (a retry) keeps its log whole, however large.
    const id = (await store.load('shop'))!.current!.id;
    await store.append('shop', {
      at: new Date(0).toISOString(),
      group: 'shop',
      deployment: id,
      type: 'release',
      message: 'retry by alice',
    });
    await store.flush();
    expect(lines('events.1.ndjson')[0]!.message).toMatch(/4\.0\.0/);
    expect(lines('events.ndjson').at(-1)!.message).toBe('retry by alice');
    await store.close();

    // state.json lost: rebuilt from every kept log, the releases they hold in its history.
    unlinkSync(join(shop, 'state.json'));
    const rebuilt = (await new FileStore(d, logger, { log: { maxBytes: 2_000, keep: 2 } }).load(
      'shop',
    ))!;
    expect(rebuilt.current!.version).toBe('5.0.0');
    expect(rebuilt.history.map((h) => h.version)).toEqual(['5.0.0', '4.0.0', '3.0.0']);
  });
});
