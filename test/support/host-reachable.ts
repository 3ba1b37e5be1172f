/**
 * The sshd fleet's files (authorized_keys, each host's directory) are read by the deploy user,
 * not by root: every directory on the way to them must let other users in. A clone in root's
 * home (mode 700) or under `mktemp -d` does not, so the demo puts its fleet elsewhere.
 */
import { chmodSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Permission bits of a directory, null when it does not exist (it will be made 0755). */
export type ModeOf = (path: string) => number | null;

export const statMode: ModeOf = (path) => {
  try {
    return statSync(path).mode & 0o7777;
  } catch {
    return null;
  }
};

/** The first directory on the way to `path` (itself included) that others cannot enter, or null. */
export function firstClosedDir(path: string, modeOf: ModeOf = statMode): string | null {
  let cur = '';
  for (const part of resolve(path).split('/').filter(Boolean)) {
    cur = `${cur}/${part}`;
    const mode = modeOf(cur);
    if (mode === null) return null;
    if ((mode & 0o001) === 0) return cur;
  }
  return null;
}

export interface FleetPlace {
  dir: string;
  /** Set when `preferred` was not reachable: the directory that stood in the way. */
  movedBecause?: string;
}

/**
 * `preferred` when other users can reach it; else a new 0755 directory `<prefix>…` under the first
 * of $TMPDIR, /tmp, /var/tmp they can reach (the caller removes it).
 */
export function hostReachableDir(
  preferred: string,
  prefix: string,
  modeOf: ModeOf = statMode,
): FleetPlace {
  const blocked = firstClosedDir(preferred, modeOf);
  if (!blocked) return { dir: preferred };
  for (const base of [tmpdir(), '/tmp', '/var/tmp']) {
    if (modeOf(base) === null || firstClosedDir(base, modeOf)) continue;
    const dir = mkdtempSync(join(base, prefix));
    chmodSync(dir, 0o755);
    return { dir, movedBecause: blocked };
  }
  throw new Error(
    `the deploy user cannot enter ${blocked} (mode ${modeOf(blocked)?.toString(8)}), nor $TMPDIR, /tmp or /var/tmp: run with ROLLGATE_DEMO_DIR set to a directory every user can enter, or chmod o+x ${blocked}`,
  );
}
