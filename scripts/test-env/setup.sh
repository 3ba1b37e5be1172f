#!/usr/bin/env bash
# Installs what the integration tests and the demo need, from Debian packages, when missing.
# As root, `apt-get update` first. With CI=true a component that cannot be installed fails the
# run; elsewhere it is reported and the tests that need it fail with the reason.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server openssh-client)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v tar >/dev/null 2>&1 || need+=(tar)
command -v sha256sum >/dev/null 2>&1 || need+=(coreutils)
command -v setsid >/dev/null 2>&1 || need+=(util-linux)
# The page's browser tests (test/integration/web) drive Debian's chromium through playwright-core.
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  echo "test-env: everything is installed"
  exit 0
fi

echo "test-env: installing ${need[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "test-env: not root: cannot install ${need[*]}" >&2
  [ "${CI:-}" = true ] && exit 1 || exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
  echo "test-env: apt-get install ${need[*]} failed" >&2
  [ "${CI:-}" = true ] && exit 1 || exit 0
fi
echo "test-env: installed ${need[*]}"
