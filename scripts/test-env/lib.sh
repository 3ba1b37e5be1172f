# Shared by the test-environment scripts that run a daemon from a pid file (sourced; needs the
# caller's `say`).

# A live process (not a zombie) with this pid.
alive() {
  local pid="$1" stat
  [ -n "$pid" ] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$stat" != *") Z "* ]]
}

# stop_pidfile <pid file> <signal> <ticks of 50 ms>: signal the recorded process, wait for it to
# go, KILL it when it outlives the wait; the pid file is removed either way.
stop_pidfile() {
  local file="$1" sig="$2" ticks="$3" pid
  pid="$(cat "$file" 2>/dev/null || true)"
  rm -f "$file"
  if ! alive "$pid"; then
    say "not running"
    return 0
  fi
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$ticks"); do
    alive "$pid" || {
      say "stopped (pid $pid)"
      return 0
    }
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  say "killed (pid $pid) after TERM timed out"
}
