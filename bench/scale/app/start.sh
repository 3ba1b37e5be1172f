#!/bin/sh
# The stand-in app of bench/scale.ts: starts in a fixed time (the package's start-delay-ms, as the
# sample app), then answers GET /health with the version of the release it was started from
# (its working directory: the release `current` points at). busybox httpd is ~1 MB per host
# where the Node sample app is ~45 MB, so hundreds fit on one machine.
set -eu
v=$(cat VERSION)
delay=$(cat start-delay-ms 2>/dev/null || echo 300)
# Inside the release: httpd changes into its home, and rollgate signals only an app whose working
# directory is a release (a recycled pid must not be hit).
www=$PWD/.www
mkdir -p "$www"
printf '{"status":"ok","version":"%s"}' "$v" >"$www/health"
sleep "$(awk -v ms="$delay" 'BEGIN { printf "%.3f", ms / 1000 }')"
exec busybox httpd -f -p "$HOST:$PORT" -h "$www"
