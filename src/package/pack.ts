/**
 * `rollgate pack`: a directory → the package the host unpacks (layout.ts decides what goes in),
 * written deterministically: entries in byte order, owner 0:0 with no names, one fixed mtime,
 * normalised modes, gzip with no name and no time. The same directory and version give the same
 * sha256 on any machine running the same Node.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { InputError } from '../model/errors';
import { assertVersion } from '../model/validate';
import { planPackage, VERSION_FILE, type DirNode, type NodeKind, type PackEntry } from './layout';

/** 1980-01-01T00:00:00Z: the entries' time unless SOURCE_DATE_EPOCH says otherwise. */
export const DEFAULT_MTIME = 315_532_800;

export interface PackOptions {
  dir: string;
  version: string;
  /** The tarball to write (its directory is created). */
  output: string;
  /** Files rollgate writes at the root besides VERSION (name → content). */
  generated?: Record<string, string>;
  /** Entry times, epoch seconds (default DEFAULT_MTIME). */
  mtime?: number;
  /** How the directory is named in errors (default `<dir>`). */
  field?: string;
}

export interface PackResult {
  path: string;
  sha256: string;
  version: string;
  bytes: number;
  files: number;
  directories: number;
  symlinks: number;
}

/** The entry time from SOURCE_DATE_EPOCH (reproducible-builds.org), else DEFAULT_MTIME. */
export function packMtime(env: Record<string, string | undefined>): number {
  const raw = env.SOURCE_DATE_EPOCH?.trim();
  if (raw === undefined || raw === '') return DEFAULT_MTIME;
  if (!/^\d{1,12}$/.test(raw)) {
    throw new InputError('SOURCE_DATE_EPOCH', `"${raw}" is not a number of seconds since 1970`);
  }
  return Number(raw);
}

function kindOf(s: Awaited<ReturnType<typeof lstat>>): NodeKind {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'dir';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isBlockDevice()) return 'block-device';
  if (s.isCharacterDevice()) return 'character-device';
  if (s.isFIFO()) return 'fifo';
  if (s.isSocket()) return 'socket';
  return 'unknown';
}

/**
 * Every node under `root` (lstat: links are not followed), except `skip` (absolute paths: the
 * output tarball when it is written inside the directory).
 */
export async function walkDirectory(root: string, skip: ReadonlySet<string>): Promise<DirNode[]> {
  const nodes: DirNode[] = [];
  const visit = async (rel: string): Promise<void> => {
    const abs = rel === '' ? root : join(root, rel);
    const names = await readdir(abs, { encoding: 'buffer' });
    for (const raw of names) {
      const name = raw.toString('utf8');
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(root, path);
      if (skip.has(full)) continue;
      const badName = !Buffer.from(name, 'utf8').equals(raw);
      const s = await lstat(badName ? Buffer.concat([Buffer.from(`${abs}/`), raw]) : full);
      const node: DirNode = { path, kind: kindOf(s), mode: s.mode & 0o7777, size: s.size };
      if (badName) node.badName = true;
      if (node.kind === 'symlink' && !badName) node.linkTarget = await readlink(full);
      if (rel === '' && name === VERSION_FILE && node.kind === 'file' && s.size <= 256) {
        node.text = await readFile(full, 'utf8');
      }
      nodes.push(node);
      if (node.kind === 'dir' && !badName) await visit(path);
    }
  };
  await visit('');
  return nodes;
}

/** gzip's OS byte says 255 (unknown), so zlib's build does not show in the checksum. */
class GzipOsByte extends Transform {
  private seen = 0;
  override _transform(chunk: Buffer, _: BufferEncoding, done: TransformCallback): void {
    if (this.seen <= 9 && this.seen + chunk.length > 9) {
      chunk = Buffer.from(chunk);
      chunk[9 - this.seen] = 255;
    }
    this.seen += chunk.length;
    done(null, chunk);
  }
}

function header(e: PackEntry, mtime: Date) {
  return {
    name: e.name,
    type: e.type,
    mode: e.mode,
    size: e.type === 'file' ? e.size : 0,
    mtime,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
  };
}

async function writeEntries(
  dir: string,
  entries: PackEntry[],
  mtime: Date,
  tar: ReturnType<typeof tarPack>,
) {
  for (const e of entries) {
    await new Promise<void>((done, fail) => {
      const cb = (err?: Error | null) => (err ? fail(err) : done());
      if (e.type !== 'file') {
        tar.entry(header(e, mtime), cb);
      } else if (e.content) {
        tar.entry(header(e, mtime), e.content, cb);
      } else {
        const sink = tar.entry(header(e, mtime), (err) =>
          cb(
            err &&
              new InputError(
                e.source!,
                `changed while it was packed (${err.message}): pack a directory nothing writes to`,
              ),
          ),
        );
        const src = createReadStream(join(dir, e.source!));
        src.on('error', (err) => {
          sink.destroy(err);
          fail(
            new InputError(
              e.source!,
              `cannot be read: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
            ),
          );
        });
        src.pipe(sink);
      }
    });
  }
  tar.finalize();
}

/** Walks `dir`, checks it (every refusal named) and writes the package to `output`. */
export async function packDirectory(o: PackOptions): Promise<PackResult> {
  const field = o.field ?? '<dir>';
  const version = assertVersion(o.version, '--version');
  const dir = resolve(o.dir);
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) {
    throw new InputError(field, `${dir} ${info ? 'is not a directory' : 'does not exist'}`);
  }
  const output = resolve(o.output);
  const nodes = await walkDirectory(dir, new Set([output]));
  const plan = planPackage(nodes, version, o.generated);
  if (plan.refusals.length > 0) {
    const lines = plan.refusals.slice(0, 20).map((r) => `  ${r.path}: ${r.reason}`);
    if (plan.refusals.length > 20) lines.push(`  … and ${plan.refusals.length - 20} more`);
    const n = plan.refusals.length;
    throw new InputError(
      field,
      `${n === 1 ? '1 entry' : `${n} entries`} in ${dir} cannot go into a package:\n${lines.join('\n')}`,
    );
  }
  if (!nodes.some((n) => n.kind === 'file')) {
    throw new InputError(field, `${dir} holds no files: nothing to release`);
  }
  const mtime = new Date((o.mtime ?? DEFAULT_MTIME) * 1000);
  await mkdir(dirname(output), { recursive: true });
  const tmp = `${output}.tmp-${process.pid}`;
  const hash = createHash('sha256');
  let bytes = 0;
  const tar = tarPack();
  try {
    await Promise.all([
      writeEntries(dir, plan.entries, mtime, tar),
      pipeline(
        tar,
        createGzip({ level: 9 }),
        new GzipOsByte(),
        new Transform({
          transform(chunk: Buffer, _, done) {
            hash.update(chunk);
            bytes += chunk.length;
            done(null, chunk);
          },
        }),
        createWriteStream(tmp),
      ),
    ]);
    await rename(tmp, output);
  } catch (err) {
    tar.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
  const count = (t: PackEntry['type']) => plan.entries.filter((e) => e.type === t).length;
  return {
    path: output,
    sha256: hash.digest('hex'),
    version,
    bytes,
    files: count('file'),
    directories: count('directory'),
    symlinks: count('symlink'),
  };
}
