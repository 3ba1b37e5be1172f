/**
 * A hard stop reaches the HAProxy drain wait: markdown of a server with a slow request in flight
 * (a 30 s drain timeout) returns at once when the signal aborts; the server stays in DRAIN, which
 * the record then explains (the step is recorded interrupted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realClock } from '../../../src/clock/real';
import { AbortedError } from '../../../src/model/errors';
import { HaproxyTraffic } from '../../../src/traffic/haproxy/haproxy-traffic';
import { parseServersState, statusFromServerState } from '../../../src/traffic/haproxy/stat-csv';
import { request, startBackends, type TestBackend } from '../../support/haproxy-backends';
import { captureLogger, lbTarget, tempDir, until } from '../../support/haproxy-fixture';
import { ensureHaproxy, startHaproxy, type HaproxyLb } from '../../support/haproxy-lb';

const missing = await ensureHaproxy();

describe.skipIf(missing)('hard stop during the HAProxy drain wait', () => {
  let backends: TestBackend[] = [];
  let lb: HaproxyLb;
  const servers = [{ name: 's1', address: '127.0.7.43', port: 18810 }];

  beforeAll(async () => {
    backends = await startBackends(servers);
    lb = await startHaproxy({
      dir: tempDir('haproxy-abort'),
      frontend: '127.0.7.42:18742',
      backend: 'be',
      servers,
    });
    await until(
      's1 up',
      async () => parseServersState(await lb.cli('show servers state be'))[0]!,
      (r) => statusFromServerState(r) === 'up',
    );
  });

  afterAll(async () => {
    await lb?.stop();
    await Promise.all(backends.map((b) => b.stop()));
  });

  it('markdown with a request in flight and a 30 s drain timeout returns when aborted', async () => {
    const { logger } = captureLogger();
    const traffic = new HaproxyTraffic(
      { kind: 'haproxy', sockets: [lb.endpoints.unix], backend: 'be', drainTimeoutMs: 30_000 },
      { clock: realClock, logger, pollMs: 50 },
    );
    try {
      const slow = request(lb.url, '/slow?ms=2500');
      await until(
        'the slow request in flight',
        () => backends[0]!.inFlight,
        (n) => n > 0,
      );
      const ctl = new AbortController();
      const markdown = traffic.markdown(lbTarget('h1', 's1'), ctl.signal);
      await until(
        'drain',
        async () =>
          statusFromServerState(parseServersState(await lb.cli('show servers state be'))[0]!),
        (s) => s === 'drain',
      );
      const t0 = performance.now();
      ctl.abort(new AbortedError('stopped at once by SIGTERM'));
      await expect(markdown).rejects.toBeInstanceOf(AbortedError);
      expect(performance.now() - t0).toBeLessThan(500);
      expect(
        statusFromServerState(parseServersState(await lb.cli('show servers state be'))[0]!),
      ).toBe('drain');
      await slow;
    } finally {
      await traffic.close();
    }
  });
});
