#!/usr/bin/env bash
# The side-by-side floor of bench/fleet.ts: the least work a side-by-side update of the sample
# app behind HAProxy (a pair of servers per host, <name> on port P and <name>-b on P + 1) can do.
# Per batch, for each host at once: ONE ssh command that unpacks the package when the version is
# new (it always arrives on stdin), starts it in the idle slot (or, for a version the idle slot
# still runs warm, starts nothing), polls its /health every 20 ms until it answers the version,
# and names that slot serving (`current`, .rollgate/serving: the layout rollgate's side-by-side
# reads); then the flip in HAProxy: the new slot's server ready, wait until HAProxy checks it UP,
# the old one drained to 0 sessions, then maint. The old slot keeps running (warm).
#
#   floor-sbs.sh <version> <package.tar.gz> <batch size> <name>=<address>=<docBase>...
#
# Environment: FLOOR_SOCKET (HAProxy runtime socket), FLOOR_BACKEND (app), FLOOR_KEY,
# FLOOR_KNOWN_HOSTS, FLOOR_USER, FLOOR_SSH_PORT (default 22), FLOOR_APP_PORT (slot a; b is + 1).
set -euo pipefail

version="$1" package="$2" size="$3"
shift 3
sock="$FLOOR_SOCKET" backend="${FLOOR_BACKEND:-app}"
# shellcheck source=floor-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/floor-common.sh"

# Runs on the host, as one ssh command: $1 docBase, $2 version, $3 address, $4 slot a's port.
# Prints the slot that now serves.
remote='
set -eu
doc=$1 v=$2 addr=$3 base=$4
cd "$doc"
st=.rollgate
mkdir -p "$st"
serving=$(cat "$st/serving" 2>/dev/null || echo a)
if [ "$serving" = a ]; then idle=b port=$((base + 1)) pidf="$doc/$st/app-b.pid"
else idle=a port=$base pidf="$doc/$st/app.pid"; fi
'"$remote_common"'
pid=$(cat "$pidf" 2>/dev/null || true)
held=$(cat "$st/slot-$idle" 2>/dev/null || true)
if [ "$held" = "$v" ] && [ -n "$pid" ] && alive "$pid"; then
  : # warm: the idle slot still runs this version
else
  if [ -n "$pid" ] && alive "$pid"; then
    kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    i=0
    while alive "$pid" && [ "$i" -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
    if alive "$pid"; then kill -KILL "-$pid" 2>/dev/null || kill -KILL "$pid"; fi
  fi
  rm -f "$pidf"
  echo "$v" >"$st/slot-$idle"
  cd "releases/$v"
  VERSION=$v PORT=$port HOST=$addr setsid -f sh -c '"'"'echo $$ > "$1.tmp" && mv -f "$1.tmp" "$1" && exec node server.js'"'"' app "$pidf" </dev/null >>"$doc/$st/app-$idle.log" 2>&1
  cd "$doc"
fi
i=0
until curl -fsS -m 1 "http://$addr:$port/health" 2>/dev/null | grep -qF "\"version\":\"$v\""; do
  i=$((i + 1))
  if [ "$i" -ge 500 ]; then echo "not healthy on $v within 10 s" >&2; exit 1; fi
  sleep 0.02
done
ln -sfn "releases/$v" .current.floor && mv -T .current.floor current
echo "$idle" >"$st/serving"
echo "$idle"
'

one() {
  local name="$1" addr="$2" doc="$3" i=0 slot new old
  slot=$(on_host "$addr" "$remote" "$doc" "$version" "$addr" "$FLOOR_APP_PORT")
  if [ "$slot" = b ]; then new="$name-b" old="$name"; else new="$name" old="$name-b"; fi
  hap "set server $backend/$new state ready" >/dev/null
  until [[ "$(stat_of "$new" 18)" == UP* ]]; do
    i=$((i + 1))
    if [ "$i" -ge 1000 ]; then echo "$new not UP in HAProxy within 10 s" >&2; return 1; fi
    sleep 0.01
  done
  hap "set server $backend/$old state drain" >/dev/null
  i=0
  while [ "$(stat_of "$old" 5)" != 0 ] && [ "$i" -lt 1000 ]; do i=$((i + 1)); sleep 0.01; done
  hap "set server $backend/$old state maint" >/dev/null
}

batches floor-sbs "$size" "$@"
