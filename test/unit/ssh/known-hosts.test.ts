import { describe, expect, it } from 'vitest';
import {
  entryMatches,
  fingerprint,
  hashHostName,
  keyTypeOf,
  knownHostName,
  parseKnownHosts,
  pinnedHostKeyAlgorithms,
  verifyHostKey,
} from '../../../src/transport/ssh/known-hosts';

// Keys made with ssh-keygen; the hashed lines are `ssh-keygen -H` output for 10.0.0.5 (key A)
// and [10.0.0.6]:2222 (key B).
const A = 'AAAAC3NzaC1lZDI1NTE5AAAAIOKIqqinlTK5BLmQSe/jH5GP/XQeBDEr0pj3qf4boRG2';
const B = 'AAAAC3NzaC1lZDI1NTE5AAAAIPCokkoBoSwoFkjvkaLFmAt6F5ESxJfHdoq2vQYUxNDa';
const C =
  'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJVcFahOu0tY7yATMQmEgZBuA72+2Sc3HsRLIovPbZb7964z8rdMhAuQHIbdjMUGywDVpFJG3ZjxcneTLjLuNzc=';
const key = (base64: string) => Buffer.from(base64, 'base64');

const FIXTURE = `# fleet hosts
127.0.2.1 ssh-ed25519 ${A} h1
[127.0.2.2]:2222 ssh-ed25519 ${B}

app-03,127.0.2.3 ecdsa-sha2-nistp256 ${C} comment with spaces
|1|IbsPExG44fffutw6z0iKJLGz1PM=|2TLuk9tVGetJzX9s9iCbWHqxnfg= ssh-ed25519 ${A}
|1|88zYENfJ5rj9dEKgGCC9lewsFRU=|diabOZkmfzkPwoEsBTVDhLxAhpA= ssh-ed25519 ${B}
   # indented comment
*.web.example,!db.web.example ssh-ed25519 ${B}
@revoked * ssh-ed25519 ${C.slice(0, 4)}broken
@revoked 127.0.2.9 ssh-ed25519 ${A}
127.0.2.9 ssh-ed25519 ${A}
@cert-authority *.example ssh-ed25519 ${A}
`;

describe('parseKnownHosts', () => {
  const parsed = parseKnownHosts(FIXTURE);

  it('reads plain, [host]:port, comma-separated, hashed, marked lines and skips comments', () => {
    expect(parsed.entries.map((e) => e.line)).toEqual([2, 3, 5, 6, 7, 9, 11, 12, 13]);
    const [plain, withPort, list] = parsed.entries;
    expect(plain).toMatchObject({ marker: null, keyType: 'ssh-ed25519' });
    expect(plain?.key.equals(key(A))).toBe(true);
    expect(withPort?.patterns).toEqual([
      { kind: 'glob', negated: false, pattern: '[127.0.2.2]:2222' },
    ]);
    expect(list?.patterns.map((p) => (p.kind === 'glob' ? p.pattern : 'hashed'))).toEqual([
      'app-03',
      '127.0.2.3',
    ]);
    expect(parsed.entries[3]?.patterns[0]?.kind).toBe('hashed');
    expect(parsed.entries[6]?.marker).toBe('revoked');
    expect(parsed.entries[8]?.marker).toBe('cert-authority');
  });

  it('reports bad lines instead of failing', () => {
    expect(parsed.errors).toEqual([
      { line: 10, message: expect.stringContaining('does not match') },
    ]);
    const bad = parseKnownHosts(
      [
        '@bogus h ssh-ed25519 ' + A,
        'h ssh-ed25519',
        'h ssh-ed25519 not*base64',
        'h ssh-rsa ' + A,
        '|1|abc|def ssh-ed25519 ' + A,
      ].join('\n'),
    );
    expect(bad.entries).toEqual([]);
    expect(bad.errors.map((e) => e.line)).toEqual([1, 2, 3, 4, 5]);
  });

  it('handles CRLF files', () => {
    expect(parseKnownHosts(`h1 ssh-ed25519 ${A}\r\nh2 ssh-ed25519 ${B}\r\n`).entries).toHaveLength(
      2,
    );
  });
});

describe('host names and matching', () => {
  const [plain, withPort, list, hashedA, hashedB, glob] = parseKnownHosts(FIXTURE).entries;

  it('spells names as OpenSSH does', () => {
    expect(knownHostName('127.0.2.1', 22)).toBe('127.0.2.1');
    expect(knownHostName('App-01', 2222)).toBe('[app-01]:2222');
  });

  it('matches plain names, [host]:port only on that port, and lists', () => {
    expect(entryMatches(plain!, '127.0.2.1')).toBe(true);
    expect(entryMatches(plain!, '[127.0.2.1]:2222')).toBe(false);
    expect(entryMatches(withPort!, '[127.0.2.2]:2222')).toBe(true);
    expect(entryMatches(withPort!, '127.0.2.2')).toBe(false);
    expect(entryMatches(list!, 'app-03')).toBe(true);
    expect(entryMatches(list!, '127.0.2.3')).toBe(true);
  });

  it('matches names hashed by ssh-keygen -H', () => {
    expect(entryMatches(hashedA!, '10.0.0.5')).toBe(true);
    expect(entryMatches(hashedA!, '10.0.0.6')).toBe(false);
    expect(entryMatches(hashedB!, '[10.0.0.6]:2222')).toBe(true);
    expect(entryMatches(hashedB!, '10.0.0.6')).toBe(false);
  });

  it('hashes a name like ssh-keygen', () => {
    const salt = Buffer.from('IbsPExG44fffutw6z0iKJLGz1PM=', 'base64');
    expect(hashHostName('10.0.0.5', salt)).toBe(
      '|1|IbsPExG44fffutw6z0iKJLGz1PM=|2TLuk9tVGetJzX9s9iCbWHqxnfg=',
    );
  });

  it('honours wildcards and negation', () => {
    expect(entryMatches(glob!, 'www.web.example')).toBe(true);
    expect(entryMatches(glob!, 'db.web.example')).toBe(false);
    expect(entryMatches(glob!, 'web.example')).toBe(false);
  });
});

describe('verifyHostKey', () => {
  const hosts = parseKnownHosts(FIXTURE);

  it('accepts the pinned key', () => {
    expect(verifyHostKey(hosts, ['127.0.2.1'], key(A))).toEqual({ status: 'match', line: 2 });
    expect(verifyHostKey(hosts, ['10.0.0.5'], key(A))).toEqual({ status: 'match', line: 6 });
  });

  it('finds a host by any of its names', () => {
    expect(verifyHostKey(hosts, ['127.0.2.99', 'app-03'], key(C)).status).toBe('match');
  });

  it('says unknown when no line names the host', () => {
    expect(verifyHostKey(hosts, ['127.0.2.50'], key(A))).toEqual({ status: 'unknown' });
    expect(verifyHostKey(hosts, ['[127.0.2.1]:2222'], key(A))).toEqual({ status: 'unknown' });
  });

  it('says changed, with the pinned fingerprints, when the key differs', () => {
    expect(verifyHostKey(hosts, ['127.0.2.1'], key(B))).toEqual({
      status: 'changed',
      pinned: [{ line: 2, keyType: 'ssh-ed25519', fingerprint: fingerprint(key(A)) }],
    });
  });

  it('refuses a revoked key even when it is also pinned', () => {
    expect(verifyHostKey(hosts, ['127.0.2.9'], key(A))).toEqual({ status: 'revoked', line: 11 });
  });

  it('ignores @cert-authority lines (certificates are not supported)', () => {
    expect(verifyHostKey(hosts, ['x.example'], key(A))).toEqual({ status: 'unknown' });
  });
});

describe('key helpers', () => {
  it('prints fingerprints as ssh-keygen -l', () => {
    expect(fingerprint(key(A))).toBe('SHA256:/+JupovDdknMPUjbjiRBzzBNqKmN++sz2uihGptOBDk');
  });

  it('reads the type inside a key blob', () => {
    expect(keyTypeOf(key(C))).toBe('ecdsa-sha2-nistp256');
    expect(keyTypeOf(Buffer.from([0, 0]))).toBe('');
  });

  it('offers only the host key algorithms that are pinned for the host', () => {
    const hosts = parseKnownHosts(`h ssh-ed25519 ${A}\nh ecdsa-sha2-nistp256 ${C}\n`);
    expect(pinnedHostKeyAlgorithms(hosts, ['h'])).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256']);
    expect(pinnedHostKeyAlgorithms(hosts, ['other'])).toEqual([]);
  });
});
