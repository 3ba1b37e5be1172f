import { describe, expect, it } from 'vitest';
import { describeFailure, type FailedRead, type ProblemKind } from '../../../src/github/problems';

const NOW = Date.parse('2026-12-05T01:00:00Z');
const o = { now: NOW, tokenGiven: true, apiUrl: 'https://api.github.com' };

describe('describeFailure: what the page says when GitHub refuses a read', () => {
  const cases: [string, FailedRead, Partial<typeof o>, ProblemKind, RegExp][] = [
    [
      '401 with a token',
      { status: 401, message: 'Bad credentials - https://docs.github.com/rest' },
      {},
      'bad-token',
      /^GitHub refused the token \(401 Bad credentials\): set GITHUB_TOKEN or ROLLGATE_GITHUB_TOKEN/,
    ],
    [
      '401 without a token',
      { status: 401, message: 'Requires authentication' },
      { tokenGiven: false },
      'no-token',
      /wants a token to read acme\/shop \(401\)/,
    ],
    [
      '403, rate limit spent (remaining 0)',
      {
        status: 403,
        headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(NOW / 1000 + 600) },
        message: 'API rate limit exceeded for installation',
      },
      {},
      'rate-limited',
      /rate limit is spent \(403\); it resets at 01:10:00 UTC/,
    ],
    [
      '403, secondary limit (retry-after)',
      {
        status: 403,
        headers: { 'retry-after': '60' },
        message: 'You have exceeded a secondary rate limit',
      },
      {},
      'rate-limited',
      /resets at 01:01:00 UTC/,
    ],
    [
      '429',
      { status: 429, message: 'Too Many Requests' },
      {},
      'rate-limited',
      /rate limit is spent \(429\)/,
    ],
    [
      '403, not allowed',
      {
        status: 403,
        headers: { 'x-ratelimit-remaining': '4999' },
        message: 'Resource not accessible by integration',
      },
      {},
      'forbidden',
      /may not read acme\/shop \(403 Resource not accessible by integration\): give it read access/,
    ],
    [
      '404',
      { status: 404, message: 'Not Found' },
      {},
      'not-found',
      /acme\/shop was not found \(404\): check the name given to --github/,
    ],
    [
      'no answer',
      { message: 'connect ECONNREFUSED 127.0.0.1:1' },
      {},
      'unreachable',
      /cannot reach GitHub at https:\/\/api\.github\.com \(connect ECONNREFUSED/,
    ],
    [
      '502',
      { status: 502, message: 'Bad Gateway' },
      {},
      'github-error',
      /GitHub answered 502 \(Bad Gateway\)/,
    ],
  ];
  it.each(cases)('%s', (_name, failed, extra, kind, message) => {
    const p = describeFailure('acme/shop', failed, { ...o, ...extra });
    expect(p).toMatchObject({ repo: 'acme/shop', kind, at: NOW });
    expect(p.message).toMatch(message);
    expect(p.message).not.toMatch(/\n|at .*\.ts:\d+/);
  });
});
