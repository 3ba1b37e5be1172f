#!/usr/bin/env bash
# The real `ansible-inventory` (ansible-core from Debian) for the inventory parity test.
#
#   ansible.sh install     install ansible-core (apt) when ansible-inventory is missing
#   ansible.sh version     print the installed ansible-core version
#
# The parity test (test/integration/config/ansible-parity.test.ts) calls `install`; with CI=true
# it turns a failed install into a failed run, never a skip.
set -euo pipefail

INVENTORY="${ANSIBLE_INVENTORY_BIN:-ansible-inventory}"

say() { echo "ansible.sh: $*"; }
die() {
  echo "ansible.sh: error: $*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

cmd_version() {
  "$INVENTORY" --version 2>/dev/null | head -n1
}

cmd_install() {
  if have "$INVENTORY"; then
    say "present: $(cmd_version)"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "ansible-inventory missing and not root: run as root or install ansible-core by hand"
  have apt-get || die "ansible-inventory missing and there is no apt-get to install ansible-core"
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/ansible-sh-apt.XXXXXX")"
  say "installing ansible-core (log: $log)"
  if ! apt-get update -qq >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get update failed; cannot install ansible-core"
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    ansible-core >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get install ansible-core failed"
  fi
  have "$INVENTORY" || die "ansible-core was installed but '$INVENTORY' is not on PATH"
  say "installed: $(cmd_version)"
}

case "${1:-}" in
  install) cmd_install ;;
  version) cmd_version ;;
  *) die "usage: ansible.sh install | version" ;;
esac
