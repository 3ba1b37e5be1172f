/**
 * The four steps of the install script (install-script.ts), in the order it runs them: stop the
 * running app, switch `current`, start the new release, prune old releases. Each returns sh
 * lines that use the variables and functions the script defines first (`doc`, `v`, `prev`,
 * `pidf`, `log`, `start`, `img`, `alive`, `owned`).
 */
import { IMAGE_CASE_BAD, IMAGE_FILE, pruneImageLines, type ContainerRun } from './image';
import { COMPLETE_MARKER } from './marker';
import { shq } from './quote';

/**
 * True while the process or any member of its process group lives. Zombies do not count: an
 * orphan whose parent never reaps it (a PID 1 that is not an init) must not look alive.
 * The stop polls this every 20 ms, for every host of a batch at once: a live leader answers from
 * its own stat, an empty group from `kill -0` ("No such process"), and only a group whose leader
 * is gone or a zombie (a PID 1 that reaps late keeps every stopped app one) reads every
 * /proc/<pid>/stat — in one cat + awk, ~10× cheaper than a shell loop at a few hundred processes.
 */
export const ALIVE_FN = [
  'alive() {',
  '  _p=$1',
  '  if [ ! -r /proc/self/stat ]; then kill -0 "-$_p" 2>/dev/null || kill -0 "$_p" 2>/dev/null; return; fi',
  '  if { read -r _line <"/proc/$_p/stat"; } 2>/dev/null; then',
  '    set -- ${_line##*) }',
  '    [ "$1" = Z ] || return 0',
  '  fi',
  '  _e=$(kill -0 "-$_p" 2>&1) || case $_e in *"o such process"*) return 1 ;; esac',
  '  # a member of the group that is no zombie: one cat + awk over every stat, not a read each',
  '  cat /proc/[0-9]*/stat 2>/dev/null |',
  `    awk -v p="$_p" '{ sub(/.*\\) /, ""); if ($1 != "Z" && $3 == p) f = 1 } END { exit !f }'`,
  '}',
];

/** A recycled pid that now belongs to something else must not be signalled. */
export const OWNED_FN = [
  'owned() {',
  '  _cwd=$(readlink "/proc/$1/cwd" 2>/dev/null) || return 0',
  '  case $_cwd in "$phys"/releases/*) return 0 ;; esac',
  '  return 1',
  '}',
];

/**
 * Polled every 20 ms: the wait for the old app to exit and the new one to record its pid is on
 * the critical path of every target (the host is out of the load balancer meanwhile).
 */
function ticks(ms: number): number {
  return Math.max(1, Math.ceil(ms / 20));
}

/**
 * Stops the app the pid file names (its stop command first, if any; else SIGTERM to its process
 * group), SIGKILL after `stopMs`; a container podman left behind is removed by name.
 */
export function stopLines(o: {
  stopCommand: string | undefined;
  stopMs: number;
  podman: string;
  containerName: string;
  /** Where the stop command runs (a shell word): `current`, or a slot's `"releases/$prev"`. */
  stopDir?: string;
}): string[] {
  const { stopCommand, stopMs } = o;
  const dir = o.stopDir ?? 'current';
  return [
    '# stop',
    'pid=$(cat "$pidf" 2>/dev/null || true)',
    'case $pid in ""|*[!0-9]*) pid= ;; esac',
    ...(stopCommand
      ? [
          o.stopDir ? `if [ -n "$prev" ] && [ -d ${dir} ]; then` : 'if [ -d current ]; then',
          `  (cd ${dir} && VERSION="$prev" sh -c ${shq(stopCommand)}) </dev/null >>"$log" 2>&1 ||`,
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
    `      ${o.podman} rm -f --ignore -t 0 ${shq(o.containerName)} >/dev/null 2>&1 || true`,
    '    fi',
    '  fi',
    '  echo "stopped $pid"',
    'fi',
    'rm -f "$pidf"',
  ];
}

/** S6: `current` is switched by rename(2) of a new symlink over the old one. */
export function switchLines(): string[] {
  return [
    '# switch (S6): rename(2) of a new symlink over the old one',
    'ln -s "releases/$v" ".current.$$.tmp" && mv -T ".current.$$.tmp" current || {',
    '  rm -f ".current.$$.tmp"',
    '  echo "cannot switch current to releases/$v" >&2',
    '  exit 1',
    '}',
    'echo "switched ${prev:-nothing} -> $v"',
  ];
}

/** Starts `$start` detached and waits up to `startWaitMs` for it to record its pid. */
export function startLines(startWaitMs: number, runDir = '"$doc/current"'): string[] {
  return [
    '# start, detached, every std stream redirected so the caller (an ssh channel) is not held open',
    `cd ${runDir} || exit 1`,
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
  ];
}

/**
 * Prunes complete releases beyond `keep`, oldest first, never the current or the previous one
 * nor a protected one (F4), with their images; then leftovers older than an hour.
 */
export function pruneLines(o: {
  keep: number;
  protect: readonly string[];
  container: ContainerRun;
  /** Shell variables naming more releases never pruned (a side-by-side host's other slot). */
  keepVars?: readonly string[];
}): string[] {
  return [
    '# prune beyond keep, oldest first, never the current or the previous release, nor what a rollback returns to (F4)',
    'cd "$doc" || exit 1',
    'n=0',
    `for m in releases/*/${COMPLETE_MARKER}; do [ -f "$m" ] && n=$((n + 1)); done`,
    `excess=$((n - ${o.keep}))`,
    `for m in $(ls -1tr releases/*/${COMPLETE_MARKER} 2>/dev/null); do`,
    '  [ "$excess" -gt 0 ] || break',
    '  r=${m#releases/}',
    `  r=\${r%/${COMPLETE_MARKER}}`,
    '  if [ "$r" = "$v" ] || [ "$r" = "$prev" ]; then continue; fi',
    ...(o.keepVars ?? []).map((name) => `  if [ "$r" = "$${name}" ]; then continue; fi`),
    ...(o.protect.length
      ? [`  case $r in ${o.protect.map((v) => shq(v)).join('|')}) continue ;; esac`]
      : []),
    `  pimg=$(cat "releases/$r/${IMAGE_FILE}" 2>/dev/null || true)`,
    `  case $pimg in ${IMAGE_CASE_BAD}) pimg= ;; esac`,
    '  if mv -T "releases/$r" "releases/.prune-$r-$$" && rm -rf -- "releases/.prune-$r-$$"; then',
    '    echo "pruned $r"',
    '    excess=$((excess - 1))',
    '    if [ -n "$pimg" ]; then',
    ...pruneImageLines(o.container),
    '    fi',
    '  else',
    '    echo "warning: could not prune $r"',
    '  fi',
    'done',
    "find releases .rollgate/incoming -mindepth 1 -maxdepth 1 \\( -name '.tmp-*' -o -name '.prune-*' -o -name '.stale-*' -o -name '*.tgz' \\) -mmin +60 -exec rm -rf {} + 2>/dev/null",
  ];
}
