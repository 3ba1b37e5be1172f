/** Port: where inventory answers are kept between runs (the file store: `<store.dir>/.inventory/`). */
export interface InventoryCache {
  get(key: string): Promise<CachedInventory | null>;
  put(entry: CachedInventory): Promise<void>;
  /** Where the cache is, for messages. */
  readonly location: string;
}

export interface CachedInventory {
  key: string;
  kind: 'command' | 'url';
  /** The command line or URL, as shown (never a header). */
  source: string;
  /** When the source gave this answer (ISO 8601). */
  fetchedAt: string;
  /** The answer as the source gave it (Ansible's --list JSON). */
  answer: string;
}
