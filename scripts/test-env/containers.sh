#!/usr/bin/env bash
# Container tooling for the build-image and clair-scan tests, the bench and local use:
# buildah, podman, skopeo, runc and a real registry (docker-registry) on loopback, with private
# storage (never the system default) and base images made locally (no Docker Hub here).
#
#   containers.sh install                 apt-get install what is missing (buildah podman skopeo
#                                         docker-registry runc uidmap fuse-overlayfs busybox-static)
#   containers.sh conf <dir>              write <dir>/conf/{storage,containers,registries}.conf and
#                                         <dir>/env (the CONTAINERS_* exports); overlay storage in
#                                         <dir>/storage, runc, cgroupfs, ulimits that work here
#   containers.sh registry-start <dir> <addr>   start docker-registry on <addr> (127.0.11.1:15000),
#                                         data in <dir>/registry/data; pid in <dir>/registry/<port>.pid
#   containers.sh registry-stop <dir> <addr>    TERM it (KILL after 3 s)
#   containers.sh bases <dir> <addr>      build the base images when missing, push them to <addr>,
#                                         write <dir>/bases.env and print it:
#                                           BUSYBOX_BASE=<addr>/rollgate-base/busybox@sha256:…
#                                           NODE_BASE=<addr>/rollgate-base/node@sha256:…
#   containers.sh up <dir> <addr>         install + conf + registry-start + bases
#   containers.sh down <dir> <addr>       registry-stop
#   containers.sh clean <dir>             remove every container and image of <dir>'s storage, then <dir>
#
# The busybox base is `buildah from scratch` + busybox-static and its applet links; the node base
# adds this machine's node binary, the libraries ldd lists, and npm. Both have /etc/passwd with
# root and app (10001). Build settings that work here (platform notes, section 6): chroot
# isolation or runc (crun fails on hybrid cgroups), overlay storage, --tls-verify=false for the
# loopback registry.
set -euo pipefail

REGISTRY_PORTS=(15000 15001 15002 15003 15004 15005 15006 15007 15008 15009)

say() { echo "containers.sh: $*" >&2; }
die() {
  echo "containers.sh: error: $*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

missing_packages() {
  local need=()
  have buildah || need+=(buildah)
  have podman || need+=(podman)
  have skopeo || need+=(skopeo)
  have docker-registry || need+=(docker-registry)
  have runc || [ -x /usr/sbin/runc ] || need+=(runc)
  have newuidmap || need+=(uidmap)
  have fuse-overlayfs || need+=(fuse-overlayfs)
  [ -x /bin/busybox ] || need+=(busybox-static)
  echo "${need[@]:-}"
}

cmd_install() {
  local need
  need="$(missing_packages)"
  if [ -z "$need" ]; then
    say "present: $(buildah --version), $(podman --version), $(skopeo --version)"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "missing: $need; not root, cannot install them"
  have apt-get || die "missing: $need; there is no apt-get to install them"
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/containers-sh-apt.XXXXXX")"
  say "installing $need (log: $log)"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $need; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get install $need failed"
  fi
  need="$(missing_packages)"
  [ -z "$need" ] || die "installed, but still missing: $need"
  say "installed: $(buildah --version), $(podman --version), $(skopeo --version)"
}

cmd_conf() {
  local dir="${1:?dir}"
  mkdir -p "$dir/conf" "$dir/storage" "$dir/run" "$dir/tmp"
  dir="$(cd "$dir" && pwd)"
  cat >"$dir/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$dir/run"
EOF
  cat >"$dir/conf/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/run/events.log"
EOF
  {
    echo 'unqualified-search-registries = []'
    for port in "${REGISTRY_PORTS[@]}"; do
      printf '[[registry]]\nlocation = "127.0.11.1:%s"\ninsecure = true\n' "$port"
    done
  } >"$dir/conf/registries.conf"
  cat >"$dir/env" <<EOF
export CONTAINERS_STORAGE_CONF="$dir/conf/storage.conf"
export CONTAINERS_CONF="$dir/conf/containers.conf"
export CONTAINERS_REGISTRIES_CONF="$dir/conf/registries.conf"
export BUILDAH_ISOLATION=chroot
export TMPDIR="$dir/tmp"
EOF
  say "wrote $dir/env"
}

use_env() {
  local dir="$1"
  [ -f "$dir/env" ] || cmd_conf "$dir"
  # shellcheck disable=SC1091
  . "$dir/env"
}

port_of() { echo "${1##*:}"; }

cmd_registry_start() {
  local dir="${1:?dir}" addr="${2:?addr}"
  have docker-registry || die "docker-registry is not installed (containers.sh install)"
  local port rdir
  port="$(port_of "$addr")"
  if curl -fsS "http://$addr/v2/" >/dev/null 2>&1; then
    die "something already answers on $addr: stop it first"
  fi
  rdir="$(mkdir -p "$dir/registry/data" && cd "$dir/registry" && pwd)"
  cat >"$rdir/config-$port.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $rdir/data
  delete:
    enabled: true
http:
  addr: $addr
EOF
  # Started directly (no VAR=… prefix), so $! is the server itself.
  docker-registry serve "$rdir/config-$port.yml" >"$rdir/$port.log" 2>&1 &
  echo $! >"$rdir/$port.pid"
  local _
  for _ in $(seq 1 100); do
    if kill -0 "$(cat "$rdir/$port.pid")" 2>/dev/null && curl -fsS "http://$addr/v2/" >/dev/null 2>&1; then
      say "registry on $addr (pid $(cat "$rdir/$port.pid"))"
      return 0
    fi
    kill -0 "$(cat "$rdir/$port.pid")" 2>/dev/null || break
    sleep 0.05
  done
  tail -n 20 "$rdir/$port.log" >&2 || true
  die "registry on $addr did not start"
}

cmd_registry_stop() {
  local dir="${1:?dir}" addr="${2:?addr}"
  local pidfile
  pidfile="$dir/registry/$(port_of "$addr").pid"
  [ -f "$pidfile" ] || return 0
  local pid _
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "registry on $addr stopped"
}

# Adds busybox, its applet links and a minimal /etc to the mounted root $1.
fill_busybox() {
  local root="$1" applet
  mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/tmp" \
    "$root/root" "$root/home/app"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001:app:/home/app:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\napp:x:10001:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp"
  chown 10001:10001 "$root/home/app"
}

fill_node() {
  local root="$1" lib
  mkdir -p "$root/usr/bin" "$root/usr/lib/node_modules"
  cp "$(readlink -f "$(command -v node)")" "$root/usr/bin/node"
  for lib in $(ldd "$(command -v node)" | grep -o '/lib[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  local npm_dir
  npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
}

have_local_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

make_base() {
  local name="$1" from="$2" fill="$3"
  have_local_image "$name" && return 0
  say "building $name"
  local c m
  c="$(buildah from --pull=never "$from")"
  m="$(buildah mount "$c")"
  "$fill" "$m"
  buildah umount "$c" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /bin/sh --label org.opencontainers.image.title="$name" "$c"
  buildah commit -q --rm "$c" "$name" >/dev/null
}

# Pushes $1 to $2 unless the registry has it; prints the digest.
push_base() {
  local local_name="$1" dest="$2" digest_file
  digest_file="$(mktemp)"
  buildah push -q --tls-verify=false --digestfile "$digest_file" "$local_name" "docker://$dest" >/dev/null
  cat "$digest_file"
  rm -f "$digest_file"
}

cmd_bases() {
  local dir="${1:?dir}" addr="${2:?addr}"
  use_env "$dir"
  have buildah || die "buildah is not installed (containers.sh install)"
  local node_version
  node_version="$(node -p 'process.versions.node')"
  make_base localhost/rollgate-base/busybox:1 scratch fill_busybox
  make_base "localhost/rollgate-base/node:$node_version" localhost/rollgate-base/busybox:1 fill_node
  local bb nd
  bb="$(push_base localhost/rollgate-base/busybox:1 "$addr/rollgate-base/busybox:1")"
  nd="$(push_base "localhost/rollgate-base/node:$node_version" "$addr/rollgate-base/node:$node_version")"
  {
    echo "BUSYBOX_BASE=$addr/rollgate-base/busybox@$bb"
    echo "NODE_BASE=$addr/rollgate-base/node@$nd"
    echo "NODE_VERSION=$node_version"
  } | tee "$dir/bases.env"
}

cmd_clean() {
  local dir="${1:?dir}"
  [ -d "$dir" ] || return 0
  if [ -f "$dir/env" ] && have buildah; then
    use_env "$dir"
    buildah rm -a >/dev/null 2>&1 || true
    buildah rmi -a -f >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

cmd="${1:-}"
shift || true
case "$cmd" in
install) cmd_install ;;
conf) cmd_conf "$@" ;;
registry-start) cmd_registry_start "$@" ;;
registry-stop) cmd_registry_stop "$@" ;;
bases) cmd_bases "$@" ;;
up)
  cmd_install
  cmd_conf "$1"
  cmd_registry_start "$1" "$2"
  cmd_bases "$1" "$2"
  ;;
down) cmd_registry_stop "$@" ;;
clean) cmd_clean "$@" ;;
*) die "usage: containers.sh install|conf|registry-start|registry-stop|bases|up|down|clean …" ;;
esac
