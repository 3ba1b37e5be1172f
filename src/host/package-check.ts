/**
 * What the host refuses in a tarball before it becomes `releases/<version>`: everything
 * `rollgate pack` refuses to put in (src/package/layout.ts), because `package.source` can be any
 * tarball. GNU tar, as the unprivileged deploy user, would otherwise create symlinks to /etc,
 * FIFOs and 0,0 character devices, and write absolute names inside the tree.
 *
 * Two checks, both in the download script:
 * - before anything is unpacked, GNU tar's own listing of the archive (`-tvP`, C-quoted names) is
 *   judged by one awk program: absolute names, `..` components, devices, FIFOs, sockets, hard
 *   links whose target is absolute or has `..`, symlinks that lead out of the tree resolved through
 *   the package's own links (as layout.ts's linkEscapes), and the names the host gives a meaning to;
 * - after unpacking, the tree itself, as the kernel sees it (every directory made enterable by its
 *   owner first): no node but files, directories and symlinks, every symlink resolving inside
 *   it, every hard-linked file's links all inside it.
 *   It is the backstop for anything the listing did not show as tar then made it.
 * Either prints one line per refused entry and exits with PACKAGE_REFUSED.
 */
import { COMPLETE_MARKER } from './marker';
import { IMAGE_FILE } from './image';
import { shq } from './quote';

/** Exit code of the download script when the package holds entries a release must not have. */
export const PACKAGE_REFUSED = 6;

/** Entries named in one refusal; the rest are counted. */
export const MAX_NAMED = 20;

/**
 * Reads `tar -tvP --numeric-owner --quoting-style=c` (C locale), prints `entry <name> <why>` per
 * refused entry and exits 1 when there is one. Names stay as tar quoted them: no raw control
 * characters reach the message. Runs in mawk, gawk and busybox awk.
 */
export const LISTING_AWK = String.raw`
function refuse(name, why) {
  if (++N <= ${MAX_NAMED}) printf "entry %s %s\n", name, why
}
function norm(s,   n, parts, i, out) {
  NABS = substr(s, 1, 1) == "/"
  NDOT = 0
  out = ""
  n = split(s, parts, "/")
  for (i = 1; i <= n; i++) {
    if (parts[i] == "" || parts[i] == ".") continue
    if (parts[i] == "..") NDOT = 1
    out = out == "" ? parts[i] : out "/" parts[i]
  }
  return out
}
function walk(t,   n, parts, i, p, step) {
  if (substr(t, 1, 1) == "/") return 1
  n = split(t, parts, "/")
  for (i = 1; i <= n; i++) {
    p = parts[i]
    if (p == "" || p == ".") continue
    if (p == "..") {
      if (CUR == "") return 1
      if (!sub(/\/[^\/]*$/, "", CUR)) CUR = ""
      continue
    }
    step = CUR == "" ? p : CUR "/" p
    if (step in LINK) {
      if (++HOPS > 40) return 0
      if (walk(LINK[step])) return 1
    } else CUR = step
  }
  return 0
}
{
  type = substr($0, 1, 1)
  at = index($0, "\"")
  rest = substr($0, at)
  if (at == 0 || !match(rest, /^"([^"\\]|\\.)*"/)) { UNREAD++; next }
  raw = substr(rest, 2, RLENGTH - 2)
  rest = substr(rest, RLENGTH + 1)
  target = ""
  if (rest != "") {
    if (substr(rest, 1, 4) == " -> ") rest = substr(rest, 5)
    else if (substr(rest, 1, 9) == " link to ") rest = substr(rest, 10)
    else { UNREAD++; next }
    if (!match(rest, /^"([^"\\]|\\.)*"$/)) { UNREAD++; next }
    target = substr(rest, 2, RLENGTH - 2)
  }
  name = norm(raw)
  if (NABS) { refuse(raw, "is an absolute path"); next }
  if (NDOT) { refuse(raw, "has a \"..\" component, which leads outside the release"); next }
  if (name == "${COMPLETE_MARKER}") { refuse(raw, "is the marker the host writes itself once a release is unpacked"); next }
  if (name == "${IMAGE_FILE}") { refuse(raw, "is a top-level ${IMAGE_FILE} file, which makes the host run a container image (image releases are deployed with --image)"); next }
  if (type == "d") next
  if (name == "") { refuse(raw, "names the release directory itself but is not a directory"); next }
  if (type == "-" || type == "C" || type == "S") next
  if (type == "l") {
    if (target == "") { refuse(raw, "is a symlink to nothing"); next }
    LINK[name] = target
    NL++; LNAME[NL] = name; LRAW[NL] = raw; LTARGET[NL] = target
    next
  }
  if (type == "h") {
    norm(target)
    if (NABS || NDOT) refuse(raw, "is a hard link to " target ", outside the release")
    next
  }
  if (type == "p") refuse(raw, "is a FIFO (named pipe)")
  else if (type == "c") refuse(raw, "is a character device")
  else if (type == "b") refuse(raw, "is a block device")
  else if (type == "s") refuse(raw, "is a socket")
  else refuse(raw, "is not a regular file, directory or link (tar type " type ")")
}
END {
  for (k = 1; k <= NL; k++) {
    CUR = ""
    HOPS = 0
    dir = LNAME[k]
    if (!sub(/\/[^\/]*$/, "", dir)) dir = ""
    if (walk(dir) || walk(LTARGET[k])) {
      where = substr(LTARGET[k], 1, 1) == "/" ? ", outside the release" : ", which leads outside the release"
      refuse(LRAW[k], "is a symlink to " LTARGET[k] where)
    }
  }
  if (UNREAD) refuse("listing", "has " UNREAD " line(s) rollgate cannot read: the archive is not a plain tar of files, directories and links")
  if (N > ${MAX_NAMED}) printf "... and %d more\n", N - ${MAX_NAMED}
  exit (N > 0 ? 1 : 0)
}
`;

/**
 * Judges the archive "$inc" before it is unpacked, its listing kept in "$lst" (both set by the
 * caller, who removes "$lst"). Exits 1 when tar cannot read it, PACKAGE_REFUSED when it holds
 * entries a release must not have.
 */
export function listingCheckLines(): string[] {
  return [
    'if ! err=$(LC_ALL=C tar -tvzP --numeric-owner --quoting-style=c -f "$inc" 2>&1 >"$lst"); then',
    '  echo "cannot read the package: $err" >&2',
    '  exit 1',
    'fi',
    `refused=$(LC_ALL=C awk ${shq(LISTING_AWK)} "$lst")`,
    'case $? in',
    '  0) ;;',
    `  1) printf '%s\\n' "$refused" >&2; exit ${PACKAGE_REFUSED} ;;`,
    '  *) echo "cannot check the entries of the package (awk failed): $refused" >&2; exit 1 ;;',
    'esac',
  ];
}

// A symlink the fast pass found leading out is named by this slower one: one realpath per link.
const NAME_ESCAPING_LINKS = [
  't=$1 p=$2',
  'shift 2',
  'for f do',
  '  r=$(realpath -m -- "$f") || continue',
  '  case $r in "$p" | "$p"/*) continue ;; esac',
  `  printf 'entry %s is a symlink to %s, which leads outside the release\\000' "\${f#"$t"/}" "$(readlink -- "$f")"`,
  'done',
].join('\n');

/**
 * Judges the unpacked tree "$tmp" as the kernel sees it (the caller removes "$tmp" on exit).
 * Exits PACKAGE_REFUSED, naming each node, when something other than files, directories and
 * symlinks is there, a symlink resolves outside "$tmp", or a hard-linked file has links outside.
 * Names are NUL-terminated until the end, then any newline or control character in them is
 * shown as `?`: a name cannot forge a line of the message.
 */
export function treeCheckLines(): string[] {
  const typed = (type: string, words: string) =>
    `\\( -type ${type} -printf ${shq(`entry %P is ${words}\\0`)} \\)`;
  return [
    // A directory its owner cannot enter hides its entries from this check, and a release with
    // one can never be pruned: give the owner rwx on every directory (top-down, before find
    // descends; rollgate pack writes 0755 anyway).
    'find "$tmp" -type d ! -perm -700 -exec chmod u+rwx {} \\; || exit 1',
    'phys=$(cd "$tmp" && pwd -P) || exit 1',
    'refused=$(',
    '  {',
    `    find "$tmp" -mindepth 1 ${[
      typed('p', 'a FIFO (named pipe)'),
      typed('c', 'a character device'),
      typed('b', 'a block device'),
      typed('s', 'a socket'),
    ].join(' -o ')}`,
    `    find "$tmp" -type l -exec realpath -m -z -- {} + | tr '\\000\\n' '\\n?' |`,
    `      P="$phys" awk 'index($0, ENVIRON["P"] "/") != 1 && $0 != ENVIRON["P"] { n++ } END { exit (n > 0) }' ||`,
    `      find "$tmp" -type l -exec sh -c ${shq(NAME_ESCAPING_LINKS)} sh "$tmp" "$phys" {} +`,
    // A file with more links than the tree holds has one outside it.
    `    find "$tmp" -type f -links +1 -printf '%i %n\\n' |`,
    `      awk '{ c[$1]++; n[$1] = $2 } END { for (i in c) if (c[i] < n[i] + 0) print i }' |`,
    '      while read -r ino; do',
    `        find "$tmp" -type f -inum "$ino" -printf ${shq('entry %P is a hard link to a file outside the release\\0')} -quit`,
    '      done',
    `  } | tr '\\n\\000' '?\\n' | LC_ALL=C tr -c '[:print:]\\n' '?'`,
    ')',
    'if [ -n "$refused" ]; then',
    `  printf '%s\\n' "$refused" | head -n ${MAX_NAMED} >&2`,
    `  exit ${PACKAGE_REFUSED}`,
    'fi',
  ];
}

/**
 * The message a person acts on, from what the download script printed when it refused the
 * package `file` (its name on the runner). One line, whatever the count: it goes into the
 * record, the status table and the job summary.
 */
export function packageRefusalMessage(target: string, file: string, stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const named = lines.filter((line) => line.startsWith('entry ')).length;
  const what =
    lines.length === 1 ? lines[0] : `${named} entries a release must not have: ${lines.join('; ')}`;
  return `download on ${target}: package ${file}: ${what} — rebuild it with rollgate pack, which refuses such entries and names them; the release was not installed`;
}
