/**
 * OpenSSH known_hosts: parsing and host key checks. Pure: the caller reads the file.
 *
 * Line forms: `names keytype base64 [comment]`, optionally preceded by `@revoked` or
 * `@cert-authority`. Names are comma-separated patterns (`*`, `?`, `!negation`), `[host]:port`
 * for ports other than 22, or one hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type KnownHostMarker = 'revoked' | 'cert-authority' | null;

export type HostPattern =
  | { kind: 'hashed'; salt: Buffer; hash: Buffer }
  | { kind: 'glob'; negated: boolean; pattern: string };

export interface KnownHostEntry {
  /** 1-based line number in the file. */
  line: number;
  marker: KnownHostMarker;
  patterns: HostPattern[];
  keyType: string;
  /** The raw key blob (SSH wire format), as a server presents it. */
  key: Buffer;
}

export interface KnownHostsParseError {
  line: number;
  message: string;
}

export interface KnownHosts {
  entries: KnownHostEntry[];
  errors: KnownHostsParseError[];
}

export function parseKnownHosts(text: string): KnownHosts {
  const entries: KnownHostEntry[] = [];
  const errors: KnownHostsParseError[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const fields = trimmed.split(/\s+/);
    let marker: KnownHostMarker = null;
    if (fields[0]?.startsWith('@')) {
      const name = fields.shift();
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else {
        errors.push({ line, message: `unknown marker ${name}` });
        return;
      }
    }
    const [names, keyType, base64] = fields;
    if (!names || !keyType || !base64) {
      errors.push({ line, message: 'expected: names key-type base64-key' });
      return;
    }
    const key = decodeBase64(base64);
    if (!key || key.length === 0) {
      errors.push({ line, message: 'key is not valid base64' });
      return;
    }
    const embedded = keyTypeOf(key);
    if (embedded !== keyType) {
      errors.push({ line, message: `key type ${keyType} does not match the key (${embedded})` });
      return;
    }
    const patterns = parsePatterns(names);
    if (typeof patterns === 'string') {
      errors.push({ line, message: patterns });
      return;
    }
    entries.push({ line, marker, patterns, keyType, key });
  });
  return { entries, errors };
}

function decodeBase64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  return Buffer.from(text, 'base64');
}

function parsePatterns(names: string): HostPattern[] | string {
  const patterns: HostPattern[] = [];
  for (const item of names.split(',')) {
    if (item === '') continue;
    if (item.startsWith('|')) {
      const parts = item.split('|');
      const salt = decodeBase64(parts[2] ?? '');
      const hash = decodeBase64(parts[3] ?? '');
      if (parts.length !== 4 || parts[1] !== '1' || !salt || !hash || hash.length !== 20) {
        return `bad hashed host name ${item}`;
      }
      patterns.push({ kind: 'hashed', salt, hash });
    } else {
      const negated = item.startsWith('!');
      patterns.push({
        kind: 'glob',
        negated,
        pattern: (negated ? item.slice(1) : item).toLowerCase(),
      });
    }
  }
  return patterns.length > 0 ? patterns : 'no host names';
}

/** The name known_hosts uses for a host and port: `host`, or `[host]:port` when port ≠ 22. */
export function knownHostName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

/** Hashes a name the way `ssh-keygen -H` does (it uses a random 20-byte salt). */
export function hashHostName(name: string, salt: Buffer): string {
  const hash = createHmac('sha1', salt).update(name).digest();
  return `|1|${salt.toString('base64')}|${hash.toString('base64')}`;
}

function globMatch(pattern: string, name: string): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(name);
}

/** OpenSSH semantics: a matching negated pattern vetoes the whole line. */
export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  let matched = false;
  for (const pattern of entry.patterns) {
    if (pattern.kind === 'hashed') {
      const hash = createHmac('sha1', pattern.salt).update(name).digest();
      if (timingSafeEqual(hash, pattern.hash)) matched = true;
    } else if (globMatch(pattern.pattern, name)) {
      if (pattern.negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Type name inside an SSH key blob (its first length-prefixed string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const length = blob.readUInt32BE(0);
  if (length > blob.length - 4 || length > 64) return '';
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** `SHA256:…` as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export interface PinnedKey {
  line: number;
  keyType: string;
  fingerprint: string;
}

export type HostKeyVerdict =
  | { status: 'match'; line: number }
  | { status: 'unknown' }
  | { status: 'changed'; pinned: PinnedKey[] }
  | { status: 'revoked'; line: number };

/**
 * Checks the key a server presented against every entry for any of `names` (the
 * known_hosts names of the host, e.g. its address and its host name).
 */
export function verifyHostKey(
  knownHosts: KnownHosts,
  names: readonly string[],
  presented: Buffer,
): HostKeyVerdict {
  const relevant = knownHosts.entries.filter(
    (e) => e.marker !== 'cert-authority' && names.some((n) => entryMatches(e, n)),
  );
  const revoked = relevant.find((e) => e.marker === 'revoked' && e.key.equals(presented));
  if (revoked) return { status: 'revoked', line: revoked.line };
  const pins = relevant.filter((e) => e.marker === null);
  const match = pins.find((e) => e.key.equals(presented));
  if (match) return { status: 'match', line: match.line };
  if (pins.length === 0) return { status: 'unknown' };
  return {
    status: 'changed',
    pinned: pins.map((e) => ({
      line: e.line,
      keyType: e.keyType,
      fingerprint: fingerprint(e.key),
    })),
  };
}

const ALGORITHMS_FOR_KEY_TYPE: Readonly<Record<string, readonly string[]>> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * Host key algorithms to offer so that a server with several host keys presents one that is
 * pinned (as OpenSSH does). Empty when nothing is pinned: then any algorithm may be offered.
 */
export function pinnedHostKeyAlgorithms(
  knownHosts: KnownHosts,
  names: readonly string[],
): string[] {
  const algorithms = new Set<string>();
  for (const entry of knownHosts.entries) {
    if (entry.marker !== null || !names.some((n) => entryMatches(entry, n))) continue;
    for (const algorithm of ALGORITHMS_FOR_KEY_TYPE[entry.keyType] ?? []) algorithms.add(algorithm);
  }
  return [...algorithms];
}
