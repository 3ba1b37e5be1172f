import { describe, expect, it } from 'vitest';
import { checkHealth, healthUrl } from '../../../src/host/health';

describe('healthUrl', () => {
  const target = { address: '127.0.1.5', port: 18105 };

  it('puts a path on the target address and port', () => {
    expect(healthUrl('/health', target)).toBe('http://127.0.1.5:18105/health');
  });

  it('fills {address} and {port} in a full URL', () => {
    expect(healthUrl('https://{address}:{port}/ready?x={port}', target)).toBe(
      'https://127.0.1.5:18105/ready?x=18105',
    );
  });

  it('brackets an IPv6 address', () => {
    expect(healthUrl('/h', { address: '::1', port: 1 })).toBe('http://[::1]:1/h');
  });
});

describe('checkHealth', () => {
  it('never throws: a closed port is "connection refused"', async () => {
    // 127.0.1.249:18199 is reserved for this test and never listened on.
    expect(await checkHealth('http://127.0.1.249:18199/health', 1000)).toEqual({
      ok: false,
      detail: 'connection refused',
    });
  });

  it('never throws on a malformed URL', async () => {
    const result = await checkHealth('not a url', 1000);
    expect(result.ok).toBe(false);
    expect(result.detail).not.toBe('');
  });
});
