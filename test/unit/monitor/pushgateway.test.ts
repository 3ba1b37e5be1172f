import { describe, expect, it } from 'vitest';
import {
  groupingPath,
  pushReleaseEvent,
  PushError,
  releaseEventBody,
} from '../../../src/monitor/pushgateway';

describe('release events for the Pushgateway (O4)', () => {
  it('the body: info = 1 and the time of the event, by version', () => {
    expect(releaseEventBody('1.1.0', 1_795_470_624_798)).toBe(
      [
        '# TYPE rollgate_release_info gauge',
        'rollgate_release_info{version="1.1.0"} 1',
        '# TYPE rollgate_release_event_timestamp_seconds gauge',
        'rollgate_release_event_timestamp_seconds{version="1.1.0"} 1795470624.798',
        '',
      ].join('\n'),
    );
    expect(releaseEventBody('a"b\\c', 0)).toContain('version="a\\"b\\\\c"');
  });

  it.each([
    {
      labels: { group: 'shop', event: 'deployed' },
      path: '/metrics/job/rollgate/group/shop/event/deployed',
    },
    // A slash cannot be a path segment: base64url, as the Pushgateway documents.
    {
      labels: { group: 'shop/eu', event: 'baked' },
      path: '/metrics/job/rollgate/group@base64/c2hvcC9ldQ/event/baked',
    },
    { labels: { group: '', event: 'x' }, path: '/metrics/job/rollgate/group@base64/=/event/x' },
    { labels: { group: 'a b', event: 'x' }, path: '/metrics/job/rollgate/group/a%20b/event/x' },
  ])('grouping key $labels.group → $path', ({ labels, path }) => {
    expect(groupingPath('rollgate', labels)).toBe(path);
  });

  it('PUTs the body; a refusal is a PushError with the gateway’s words', async () => {
    const seen: { url: string; method?: string; body?: unknown }[] = [];
    const ok = (async (url: string | URL | Request, init?: RequestInit) => {
      seen.push({ url: String(url), method: init?.method, body: init?.body });
      return new Response('', { status: 200 });
    }) as typeof fetch;
    await pushReleaseEvent({
      url: 'http://127.0.10.2:19091/',
      group: 'shop',
      version: '1.1.0',
      event: 'deployed',
      at: 1000,
      fetch: ok,
    });
    expect(seen[0]).toMatchObject({
      url: 'http://127.0.10.2:19091/metrics/job/rollgate/group/shop/event/deployed',
      method: 'PUT',
    });
    const refuse = (async () => new Response('bad metric\n', { status: 400 })) as typeof fetch;
    const err = await pushReleaseEvent({
      url: 'http://p',
      group: 'g',
      version: 'v',
      event: 'e',
      at: 0,
      fetch: refuse,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushError);
    expect((err as Error).message).toBe('pushgateway http://p: HTTP 400 bad metric');
  });
});
