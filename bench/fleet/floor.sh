#!/usr/bin/env bash
# The floor of bench/fleet.ts: the least work a rolling update of the sample app behind HAProxy
# can do. Per batch, for each host at once: drain in HAProxy (wait until the server has no
# session, then maint), then ONE ssh command that unpacks the package when the version is new
# (it always arrives on stdin), switches `current`, restarts the app and polls /health every
# 20 ms until it answers the new version; then ready in HAProxy.
#
#   floor.sh <version> <package.tar.gz> <batch size> <name>=<address>=<docBase>...
#
# Environment: FLOOR_SOCKET (HAProxy runtime socket), FLOOR_BACKEND (app), FLOOR_KEY,
# FLOOR_KNOWN_HOSTS, FLOOR_USER, FLOOR_APP_PORT, FLOOR_TRACE (a file: "<epoch ms> <name> drain|ready"),
# FLOOR_START (the app's start command in its release directory; default: node server.js),
# FLOOR_SSH_PORT (default 22).
set -euo pipefail

version="$1" package="$2" size="$3"
shift 3
sock="$FLOOR_SOCKET" backend="${FLOOR_BACKEND:-app}" trace="$FLOOR_TRACE"
# shellcheck source=floor-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/floor-common.sh"

now() { date +%s%3N; }

# Runs on the host, as one ssh command: $1 docBase, $2 version, $3 address, $4 app port, $5 start.
remote='
set -eu
doc=$1 v=$2 addr=$3 port=$4 start=$5
cd "$doc"
'"$remote_common"'
ln -sfn "releases/$v" .current.floor && mv -T .current.floor current
mkdir -p .rollgate
pidf="$doc/.rollgate/app.pid"
pid=$(cat "$pidf" 2>/dev/null || true)
if [ -n "$pid" ] && alive "$pid"; then
  kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  i=0
  while alive "$pid" && [ "$i" -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
  if alive "$pid"; then kill -KILL "-$pid" 2>/dev/null || kill -KILL "$pid"; fi
fi
rm -f "$pidf"
cd current
VERSION=$v PORT=$port HOST=$addr setsid -f sh -c '"'"'echo $$ > "$1.tmp" && mv -f "$1.tmp" "$1" && exec $2'"'"' app "$pidf" "$start" </dev/null >>"$doc/.rollgate/app.log" 2>&1
i=0
until curl -fsS -m 1 "http://$addr:$port/health" 2>/dev/null | grep -qF "\"version\":\"$v\""; do
  i=$((i + 1))
  if [ "$i" -ge 500 ]; then echo "not healthy on $v within 10 s" >&2; exit 1; fi
  sleep 0.02
done
'

one() {
  local name="$1" addr="$2" doc="$3" i=0
  echo "$(now) $name drain" >>"$trace"
  hap "set server $backend/$name state drain" >/dev/null
  while [ "$(stat_of "$name" 5)" != 0 ] && [ "$i" -lt 1000 ]; do i=$((i + 1)); sleep 0.01; done
  hap "set server $backend/$name state maint" >/dev/null
  on_host "$addr" "$remote" "$doc" "$version" "$addr" "$FLOOR_APP_PORT" "$(printf '%q' "${FLOOR_START:-node server.js}")"
  hap "set server $backend/$name state ready" >/dev/null
  echo "$(now) $name ready" >>"$trace"
}

batches floor "$size" "$@"
