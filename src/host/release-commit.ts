/**
 * The last lines of both download scripts (tarball and image): the release staged in "$tmp"
 * becomes `releases/<version>` by one rename. A complete release already there is kept when it is
 * the same (`same`, a shell test) and refused otherwise — a release is never replaced (F6); a
 * partial one that `current` does not point at is cleared first. Expects doc, v, tmp and rel set.
 */
export function commitReleaseLines(o: {
  marker: string;
  tag: string;
  same: string;
  /** How the other release differs, for the message: "with another checksum". */
  other: string;
  /** The word printed after the rename. */
  done: string;
}): string[] {
  const stale = `"$doc/releases/.stale-$v-${o.tag}"`;
  return [
    `if [ -f "$rel/${o.marker}" ]; then`,
    `  ${o.same} && { echo complete; exit 0; }`,
    `  echo "release $v appeared on the host ${o.other}; it is never replaced (F6)" >&2`,
    '  exit 3',
    'fi',
    'if [ -e "$rel" ] || [ -L "$rel" ]; then',
    '  if [ "$(readlink "$doc/current" 2>/dev/null)" = "releases/$v" ]; then',
    '    echo "releases/$v is incomplete but current points at it; not touching it" >&2',
    '    exit 1',
    '  fi',
    `  mv -T -- "$rel" ${stale} && rm -rf -- ${stale} || exit 1`,
    'fi',
    'mv -T -- "$tmp" "$rel" || exit 1',
    `echo ${o.done}`,
  ];
}
