#!/usr/bin/env bash
# Real sshd "hosts" on loopback for tests and the demo.
#
#   sshd.sh install                    install openssh-server/-client when /usr/sbin/sshd is missing
#   sshd.sh up <dir> <n> [first]       n listeners on $SSHD_NET.<first..first+n-1> (first defaults to 1)
#   sshd.sh down <dir> [k...]          stop the listeners recorded in <dir> (all, or hosts k...)
#                                      and their sessions
#   sshd.sh kill <dir> <k>             SIGKILL host k's listener and its sessions (fault injection)
#
# Environment: SSHD_NET (127.0.2: the hosts' /24 on loopback), SSHD_PORT (22), SSHD_MAX_SESSIONS (50), SSHD_MAX_STARTUPS (100:30:200),
# SSHD_USER (deploy), SSHD_EXTRA_CONFIG (lines appended to each config; sshd keeps the first
# value of a keyword, so add only keywords not set below).
#
# <dir> gets: client_key(.pub), authorized_keys, known_hosts, keys/hostkey-<k>, sshd-<k>.conf,
# sshd-<k>.pid, sshd-<k>.log, hosts/h<k>/ (owned by the deploy user: that host's files).
set -euo pipefail

SSHD=/usr/sbin/sshd
PORT="${SSHD_PORT:-22}"
NET="${SSHD_NET:-127.0.2}"
MAX_SESSIONS="${SSHD_MAX_SESSIONS:-50}"
MAX_STARTUPS="${SSHD_MAX_STARTUPS:-100:30:200}"
USER_NAME="${SSHD_USER:-deploy}"
EXTRA_CONFIG="${SSHD_EXTRA_CONFIG:-}"

say() { echo "sshd.sh: $*"; }
die() {
  echo "sshd.sh: error: $*" >&2
  exit 1
}

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (it creates a user and binds port $PORT)"
}

cmd_install() {
  if [ -x "$SSHD" ] && command -v ssh-keygen >/dev/null; then
    say "openssh-server present ($($SSHD -V 2>&1 | head -n1 || true))"
    return 0
  fi
  need_root
  say "installing openssh-server openssh-client"
  if ! apt-get update -qq >/tmp/sshd-sh-apt.log 2>&1; then
    tail -n 20 /tmp/sshd-sh-apt.log >&2
    die "apt-get update failed; cannot install openssh-server"
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    openssh-server openssh-client >>/tmp/sshd-sh-apt.log 2>&1; then
    tail -n 20 /tmp/sshd-sh-apt.log >&2
    die "apt-get install openssh-server openssh-client failed"
  fi
  [ -x "$SSHD" ] || die "openssh-server installed but $SSHD is missing"
  say "installed $($SSHD -V 2>&1 | head -n1 || true)"
}

host_addr() { echo "$NET.$1"; }

known_host_name() {
  if [ "$PORT" = 22 ]; then echo "$1"; else echo "[$1]:$PORT"; fi
}

# A zombie still shows its name; PID 1 here reaps late, so look at the state too.
alive_sshd() {
  local pid="$1" stat
  [ -n "$pid" ] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$stat" == "$pid (sshd) "* && "$stat" != "$pid (sshd) Z"* ]]
}

ensure_user() {
  if ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$USER_NAME"
    say "created user $USER_NAME"
  fi
  # useradd leaves the account locked ('!'); with UsePAM no sshd refuses locked accounts.
  case "$(getent shadow "$USER_NAME" | cut -d: -f2)" in
    '!'* | '')
      usermod -p '*' "$USER_NAME"
      say "unlocked $USER_NAME for key login"
      ;;
  esac
  local node
  node="$(command -v node || true)"
  if [ -n "$node" ] && ! runuser -u "$USER_NAME" -- env PATH=/usr/local/bin:/usr/bin:/bin node --version \
    >/dev/null 2>&1; then
    if runuser -u "$USER_NAME" -- test -x "$node"; then
      ln -sf "$node" /usr/local/bin/node
      say "linked /usr/local/bin/node -> $node for $USER_NAME"
    else
      say "warning: $USER_NAME cannot run $node"
    fi
  fi
}

ensure_client_key() {
  local dir="$1"
  if [ ! -f "$dir/client_key" ]; then
    ssh-keygen -q -t ed25519 -N '' -C rollgate-test-client -f "$dir/client_key"
    say "client key $dir/client_key"
  fi
  install -m 644 "$dir/client_key.pub" "$dir/authorized_keys"
}

write_config() {
  local dir="$1" k="$2" addr="$3"
  cat >"$dir/sshd-$k.conf" <<EOF
ListenAddress $addr
Port $PORT
HostKey $dir/keys/hostkey-$k
PidFile none
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers $USER_NAME
MaxStartups $MAX_STARTUPS
MaxSessions $MAX_SESSIONS
Subsystem sftp internal-sftp
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel ERROR
EOF
  [ -z "$EXTRA_CONFIG" ] || printf '%s\n' "$EXTRA_CONFIG" >>"$dir/sshd-$k.conf"
}

# sshd reads authorized_keys as the user, and the user's sessions work in hosts/h<k>: both must
# be reachable for it, which a fleet directory under a private one (root's home, mode 700; any
# mktemp -d) is not. Say so, and what to do, instead of failing every login later.
check_reachable() {
  local dir="$1" cur="" part blocked=""
  if runuser -u "$USER_NAME" -- test -r "$dir/authorized_keys" -a -x "$dir/hosts"; then
    return 0
  fi
  local -a parts
  IFS=/ read -ra parts <<<"${dir#/}"
  for part in "${parts[@]}"; do
    cur="$cur/$part"
    if ! runuser -u "$USER_NAME" -- test -x "$cur"; then
      blocked="$cur"
      break
    fi
  done
  if [ -n "$blocked" ]; then
    die "user $USER_NAME cannot reach $dir/authorized_keys (sshd reads it as $USER_NAME): it cannot enter $blocked (mode $(stat -c %a "$blocked"), owner $(stat -c %U "$blocked")). Put the fleet directory under one every user can enter (e.g. a mktemp -d under /tmp, then chmod 755 it), or let others enter: chmod o+x $blocked"
  fi
  die "user $USER_NAME cannot read $dir/authorized_keys or enter $dir/hosts"
}

# /proc/net/tcp spells 127.0.2.5 as 0502007F; reading it avoids connecting (which sshd would log).
proc_net_addr() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  printf '%02X%02X%02X%02X' "$d" "$c" "$b" "$a"
}

# Socket inode of whatever listens on addr:PORT, if anything.
listener_inode() {
  awk -v local="$(proc_net_addr "$1"):$(printf '%04X' "$PORT")" \
    '$2 == local && $4 == "0A" { print $10; exit }' /proc/net/tcp
}

owns_socket() {
  local fd
  for fd in "/proc/$1/fd/"*; do
    [ "$(readlink "$fd" 2>/dev/null)" != "socket:[$2]" ] || return 0
  done
  return 1
}

wait_listening() {
  local addr="$1" pid="$2" inode _
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    inode="$(listener_inode "$addr")"
    if [ -n "$inode" ] && owns_socket "$pid" "$inode"; then
      return 0
    fi
    sleep 0.02
  done
  return 1
}

cmd_up() {
  local dir="${1:-}" n="${2:-}" first="${3:-1}"
  if [ -z "$dir" ] || [ -z "$n" ]; then die "usage: sshd.sh up <dir> <n> [first-ip-suffix]"; fi
  [[ "$n" =~ ^[0-9]+$ && "$first" =~ ^[0-9]+$ ]] || die "n and first must be numbers"
  local last=$((first + n - 1))
  if [ "$first" -lt 1 ] || [ "$last" -gt 254 ]; then die "hosts must fit in $NET.1-254"; fi
  need_root
  [ -x "$SSHD" ] || die "$SSHD is missing: run 'sshd.sh install' first"
  mkdir -p "$dir" "$dir/keys" "$dir/hosts"
  dir="$(cd "$dir" && pwd)"
  # sshd reads authorized_keys as the user, so the user must be able to reach it.
  chmod 755 "$dir" "$dir/hosts"
  mkdir -p /run/sshd && chmod 755 /run/sshd
  ensure_user
  ensure_client_key "$dir"
  check_reachable "$dir"

  local k addr pid started=() failed=0
  for k in $(seq "$first" "$last"); do
    addr="$(host_addr "$k")"
    mkdir -p "$dir/hosts/h$k"
    chown "$USER_NAME:" "$dir/hosts/h$k"
    if [ ! -f "$dir/keys/hostkey-$k" ]; then
      ssh-keygen -q -t ed25519 -N '' -C "h$k" -f "$dir/keys/hostkey-$k"
    fi
    pid="$(cat "$dir/sshd-$k.pid" 2>/dev/null || true)"
    if alive_sshd "$pid"; then
      say "h$k $addr:$PORT already up (pid $pid)"
      continue
    fi
    if [ -n "$(listener_inode "$addr")" ]; then
      echo "sshd.sh: error: h$k $addr:$PORT is already in use by another process" >&2
      failed=1
      continue
    fi
    write_config "$dir" "$k" "$addr"
    "$SSHD" -D -e -f "$dir/sshd-$k.conf" </dev/null >>"$dir/sshd-$k.log" 2>&1 &
    echo $! >"$dir/sshd-$k.pid"
    started+=("$k")
  done

  for k in "${started[@]}"; do
    addr="$(host_addr "$k")"
    pid="$(cat "$dir/sshd-$k.pid")"
    if wait_listening "$addr" "$pid"; then
      say "h$k $addr:$PORT up (pid $pid, root $dir/hosts/h$k)"
    else
      echo "sshd.sh: error: h$k $addr:$PORT did not start; log:" >&2
      tail -n 5 "$dir/sshd-$k.log" >&2 || true
      kill "$pid" 2>/dev/null || true
      rm -f "$dir/sshd-$k.pid"
      failed=1
    fi
  done

  local tmp="$dir/known_hosts.tmp"
  : >"$tmp"
  for f in "$dir"/keys/hostkey-*.pub; do
    [ -e "$f" ] || continue
    k="${f##*/hostkey-}"
    k="${k%.pub}"
    echo "$(known_host_name "$(host_addr "$k")") $(cut -d' ' -f1,2 "$f")" >>"$tmp"
  done
  mv "$tmp" "$dir/known_hosts"
  say "known_hosts $dir/known_hosts"
  [ "$failed" = 0 ] || die "some listeners failed to start"
}

descendants() {
  local pid="$1" child
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    descendants "$child"
    echo "$child"
  done
}

stop_host() {
  local dir="$1" k="$2" sig="$3" pid kids
  pid="$(cat "$dir/sshd-$k.pid" 2>/dev/null || true)"
  rm -f "$dir/sshd-$k.pid"
  if ! alive_sshd "$pid"; then
    say "h$k not running"
    return 0
  fi
  kids="$(descendants "$pid")"
  # Sessions outlive their listener: stop them too, by PID. sshd processes go first, so that
  # a killed host reports no exit status for the commands it was running.
  local daemons=() others=() kid
  for kid in $kids; do
    if alive_sshd "$kid"; then daemons+=("$kid"); else others+=("$kid"); fi
  done
  kill "-$sig" "$pid" "${daemons[@]}" 2>/dev/null || true
  [ "${#others[@]}" = 0 ] || kill "-$sig" "${others[@]}" 2>/dev/null || true
  local _
  for _ in $(seq 1 100); do
    alive_sshd "$pid" || break
    sleep 0.02
  done
  say "h$k stopped (pid $pid)"
}

cmd_down() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: sshd.sh down <dir> [k...]"
  shift
  [ -d "$dir" ] || {
    say "$dir does not exist; nothing to stop"
    return 0
  }
  local f k
  if [ "$#" -gt 0 ]; then
    for k in "$@"; do stop_host "$dir" "$k" TERM; done
    return 0
  fi
  for f in "$dir"/sshd-*.pid; do
    [ -e "$f" ] || continue
    k="${f##*/sshd-}"
    k="${k%.pid}"
    stop_host "$dir" "$k" TERM
  done
}

cmd_kill() {
  local dir="${1:-}" k="${2:-}"
  if [ -z "$dir" ] || [ -z "$k" ]; then die "usage: sshd.sh kill <dir> <k>"; fi
  stop_host "$dir" "$k" KILL
}

case "${1:-}" in
  install) cmd_install ;;
  up) shift && cmd_up "$@" ;;
  down) shift && cmd_down "$@" ;;
  kill) shift && cmd_kill "$@" ;;
  *) die "usage: sshd.sh install | up <dir> <n> [first-ip-suffix] | down <dir> [k...] | kill <dir> <k>" ;;
esac
