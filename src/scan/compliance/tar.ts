/**
 * A small streaming tar reader for image layers (ustar, pax and GNU long names): enough to list
 * a layer's files and read the small ones, without unpacking anything to disk. The caller
 * decides which files' contents it wants; everything else is skipped as it streams by.
 */

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** Normalised: no leading `./` or `/`. */
  path: string;
  type: TarEntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
}

export interface TarItem {
  entry: TarEntry;
  /** Present when `want(entry)` said yes. */
  content?: Buffer;
}

export class TarFormatError extends Error {}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      const next = await this.source.next();
      if (next.done) this.done = true;
      else if (next.value.length > 0) {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
    return this.buffered >= n;
  }

  /** Exactly n bytes, or null at a clean end of stream (no bytes left). */
  async read(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) {
      if (this.buffered === 0) return null;
      throw new TarFormatError(`truncated tar: wanted ${n} bytes, ${this.buffered} left`);
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return Buffer.from(out);
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.fill(1))) {
        throw new TarFormatError(`truncated tar: ${left} bytes missing`);
      }
      const head = this.chunks[0]!;
      if (head.length <= left) {
        this.chunks.shift();
        this.buffered -= head.length;
        left -= head.length;
      } else {
        this.chunks[0] = head.subarray(left);
        this.buffered -= left;
        left = 0;
      }
    }
  }
}

function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8');
}

function octal(block: Buffer, offset: number, length: number): number {
  const raw = block.subarray(offset, offset + length);
  if ((raw[0]! & 0x80) !== 0) {
    // GNU base-256 for big values.
    let v = raw[0]! & 0x7f;
    for (let i = 1; i < raw.length; i += 1) v = v * 256 + raw[i]!;
    return v;
  }
  const text = field(block, offset, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i += 1) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum === octal(block, 148, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = parseInt(data.subarray(pos, space).toString('utf8'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

export function normalisePath(p: string): string {
  let out = p;
  while (out.startsWith('./')) out = out.slice(2);
  out = out.replace(/^\/+/, '').replace(/\/+$/, '');
  return out === '.' ? '' : out;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '': 'file',
  '7': 'file',
  '5': 'dir',
  '2': 'symlink',
  '1': 'hardlink',
};

/**
 * Iterates over a tar stream. `want` sees each entry and says whether to read its content
 * (only regular files; give a size limit there).
 */
export async function* readTar(
  source: AsyncIterable<Buffer>,
  want: (entry: TarEntry) => boolean = () => false,
): AsyncGenerator<TarItem> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  for (;;) {
    const block = await reader.read(512);
    if (!block) return;
    if (block.every((b) => b === 0)) return; // end-of-archive marker
    if (!checksumOk(block)) throw new TarFormatError('tar header checksum mismatch');
    const typeflag = String.fromCharCode(block[156]!);
    const size = octal(block, 124, 12);
    const padded = Math.ceil(size / 512) * 512;
    if (typeflag === 'L' || typeflag === 'K' || typeflag === 'x') {
      const data = (await reader.read(padded)) ?? Buffer.alloc(0);
      const body = data.subarray(0, size);
      if (typeflag === 'L') longName = field(body, 0, body.length);
      else if (typeflag === 'K') longLink = field(body, 0, body.length);
      else pax = parsePax(body);
      continue;
    }
    if (typeflag === 'g') {
      await reader.skip(padded);
      continue;
    }
    const magic = field(block, 257, 6);
    const prefix = magic.startsWith('ustar') ? field(block, 345, 155) : '';
    const name = field(block, 0, 100);
    const rawPath = pax.path ?? longName ?? (prefix ? `${prefix}/${name}` : name);
    const linkname = pax.linkpath ?? longLink ?? field(block, 157, 100);
    const realSize = pax.size !== undefined ? Number(pax.size) : size;
    const entry: TarEntry = {
      path: normalisePath(rawPath),
      type: TYPES[typeflag] ?? 'other',
      size: realSize,
      mode: octal(block, 100, 8),
      uid: pax.uid !== undefined ? Number(pax.uid) : octal(block, 108, 8),
      gid: pax.gid !== undefined ? Number(pax.gid) : octal(block, 116, 8),
    };
    if (entry.type === 'symlink' || entry.type === 'hardlink') entry.linkname = linkname;
    longName = undefined;
    longLink = undefined;
    pax = {};
    const dataSize = Math.ceil(realSize / 512) * 512;
    if (entry.type === 'file' && want(entry)) {
      const data = (await reader.read(dataSize)) ?? Buffer.alloc(0);
      yield { entry, content: data.subarray(0, realSize) };
    } else {
      await reader.skip(entry.type === 'file' || entry.type === 'other' ? dataSize : 0);
      yield { entry };
    }
  }
}
