/**
 * The host fetches the package from a store itself (issue 17), with curl or else wget, into
 * `.rollgate/incoming/`; the download script (scripts.ts) then checks its sha256 before anything
 * is unpacked. The credential (an Authorization header) comes on stdin: it is written to a 0600
 * file the fetcher reads as its config, removed as soon as the fetch ends, and never appears on a
 * command line.
 */
import { InputError } from '../model/errors';
import { assertAbsolutePath } from '../model/validate';
import { shq } from './quote';

/** Exit code of the fetch script when the host has neither curl nor wget. */
export const NO_FETCHER = 20;
/** Exit code when the store answered, but not with the package (an HTTP status). */
export const STORE_REFUSED = 21;
/** Exit code when the store could not be reached (connection refused, DNS, timeout). */
export const STORE_UNREACHABLE = 22;

export interface FetchParams {
  url: string;
  /** Where the package goes: a path under `<docBase>/.rollgate/incoming/`. */
  incoming: string;
  /** True: the first line of stdin is the Authorization header's value. */
  auth: boolean;
  /** Whole fetch, seconds (curl --max-time / wget --timeout per read). */
  timeoutS: number;
}

/** A header value that fits in a curl or wget config line as it is. */
export function assertHeaderValue(value: string, name: string): string {
  const control = [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (value === '' || control || /["\\]/.test(value)) {
    throw new InputError(
      'package.auth',
      `${name} must hold one line, the Authorization header's value (Bearer <token>, Basic <base64>), without quotes or backslashes`,
    );
  }
  return value;
}

export function fetchScript(p: FetchParams): string {
  const inc = assertAbsolutePath(p.incoming, 'incoming');
  if (!/^https?:\/\/[^\s]+$/.test(p.url))
    throw new InputError('url', `not an http(s) URL: ${p.url}`);
  const timeout = Math.max(1, Math.ceil(p.timeoutS));
  return [
    'set -u',
    'umask 077',
    `url=${shq(p.url)}`,
    `inc=${shq(inc)}`,
    'cfg=',
    'err="$inc.err"',
    'trap \'rm -f -- "$cfg" "$err"\' EXIT',
    'mkdir -p -- "${inc%/*}" || exit 1',
    'if command -v curl >/dev/null 2>&1; then fetcher=curl',
    'elif command -v wget >/dev/null 2>&1; then fetcher=wget',
    'else',
    '  echo "this host has neither curl nor wget, so it cannot fetch the package from the store: install curl (or wget), or release from a local package.source (streamed over SSH)" >&2',
    `  exit ${NO_FETCHER}`,
    'fi',
    ...(p.auth
      ? [
          'IFS= read -r hdr || { echo "the store credential did not arrive on stdin" >&2; exit 1; }',
          'cfg=$(mktemp "${inc%/*}/.auth.XXXXXX") || exit 1',
          // printf is a shell builtin: the header is never an argument of a process.
          'if [ "$fetcher" = curl ]; then printf \'header = "Authorization: %s"\\n\' "$hdr" >"$cfg"',
          'else printf \'header = Authorization: %s\\n\' "$hdr" >"$cfg"; fi',
          'hdr=',
        ]
      : []),
    'if [ "$fetcher" = curl ]; then',
    `  code=$(curl -sS -L --proto =http,https --connect-timeout 10 --max-time ${timeout} -o "$inc" -w '%{http_code}' \${cfg:+-K "$cfg"} -- "$url" </dev/null 2>"$err")`,
    '  rc=$?',
    '  rm -f -- "$cfg"',
    '  if [ "$rc" -eq 0 ] && [ "$code" = 200 ]; then echo "fetched with curl"; exit 0; fi',
    '  rm -f -- "$inc"',
    '  if [ "$rc" -eq 0 ] || [ "$rc" -eq 22 ]; then',
    `    echo "the store answered HTTP $code for $url" >&2; exit ${STORE_REFUSED}`,
    '  fi',
    '  why=$(tail -n 1 "$err")',
    // 23: curl could not write what it received (a full disk), not a store problem.
    '  if [ "$rc" -eq 23 ]; then echo "cannot write the package to $inc: ${why#curl: }" >&2; exit 1; fi',
    `  echo "cannot reach the store at $url: \${why#curl: }" >&2; exit ${STORE_UNREACHABLE}`,
    'fi',
    // GNU wget reads a config file (--config); BusyBox wget has none and would need the header on
    // its command line: with a credential, refused.
    ...(p.auth
      ? [
          'if ! wget --help 2>&1 | grep -q -- --config; then',
          '  rm -f -- "$cfg"',
          '  echo "this host has only a wget without --config (BusyBox?): it cannot take the store credential without showing it in the process list; install curl" >&2',
          `  exit ${NO_FETCHER}`,
          'fi',
        ]
      : []),
    `wget -nv --tries=1 --timeout=${timeout} \${cfg:+--config="$cfg"} -O "$inc" -- "$url" </dev/null 2>"$err"`,
    'rc=$?',
    'rm -f -- "$cfg"',
    'if [ "$rc" -eq 0 ]; then echo "fetched with wget"; exit 0; fi',
    'rm -f -- "$inc"',
    'status=$(sed -n \'s/.*ERROR \\([0-9][0-9][0-9]\\).*/\\1/p\' "$err" | tail -n 1)',
    `if [ -n "$status" ]; then echo "the store answered HTTP $status for $url" >&2; exit ${STORE_REFUSED}; fi`,
    'why=$(tail -n 1 "$err")',
    `if [ "$rc" -eq 3 ]; then echo "cannot write the package to $inc: $why" >&2; exit 1; fi`,
    `echo "cannot reach the store at $url: $why" >&2; exit ${STORE_UNREACHABLE}`,
  ].join('\n');
}
