/**
 * Pure builders of the POSIX sh scripts that carry out the five steps on a host (S1, S6, F6),
 * and parsers of what those scripts print. Every interpolated value is validated, then quoted.
 * The scripts need only sh and GNU coreutils/tar, so the same text runs locally and over SSH.
 */
import { InputError } from '../model/errors';
import { assertAbsolutePath, assertVersion } from '../model/validate';
import type { HostLock, HostProbe } from '../engine/ports';
import type { ServiceSpec } from '../model/types';
import {
  containerName,
  IMAGE_CASE_BAD,
  IMAGE_FILE,
  imageStartCommand,
  podmanCommand,
  PODMAN_NAMES_LOCK_FN,
  pruneImageLines,
  type ContainerRun,
} from './image';
import { COMPLETE_MARKER } from './marker';
import { listingCheckLines, treeCheckLines } from './package-check';
import { commitReleaseLines } from './release-commit';
import { shq } from './quote';

export { COMPLETE_MARKER };

const SHA256 = /^[0-9a-f]{64}$/;
const TAG = /^[A-Za-z0-9]{1,32}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function assertSha256(value: string, field = 'sha256'): string {
  if (!SHA256.test(value)) throw new InputError(field, `"${value}" is not a sha256 hex digest`);
  return value;
}

function assertTag(value: string): string {
  if (!TAG.test(value)) throw new InputError('tag', `"${value}" must be 1-32 letters or digits`);
  return value;
}

function assertPort(value: number, field = 'port'): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new InputError(field, `${value} is not a TCP port`);
  }
  return value;
}

function assertCount(value: number, field: string, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new InputError(field, `${value} must be an integer of at least ${min}`);
  }
  return value;
}

/** Where an upload waits until its checksum is verified. */
export function incomingPath(docBase: string, version: string, tag: string): string {
  return `${assertAbsolutePath(docBase, 'docBase')}/.rollgate/incoming/${assertVersion(version)}.${assertTag(tag)}.tgz`;
}

function assertIncoming(docBase: string, path: string): string {
  const dir = `${docBase}/.rollgate/incoming/`;
  if (!path.startsWith(dir) || path.slice(dir.length).includes('/')) {
    throw new InputError('incoming', `"${path}" is not inside ${dir}`);
  }
  return assertAbsolutePath(path, 'incoming');
}

// ---------------------------------------------------------------------------------------------
// probe

/** Prints `current <link target>` and one `release <version>` line per complete release, oldest first. */
export function probeScript(docBase: string): string {
  const doc = assertAbsolutePath(docBase, 'docBase');
  return [
    `cd ${shq(doc)} 2>/dev/null || exit 0`,
    `printf 'current %s\\n' "$(readlink current 2>/dev/null)"`,
    `ls -1tr releases/*/${COMPLETE_MARKER} 2>/dev/null |`,
    `  sed -n 's#^releases/\\([^/]*\\)/\\${COMPLETE_MARKER}$#release \\1#p'`,
    // The host lock, on one line: which deployment holds this host (reconcile, status).
    `if [ -f .rollgate/lock ]; then printf 'lock %s\\n' "$(head -c 4096 .rollgate/lock | tr -d '\\n')"; fi`,
    'exit 0',
  ].join('\n');
}

export function parseProbe(stdout: string): HostProbe {
  let current: string | null = null;
  const releases: string[] = [];
  let lock: HostLock | null = null;
  for (const line of stdout.split('\n')) {
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
  return { current, releases, lock };
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
 * record shows ended) or `held` followed by the lock's content.
 */
export function lockScript(
  docBase: string,
  owner: { deploymentId: string; who: string; takeOver?: string },
  since: string,
  tag: string,
): string {
  const doc = assertAbsolutePath(docBase, 'docBase');
  const takeOver = owner.takeOver
    ? [
        `if grep -qF -- ${shq(lockNeedle(owner.takeOver))} "$state/lock" 2>/dev/null; then`,
        '  mv -f "$tmp" "$state/lock" || exit 1',
        "  echo 'taken over'",
        '  exit 0',
        'fi',
      ]
    : [];
  return [
    'set -u',
    `state=${shq(doc)}/.rollgate`,
    `tmp="$state/lock.${assertTag(tag)}.tmp"`,
    'mkdir -p "$state" || exit 1',
    `printf '%s\\n' ${shq(lockContent(owner, since))} >"$tmp" || exit 1`,
    'if ln -T "$tmp" "$state/lock" 2>/dev/null; then rm -f "$tmp"; echo acquired; exit 0; fi',
    `if grep -qF -- ${shq(lockNeedle(owner.deploymentId))} "$state/lock" 2>/dev/null; then`,
    '  mv -f "$tmp" "$state/lock" || exit 1',
    "  echo 'taken over'",
    '  exit 0',
    'fi',
    ...takeOver,
    'rm -f "$tmp"',
    'echo held',
    'cat "$state/lock" 2>/dev/null',
    'exit 0',
  ].join('\n');
}

export type LockOutcome =
  | { kind: 'acquired' | 'taken over' }
  | { kind: 'held'; deploymentId?: string; who?: string; since?: string };

export function parseLock(stdout: string): LockOutcome {
  const [first = '', ...rest] = stdout.split('\n');
  const head = first.trim();
  if (head === 'acquired' || head === 'taken over') return { kind: head };
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
  return [
    `lock=${shq(doc)}/.rollgate/lock`,
    `if [ -f "$lock" ] && grep -qF -- ${shq(lockNeedle(deploymentId))} "$lock"; then`,
    '  rm -f "$lock" && echo released',
    'else',
    "  echo 'not ours'",
    'fi',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// download

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
    '  exit 4',
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

// ---------------------------------------------------------------------------------------------
// install

export interface InstallParams {
  docBase: string;
  version: string;
  /** Exported to the app as PORT and HOST. */
  port: number;
  address: string;
  service: ServiceSpec;
  keep: number;
  /**
   * Releases never pruned whatever `keep` says: what a rollback returns to (F4). After aborted
   * releases the "previous" release can be one that never succeeded; this keeps the good one.
   */
  protect?: readonly string[];
  /** How long to wait for the started app to record its pid. */
  startWaitMs?: number;
  /**
   * How an image release (releases/<version>/IMAGE) runs. Default: `rollgate-app-<address>-<port>`
   * with plain podman.
   */
  container?: Pick<ContainerRun, 'name' | 'podmanArgs' | 'runArgs'>;
}

/** Exit code of the install script when the release is not on the host. */
export const NOT_ON_HOST = 3;

/**
 * True while the process or any member of its process group lives. Zombies do not count: an
 * orphan whose parent never reaps it (a PID 1 that is not an init) must not look alive.
 */
const ALIVE_FN = [
  'alive() {',
  '  _p=$1',
  '  if [ ! -r /proc/self/stat ]; then kill -0 "-$_p" 2>/dev/null || kill -0 "$_p" 2>/dev/null; return; fi',
  '  for _f in /proc/[0-9]*/stat; do',
  '    { read -r _line <"$_f"; } 2>/dev/null || continue',
  '    set -- ${_line##*) }',
  '    [ "$1" != Z ] || continue',
  '    [ "$_f" = "/proc/$_p/stat" ] && return 0',
  '    [ "$3" = "$_p" ] && return 0',
  '  done',
  '  return 1',
  '}',
];

/** A recycled pid that now belongs to something else must not be signalled. */
const OWNED_FN = [
  'owned() {',
  '  _cwd=$(readlink "/proc/$1/cwd" 2>/dev/null) || return 0',
  '  case $_cwd in "$phys"/releases/*) return 0 ;; esac',
  '  return 1',
  '}',
];

const NOT_EXECUTABLE = new Set(
  'if then else elif fi while until for case esac do done in ! { } cd trap exec export set unset . : eval readonly shift umask wait ulimit'.split(
    ' ',
  ),
);

/**
 * A start command that is one plain program call is exec'd, so the pid rollgate records is the
 * app's own and a plain `kill <pid>` reaches it. Anything else runs under sh as given; the pid is
 * then that sh's, which still leads the app's process group.
 */
export function execWhenSimple(start: string): string {
  const command = start.trim();
  const first = command.split(/\s+/)[0] ?? '';
  const simple =
    !/[;&|<>()`$\\{}\n*?[\]#~]/.test(command) &&
    /^[A-Za-z0-9_./'"+-]+$/.test(first) &&
    !NOT_EXECUTABLE.has(first);
  return simple ? `exec ${command}` : command;
}

function envExports(service: ServiceSpec, port: number, address: string): string[] {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(service.env)) {
    if (!ENV_NAME.test(name)) {
      throw new InputError(`service.env.${name}`, 'is not a valid environment variable name');
    }
    lines.push(`export ${name}=${shq(value)}`);
  }
  lines.push(`export PORT=${shq(String(port))} HOST=${shq(address)}`);
  return lines;
}

export function installScript(p: InstallParams): string {
  const doc = assertAbsolutePath(p.docBase, 'docBase');
  const version = assertVersion(p.version);
  const port = assertPort(p.port);
  const keep = assertCount(p.keep, 'keep', 1);
  const protect = (p.protect ?? []).map((v) => assertVersion(v));
  const stopMs = assertCount(p.service.stopTimeoutMs, 'service.stopTimeoutMs', 0);
  const startWaitMs = assertCount(p.startWaitMs ?? 5000, 'startWaitMs', 100);
  const container: ContainerRun = {
    name: containerName('app', p.address, port),
    podmanArgs: [],
    runArgs: [],
    ...p.container,
    env: Object.keys(p.service.env),
    stopTimeoutMs: stopMs,
  };
  if (!p.service.start.trim() && !p.container) {
    throw new InputError('service.start', 'is empty');
  }
  const podman = podmanCommand(container.podmanArgs);
  const tarballStart = p.service.start.trim()
    ? `start=${shq(execWhenSimple(p.service.start))}`
    : `echo "release $v is no image release (no ${IMAGE_FILE}) and the group has no service.start" >&2; exit 1`;
  // Polled every 20 ms: the wait for the old app to exit and the new one to record its pid is
  // on the critical path of every target (the host is out of the load balancer meanwhile).
  const ticks = (ms: number) => Math.max(1, Math.ceil(ms / 20));
  const stopCommand = p.service.stop?.trim();

  return [
    'set -u',
    `doc=${shq(doc)}`,
    `v=${shq(version)}`,
    'state="$doc/.rollgate"',
    'pidf="$state/app.pid"',
    'log="$state/app.log"',
    'cd "$doc" || exit 1',
    `if [ ! -f "releases/$v/${COMPLETE_MARKER}" ]; then`,
    '  echo "release $v is not on the host (no complete $doc/releases/$v): download it first; a rollback needs the old release kept" >&2',
    `  exit ${NOT_ON_HOST}`,
    'fi',
    '# an image release runs its image, which must be on the host: a rollback never pulls',
    'img=',
    `if [ -f "releases/$v/${IMAGE_FILE}" ]; then`,
    `  img=$(cat "releases/$v/${IMAGE_FILE}") || exit 1`,
    `  case $img in ${IMAGE_CASE_BAD})`,
    `    echo "releases/$v/${IMAGE_FILE} does not hold an image reference" >&2`,
    '    exit 1 ;;',
    '  esac',
    `  if ! ${podman} image exists "$img"; then`,
    '    echo "the image $img of release $v is not on the host: deploy $v again to pull it (a rollback uses only what the host keeps)" >&2',
    `    exit ${NOT_ON_HOST}`,
    '  fi',
    `  start=${shq(imageStartCommand(container))}`,
    'else',
    `  ${tarballStart}`,
    'fi',
    'mkdir -p "$state" || exit 1',
    'phys=$(pwd -P)',
    'prev=$(readlink current 2>/dev/null || true)',
    'prev=${prev##*/}',
    ...ALIVE_FN,
    ...OWNED_FN,
    ...PODMAN_NAMES_LOCK_FN,
    ...envExports(p.service, port, p.address),
    '',
    '# stop',
    'pid=$(cat "$pidf" 2>/dev/null || true)',
    'case $pid in ""|*[!0-9]*) pid= ;; esac',
    ...(stopCommand
      ? [
          'if [ -d current ]; then',
          `  (cd current && VERSION="$prev" sh -c ${shq(stopCommand)}) </dev/null >>"$log" 2>&1 ||`,
          '    echo "warning: the stop command failed with $?"',
          'fi',
        ]
      : []),
    'if [ -n "$pid" ] && alive "$pid" && owned "$pid"; then',
    ...(stopCommand ? [] : ['  kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null']),
    '  i=0',
    `  while alive "$pid" && [ "$i" -lt ${ticks(stopMs)} ]; do sleep 0.02; i=$((i + 1)); done`,
    '  if alive "$pid"; then',
    `    echo "app $pid did not stop within ${stopMs} ms: killing it"`,
    '    kill -KILL "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null',
    '    i=0',
    `    while alive "$pid" && [ "$i" -lt ${ticks(5000)} ]; do sleep 0.02; i=$((i + 1)); done`,
    '    if alive "$pid"; then echo "app $pid survived SIGKILL" >&2; exit 1; fi',
    `    if [ -n "$prev" ] && [ -f "releases/$prev/${IMAGE_FILE}" ]; then`,
    '      # podman died, its container may live on: remove it by name',
    `      ${podman} rm -f --ignore -t 0 ${shq(container.name)} >/dev/null 2>&1 || true`,
    '    fi',
    '  fi',
    '  echo "stopped $pid"',
    'fi',
    'rm -f "$pidf"',
    '',
    '# switch (S6): rename(2) of a new symlink over the old one',
    'ln -s "releases/$v" ".current.$$.tmp" && mv -T ".current.$$.tmp" current || {',
    '  rm -f ".current.$$.tmp"',
    '  echo "cannot switch current to releases/$v" >&2',
    '  exit 1',
    '}',
    'echo "switched ${prev:-nothing} -> $v"',
    '',
    '# start, detached, every std stream redirected so the caller (an ssh channel) is not held open',
    'cd "$doc/current" || exit 1',
    'if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=nohup; fi',
    `ROLLGATE_IMAGE="$img" VERSION="$v" $detach sh -c 'echo $$ >"$1.tmp" && mv -f "$1.tmp" "$1" && exec sh -c "$2"' rollgate-app "$pidf" "$start" </dev/null >>"$log" 2>&1 &`,
    'i=0',
    `while [ ! -s "$pidf" ] && [ "$i" -lt ${ticks(startWaitMs)} ]; do sleep 0.02; i=$((i + 1)); done`,
    'if [ ! -s "$pidf" ]; then',
    `  echo "the app did not start within ${startWaitMs} ms; last lines of $log:" >&2`,
    '  tail -n 20 "$log" >&2',
    '  exit 1',
    'fi',
    'echo "started $(cat "$pidf")"',
    '',
    '# prune beyond keep, oldest first, never the current or the previous release, nor what a rollback returns to (F4)',
    'cd "$doc" || exit 1',
    'n=0',
    `for m in releases/*/${COMPLETE_MARKER}; do [ -f "$m" ] && n=$((n + 1)); done`,
    `excess=$((n - ${keep}))`,
    `for m in $(ls -1tr releases/*/${COMPLETE_MARKER} 2>/dev/null); do`,
    '  [ "$excess" -gt 0 ] || break',
    '  r=${m#releases/}',
    `  r=\${r%/${COMPLETE_MARKER}}`,
    '  if [ "$r" = "$v" ] || [ "$r" = "$prev" ]; then continue; fi',
    ...(protect.length
      ? [`  case $r in ${protect.map((v) => shq(v)).join('|')}) continue ;; esac`]
      : []),
    `  pimg=$(cat "releases/$r/${IMAGE_FILE}" 2>/dev/null || true)`,
    `  case $pimg in ${IMAGE_CASE_BAD}) pimg= ;; esac`,
    '  if mv -T "releases/$r" "releases/.prune-$r-$$" && rm -rf -- "releases/.prune-$r-$$"; then',
    '    echo "pruned $r"',
    '    excess=$((excess - 1))',
    '    if [ -n "$pimg" ]; then',
    ...pruneImageLines(container),
    '    fi',
    '  else',
    '    echo "warning: could not prune $r"',
    '  fi',
    'done',
    "find releases .rollgate/incoming -mindepth 1 -maxdepth 1 \\( -name '.tmp-*' -o -name '.prune-*' -o -name '.stale-*' -o -name '*.tgz' \\) -mmin +60 -exec rm -rf {} + 2>/dev/null",
    'exit 0',
  ].join('\n');
}
