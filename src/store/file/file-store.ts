import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LockHeldError, RollgateError } from '../../model/errors';
import type { Ledger, ReleaseEvent } from '../../engine/ledger';
import type { Logger, RunHolder, Store } from '../../engine/ports';

interface RunLock {
  who: string;
  pid: number;
  host: string;
  since: string;
}

/**
 * The record in a local directory: `<dir>/<group>/state.json` (written atomically, coalesced
 * under load) and `events.ndjson` (append-only). Host truth beats it; it is the record.
 */
export class FileStore implements Store {
  private pending = new Map<string, Ledger>();
  private writing: Promise<void> | null = null;
  private failure: unknown = null;
  private streams = new Map<string, WriteStream>();

  constructor(
    private readonly dir: string,
    private readonly logger?: Logger,
  ) {}

  groupDir(group: string): string {
    return join(this.dir, group);
  }

  async load(group: string): Promise<Ledger | null> {
    const text = await readFile(join(this.groupDir(group), 'state.json'), 'utf8').catch(notFound);
    if (text === null) return null;
    const ledger = JSON.parse(text) as Ledger;
    if (ledger.schemaVersion !== 1) {
      throw new RollgateError(
        `state.json of ${group} has schema version ${ledger.schemaVersion}; this rollgate reads 1`,
      );
    }
    return ledger;
  }

  save(ledger: Ledger): Promise<void> {
    this.pending.set(ledger.group, ledger);
    this.writing ??= this.drain();
    return Promise.resolve();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.size > 0) {
        const [group, ledger] = this.pending.entries().next().value as [string, Ledger];
        this.pending.delete(group);
        const dir = this.groupDir(group);
        await mkdir(dir, { recursive: true });
        const tmp = join(dir, `.state.json.${process.pid}.tmp`);
        await writeFile(tmp, JSON.stringify(ledger, null, 1));
        await rename(tmp, join(dir, 'state.json'));
      }
    } catch (err) {
      this.failure = err;
    } finally {
      this.writing = null;
    }
  }

  async append(group: string, event: ReleaseEvent): Promise<void> {
    let stream = this.streams.get(group);
    if (!stream) {
      await mkdir(this.groupDir(group), { recursive: true });
      stream = createWriteStream(join(this.groupDir(group), 'events.ndjson'), { flags: 'a' });
      stream.on('error', (err) => (this.failure = err));
      this.streams.set(group, stream);
    }
    stream.write(`${JSON.stringify(event)}\n`);
  }

  async events(group: string): Promise<ReleaseEvent[]> {
    await this.flushStreams();
    const text = await readFile(join(this.groupDir(group), 'events.ndjson'), 'utf8').catch(
      notFound,
    );
    if (!text) return [];
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ReleaseEvent);
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    await this.flushStreams();
    if (this.failure) {
      const err = this.failure;
      this.failure = null;
      throw err;
    }
  }

  private async flushStreams(): Promise<void> {
    await Promise.all(
      [...this.streams.values()].map(
        (s) =>
          new Promise<void>((resolve) =>
            s.writableNeedDrain ? s.once('drain', resolve) : s.write('', () => resolve()),
          ),
      ),
    );
  }

  async close(): Promise<void> {
    await this.flush();
    await Promise.all([...this.streams.values()].map((s) => new Promise<void>((r) => s.end(r))));
    this.streams.clear();
  }

  async requestStop(group: string, by: string): Promise<void> {
    await mkdir(this.groupDir(group), { recursive: true });
    await writeFile(
      join(this.groupDir(group), 'stop'),
      JSON.stringify({ by, at: new Date().toISOString() }),
    );
  }

  async stopRequested(group: string): Promise<string | null> {
    const text = await readFile(join(this.groupDir(group), 'stop'), 'utf8').catch(notFound);
    if (text === null) return null;
    return (JSON.parse(text) as { by: string }).by;
  }

  async clearStop(group: string): Promise<void> {
    await unlink(join(this.groupDir(group), 'stop')).catch(notFound);
  }

  /** One run per group. A lock left by a dead process on this machine is taken over. */
  async acquireRun(group: string, who: string): Promise<() => Promise<void>> {
    const dir = this.groupDir(group);
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'run.lock');
    const mine: RunLock = {
      who,
      pid: process.pid,
      host: hostname(),
      since: new Date().toISOString(),
    };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(file, JSON.stringify(mine), { flag: 'wx' });
        return async () => {
          await unlink(file).catch(notFound);
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const text = await readFile(file, 'utf8').catch(notFound);
        if (text === null) continue;
        const held = JSON.parse(text) as RunLock;
        if (held.host === mine.host && !alive(held.pid)) {
          this.logger?.warn(`taking over the run lock of ${held.who} (pid ${held.pid} is gone)`);
          await unlink(file).catch(notFound);
          continue;
        }
        throw new LockHeldError(
          `group ${group}`,
          `${held.who} (pid ${held.pid} on ${held.host})`,
          held.since,
        );
      }
    }
    throw new RollgateError(`could not take the run lock of ${group}`);
  }

  /** Who holds the run lock; `alive` false when its process on this machine is gone. */
  async runHolder(group: string): Promise<RunHolder | null> {
    const text = await readFile(join(this.groupDir(group), 'run.lock'), 'utf8').catch(notFound);
    if (text === null) return null;
    try {
      const held = JSON.parse(text) as RunLock;
      return {
        who: `${held.who} (pid ${held.pid} on ${held.host})`,
        alive: held.host === hostname() ? alive(held.pid) : null,
        since: held.since,
      };
    } catch {
      return { who: 'an unreadable run.lock', alive: null, since: 'an unknown time' };
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function notFound(err: unknown): null {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
  throw err;
}
