import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers a signed webhook carries (README "Notifications" shows a receiver checking them). */
export const SIGNATURE_HEADER = 'x-rollgate-signature';
export const TIMESTAMP_HEADER = 'x-rollgate-timestamp';
/** A receiver refuses a timestamp further than this from its clock (a replayed request). */
export const REPLAY_WINDOW_S = 300;

/**
 * `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<raw body>` with the shared secret: the
 * timestamp is signed with the body, so an old request cannot be sent again with a new one.
 */
export function signature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does: true when the signature matches and the timestamp is recent. */
export function verifySignature(o: {
  secret: string;
  body: string;
  timestamp: string | undefined;
  signature: string | undefined;
  nowS: number;
  windowS?: number;
}): boolean {
  const ts = Number(o.timestamp);
  if (!o.timestamp || !Number.isInteger(ts) || !o.signature) return false;
  if (Math.abs(o.nowS - ts) > (o.windowS ?? REPLAY_WINDOW_S)) return false;
  const want = Buffer.from(signature(o.secret, ts, o.body));
  const got = Buffer.from(o.signature);
  return want.length === got.length && timingSafeEqual(want, got);
}
