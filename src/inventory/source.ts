import { createHash } from 'node:crypto';
import { shq } from '../host/quote';

/**
 * F8: where a group's hosts come from when they live in a CMDB — a command or an HTTP(S) URL that
 * answers Ansible's dynamic-inventory JSON (`--list`). Resolved from the group file: header
 * values already read from the environment, which is why a source is never printed whole.
 */
export type InventorySource =
  | {
      kind: 'command';
      /** Run as given (no shell), in `cwd` (the group file's directory), with `env`. */
      argv: string[];
      cwd: string;
      env: Record<string, string | undefined>;
      timeoutMs: number;
    }
  | {
      kind: 'url';
      url: string;
      /** Secret values (from the environment): never logged, cached or shown. */
      headers: Record<string, string>;
      timeoutMs: number;
    };

/** How long a cached answer stands for the source. */
export interface CachePolicy {
  /** Younger than this, the cached answer is used without asking the source. */
  freshMs: number;
  /** When the source is down, a cached answer older than this is not used (null: any age). */
  maxAgeMs: number | null;
}

/** The group file's field a source comes from, for messages. */
export function sourceField(source: InventorySource): 'inventory.command' | 'inventory.url' {
  return source.kind === 'command' ? 'inventory.command' : 'inventory.url';
}

/** What the person sees: the command line, or the URL (it carries no credentials: see build). */
export function describeSource(source: InventorySource): string {
  return source.kind === 'command' ? source.argv.map(shq).join(' ') : source.url;
}

/** One source, one cache entry, one breaker and one call in flight — headers left out. */
export function sourceKey(source: InventorySource): string {
  const identity =
    source.kind === 'command' ? ['command', source.cwd, ...source.argv] : ['url', source.url];
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 32);
}
