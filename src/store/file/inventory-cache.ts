import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CachedInventory, InventoryCache } from '../../inventory/cache';

/**
 * Inventory answers kept in the store directory: `<store.dir>/.inventory/<key>.json`, one per
 * source (F5, F8). The leading dot keeps it out of the group listing of `rollgate serve`.
 */
export class FileInventoryCache implements InventoryCache {
  readonly location: string;

  constructor(storeDir: string) {
    this.location = join(storeDir, '.inventory');
  }

  private fileFor(key: string): string {
    return join(this.location, `${key}.json`);
  }

  /** The cached answer, or null: none yet, or one that cannot be read (the next answer replaces it). */
  async get(key: string): Promise<CachedInventory | null> {
    let text: string;
    try {
      text = await readFile(this.fileFor(key), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      const entry = JSON.parse(text) as Partial<CachedInventory>;
      const ok =
        entry.key === key &&
        typeof entry.answer === 'string' &&
        typeof entry.source === 'string' &&
        (entry.kind === 'command' || entry.kind === 'url') &&
        typeof entry.fetchedAt === 'string' &&
        !Number.isNaN(Date.parse(entry.fetchedAt));
      return ok ? (entry as CachedInventory) : null;
    } catch {
      return null;
    }
  }

  /** Written whole and renamed into place: a reader sees the old answer or the new one. */
  async put(entry: CachedInventory): Promise<void> {
    await mkdir(this.location, { recursive: true });
    const file = this.fileFor(entry.key);
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, JSON.stringify(entry) + '\n');
    await rename(tmp, file);
  }
}
