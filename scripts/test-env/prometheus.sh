#!/usr/bin/env bash
# A real Prometheus (and Pushgateway) on loopback for the monitor tests and the bench.
#
#   prometheus.sh install              install prometheus and prometheus-pushgateway (apt) when
#                                      missing; no daemon is started by the packages
#   prometheus.sh version              print the installed versions
#   prometheus.sh config <dir> <listen> <target>...
#                                      write <dir>/prometheus.yml: 1 s scrape and evaluation,
#                                      one job `app` scraping every <target> (host:port)
#   prometheus.sh start <dir> <listen> start `prometheus` on <listen> (127.0.10.1:19090) with
#                                      <dir>/prometheus.yml and <dir>/data, write <dir>/pid and
#                                      <dir>/log, wait for /-/ready
#   prometheus.sh stop <dir>           TERM the instance recorded in <dir>/pid (KILL after 5 s)
#   prometheus.sh kill <dir>           KILL it at once (fault injection)
#
# The test helper (test/support/prometheus-server.ts) writes the config and runs prometheus
# itself, so that it can reap it; it uses `install` from here. With CI=true the caller turns a
# failed install into a failed test run, never a skip.
set -euo pipefail

PROMETHEUS="${PROMETHEUS_BIN:-prometheus}"
PUSHGATEWAY="${PUSHGATEWAY_BIN:-prometheus-pushgateway}"

say() { echo "prometheus.sh: $*"; }
die() {
  echo "prometheus.sh: error: $*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd_install() {
  local need=()
  have "$PROMETHEUS" || need+=(prometheus)
  have "$PUSHGATEWAY" || need+=(prometheus-pushgateway)
  if [ ${#need[@]} -eq 0 ]; then
    say "present: $(cmd_version | tr '\n' ';')"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "${need[*]} missing and not root: run as root or install them by hand"
  have apt-get || die "${need[*]} missing and there is no apt-get to install them"
  local log policy_added=''
  log="$(mktemp "${TMPDIR:-/tmp}/prometheus-sh-apt.XXXXXX")"
  # The Debian packages start their daemon on 0.0.0.0 from the post-install script unless
  # policy-rc.d forbids it. Tests listen on loopback only: forbid it for this install.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_added=yes
  fi
  say "installing ${need[*]} (log: $log)"
  local ok=yes
  if ! apt-get update -qq >"$log" 2>&1; then
    ok='apt-get update failed'
  elif ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >>"$log" 2>&1; then
    ok="apt-get install ${need[*]} failed"
  fi
  [ -n "$policy_added" ] && rm -f /usr/sbin/policy-rc.d
  if [ "$ok" != yes ]; then
    tail -n 20 "$log" >&2
    die "$ok"
  fi
  have "$PROMETHEUS" || die "prometheus was installed but '$PROMETHEUS' is not on PATH"
  say "installed: $(cmd_version | tr '\n' ';')"
}

cmd_version() {
  "$PROMETHEUS" --version 2>&1 | head -n1
  if have "$PUSHGATEWAY"; then "$PUSHGATEWAY" --version 2>&1 | head -n1; fi
}

cmd_config() {
  local dir="${1:-}" listen="${2:-}"
  if [ -z "$dir" ] || [ -z "$listen" ] || [ $# -lt 3 ]; then
    die "usage: prometheus.sh config <dir> <listen> <target>..."
  fi
  shift 2
  mkdir -p "$dir"
  local targets='' t
  for t in "$@"; do targets="$targets\"$t\", "; done
  cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: [${targets%, }]
EOF
  say "wrote $dir/prometheus.yml (listen $listen)"
}

cmd_start() {
  local dir="${1:-}" listen="${2:-}"
  if [ ! -f "$dir/prometheus.yml" ] || [ -z "$listen" ]; then
    die "usage: prometheus.sh start <dir> <listen> (needs <dir>/prometheus.yml)"
  fi
  have "$PROMETHEUS" || die "prometheus is missing: run 'prometheus.sh install' first"
  local pid
  pid="$(cat "$dir/pid" 2>/dev/null || true)"
  if alive "$pid"; then
    say "already running (pid $pid)"
    return 0
  fi
  "$PROMETHEUS" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="$listen" --web.enable-lifecycle </dev/null >>"$dir/log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  for _ in $(seq 1 100); do
    alive "$pid" || break
    if have curl && curl -fsS "http://$listen/-/ready" >/dev/null 2>&1; then
      say "started (pid $pid, http://$listen); first samples about 5 s from now"
      return 0
    fi
    have curl || {
      say "started (pid $pid); curl missing, not waiting for /-/ready"
      return 0
    }
    sleep 0.05
  done
  tail -n 10 "$dir/log" >&2 || true
  kill "$pid" 2>/dev/null || true
  rm -f "$dir/pid"
  die "prometheus did not become ready on $listen"
}

stop_with() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: prometheus.sh stop|kill <dir>"
  stop_pidfile "$dir/pid" "$2" 100
}

case "${1:-}" in
  install) cmd_install ;;
  version) cmd_version ;;
  config) shift && cmd_config "$@" ;;
  start) shift && cmd_start "$@" ;;
  stop) stop_with "${2:-}" TERM ;;
  kill) stop_with "${2:-}" KILL ;;
  *) die "usage: prometheus.sh install | version | config <dir> <listen> <target>... | start <dir> <listen> | stop <dir> | kill <dir>" ;;
esac
