#!/usr/bin/env bash
# A slow runner link, simulated (issue 17): the orchestrator in a network namespace whose only
# link is limited with `tc tbf`, the hosts, HAProxy and the package store in another; a big
# package released to N hosts with the runner streaming it over SSH, then with each host
# fetching it from the store.
#
#   npm run bench:slow-link                       # = flock /tmp/rollgate-integration.lock bash bench/slow-link.sh
#   bash bench/slow-link.sh [--rates 1gbit,200mbit|unlimited,…] [--n 60] [--size-mb 50] [--keep]
#
#   rgslow-runner  10.231.201.1/24 on rgslow-r ── veth ── rgslow-f 10.231.201.2/24  rgslow-fleet
#   (rollgate)     tbf <rate> on rgslow-r egress            tbf <rate> on rgslow-f     sshd × N on
#                  route 10.231.200.0/24 via .201.2         egress (the way back)      10.231.200.1…N,
#                                                                                      HAProxy .251,
#                                                                                      store .250
#
# Everything lives in the two namespaces; nothing is configured in the root namespace. On exit
# (also on failure or Ctrl-C) every process in them is stopped by PID, the namespaces (and so
# the veth pair) are deleted and the work directory removed.
set -euo pipefail

FLEET_NS=rgslow-fleet
RUNNER_NS=rgslow-runner
RUNNER_IF=rgslow-r
FLEET_IF=rgslow-f
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N=60
KEEP=0
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --n)
      N="$2"
      ARGS+=("$1" "$2")
      shift 2
      ;;
    --keep)
      KEEP=1
      shift
      ;;
    *)
      ARGS+=("$1")
      shift
      ;;
  esac
done

die() {
  echo "slow-link: $*" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, tc, sshd)"
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 240 ] || die "--n must be 1..240"
command -v tc >/dev/null || die "tc (iproute2) is missing"

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

stop_ns() {
  local ns="$1" pids pid _
  ns_exists "$ns" || return 0
  pids="$(ip netns pids "$ns" 2>/dev/null || true)"
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    pids="$(ip netns pids "$ns" 2>/dev/null || true)"
    [ -n "$pids" ] || break
    sleep 0.1
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
}

DIR=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_ns "$RUNNER_NS"
  stop_ns "$FLEET_NS"
  if [ -n "$DIR" ]; then
    if [ "$KEEP" = 1 ]; then echo "slow-link: kept $DIR"; else rm -rf "$DIR"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Left over from a run that was killed hard: ours by name, so clear them.
stop_ns "$RUNNER_NS"
stop_ns "$FLEET_NS"

DIR="$(mktemp -d /tmp/rollgate-slow-link-XXXXXX)"
chmod 755 "$DIR"

ip netns add "$FLEET_NS"
ip netns add "$RUNNER_NS"
ip link add "$RUNNER_IF" netns "$RUNNER_NS" type veth peer name "$FLEET_IF" netns "$FLEET_NS"
ip -n "$RUNNER_NS" link set lo up
ip -n "$FLEET_NS" link set lo up
ip -n "$RUNNER_NS" addr add 10.231.201.1/24 dev "$RUNNER_IF"
ip -n "$FLEET_NS" addr add 10.231.201.2/24 dev "$FLEET_IF"
ip -n "$RUNNER_NS" link set "$RUNNER_IF" up
ip -n "$FLEET_NS" link set "$FLEET_IF" up
ip -n "$RUNNER_NS" route add 10.231.200.0/24 via 10.231.201.2
# The hosts, the store and HAProxy: addresses on the fleet namespace's loopback.
for k in $(seq 1 "$N") 250 251; do
  ip -n "$FLEET_NS" addr add "10.231.200.$k/32" dev lo
done

# In the background and waited for: a signal to this script then runs the cleanup at once
# (bash runs traps only between commands, and `wait` is one it interrupts).
ip netns exec "$FLEET_NS" "$ROOT/node_modules/.bin/tsx" "$ROOT/bench/slow-link.ts" \
  --dir "$DIR" --runner-ns "$RUNNER_NS" --runner-if "$RUNNER_IF" --fleet-if "$FLEET_IF" \
  "${ARGS[@]}" &
wait $!
