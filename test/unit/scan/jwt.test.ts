import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodePskKey, signPskToken, verifyPskToken } from '../../../src/scan/clair/jwt';

const key = Buffer.from('a pre-shared key of 32 bytes!!!!').toString('base64');
const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

function decode(token: string) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, number | string>,
  };
}

describe('Clair PSK tokens (HS256 JWT)', () => {
  it('claims as Clair’s own signer makes them: iat now, nbf now−1m, exp now+1m, iss', () => {
    const token = signPskToken({ key, issuer: 'rollgate' }, NOW);
    const { header, claims } = decode(token);
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    const now = NOW / 1000;
    expect(claims).toEqual({ iss: 'rollgate', iat: now, nbf: now - 60, exp: now + 60 });
  });

  it('is signed with the base64-decoded key (an independent HMAC agrees)', () => {
    const token = signPskToken({ key, issuer: 'rollgate' }, NOW);
    const [h, p, s] = token.split('.');
    const expected = createHmac('sha256', Buffer.from(key, 'base64'))
      .update(`${h}.${p}`)
      .digest('base64url');
    expect(s).toBe(expected);
    expect(decodePskKey(key).toString()).toBe('a pre-shared key of 32 bytes!!!!');
  });

  it('verifies like Clair: signature, issuer allow-list, exp/nbf with 15 s leeway', () => {
    const token = signPskToken({ key, issuer: 'rollgate' }, NOW);
    const check = (over: Partial<Parameters<typeof verifyPskToken>[1]>) =>
      verifyPskToken(token, { key, issuers: ['rollgate'], nowMs: NOW, ...over });
    expect(check({}).ok).toBe(true);
    expect(check({ nowMs: NOW + 74_000 }).ok).toBe(true); // exp + 14 s
    expect(check({ nowMs: NOW + 76_000 })).toEqual({ ok: false, why: 'expired' });
    expect(check({ nowMs: NOW - 76_000 })).toEqual({ ok: false, why: 'not valid yet' });
    expect(check({ issuers: ['someone-else'] })).toMatchObject({ ok: false, why: /issuer/ });
    expect(check({ key: Buffer.from('another key').toString('base64') })).toEqual({
      ok: false,
      why: 'bad signature',
    });
  });

  it('refuses malformed tokens and alg none', () => {
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`;
    expect(verifyPskToken('abc', { key, issuers: [], nowMs: NOW }).ok).toBe(false);
    expect(verifyPskToken(none, { key, issuers: [], nowMs: NOW })).toMatchObject({
      ok: false,
      why: /alg none/,
    });
    expect(() => decodePskKey('')).toThrow(/empty/);
  });
});
