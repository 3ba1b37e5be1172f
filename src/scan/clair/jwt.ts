import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Clair's PSK authentication: an HS256 JWT signed with the pre-shared key (the base64-decoded
 * bytes of `auth.psk.key` in Clair's config) whose `iss` is on the server's allow-list. Claims
 * as Clair's own signer makes them: iat = now, nbf = now − 1 min, exp = now + 1 min.
 */

export interface PskConfig {
  /** The key as written in Clair's config: base64. */
  key: string;
  issuer: string;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export function decodePskKey(key: string): Buffer {
  const bytes = Buffer.from(key.trim(), 'base64');
  if (bytes.length === 0) throw new Error('the Clair PSK is empty or not base64');
  return bytes;
}

/** A token for `nowMs` (the caller's clock), valid from nowMs − 1 min to nowMs + 1 min. */
export function signPskToken(psk: PskConfig, nowMs: number, lifetimeSec = 60): string {
  const now = Math.floor(nowMs / 1000);
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(
    JSON.stringify({ iss: psk.issuer, iat: now, nbf: now - 60, exp: now + lifetimeSec }),
  );
  const signature = createHmac('sha256', decodePskKey(psk.key))
    .update(`${header}.${payload}`)
    .digest('base64url');
  return `${header}.${payload}.${signature}`;
}

export interface VerifyOptions {
  key: string;
  issuers: readonly string[];
  nowMs: number;
  /** Allowed clock skew (Clair: 15 s). */
  leewaySec?: number;
}

export type VerifyResult =
  { ok: true; claims: Record<string, unknown> } | { ok: false; why: string };

/** Checks a token the way Clair's PSK middleware does (for the test double and for debugging). */
export function verifyPskToken(token: string, options: VerifyOptions): VerifyResult {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, why: 'not a JWS compact token' };
  const [h, p, s] = parts as [string, string, string];
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return { ok: false, why: 'header or claims are not JSON' };
  }
  if (header.alg !== 'HS256') return { ok: false, why: `alg ${String(header.alg)} is not HS256` };
  const expected = createHmac('sha256', decodePskKey(options.key)).update(`${h}.${p}`).digest();
  const given = Buffer.from(s, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, why: 'bad signature' };
  }
  const now = Math.floor(options.nowMs / 1000);
  const leeway = options.leewaySec ?? 15;
  const num = (k: string) => (typeof claims[k] === 'number' ? (claims[k] as number) : undefined);
  const exp = num('exp');
  const nbf = num('nbf');
  const iat = num('iat');
  if (exp === undefined || now > exp + leeway) return { ok: false, why: 'expired' };
  if (nbf !== undefined && now < nbf - leeway) return { ok: false, why: 'not valid yet' };
  if (iat !== undefined && now < iat - leeway) return { ok: false, why: 'issued in the future' };
  if (typeof claims.iss !== 'string' || !options.issuers.includes(claims.iss)) {
    return { ok: false, why: `issuer ${String(claims.iss)} is not allowed` };
  }
  return { ok: true, claims };
}
