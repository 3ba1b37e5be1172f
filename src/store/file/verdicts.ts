import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RollgateError } from '../../model/errors';
import { parseVerdict, verdictFileName, type ScanVerdict } from '../../scan/verdict';

/**
 * Scan verdicts beside a group's record: `<record dir>/scans/sha256-<hex>.json`, one per image
 * digest (the newest scan of a digest replaces the older one). `rollgate scan` saves them; the
 * deploy gate reads them back with `get`.
 */
export class FileVerdicts {
  /** `recordDir`: the group file's store.dir, or the directory given to `--record-dir`. */
  constructor(private readonly recordDir: string) {}

  get dir(): string {
    return join(this.recordDir, 'scans');
  }

  fileFor(digest: string): string {
    return join(this.dir, verdictFileName(digest));
  }

  /** Writes the verdict atomically; returns the file written. */
  async save(verdict: ScanVerdict): Promise<string> {
    const file = this.fileFor(verdict.digest);
    await mkdir(this.dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(verdict, null, 2) + '\n');
    await rename(tmp, file);
    return file;
  }

  /** The verdict recorded for this digest, or null when the image was never scanned here. */
  async get(digest: string): Promise<ScanVerdict | null> {
    const file = this.fileFor(digest);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const verdict = parseVerdict(text, file);
    if (verdict.digest !== digest) {
      throw new RollgateError(`${file} holds the verdict of ${verdict.digest}, not of ${digest}`);
    }
    return verdict;
  }
}
