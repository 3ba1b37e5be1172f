import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStore } from '../../../src/store/file/file-store';
import { emptyLedger } from '../../../src/engine/ledger';
import { LockHeldError } from '../../../src/model/errors';

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
