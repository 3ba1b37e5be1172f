/**
 * Side-by-side (S7) on a host: two slots per target, each with its own port, pid file, log and
 * version file; `current` and `.rollgate/serving` name the slot in traffic.
 *
 * ```
 * <docBase>/releases/<version>/   shared by both slots (S6)
 * <docBase>/current               -> releases/<what serves>
 * .rollgate/serving               a | b (absent: a, or nothing on a fresh host)
 * .rollgate/slot-a, slot-b        the version each slot runs
 * .rollgate/app.pid, app-b.pid    slot a keeps the in-place names, so a host converts in place
 * ```
 */
import { InputError } from '../model/errors';
import type { ServiceSpec, Slot } from '../model/types';
import { otherSlot } from '../model/slots';
import { assertAbsolutePath, assertVersion } from '../model/validate';
import {
  IMAGE_CASE_BAD,
  IMAGE_FILE,
  imageStartCommand,
  podmanCommand,
  PODMAN_NAMES_LOCK_FN,
  type ContainerRun,
} from './image';
import { envExports, execWhenSimple, NOT_ON_HOST, type InstallParams } from './install-script';
import {
  ALIVE_FN,
  OWNED_FN,
  pruneLines,
  startLines,
  stopLines,
  switchLines,
} from './install-steps';
import { COMPLETE_MARKER } from './marker';
import { readFirstLine, shq } from './quote';
import { assertCount, assertPort } from './script-args';

export interface SlotFiles {
  pid: string;
  log: string;
  version: string;
}

/** A slot's files under `.rollgate/`. */
export function slotFiles(slot: Slot): SlotFiles {
  return slot === 'a'
    ? { pid: 'app.pid', log: 'app.log', version: 'slot-a' }
    : { pid: 'app-b.pid', log: 'app-b.log', version: 'slot-b' };
}

function assertSlot(slot: Slot): Slot {
  if (slot !== 'a' && slot !== 'b') throw new InputError('slot', `"${String(slot)}" is not a or b`);
  return slot;
}

/**
 * Sets `prev` to the version `slot` runs. Slot a of a host that never flipped (no serving file)
 * is the in-place app: it runs what `current` names.
 */
function slotVersionLines(slot: Slot, variable: string): string[] {
  const f = slotFiles(slot);
  return [
    readFirstLine(variable, `"$state/${f.version}"`),
    ...(slot === 'a'
      ? [
          `if [ -z "$${variable}" ] && [ ! -f "$state/serving" ]; then`,
          `  ${variable}=$(readlink "$doc/current" 2>/dev/null || true)`,
          `  ${variable}=\${${variable}##*/}`,
          'fi',
        ]
      : []),
  ];
}

export interface SlotInstallParams extends InstallParams {
  slot: Slot;
  /** The container whose keep tags the download wrote (slot a's name): what a prune removes. */
  pruneContainer?: Pick<ContainerRun, 'name' | 'podmanArgs'>;
}

/**
 * Starts `version` in the idle `slot` from `releases/<version>` with PORT = that slot's port,
 * after stopping what that slot ran (the warm old release). Refuses the slot that serves: the
 * other one keeps serving throughout. `current` is not switched: the flip does that (serveScript).
 */
export function slotInstallScript(p: SlotInstallParams): string {
  const slot = assertSlot(p.slot);
  const other = otherSlot(slot);
  const f = slotFiles(slot);
  const doc = assertAbsolutePath(p.docBase, 'docBase');
  const version = assertVersion(p.version);
  const port = assertPort(p.port);
  const keep = assertCount(p.keep, 'keep', 1);
  const protect = (p.protect ?? []).map((v) => assertVersion(v));
  const stopMs = assertCount(p.service.stopTimeoutMs, 'service.stopTimeoutMs', 0);
  const startWaitMs = assertCount(p.startWaitMs ?? 5000, 'startWaitMs', 100);
  if (!p.container && !p.service.start.trim()) throw new InputError('service.start', 'is empty');
  const container: ContainerRun = {
    name: `rollgate-app-${slot}`,
    podmanArgs: [],
    runArgs: [],
    ...p.container,
    env: Object.keys(p.service.env),
    stopTimeoutMs: stopMs,
  };
  const podman = podmanCommand(container.podmanArgs);
  const tarballStart = p.service.start.trim()
    ? `start=${shq(execWhenSimple(p.service.start))}`
    : `echo "release $v is no image release (no ${IMAGE_FILE}) and the group has no service.start" >&2; exit 1`;
  return [
    'set -u',
    `doc=${shq(doc)}`,
    `v=${shq(version)}`,
    'state="$doc/.rollgate"',
    `pidf="$state/${f.pid}"`,
    `log="$state/${f.log}"`,
    'cd "$doc" || exit 1',
    `if [ ! -f "releases/$v/${COMPLETE_MARKER}" ]; then`,
    '  echo "release $v is not on the host (no complete $doc/releases/$v): download it first; a rollback needs the old release kept" >&2',
    `  exit ${NOT_ON_HOST}`,
    'fi',
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
    'cur=$(readlink current 2>/dev/null || true)',
    'cur=${cur##*/}',
    'serving=$(cat "$state/serving" 2>/dev/null || true)',
    'if [ -z "$serving" ] && [ -n "$cur" ]; then serving=a; fi',
    `if [ "$serving" = ${slot} ]; then`,
    `  echo "slot ${slot} serves \${cur:-a release}: a new version starts only in the idle slot (${other})" >&2`,
    '  exit 1',
    'fi',
    ...slotVersionLines(slot, 'prev'),
    ...slotVersionLines(other, 'otherv'),
    ...ALIVE_FN,
    ...OWNED_FN,
    ...PODMAN_NAMES_LOCK_FN,
    ...envExports(p.service, port, p.address),
    '',
    ...stopLines({
      stopCommand: p.service.stop?.trim(),
      stopMs,
      podman,
      containerName: container.name,
      stopDir: '"releases/$prev"',
    }),
    '',
    '# the slot now holds $v, whether or not it starts (the next stop runs its stop hook)',
    `printf '%s\\n' "$v" >"$state/${f.version}.$$.tmp" && mv -f "$state/${f.version}.$$.tmp" "$state/${f.version}" || exit 1`,
    `echo "slot ${slot}: \${prev:-nothing} -> $v"`,
    '',
    ...startLines(startWaitMs, '"$doc/releases/$v"'),
    '',
    ...pruneLines({
      keep,
      protect,
      container: { ...container, ...p.pruneContainer },
      keepVars: ['cur', 'otherv'],
    }),
    'exit 0',
  ].join('\n');
}

/** The file a slot's keep-warm stop holds a flock on while it stops (see slotStopScript). */
export function stopLockFile(slot: Slot): string {
  return `slot-${slot}.stop`;
}

export interface SlotStopParams {
  docBase: string;
  slot: Slot;
  service: Pick<ServiceSpec, 'stop' | 'stopTimeoutMs'>;
  podmanArgs: readonly string[];
  /** The slot's container (image releases). */
  containerName: string;
  /**
   * Run by the release that holds the host lock (the flip with keepWarm 0): the stop does not
   * wait for that lock, which its caller releases only after it.
   */
  callerHoldsLock?: boolean;
}

/**
 * Stops what `slot` runs — unless it serves again (a rollback flipped back) or its pid file no
 * longer names `$1` (it was restarted since). While a release holds the host lock it waits for
 * it (up to 10 minutes): that release may be about to flip back to this slot — unless that
 * release is the caller (`callerHoldsLock`).
 */
export function slotStopScript(p: SlotStopParams): string {
  const slot = assertSlot(p.slot);
  const f = slotFiles(slot);
  const doc = assertAbsolutePath(p.docBase, 'docBase');
  const stopMs = assertCount(p.service.stopTimeoutMs, 'service.stopTimeoutMs', 0);
  return [
    'set -u',
    `doc=${shq(doc)}`,
    'state="$doc/.rollgate"',
    `pidf="$state/${f.pid}"`,
    `log="$state/${f.log}"`,
    'cd "$doc" || exit 0',
    'phys=$(pwd -P)',
    // The slot's stop lock (flock, util-linux; without it, unlocked): held from the host-lock
    // check to the end of the stop, so a release that takes the host lock meanwhile and then
    // probes waits for this stop instead of seeing the slot warm and flipping to it dead.
    `stopf="$state/${stopLockFile(slot)}"`,
    'fl=',
    'if command -v flock >/dev/null 2>&1 && (: >>"$stopf") 2>/dev/null; then exec 9>>"$stopf"; fl=1; fi',
    'i=0',
    'while :; do',
    '  if [ -n "$fl" ]; then flock 9; fi',
    `  if ${p.callerHoldsLock ? 'true' : '[ ! -f "$state/lock" ]'} || [ "$i" -ge 600 ]; then break; fi`,
    '  if [ -n "$fl" ]; then flock -u 9; fi',
    '  sleep 1',
    '  i=$((i + 1))',
    'done',
    `if [ "$(cat "$state/serving" 2>/dev/null)" = ${slot} ]; then echo "slot ${slot} serves again: left running"; exit 0; fi`,
    `if [ "$(cat "$pidf" 2>/dev/null)" != "$1" ]; then echo "slot ${slot} was restarted since: left running"; exit 0; fi`,
    ...slotVersionLines(slot, 'prev'),
    ...ALIVE_FN,
    ...OWNED_FN,
    ...stopLines({
      stopCommand: p.service.stop?.trim(),
      stopMs,
      podman: podmanCommand(p.podmanArgs),
      containerName: p.containerName,
      stopDir: '"releases/$prev"',
    }),
    `echo "slot ${slot} (\${prev:-unknown}) stopped: out of traffic, its keep-warm window over"`,
    'exit 0',
  ].join('\n');
}

export interface ServeParams {
  docBase: string;
  slot: Slot;
  version: string;
  /** 0: the other slot is stopped now; else a timer on the host stops it after this long. */
  keepWarmMs: number;
  /** How the other slot is stopped. */
  otherStop: Omit<SlotStopParams, 'docBase' | 'slot'>;
  /**
   * A script that releases the host lock (unlockScript), run once the host serves from `slot`:
   * its answer follows `unlock ` on the last line. One round trip for the flip's host half and
   * the unlock.
   */
  unlock?: string;
}

/**
 * The host's half of the flip, once the load balancer sends `slot` the traffic: `current` and
 * `serving` name it; the other slot stays warm for keepWarmMs (a detached timer on the host,
 * independent of the runner), then is stopped.
 */
export function serveScript(p: ServeParams): string {
  const slot = assertSlot(p.slot);
  const other = otherSlot(slot);
  const of = slotFiles(other);
  const doc = assertAbsolutePath(p.docBase, 'docBase');
  const version = assertVersion(p.version);
  const keepWarmMs = assertCount(p.keepWarmMs, 'keepWarmMs', 0);
  // keepWarm 0: stopped now, by this script, under the host lock its release holds.
  const stopper = slotStopScript({
    docBase: doc,
    slot: other,
    ...p.otherStop,
    ...(keepWarmMs === 0 ? { callerHoldsLock: true } : {}),
  });
  const seconds = Math.ceil(keepWarmMs / 1000);
  return [
    'set -u',
    ...(p.unlock
      ? ['unlock_host() {', p.unlock, '}', 'finish() { printf "unlock "; unlock_host; exit 0; }']
      : ['finish() { exit 0; }']),
    `doc=${shq(doc)}`,
    `v=${shq(version)}`,
    'state="$doc/.rollgate"',
    'cd "$doc" || exit 1',
    'mkdir -p "$state" || exit 1',
    ...slotVersionLines(slot, 'got'),
    'if [ "$got" != "$v" ]; then',
    `  echo "slot ${slot} holds \${got:-nothing}, not $v: start $v in it first" >&2`,
    '  exit 1',
    'fi',
    `if [ ! -f "releases/$v/${COMPLETE_MARKER}" ]; then echo "release $v is not on the host" >&2; exit ${NOT_ON_HOST}; fi`,
    'prev=$(readlink current 2>/dev/null || true)',
    'prev=${prev##*/}',
    '# a host converted from in-place: slot a ran what current named',
    'if [ ! -f "$state/serving" ] && [ ! -f "$state/slot-a" ] && [ -n "$prev" ]; then',
    `  printf '%s\\n' "$prev" >"$state/slot-a" || exit 1`,
    'fi',
    ...switchLines(),
    `printf '%s\\n' ${slot} >"$state/serving.$$.tmp" && mv -f "$state/serving.$$.tmp" "$state/serving" || exit 1`,
    `echo "slot ${slot} serves $v"`,
    readFirstLine('opid', `"$state/${of.pid}"`),
    `case $opid in ""|*[!0-9]*) echo "slot ${other} runs nothing"; finish ;; esac`,
    `stopper=${shq(stopper)}`,
    ...(keepWarmMs === 0
      ? ['sh -c "$stopper" rollgate-stop "$opid" </dev/null || exit 1']
      : [
          'if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=nohup; fi',
          `$detach sh -c 'sleep "$1"; exec sh -c "$2" rollgate-stop "$3"' rollgate-keep-warm ${seconds} "$stopper" "$opid" </dev/null >>"$state/${of.log}" 2>&1 &`,
          `echo "slot ${other} (pid $opid) kept warm for ${seconds} s, out of traffic"`,
        ]),
    'finish',
  ].join('\n');
}

/** Probe lines: `serving <slot>` and `slot <slot> <version> up|down`, when the host has them. */
export function slotProbeLines(): string[] {
  const line = (slot: Slot) => {
    const f = slotFiles(slot);
    return [
      readFirstLine('sv', `.rollgate/${f.version}`),
      ...(slot === 'a'
        ? [
            'if [ -z "$sv" ] && [ ! -f .rollgate/serving ] && [ -f .rollgate/app-b.pid ]; then',
            '  sv=$(readlink current 2>/dev/null || true); sv=${sv##*/}',
            'fi',
          ]
        : []),
      readFirstLine('sp', `.rollgate/${f.pid}`),
      'run=down',
      // A zombie nobody reaps (a container's PID 1) is not running.
      'case $sp in ""|*[!0-9]*) ;; *)',
      '  if [ -r /proc/self/stat ]; then',
      '    if { read -r _l <"/proc/$sp/stat"; } 2>/dev/null; then set -- ${_l##*) }; [ "$1" = Z ] || run=up; fi',
      '  elif kill -0 "$sp" 2>/dev/null; then run=up; fi ;;',
      'esac',
      `if [ -n "$sv" ]; then printf 'slot ${slot} %s %s\\n' "$sv" "$run"; fi`,
    ];
  };
  return [
    // A keep-warm stop under way finishes before the slots are read (see slotStopScript).
    'if command -v flock >/dev/null 2>&1; then',
    ...(['a', 'b'] as const).map(
      (s) =>
        // flock on an open descriptor: one process, not flock + the command it would run.
        `  if [ -f .rollgate/${stopLockFile(s)} ]; then flock -w 15 8 8<.rollgate/${stopLockFile(s)} 2>/dev/null || true; fi`,
    ),
    'fi',
    'if [ -f .rollgate/serving ]; then',
    `  ${readFirstLine('sl', '.rollgate/serving')}`,
    `  printf 'serving %.8s\\n' "$sl"`,
    'fi',
    ...line('a'),
    ...line('b'),
  ];
}
