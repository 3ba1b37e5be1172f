import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../../src/model/logger';
import type { Traffic, TrafficStatus } from '../../../src/engine/ports';
import { DependencyDownError } from '../../../src/model/errors';
import type { Target } from '../../../src/model/types';
import { withBreaker } from '../../../src/traffic/breaker';
import { TrafficRejectedError, TrafficUnavailableError } from '../../../src/traffic/errors';
import { createTraffic } from '../../../src/traffic';
import { wallClock } from '../../support/haproxy-fixture';

function target(id: string): Target {
  return { id, host: id, address: '127.0.3.9', port: 8080, docBase: '/srv/app', pulledOut: false };
}

class FlakyLb implements Traffic {
  readonly name = 'flaky';
  calls = 0;
  /** 'down': unreachable; 'reject': answers with an error; 'up': works. */
  mode: 'up' | 'down' | 'reject' = 'up';
  failNext = 0;

  private async act(): Promise<void> {
    this.calls += 1;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new TrafficUnavailableError('connect ECONNRESET (blip)');
    }
    if (this.mode === 'down')
      throw new TrafficUnavailableError('connect ECONNREFUSED 127.0.3.9:9999');
    if (this.mode === 'reject') throw new TrafficRejectedError('No such server.');
  }

  async status(): Promise<TrafficStatus> {
    await this.act();
    return 'up';
  }
  async markdown(): Promise<void> {
    await this.act();
  }
  async markup(): Promise<void> {
    await this.act();
  }
  async close(): Promise<void> {}
}

function logs() {
  const lines = { info: [] as string[], warn: [] as string[], error: [] as string[] };
  const logger: Logger = {
    info: (l) => lines.info.push(l),
    warn: (l) => lines.warn.push(l),
    error: (l) => lines.error.push(l),
  };
  return { lines, logger };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('withBreaker', () => {
  it('passes calls through and retries a transient failure once', async () => {
    const lb = new FlakyLb();
    const { logger } = logs();
    const t = withBreaker(lb, { logger, retryDelayMs: 0 });
    expect(t.name).toBe('flaky');
    expect(await t.status(target('a'))).toBe('up');
    lb.failNext = 1;
    await t.markdown(target('a'));
    expect(lb.calls).toBe(3);
  });

  it('opens after 3 consecutive failures and then fails fast, naming the re-run option', async () => {
    const lb = new FlakyLb();
    lb.mode = 'down';
    const { lines, logger } = logs();
    const t = withBreaker(lb, { logger, retryDelayMs: 0 });

    const first = await t.markdown(target('a')).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(DependencyDownError);
    expect((first as Error).message).toContain('ECONNREFUSED');
    expect((first as Error).message).toContain('--degrade lb');
    expect((first as Error).message).toContain('traffic.degraded: true');
    expect(lb.calls).toBe(2);

    const second = await t.markdown(target('b')).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(DependencyDownError);
    expect(lb.calls).toBe(3);
    expect(lines.warn.join('\n')).toMatch(/circuit open after 3 consecutive failures/);

    const third = await t.markup(target('c')).catch((e: unknown) => e);
    expect(third).toBeInstanceOf(DependencyDownError);
    expect((third as Error).message).toMatch(/circuit open .* last: .*ECONNREFUSED/);
    expect((third as Error).message).toContain('--degrade lb');
    expect(lb.calls).toBe(3);
    await expect(t.status(target('c'))).rejects.toBeInstanceOf(DependencyDownError);
  });

  it('lets one call through after 10 s (half-open) and closes when the LB answers', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const lb = new FlakyLb();
    lb.mode = 'down';
    const { lines, logger } = logs();
    const t = withBreaker(lb, { logger, retryDelayMs: 0 });
    await t.markdown(target('a')).catch(() => undefined);
    await t.markdown(target('a')).catch(() => undefined);
    const before = lb.calls;

    vi.setSystemTime(Date.now() + 9_000);
    await expect(t.markdown(target('a'))).rejects.toBeInstanceOf(DependencyDownError);
    expect(lb.calls).toBe(before);

    lb.mode = 'up';
    vi.setSystemTime(Date.now() + 1_500);
    await t.markdown(target('a'));
    expect(lb.calls).toBe(before + 1);
    await t.markup(target('a'));
    expect(lines.info.join('\n')).toMatch(/answers again/);
  });

  it('does not retry, count or skip an LB that answered with an error', async () => {
    const lb = new FlakyLb();
    lb.mode = 'reject';
    const { logger } = logs();
    const onDegraded = vi.fn();
    const t = withBreaker(lb, { logger, degraded: true, onDegraded, retryDelayMs: 0 });
    for (let i = 0; i < 5; i++) {
      await expect(t.markdown(target('a'))).rejects.toBeInstanceOf(TrafficRejectedError);
    }
    expect(lb.calls).toBe(5);
    expect(onDegraded).not.toHaveBeenCalled();
    lb.mode = 'up';
    await t.markdown(target('a'));
  });

  it('degraded: skips failing calls with one warning per target and records each skipped step', async () => {
    const lb = new FlakyLb();
    lb.mode = 'down';
    const { lines, logger } = logs();
    const reasons: string[] = [];
    const t = withBreaker(lb, {
      logger,
      degraded: true,
      onDegraded: async (r) => {
        reasons.push(r);
      },
      retryDelayMs: 0,
    });
    await t.markdown(target('a'));
    await t.markdown(target('b'));
    expect(await t.status(target('a'))).toBe('unknown');
    await t.markup(target('a'));
    await t.markup(target('a'));
    expect(lines.warn.filter((l) => l.startsWith('degraded:'))).toHaveLength(2);
    expect(reasons).toHaveLength(3);
    expect(reasons[0]).toMatch(/markdown of a skipped .*ECONNREFUSED/);
    expect(reasons[1]).toMatch(/markdown of b skipped .*circuit open/);
    expect(reasons[2]).toMatch(/markup of a skipped/);
    // The open circuit means the skipped calls did not wait for the LB.
    expect(lb.calls).toBe(3);
  });

  it('degraded: a failing recorder is logged, not thrown', async () => {
    const lb = new FlakyLb();
    lb.mode = 'down';
    const { lines, logger } = logs();
    const t = withBreaker(lb, {
      logger,
      degraded: true,
      onDegraded: () => {
        throw new Error('disk full');
      },
      retryDelayMs: 0,
    });
    await t.markdown(target('a'));
    expect(lines.error.join('\n')).toMatch(/disk full/);
  });
});

describe('createTraffic', () => {
  it('builds none without a breaker and the others with one', async () => {
    const { logger } = logs();
    const none = createTraffic({ kind: 'none' }, { clock: wallClock, logger });
    expect(none.name).toBe('none');
    // No LB at all is not an LB that could not answer (F3 may skip on 'none', never on 'unknown').
    expect(await none.status(target('a'))).toBe('none');
    await none.markdown(target('a'));

    const down = createTraffic(
      { kind: 'command', markdown: 'exit 7', markup: 'true', timeoutMs: 5000 },
      { clock: wallClock, logger, breaker: { retryDelayMs: 0 } },
    );
    expect(down.name).toBe('command');
    await expect(down.markdown(target('a'))).rejects.toThrow(/exited 7.*--degrade lb/s);
    await down.markup(target('a'));

    const haproxy = createTraffic(
      {
        kind: 'haproxy',
        sockets: ['unix:/nonexistent/admin.sock'],
        backend: 'be',
        drainTimeoutMs: 1000,
      },
      { clock: wallClock, logger, breaker: { retryDelayMs: 0 } },
    );
    expect(haproxy.name).toBe('haproxy');
    await expect(haproxy.status(target('a'))).rejects.toBeInstanceOf(DependencyDownError);
    await haproxy.close();
  });

  it('rejects bad socket specs and server names as input errors', () => {
    const { logger } = logs();
    expect(() =>
      createTraffic(
        { kind: 'haproxy', sockets: ['127.0.0.1:9999'], backend: 'be', drainTimeoutMs: 1000 },
        { clock: wallClock, logger },
      ),
    ).toThrow(/traffic.sockets.*unix: or tcp:/);
    expect(() =>
      createTraffic(
        { kind: 'haproxy', sockets: [], backend: 'be', drainTimeoutMs: 1000 },
        { clock: wallClock, logger },
      ),
    ).toThrow(/at least one/);
  });
});
