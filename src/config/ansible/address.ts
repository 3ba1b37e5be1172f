/**
 * Host patterns as Ansible reads them (ansible/parsing/utils/addresses.py and
 * plugins/inventory/__init__.py): `host:port`, `[host]:port` (the only way to give an IPv6
 * address a port), IPv4 and IPv6 addresses, and `[a:b]` / `[01:10:2]` ranges.
 */

const NUMERIC_RANGE = String.raw`\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const HEX_RANGE = String.raw`\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`;
const ALNUM_RANGE = String.raw`\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const V6 = `(?:[0-9a-f]{1,4}|${HEX_RANGE})`;
const V4 = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|${NUMERIC_RANGE})`;
const WORD = String.raw`[\p{L}\p{N}_]`;
const LABEL = `(?:${WORD}|${ALNUM_RANGE})(?:${WORD}|[_-]|${ALNUM_RANGE})*(?<![_-])`;

const BRACKETED_HOSTPORT = /^\[(.+)\]:([0-9]+)$/s;
const HOSTPORT = /^((?:[^:[\]]|\[[^\]]*\])*):([0-9]+)$/s;
const IPV4 = new RegExp(`^(?:${V4}\\.){3}${V4}$`, 'i');
const IPV6 = new RegExp(
  '^(?:' +
    [
      `(?:${V6}:){7}${V6}`,
      `(?:${V6}:){1,6}:`,
      `(?:${V6}:)(?::${V6}){1,6}`,
      `(?:${V6}:){2}(?::${V6}){1,5}`,
      `(?:${V6}:){3}(?::${V6}){1,4}`,
      `(?:${V6}:){4}(?::${V6}){1,3}`,
      `(?:${V6}:){5}(?::${V6}){1,2}`,
      `(?:${V6}:){6}(?::${V6})`,
      `:(?::${V6}){1,6}`,
      `${V6}?::`,
      `(?:0:){6}(?:${V6}\\.){3}${V6}`,
      `::(?:ffff:)?(?:${V6}\\.){3}${V6}`,
      `(?:0:){5}ffff:(?:${V6}\\.){3}${V6}`,
    ].join('|') +
    ')$',
  'i',
);
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`, 'iu');

/** Python's `re.match(...)` with `$`: the end of the text or just before a final newline. */
function matches(pattern: RegExp, text: string): boolean {
  return pattern.test(text) || (text.endsWith('\n') && pattern.test(text.slice(0, -1)));
}

/**
 * `parse_address(pattern, allow_ranges=True)`: the host part and the port, or undefined when the
 * text is not a host identifier (Ansible then takes the whole text as the host name, no port).
 */
export function parseAddress(text: string): { host: string; port?: number } | undefined {
  let address = text;
  let port: number | undefined;
  for (const pattern of [BRACKETED_HOSTPORT, HOSTPORT]) {
    const match = pattern.exec(address);
    if (match) {
      address = match[1]!;
      port = Number(match[2]);
    }
  }
  if (![IPV4, IPV6, HOSTNAME].some((pattern) => matches(pattern, address))) return undefined;
  return port === undefined ? { host: address } : { host: address, port };
}

/** True for an IPv6 address as Ansible's pattern reads one (no ranges). */
export function isAnsibleIpv6(text: string): boolean {
  return !text.includes('[') && matches(IPV6, text);
}

export class HostPatternError extends Error {}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const MAX_HOSTS = 10_000;

/**
 * `expand_hostname_range`: the first `[begin:end(:step)]` is replaced by each value, the rest of
 * the name expanded again. Letters run through a–z then A–Z; a begin with a leading zero pads.
 */
export function expandHostnameRange(line: string): string[] {
  if (!line.includes('[')) return [line];
  // Python: line.replace('[', '|', 1).replace(']', '|', 1).split('|') must give three parts.
  const parts = line.replace('[', '|').replace(']', '|').split('|');
  if (parts.length !== 3) {
    throw new HostPatternError(`"${line}" is not a host range: use [01:10], [a:f] or [1:9:2]`);
  }
  const [head, nrange, tail] = parts as [string, string, string];
  const bounds = nrange.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) {
    throw new HostPatternError(`"[${nrange}]": host range must be begin:end or begin:end:step`);
  }
  const begin = bounds[0] || '0';
  const end = bounds[1]!;
  const stepText = bounds[2] ?? '1';
  if (end === '') throw new HostPatternError(`"[${nrange}]": host range must specify end value`);
  let fill = (value: string | number): string => String(value);
  if (begin[0] === '0' && begin.length > 1) {
    if (begin.length !== end.length) {
      throw new HostPatternError(
        `"[${nrange}]": host range must specify equal-length begin and end formats`,
      );
    }
    fill = (value) => String(value).padStart(begin.length, '0');
  }
  const step = pythonInt(stepText);
  if (step === undefined || step === 0) {
    throw new HostPatternError(`"[${nrange}]": "${stepText}" is not a step`);
  }
  const sequence: Array<string | number> = [];
  const b = LETTERS.indexOf(begin);
  const e = LETTERS.indexOf(end);
  if (b >= 0 && e >= 0) {
    if (b > e) throw new HostPatternError(`"[${nrange}]": host range must have begin <= end`);
    for (let i = b; step > 0 && i <= e; i += step) sequence.push(LETTERS[i]!);
  } else {
    const from = pythonInt(begin);
    const to = pythonInt(end);
    if (from === undefined || to === undefined) {
      throw new HostPatternError(
        `"[${nrange}]" is not a host range: use [01:10], [a:f] or [1:9:2]`,
      );
    }
    if (Math.abs((to - from) / step) > MAX_HOSTS) {
      throw new HostPatternError(
        `"[${nrange}]" expands to more than ${MAX_HOSTS} hosts, rollgate's limit for one inventory`,
      );
    }
    const stop = to + 1;
    for (let i = from; step > 0 ? i < stop : i > stop; i += step) sequence.push(i);
  }
  const hosts: string[] = [];
  for (const value of sequence) {
    for (const host of expandHostnameRange(head + fill(value) + tail)) {
      hosts.push(host);
      if (hosts.length > MAX_HOSTS) {
        throw new HostPatternError(
          `"${line}" expands to more than ${MAX_HOSTS} hosts, rollgate's limit for one inventory`,
        );
      }
    }
  }
  return hosts;
}

function pythonInt(text: string): number | undefined {
  const trimmed = text.trim();
  return /^[+-]?\d+(?:_\d+)*$/.test(trimmed) ? Number(trimmed.replaceAll('_', '')) : undefined;
}

/**
 * `_expand_hostpattern`: the host names a pattern stands for and the port it gives them. A text
 * that is no host identifier is taken whole as one name, as Ansible does.
 */
export function expandHostPattern(pattern: string): { hosts: string[]; port?: number } {
  const parsed = parseAddress(pattern);
  const host = parsed?.host ?? pattern;
  const hosts = host.includes('[') ? expandHostnameRange(host) : [host];
  return parsed?.port === undefined ? { hosts } : { hosts, port: parsed.port };
}
