/**
 * What goes into a package, decided without touching the disk: the directory's nodes (as the
 * walker saw them) → the sorted, normalised tar entries, or the nodes a host must never get.
 *
 * A package is a gzip'd tar whose entries sit at the archive root (no leading directory): the
 * host unpacks it into `releases/<version>/` and runs `service.start` there. rollgate adds a
 * `VERSION` file holding the version. Only regular files, directories and symbolic links that
 * stay inside the tree go in; owners, times and modes are normalised so the same directory and
 * version always give the same bytes.
 */
import { COMPLETE_MARKER } from '../host/scripts';
import { IMAGE_FILE } from '../host/image';

export type NodeKind =
  'file' | 'dir' | 'symlink' | 'block-device' | 'character-device' | 'fifo' | 'socket' | 'unknown';

/** One thing found under the directory, by lstat (links are not followed). */
export interface DirNode {
  /** Relative, `/`-separated, as found: `server.js`, `lib/util.js`. */
  path: string;
  kind: NodeKind;
  /** st_mode permission bits. */
  mode: number;
  size: number;
  /** A symlink's target, as stored in the link. */
  linkTarget?: string;
  /** The name is not valid UTF-8 (a tar entry name would not say what the file is called). */
  badName?: boolean;
  /** Content of a top-level `VERSION` file, when there is one. */
  text?: string;
}

export interface PackEntry {
  /** Entry name in the archive: `lib/`, `lib/util.js`. */
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  size: number;
  /** Relative path of the file to copy, for files found in the directory. */
  source?: string;
  /** Content written by rollgate (VERSION and the test helpers' files). */
  content?: Buffer;
  linkname?: string;
}

export interface PackRefusal {
  path: string;
  reason: string;
}

export interface PackPlan {
  entries: PackEntry[];
  refusals: PackRefusal[];
}

/** The file the package carries its version in. */
export const VERSION_FILE = 'VERSION';

/** Top-level names the host itself gives a meaning to. */
const RESERVED: Record<string, string> = {
  [COMPLETE_MARKER]: 'the host writes this marker itself once the release is unpacked',
  [IMAGE_FILE]:
    'a top-level IMAGE file makes the host run a container image instead of service.start (image releases are deployed with --image)',
};

const KIND_WORDS: Record<Exclude<NodeKind, 'file' | 'dir' | 'symlink'>, string> = {
  'block-device': 'a block device',
  'character-device': 'a character device',
  fifo: 'a FIFO (named pipe)',
  socket: 'a socket',
  unknown: 'not a regular file, directory or symbolic link',
};

const ONLY = 'a package holds only regular files, directories and symbolic links: remove it';

/** Owner-executable files and directories become 0755, other files 0644, links 0777. */
export function normalisedMode(kind: 'file' | 'dir' | 'symlink', mode: number): number {
  if (kind === 'dir') return 0o755;
  if (kind === 'symlink') return 0o777;
  return mode & 0o100 ? 0o755 : 0o644;
}

/** Byte order of the UTF-8 names: the same on every machine, whatever its locale. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Component by component, so a directory's entries follow it together (as `tar --sort=name`). */
export function comparePaths(a: string, b: string): number {
  const x = a.replace(/\/$/, '').split('/');
  const y = b.replace(/\/$/, '').split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = compareNames(x[i]!, y[i]!);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

function badPath(path: string): string | null {
  if (path === '' || path.startsWith('/')) return 'an absolute path';
  const parts = path.split('/');
  if (parts.some((p) => p === '..')) return 'a path with ".."';
  if (parts.some((p) => p === '' || p === '.')) return 'a path with an empty or "." component';
  return null;
}

/**
 * Where a link leads, resolved inside the tree as the host would resolve it: through the other
 * links of the package. `escapes` when it ends (or passes) above the package root or at an
 * absolute path.
 */
export function linkEscapes(
  linkPath: string,
  target: string,
  nodes: ReadonlyMap<string, DirNode>,
): boolean {
  if (target.startsWith('/')) return true;
  let hops = 0;
  const stack = linkPath.split('/').slice(0, -1);
  const walk = (t: string): boolean => {
    if (t.startsWith('/')) return true;
    for (const part of t.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (stack.length === 0) return true;
        stack.pop();
        continue;
      }
      stack.push(part);
      const node = nodes.get(stack.join('/'));
      if (node?.kind === 'symlink' && node.linkTarget !== undefined) {
        // A loop resolves nowhere: it cannot lead out either.
        if (++hops > 40) return false;
        stack.pop();
        if (walk(node.linkTarget)) return true;
      }
    }
    return false;
  };
  return walk(target);
}

/**
 * The entries of a package of `nodes` at `version`, with `generated` files (name → content) added
 * at the root, or what stands in the way. Pure: the caller walked the directory.
 */
export function planPackage(
  nodes: readonly DirNode[],
  version: string,
  generated: Readonly<Record<string, string>> = {},
): PackPlan {
  const refusals: PackRefusal[] = [];
  const entries: PackEntry[] = [];
  const byPath = new Map(nodes.map((n) => [n.path, n]));
  const extra: Record<string, string> = { [VERSION_FILE]: `${version}\n`, ...generated };
  for (const node of nodes) {
    const refuse = (reason: string) => refusals.push({ path: node.path, reason });
    const path = badPath(node.path);
    if (path) {
      refuse(`${path}: the host refuses or moves such entries`);
      continue;
    }
    if (node.badName) {
      refuse('its name is not UTF-8: rename it');
      continue;
    }
    const top = !node.path.includes('/');
    if (top && RESERVED[node.path]) {
      refuse(RESERVED[node.path]!);
      continue;
    }
    if (top && node.path in extra) {
      if (node.path === VERSION_FILE) {
        const have = node.kind === 'file' ? node.text?.trim() : undefined;
        if (have !== version) {
          refuse(
            have === undefined
              ? `rollgate writes ${VERSION_FILE} (the version) itself: remove it`
              : `holds "${have}", but the version is ${version}: remove the file (rollgate writes it) or make them agree`,
          );
        }
      } else {
        refuse('rollgate writes this file itself here: remove it');
      }
      continue;
    }
    switch (node.kind) {
      case 'file':
        entries.push({
          name: node.path,
          type: 'file',
          mode: normalisedMode('file', node.mode),
          size: node.size,
          source: node.path,
        });
        break;
      case 'dir':
        entries.push({
          name: `${node.path}/`,
          type: 'directory',
          mode: normalisedMode('dir', node.mode),
          size: 0,
        });
        break;
      case 'symlink': {
        const target = node.linkTarget ?? '';
        if (target === '' || linkEscapes(node.path, target, byPath)) {
          refuse(
            `a symbolic link to ${target || '(nothing)'}, which leads out of the package: the host would follow it outside releases/<version>; make it point inside the directory or copy what it points at`,
          );
          break;
        }
        entries.push({
          name: node.path,
          type: 'symlink',
          mode: normalisedMode('symlink', node.mode),
          size: 0,
          linkname: target,
        });
        break;
      }
      default:
        refuse(`${KIND_WORDS[node.kind]}: ${ONLY}`);
    }
  }
  for (const [name, text] of Object.entries(extra)) {
    const content = Buffer.from(text, 'utf8');
    entries.push({ name, type: 'file', mode: 0o644, size: content.length, content });
  }
  entries.sort((a, b) => comparePaths(a.name, b.name));
  refusals.sort((a, b) => comparePaths(a.path, b.path));
  return { entries, refusals };
}
