/**
 * Tarballs written entry by entry, exactly as given: what a hostile or broken CI step can hand
 * rollgate as package.source (absolute names, "..", links out of the tree, FIFOs, devices).
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack, type Header } from 'tar-stream';
import { sha256File } from '../../src/host/file-hash';

export interface RawEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device';
  /** A file's content. */
  content?: string;
  /** A symlink's or hard link's target. */
  linkname?: string;
  mode?: number;
}

/** The sample app's server and VERSION, so a refused package would otherwise run. */
export function appEntries(version: string, server: string): RawEntry[] {
  return [
    { name: 'server.js', content: server },
    { name: 'VERSION', content: `${version}\n` },
  ];
}

export async function writeRawTarball(
  path: string,
  entries: RawEntry[],
): Promise<{ path: string; sha256: string }> {
  const tar = pack();
  const done = pipeline(tar, createGzip(), createWriteStream(path));
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header: Partial<Header> & { name: string } = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      mtime: new Date(315_532_800_000),
      uid: 0,
      gid: 0,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') tar.entry(header, e.content ?? '', cb);
      else tar.entry(header, cb);
    });
  }
  tar.finalize();
  await done;
  return { path, sha256: await sha256File(path) };
}
