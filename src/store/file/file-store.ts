import { randomBytes } from 'node:crypto';
import {
  link,
  mkdir,
  mkdtemp,
  open,
  readFile,
  rename,
  rmdir,
  stat,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import {
  describeWriteError,
  GROUP_FILE,
  InputError,
  LockHeldError,
  RecordDamagedError,
  RecordWriteError,
  RollgateError,
} from '../../model/errors';
import { escapeControl } from '../../model/text';
import type { Ledger, ReleaseEvent } from '../../engine/ledger';
import type { Logger } from '../../model/logger';
import type { RunHolder, Store } from '../../engine/ports';
import { ledgerProblem, parseEventLog, rebuildLedger } from '../record-repair';

interface RunLock {
  who: string;
  pid: number;
  host: string;
  since: string;
}

export interface FileStoreOptions {
  /** Called once when a write of the record fails (the runtime stops the operation). */
  onFailure?: (err: RecordWriteError) => void;
  /**
   * A reader only (a read-only page): a damaged or missing state.json is rebuilt in memory and
   * nothing is written or moved; `repaired` says so until a writer has repaired it.
   */
  readOnly?: boolean;
  /** The release log's bound (default `EVENT_LOG_LIMITS`). */
  log?: { maxBytes: number; keep: number };
}

/**
 * events.ndjson is bounded: when a new release starts and the log has passed `maxBytes`, it is
 * kept as events.1.ndjson (events.1 → events.2, …; the `keep`-th is deleted) and the release
 * starts a new one. The current log therefore always holds the whole current release — what
 * status, the page, the gates and catch-up read — and a rebuild reads every kept file.
 */
export const EVENT_LOG_LIMITS = { maxBytes: 8 * 1024 * 1024, keep: 3 };

/**
 * The record in a local directory: `<dir>/<group>/state.json` and `events.ndjson`.
 *
 * Durability: state.json is written whole to a temp file, fsynced, renamed over the old one, and
 * the directory fsynced — a crash leaves the old or the new file, never a mix. Saves are
 * coalesced: under load one write carries many saves. The log is appended in order and fsynced
 * before every state.json write and at `flush` (the end of each operation, and every wait for a
 * person): the log on disk is never behind state.json, so a record rebuilt from it loses nothing
 * the record held. A failed write (a full disk, a read-only file system) is kept, reported once
 * through `onFailure`, stops further writes, and is thrown by the next `flush`: the operation
 * fails with it instead of reporting an outcome the record does not hold.
 */
export class FileStore implements Store {
  private pending = new Map<string, Ledger>();
  private writing: Promise<void> | null = null;
  private failure: RecordWriteError | null = null;
  private logs = new Map<string, EventLog>();
  private warned = new Set<string>();
  private repairs = new Map<string, string>();
  /** A rotation under way per group: appends wait for it, so the log keeps its order. */
  private rotations = new Map<string, Promise<void>>();

  constructor(
    private readonly dir: string,
    private readonly logger?: Logger,
    private readonly options: FileStoreOptions = {},
  ) {}

  groupDir(group: string): string {
    return join(this.dir, group);
  }

  /**
   * The saved record. A damaged state.json (not JSON, not the shape of a record) or a missing one
   * while the log holds releases is rebuilt from events.ndjson with a warning — the damaged file
   * kept beside it — or refused naming the file and the way on; never a silent "no release yet".
   */
  async load(group: string): Promise<Ledger | null> {
    this.repairs.delete(group);
    const path = join(this.groupDir(group), 'state.json');
    const text = await readText(path);
    if (text === null) {
      const rebuilt = await this.rebuild(group, null);
      if (rebuilt && this.options.readOnly) {
        this.readOnlyRepair(group, `${path}:missing`, `the record ${path} is missing`, rebuilt);
      } else if (rebuilt) {
        const saved = await this.saveRebuilt(group, rebuilt.ledger);
        this.warnOnce(
          `missing:${path}`,
          `the record ${path} is missing; rebuilt from ${this.logPath(group)} (${rebuilt.summary})${saved}. Host truth completes it: rollgate reconcile -g ${GROUP_FILE}`,
        );
      }
      return rebuilt?.ledger ?? null;
    }
    let value: unknown;
    let problem: string | null;
    try {
      value = JSON.parse(text);
      problem = ledgerProblem(value, group);
    } catch (err) {
      problem = text.trim() === '' ? 'the file is empty' : `not JSON (${(err as Error).message})`;
    }
    if (problem === null) return value as Ledger;
    const version = (value as { schemaVersion?: unknown } | null)?.schemaVersion;
    if (typeof version === 'number' && version > 1) {
      throw new RollgateError(
        `state.json of ${group} has schema version ${version}; this rollgate reads 1`,
      );
    }
    const rebuilt = (await this.rebuild(group, { path, problem }))!;
    if (this.options.readOnly) {
      this.readOnlyRepair(
        group,
        `${path}:${problem}`,
        `the record ${path} is damaged (${problem})`,
        rebuilt,
      );
      return rebuilt.ledger;
    }
    const kept = await this.keepDamaged(path);
    const saved = kept ? await this.saveRebuilt(group, rebuilt.ledger) : '';
    this.warnOnce(
      `damaged:${path}`,
      `the record ${path} is damaged (${problem}); ${kept ? `kept as ${kept}; ` : ''}rebuilt from ${this.logPath(group)} (${rebuilt.summary})${saved}. Host truth completes it: rollgate reconcile -g ${GROUP_FILE}`,
    );
    return rebuilt.ledger;
  }

  /** Why the last load of a group, read-only, rebuilt its record in memory; null: it did not. */
  repaired(group: string): string | null {
    return this.repairs.get(group) ?? null;
  }

  private readOnlyRepair(
    group: string,
    key: string,
    what: string,
    rebuilt: { summary: string },
  ): void {
    const line = `${what}; rebuilt from ${this.logPath(group)} in memory (${rebuilt.summary})`;
    this.repairs.set(group, line);
    this.warnOnce(
      `read-only:${key}`,
      `${line}, not written (read-only). A command that writes the record saves it: rollgate reconcile -g ${GROUP_FILE}`,
    );
  }

  /**
   * The record from the log alone. `damaged` set: refuses when the log cannot rebuild it; unset
   * (state.json missing): null when the log holds no release either.
   */
  private async rebuild(
    group: string,
    damaged: { path: string; problem: string } | null,
  ): Promise<{ ledger: Ledger; summary: string } | null> {
    const events = await this.allEvents(group);
    const result = rebuildLedger(group, events);
    if (result.kind === 'rebuilt') {
      for (const note of result.notes) this.warnOnce(`note:${note}`, `rebuild: ${note}`);
      const d = result.ledger.current!;
      return {
        ledger: result.ledger,
        summary: `${events.length} events; release ${d.id} ${d.version} in phase ${d.phase}`,
      };
    }
    if (!damaged && result.kind === 'empty') return null;
    const path = damaged?.path ?? join(this.groupDir(group), 'state.json');
    const why = damaged ? `is damaged (${damaged.problem})` : 'is missing';
    const cannot =
      result.kind === 'empty'
        ? `${this.logPath(group)} holds no release to rebuild it from`
        : `it cannot be rebuilt from ${this.logPath(group)}: ${result.reason}`;
    throw new RecordDamagedError(
      path,
      `the record ${path} ${why} and ${cannot}. Move it away to start a new record (mv ${path} ${path}.bad); the hosts keep running what they run, and rollgate reconcile -g ${GROUP_FILE} compares them with the load balancer`,
    );
  }

  /** The rebuilt record replaces the damaged or missing file at once (atomically, durably). */
  private async saveRebuilt(group: string, ledger: Ledger): Promise<string> {
    try {
      await writeDurably(
        await this.ensureDir(group),
        'state.json',
        JSON.stringify(ledger, null, 1),
      );
      return ' and saved';
    } catch (err) {
      return `, used from memory: ${err instanceof Error ? err.message.split(' — ')[0] : String(err)}`;
    }
  }

  private async keepDamaged(path: string): Promise<string | null> {
    const kept = `${path}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(path, kept);
      return kept;
    } catch (err) {
      this.logger?.warn(`could not move the damaged ${path} aside: ${describeWriteError(err)}`);
      return null;
    }
  }

  save(ledger: Ledger): Promise<void> {
    if (this.failure) return Promise.resolve();
    this.pending.set(ledger.group, ledger);
    this.writing ??= this.drain();
    return Promise.resolve();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.size > 0 && !this.failure) {
        const [group, ledger] = this.pending.entries().next().value as [string, Ledger];
        this.pending.delete(group);
        const dir = await this.ensureDir(group);
        // The log first: on disk it is never behind the record (a rebuild loses nothing).
        await this.logs.get(group)?.sync();
        if (this.failure) break;
        await writeDurably(dir, 'state.json', JSON.stringify(ledger, null, 1));
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.pending.clear();
      this.writing = null;
    }
  }

  async append(group: string, event: ReleaseEvent): Promise<void> {
    if (this.failure) return;
    const rotating = this.rotations.get(group);
    if (rotating) await rotating;
    let log = this.logs.get(group);
    if (!log) {
      log = new EventLog(this.logPath(group), (err) => this.fail(err));
      this.logs.set(group, log);
    }
    if (event.type === 'release') {
      const rotation = this.rotateIfFull(group, log, event.deployment);
      this.rotations.set(group, rotation);
      try {
        await rotation;
      } finally {
        this.rotations.delete(group);
      }
    }
    log.write(`${JSON.stringify(event)}\n`);
  }

  /** A new release and a log past its bound: the log is kept aside and a new one started. */
  private async rotateIfFull(group: string, log: EventLog, deployment: string): Promise<void> {
    const { maxBytes, keep } = this.options.log ?? EVENT_LOG_LIMITS;
    const path = this.logPath(group);
    await log.sync();
    const size = (await stat(path).catch(notFound))?.size ?? 0;
    // A retry starts its release again: the log must keep the whole release.
    if (size <= maxBytes || (await lastDeployment(path)) === deployment) return;
    const dir = this.groupDir(group);
    const kept = (i: number) => join(dir, `events.${i}.ndjson`);
    try {
      await log.close();
      const dropped = await unlink(kept(keep)).then(
        () => true,
        (err: unknown) => notFound(err) ?? false,
      );
      for (let i = keep - 1; i >= 1; i--) {
        await rename(kept(i), kept(i + 1)).catch(notFound);
      }
      await rename(path, kept(1));
      await syncDir(dir);
      this.logger?.info(
        `${path} passed ${maxBytes} bytes: kept as events.1.ndjson, a new log started for release ${deployment}` +
          (dropped ? `; the oldest kept log (events.${keep}.ndjson) was deleted` : ''),
      );
    } catch (err) {
      // The release goes on in the log as it is: a bound missed is not a record lost.
      this.warnOnce(
        `rotate:${path}`,
        `could not keep ${path} aside (${describeWriteError(err)}): it grows on`,
      );
    }
  }

  /** Every kept log, oldest first, then the current one: what a rebuild reads. */
  private async allEvents(group: string): Promise<ReleaseEvent[]> {
    const { keep } = this.options.log ?? EVENT_LOG_LIMITS;
    const out: ReleaseEvent[] = [];
    for (let i = keep; i >= 1; i--) {
      const text = await readText(join(this.groupDir(group), `events.${i}.ndjson`));
      if (text) out.push(...parseEventLog(text).events);
    }
    out.push(...(await this.events(group)));
    return out;
  }

  /** The release log; a damaged line is skipped and a partial last line ignored, with a warning. */
  async events(group: string): Promise<ReleaseEvent[]> {
    await this.logs.get(group)?.settle();
    const path = this.logPath(group);
    const text = await readText(path);
    if (!text) return [];
    const parsed = parseEventLog(text);
    for (const bad of parsed.damaged) {
      this.warnOnce(
        `line:${path}:${bad.line}:${bad.partial}`,
        bad.partial
          ? `${path}: line ${bad.line} is a partial last line (a crash or a full disk): ignored`
          : `${path}: line ${bad.line} is damaged (${bad.why}): skipped`,
      );
    }
    return parsed.events;
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    await Promise.all([...this.logs.values()].map((log) => log.sync()));
    if (this.failure) {
      const err = this.failure;
      this.failure = null;
      throw err;
    }
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await Promise.all([...this.logs.values()].map((log) => log.close()));
      this.logs.clear();
    }
  }

  async requestStop(group: string, by: string): Promise<void> {
    const dir = await this.ensureDir(group);
    await writeDurably(dir, 'stop', JSON.stringify({ by, at: new Date().toISOString() }));
  }

  async stopRequested(group: string): Promise<string | null> {
    const text = await readText(join(this.groupDir(group), 'stop'));
    if (text === null) return null;
    try {
      const by = (JSON.parse(text) as { by?: unknown }).by;
      return typeof by === 'string' ? by : 'a stop request';
    } catch {
      return 'a stop request (its file is damaged)';
    }
  }

  async clearStop(group: string): Promise<void> {
    await unlink(join(this.groupDir(group), 'stop')).catch(notFound);
  }

  /**
   * One run per group. The lock is written whole to a temp file and linked into place, so it
   * never exists half-written. A lock left by a dead process on this machine is taken over.
   */
  async acquireRun(group: string, who: string): Promise<() => Promise<void>> {
    const dir = await this.ensureDir(group);
    const file = join(dir, 'run.lock');
    const mine: RunLock = {
      who,
      pid: process.pid,
      host: hostname(),
      since: new Date().toISOString(),
    };
    const tmp = join(dir, `.run.lock.${process.pid}.${randomBytes(4).toString('hex')}`);
    try {
      await writeWhole(tmp, JSON.stringify(mine));
    } catch (err) {
      throw new RecordWriteError(file, describeWriteError(err), { cause: err });
    }
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await linkOrCreate(tmp, file, JSON.stringify(mine));
          return async () => {
            await unlink(file).catch(notFound);
          };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
            throw new RecordWriteError(file, describeWriteError(err), { cause: err });
          }
          const text = await readText(file);
          if (text === null) continue;
          const held = parseRunLock(text);
          if (!held) {
            throw new RecordDamagedError(
              file,
              `the run lock ${file} is damaged: if no rollgate runs for ${group} now, delete it and run again`,
            );
          }
          if (held.host === mine.host && !alive(held.pid)) {
            this.logger?.warn(
              `taking over the run lock of ${escapeControl(held.who)} (pid ${held.pid} is gone)`,
            );
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
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  private logPath(group: string): string {
    return join(this.groupDir(group), 'events.ndjson');
  }

  private async ensureDir(group: string): Promise<string> {
    const dir = this.groupDir(group);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw new RecordWriteError(dir, describeWriteError(err), { cause: err });
    }
    return dir;
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    const failure =
      err instanceof RecordWriteError
        ? err
        : new RecordWriteError(this.dir, describeWriteError(err), { cause: err });
    this.failure = failure;
    this.pending.clear();
    if (this.options.onFailure) this.options.onFailure(failure);
    else this.logger?.error(failure.message);
  }

  private warnOnce(key: string, line: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    (this.logger?.warn ?? console.warn)(`warning: ${line}`);
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

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new RollgateError(`could not read the record ${path}: ${describeWriteError(err)}`, {
      cause: err,
    });
  }
}

function notFound(err: unknown): null {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
  throw err;
}

/**
 * An append-only log: lines are written in order by one writer, and fsynced on `sync`. A log
 * whose last line a crash cut short gets a newline first, so that line stays alone (and skipped).
 */
class EventLog {
  private queue: string[] = [];
  private handle: FileHandle | null = null;
  private running: Promise<void> | null = null;
  private dirty = false;
  private broken = false;

  constructor(
    private readonly path: string,
    private readonly onError: (err: RecordWriteError) => void,
  ) {}

  write(line: string): void {
    if (this.broken) return;
    this.queue.push(line);
    this.running ??= this.run();
  }

  async settle(): Promise<void> {
    while (this.running) await this.running;
  }

  async sync(): Promise<void> {
    await this.settle();
    if (!this.handle || !this.dirty || this.broken) return;
    this.dirty = false;
    try {
      await this.handle.sync();
    } catch (err) {
      this.break(err);
    }
  }

  async close(): Promise<void> {
    await this.settle();
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
  }

  private async run(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.broken) {
        let chunk = this.queue.splice(0).join('');
        if (!this.handle) {
          this.handle = await openLog(this.path);
          if (!(await endsWithNewline(this.handle))) chunk = `\n${chunk}`;
        }
        const data = Buffer.from(chunk);
        let off = 0;
        while (off < data.length) {
          const { bytesWritten } = await this.handle.write(data, off, data.length - off);
          off += bytesWritten;
        }
        this.dirty = true;
      }
    } catch (err) {
      this.break(err);
    } finally {
      this.running = null;
    }
  }

  private break(err: unknown): void {
    this.broken = true;
    this.queue = [];
    this.onError(new RecordWriteError(this.path, describeWriteError(err), { cause: err }));
  }
}

/** The release the log's last whole line belongs to (its tail is read, not the whole log). */
async function lastDeployment(path: string): Promise<string | null> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 256 * 1024);
    const tail = Buffer.alloc(length);
    await handle.read(tail, 0, length, size - length);
    const lines = tail.toString('utf8').split('\n').filter(Boolean);
    for (const line of lines.reverse()) {
      try {
        const e = JSON.parse(line) as Partial<ReleaseEvent>;
        if (typeof e.deployment === 'string') return e.deployment;
      } catch {
        // a partial or damaged line: the one before it
      }
    }
    return null;
  } finally {
    await handle.close();
  }
}

async function openLog(path: string): Promise<FileHandle> {
  await mkdir(dirname(path), { recursive: true });
  return open(path, 'a+', 0o644);
}

async function endsWithNewline(handle: FileHandle): Promise<boolean> {
  const { size } = await handle.stat();
  if (size === 0) return true;
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

/** temp file, fsync, rename over `name`, fsync the directory; nothing left behind on failure. */
async function writeDurably(dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeWhole(tmp, data);
    await rename(tmp, join(dir, name));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new RecordWriteError(join(dir, name), describeWriteError(err), { cause: err });
  }
  await syncDir(dir);
}

async function writeWhole(path: string, data: string): Promise<void> {
  const handle = await open(path, 'wx', 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw err;
  }
  await handle.close();
}

/** The rename is durable once the directory is: some file systems cannot fsync one (EINVAL). */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR') {
      throw new RecordWriteError(dir, describeWriteError(err), { cause: err });
    }
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Puts `tmp` in place as `file` unless `file` exists (EEXIST). A file system without hard links
 * (some network mounts) gets an exclusive create instead, written right after.
 */
async function linkOrCreate(tmp: string, file: string, data: string): Promise<void> {
  try {
    await link(tmp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') {
      throw err;
    }
    await writeWhole(file, data);
  }
}

function parseRunLock(text: string): RunLock | null {
  try {
    const v = JSON.parse(text) as Partial<RunLock> | null;
    if (
      v &&
      typeof v.who === 'string' &&
      typeof v.pid === 'number' &&
      typeof v.host === 'string' &&
      typeof v.since === 'string'
    ) {
      return v as RunLock;
    }
  } catch {
    // damaged
  }
  return null;
}

/**
 * `store.dir` must be a directory this user can write, or a path one can be made at; checked
 * before any host is touched. A full disk is not bad input: the first write says so.
 */
export async function assertStoreDir(dir: string, field = 'store.dir'): Promise<void> {
  let existing = dir;
  for (;;) {
    try {
      const st = await stat(existing);
      if (!st.isDirectory()) {
        throw new InputError(
          field,
          existing === dir
            ? `${dir} is not a directory: point store.dir at a directory for the record`
            : `${dir} cannot be made: ${existing} is not a directory`,
        );
      }
      break;
    } catch (err) {
      if (err instanceof InputError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') {
        throw new InputError(field, `${dir} cannot be made: a part of the path is a file`);
      }
      if (code !== 'ENOENT') {
        throw new InputError(field, `${dir} cannot be used: ${describeWriteError(err)}`);
      }
      const parent = dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
  }
  try {
    await rmdir(await mkdtemp(join(existing, '.rollgate-probe-')));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return;
    // /proc and the like answer ENOENT to a new entry in a directory that exists.
    const why = code === 'ENOENT' ? 'no file can be made there' : describeWriteError(err);
    throw new InputError(
      field,
      `${dir} is not a writable directory (${existing}: ${why}): point store.dir at a directory this user can write`,
    );
  }
}
