#!/usr/bin/env bash
# A real HAProxy on loopback for tests and the demo.
#
#   haproxy.sh install            install haproxy and socat (apt) when missing
#   haproxy.sh version            print the installed version
#   haproxy.sh start <cfg>        check <cfg>, run `haproxy -db -f <cfg>` in the background,
#                                 write <cfg>.pid and <cfg>.log, wait for its first stats socket
#   haproxy.sh stop <cfg>         TERM the instance recorded in <cfg>.pid (KILL after 2 s)
#   haproxy.sh kill <cfg>         KILL it at once (fault injection)
#   haproxy.sh cli <sock> <cmd>   one runtime API command; <sock> is a unix path or host:port
#
# The test helper (test/support/haproxy-lb.ts) writes the config and runs haproxy itself, so that
# it can reap it; it uses `install` from here.
set -euo pipefail

HAPROXY="${HAPROXY_BIN:-haproxy}"

say() { echo "haproxy.sh: $*"; }
die() {
  echo "haproxy.sh: error: $*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd_install() {
  if have "$HAPROXY" && have socat; then
    say "present: $("$HAPROXY" -v 2>/dev/null | head -n1)"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "haproxy/socat missing and not root: run as root or install them by hand"
  have apt-get || die "haproxy/socat missing and there is no apt-get to install them"
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/haproxy-sh-apt.XXXXXX")"
  say "installing haproxy socat (log: $log)"
  if ! apt-get update -qq >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get update failed; cannot install haproxy"
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    haproxy socat >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get install haproxy socat failed"
  fi
  have "$HAPROXY" || die "haproxy was installed but '$HAPROXY' is not on PATH"
  say "installed: $("$HAPROXY" -v 2>/dev/null | head -n1)"
}

first_socket() {
  awk '$1 == "stats" && $2 == "socket" { print $3; exit }' "$1"
}

ask() {
  local sock="$1" cmd="$2"
  case "$sock" in
    ipv4@*) sock="${sock#ipv4@}" ;;
  esac
  if [[ "$sock" == /* ]]; then
    echo "$cmd" | socat -t 2 - "UNIX-CONNECT:$sock"
  else
    echo "$cmd" | socat -t 2 - "TCP:$sock"
  fi
}

cmd_start() {
  local cfg="${1:-}"
  [ -f "$cfg" ] || die "usage: haproxy.sh start <cfg> (config file not found: '$cfg')"
  have "$HAPROXY" || die "haproxy is missing: run 'haproxy.sh install' first"
  "$HAPROXY" -c -q -f "$cfg" || die "config check failed for $cfg"
  local pid
  pid="$(cat "$cfg.pid" 2>/dev/null || true)"
  if alive "$pid"; then
    say "already running (pid $pid)"
    return 0
  fi
  "$HAPROXY" -db -f "$cfg" </dev/null >>"$cfg.log" 2>&1 &
  pid=$!
  echo "$pid" >"$cfg.pid"
  local sock i
  sock="$(first_socket "$cfg")"
  [ -n "$sock" ] || {
    say "started (pid $pid); no stats socket configured to wait for"
    return 0
  }
  for i in $(seq 1 100); do
    alive "$pid" || break
    if ask "$sock" 'show info' 2>/dev/null | grep -q '^Pid:'; then
      say "started (pid $pid, runtime API $sock)"
      return 0
    fi
    sleep 0.05
  done
  tail -n 10 "$cfg.log" >&2 || true
  kill "$pid" 2>/dev/null || true
  rm -f "$cfg.pid"
  die "haproxy did not answer on $sock"
}

stop_with() {
  local cfg="${1:-}"
  [ -n "$cfg" ] || die "usage: haproxy.sh stop|kill <cfg>"
  stop_pidfile "$cfg.pid" "$2" 40
}

case "${1:-}" in
  install) cmd_install ;;
  version) "$HAPROXY" -v | head -n1 ;;
  start) shift && cmd_start "$@" ;;
  stop) stop_with "${2:-}" TERM ;;
  kill) stop_with "${2:-}" KILL ;;
  cli)
    [ $# -ge 3 ] || die "usage: haproxy.sh cli <sock> <command>"
    ask "$2" "$3"
    ;;
  *) die "usage: haproxy.sh install | version | start <cfg> | stop <cfg> | kill <cfg> | cli <sock> <cmd>" ;;
esac
