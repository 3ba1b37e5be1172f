import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signature, verifySignature } from '../../../src/notify/sign';

describe('webhook signature: HMAC-SHA256 over "<timestamp>.<body>"', () => {
  const body = '{"kind":"baked"}';
  it('is sha256=<hex> of the timestamp and the raw body', () => {
    const want = createHmac('sha256', 's3cret').update(`1772366405.${body}`).digest('hex');
    expect(signature('s3cret', 1772366405, body)).toBe(`sha256=${want}`);
  });

  it.each([
    ['the same request, on time', {}, true],
    ['another secret', { secret: 'other' }, false],
    ['a changed body', { body: '{"kind":"failed"}' }, false],
    ['a changed timestamp', { timestamp: '1772366406' }, false],
    ['replayed 6 minutes later', { nowS: 1772366405 + 360 }, false],
    ['from 6 minutes in the future', { nowS: 1772366405 - 360 }, false],
    ['no signature', { signature: undefined }, false],
    ['no timestamp', { timestamp: undefined }, false],
    [
      'a truncated signature',
      { signature: signature('s3cret', 1772366405, body).slice(0, 20) },
      false,
    ],
  ] as const)('%s → %s', (_, change, ok) => {
    expect(
      verifySignature({
        secret: 's3cret',
        body,
        timestamp: '1772366405',
        signature: signature('s3cret', 1772366405, body),
        nowS: 1772366405 + 30,
        ...change,
      }),
    ).toBe(ok);
  });
});
