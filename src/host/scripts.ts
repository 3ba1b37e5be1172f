/**
 * Pure builders of the POSIX sh scripts that carry out the five steps on a host (S1, S6, F6),
 * and parsers of what those scripts print. Every interpolated value is validated, then quoted.
 * The scripts need only sh and GNU coreutils/tar, so the same text runs locally and over SSH.
 */
import { assertAbsolutePath, assertVersion } from '../model/validate';
import type { HostLock, HostProbe } from '../engine/ports';
import type { Slot } from '../model/types';
import { COMPLETE_MARKER } from './marker';
import { listingCheckLines, treeCheckLines } from './package-check';
import { commitReleaseLines } from './release-commit';
import { readFirstLine, shq } from './quote';
import { slotProbeLines } from './slot-scripts';
import { assertIncoming, assertSha256, assertTag } from './script-args';

export { COMPLETE_MARKER };

// ---------------------------------------------------------------------------------------------
// probe

/** Prints `current <link target>` and one `release <version>` line per complete release, oldest first. */
export function probeScript(docBase: string): string {
  const doc = assertAbsolutePath(docBase, 'docBase');
  return [
    `cd ${shq(doc)} 2>/dev/null || exit 0`,
    `printf 'current %s\\n' "$(readlink current 2>/dev/null)"`,
    `ls -1tr releases/*/${COMPLETE_MARKER} 2>/dev/null | while IFS= read -r m; do`,
    `  r=\${m#releases/}; r=\${r%/${COMPLETE_MARKER}}`,
    `  case $r in ''|*/*) continue ;; esac`,
    `  if [ "$m" = "releases/$r/${COMPLETE_MARKER}" ]; then printf 'release %s\\n' "$r"; fi`,
    'done',
    // The host lock, on one line: which deployment holds this host (reconcile, status).
    'if [ -f .rollgate/lock ]; then',
    `  ${readFirstLine('l', '.rollgate/lock')}`,
    `  printf 'lock %s\\n' "$l"`,
    'fi',
    // S7: which slot serves which version (side-by-side hosts only; nothing on an in-place host)
    ...slotProbeLines(),
    'exit 0',
  ].join('\n');
}

export function parseProbe(stdout: string): HostProbe {
  let current: string | null = null;
  const releases: string[] = [];
  let lock: HostLock | null = null;
  let serving: Slot | undefined;
  const slots: NonNullable<HostProbe['slots']> = {};
  for (const line of stdout.split('\n')) {
    const slotLine = /^slot ([ab]) (\S+) (up|down)$/.exec(line.trim());
    if (slotLine) {
      if (isVersion(slotLine[2]!)) {
        slots[slotLine[1] as Slot] = { version: slotLine[2]!, running: slotLine[3] === 'up' };
      }
      continue;
    }
    if (line.startsWith('serving ')) {
      const slot = line.slice('serving '.length).trim();
      if (slot === 'a' || slot === 'b') serving = slot;
      continue;
    }
    if (line.startsWith('lock ')) {
      lock = parseLockContent(line.slice('lock '.length));
      continue;
    }
    if (line.startsWith('current ')) {
      const name = line.slice('current '.length).trim().split('/').pop() ?? '';
      current = isVersion(name) ? name : null;
    } else if (line.startsWith('release ')) {
      const name = line.slice('release '.length).trim();
      if (isVersion(name)) releases.push(name);
    }
  }
  return {
    current,
    releases,
    lock,
    ...(serving ? { serving } : {}),
    ...(Object.keys(slots).length ? { slots } : {}),
  };
}

/** A lock file's JSON; an unreadable one is a lock with nothing known about it. */
export function parseLockContent(text: string): HostLock {
  try {
    const data = JSON.parse(text) as Record<string, unknown>;
    const field = (key: string) =>
      typeof data[key] === 'string' ? { [key]: data[key] as string } : {};
    return { ...field('deploymentId'), ...field('who'), ...field('since') };
  } catch {
    return {};
  }
}

function isVersion(value: string): boolean {
  try {
    assertVersion(value);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// lock

/** The exact prefix a lock file written for this deployment starts with. */
export function lockNeedle(deploymentId: string): string {
  return `{"deploymentId":${JSON.stringify(deploymentId)},`;
}

export function lockContent(
  owner: { deploymentId: string; who: string; takeOver?: string },
  since: string,
): string {
  return JSON.stringify({ deploymentId: owner.deploymentId, who: owner.who, since });
}

/**
 * `ln` of a complete temp file is the atomic create: the lock never exists half-written.
 * Prints `acquired`, `taken over` (same deployment, or `owner.takeOver`'s: a deployment the
 * record shows ended) or `held` followed by the lock's content. With `probe`, a lock it holds is
 * followed by what the probe script prints, read under that lock: one round trip instead of two.
 */
export function lockScript(
  docBase: string,
  owner: { deploymentId: string; who: string; takeOver?: string },
  since: string,
  tag: string,
  options: { probe?: boolean } = {},
): string {
  const doc = assertAbsolutePath(docBase, 'docBase');
  const held = (outcome: string) => [
    `  echo '${outcome}'`,
    ...(options.probe ? ['  probe'] : []),
    '  exit 0',
  ];
  const takeOver = owner.takeOver
    ? [
        `if grep -qF -- ${shq(lockNeedle(owner.takeOver))} "$state/lock" 2>/dev/null; then`,
        '  mv -f "$tmp" "$state/lock" || exit 1',
        ...held('taken over'),
        'fi',
      ]
    : [];
  return [
    'set -u',
    ...(options.probe ? ['probe() (', 'set +u', probeScript(doc), ')'] : []),
    `state=${shq(doc)}/.rollgate`,
    `tmp="$state/lock.${assertTag(tag)}.tmp"`,
    'if [ ! -d "$state" ]; then mkdir -p "$state" || exit 1; fi',
    `printf '%s\\n' ${shq(lockContent(owner, since))} >"$tmp" || exit 1`,
    'if ln -T "$tmp" "$state/lock" 2>/dev/null; then',
    '  rm -f "$tmp"',
    ...held('acquired'),
    'fi',
    `if grep -qF -- ${shq(lockNeedle(owner.deploymentId))} "$state/lock" 2>/dev/null; then`,
    '  mv -f "$tmp" "$state/lock" || exit 1',
    ...held('taken over'),
    'fi',
    ...takeOver,
    'rm -f "$tmp"',
    'echo held',
    'cat "$state/lock" 2>/dev/null',
    'exit 0',
  ].join('\n');
}

export type LockOutcome =
  | { kind: 'acquired' | 'taken over'; probe?: HostProbe }
  | { kind: 'held'; deploymentId?: string; who?: string; since?: string };

/** The lock script's answer; `probe` when it was asked to probe (see lockScript). */
export function parseLock(stdout: string, options: { probe?: boolean } = {}): LockOutcome {
  const [first = '', ...rest] = stdout.split('\n');
  const head = first.trim();
  if (head === 'acquired' || head === 'taken over') {
    return options.probe ? { kind: head, probe: parseProbe(rest.join('\n')) } : { kind: head };
  }
  if (head !== 'held') throw new Error(`unexpected answer from the lock script: ${stdout.trim()}`);
  try {
    const data = JSON.parse(rest.join('\n')) as Record<string, unknown>;
    const text = (key: string) =>
      typeof data[key] === 'string' ? (data[key] as string) : undefined;
    return {
      kind: 'held',
      deploymentId: text('deploymentId'),
      who: text('who'),
      since: text('since'),
    };
  } catch {
    return { kind: 'held' };
  }
}

/** Removes the lock only when this deployment holds it. */
export function unlockScript(docBase: string, deploymentId: string): string {
  const doc = assertAbsolutePath(docBase, 'docBase');
  // A lock file this deployment wrote starts with its needle (lockContent).
  return [
    `lock=${shq(doc)}/.rollgate/lock`,
    readFirstLine('held', '"$lock"'),
    `case $held in ${shq(lockNeedle(deploymentId))}*) rm -f "$lock" && echo released ;;`,
    "  *) echo 'not ours' ;;",
    'esac',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// download

/** Exit code of the download script when the package's sha256 is not the release's. */
export const CHECKSUM_MISMATCH = 4;

export interface DownloadParams {
  docBase: string;
  version: string;
  sha256: string;
}

/** Prints `complete` when the release is in place with this checksum, else `ready` (incoming/ made). */
export function downloadCheckScript(p: DownloadParams): string {
  const doc = assertAbsolutePath(p.docBase, 'docBase');
  const version = assertVersion(p.version);
  const sha = assertSha256(p.sha256);
  return [
    'set -u',
    `doc=${shq(doc)}`,
    `marker="$doc/releases/"${shq(version)}/${COMPLETE_MARKER}`,
    'if [ -f "$marker" ]; then',
    '  have=$(cat "$marker")',
    `  if [ "$have" = ${shq(sha)} ]; then echo complete; exit 0; fi`,
    `  echo "release ${version} is already on the host with sha256 $have, not ${sha}: a release is never replaced (F6); publish it under a new version" >&2`,
    '  exit 3',
    'fi',
    'mkdir -p "$doc/releases" "$doc/.rollgate/incoming" || exit 1',
    'echo ready',
  ].join('\n');
}

/**
 * Verifies the uploaded package, refuses it when an entry is one `rollgate pack` refuses
 * (package-check.ts: judged on tar's listing before unpacking, and on the unpacked tree), unpacks
 * it into a hidden temp dir, writes the marker and renames the dir into `releases/<version>`: the
 * rename is the commit, so a failure or a refusal leaves nothing behind.
 */
export function downloadScript(p: DownloadParams & { incoming: string; tag: string }): string {
  const doc = assertAbsolutePath(p.docBase, 'docBase');
  const version = assertVersion(p.version);
  const sha = assertSha256(p.sha256);
  const incoming = assertIncoming(doc, p.incoming);
  const tag = assertTag(p.tag);
  return [
    'set -u',
    `doc=${shq(doc)}`,
    `v=${shq(version)}`,
    `want=${shq(sha)}`,
    `inc=${shq(incoming)}`,
    `tmp="$doc/releases/.tmp-$v-${tag}"`,
    'lst="$tmp.list"',
    'rel="$doc/releases/$v"',
    // A directory the archive made unreadable or unsearchable would make rm -rf fail.
    `trap '[ -d "$tmp" ] && find "$tmp" -type d ! -perm -700 -exec chmod u+rwx {} \\; 2>/dev/null; rm -rf -- "$tmp" "$lst" "$inc"' EXIT`,
    `[ -f "$inc" ] || { echo "the package did not arrive at $inc" >&2; exit 1; }`,
    'got=$(sha256sum -- "$inc") || exit 1',
    'got=${got%% *}',
    'if [ "$got" != "$want" ]; then',
    '  echo "checksum mismatch: the package on the host has sha256 $got, expected $want (partial or corrupted transfer)" >&2',
    `  exit ${CHECKSUM_MISMATCH}`,
    'fi',
    ...listingCheckLines(),
    'mkdir -- "$tmp" || exit 1',
    'tar -xzf "$inc" -C "$tmp" --no-same-owner || { echo "cannot unpack the package into $tmp" >&2; exit 1; }',
    ...treeCheckLines(),
    `printf '%s\\n' "$want" >"$tmp/${COMPLETE_MARKER}" || exit 1`,
    ...commitReleaseLines({
      marker: COMPLETE_MARKER,
      tag,
      same: `[ "$(cat "$rel/${COMPLETE_MARKER}")" = "$want" ]`,
      other: 'with another checksum',
      done: 'installed',
    }),
  ].join('\n');
}

export function removeFileScript(path: string): string {
  return `rm -f -- ${shq(assertAbsolutePath(path))}`;
}

/** Prints the KiB free for unprivileged writes in the file system holding `dir`. */
export function freeKibScript(dir: string): string {
  return `df -Pk -- ${shq(assertAbsolutePath(dir))} | awk 'NR == 2 { print $4 }'`;
}
