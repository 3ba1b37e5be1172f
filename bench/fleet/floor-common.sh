# shellcheck shell=bash
# What bench/fleet/floor.sh and floor-sbs.sh share (sourced by both): HAProxy's runtime API through
# socat, ONE ssh command per host, the host-side lines both remote scripts start with, and the
# batch loop. Needs: sock, backend, version, package, FLOOR_KEY, FLOOR_KNOWN_HOSTS, FLOOR_USER,
# FLOOR_SSH_PORT (default 22).

hap() { echo "$1" | socat stdio "UNIX-CONNECT:$sock"; }

# A field of the server's `show stat` row: 5 is scur (sessions), 18 the status.
stat_of() {
  hap "show stat $backend 4 -1" | awk -F, -v s="$1" -v f="$2" '$2 == s { print $f }'
}

# on_host <address> <remote script> <args…>: the script runs under sh on the host, the package on
# its stdin; a new connection each time (no ControlMaster), as a plain script would.
on_host() {
  local addr="$1" script="$2"
  shift 2
  ssh -F /dev/null -i "$FLOOR_KEY" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o UserKnownHostsFile="$FLOOR_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=yes -o ControlMaster=no -o ControlPath=none -o LogLevel=ERROR \
    -p "${FLOOR_SSH_PORT:-22}" "$FLOOR_USER@$addr" sh -c "$(printf '%q' "$script")" floor "$@" \
    <"$package"
}

# Host side, after `cd "$doc"` with $v set: unpack the package from stdin when the version is new
# (else drop it), and alive() — the pid lives and is no zombie.
remote_common='
if [ -d "releases/$v" ]; then
  cat >/dev/null
else
  mkdir -p "releases/.floor-$v" && tar -xzf - -C "releases/.floor-$v" && mv -T "releases/.floor-$v" "releases/$v"
fi
alive() { s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; [ "${s%% *}" != Z ]; }
'

# batches <label> <size> <name>=<address>=<docBase>…: `one <name> <address> <docBase>` for every
# host of a batch at once, batch after batch; a failed batch ends the run.
batches() {
  local label="$1" size="$2" b p failed spec name addr doc
  shift 2
  local hosts=("$@") pids
  for ((b = 0; b < ${#hosts[@]}; b += size)); do
    pids=()
    for spec in "${hosts[@]:b:size}"; do
      IFS== read -r name addr doc <<<"$spec"
      one "$name" "$addr" "$doc" &
      pids+=("$!")
    done
    failed=0
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    if [ "$failed" != 0 ]; then
      echo "$label: batch $((b / size + 1)) failed" >&2
      exit 1
    fi
  done
}
