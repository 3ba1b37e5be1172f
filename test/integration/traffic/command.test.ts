import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DependencyDownError } from '../../../src/model/errors';
import { createTraffic } from '../../../src/traffic';
import { CommandTraffic } from '../../../src/traffic/command';
import { TrafficUnavailableError } from '../../../src/traffic/errors';
import { slotTarget } from '../../../src/model/slots';
import { captureLogger, lbTarget, tempDir, wallClock } from '../../support/haproxy-fixture';

const dir = tempDir('traffic-cmd');
const env = { ...process.env, OUT: dir };
const target = { ...lbTarget('web-1', 'pool-a/web1', '127.0.3.40'), host: 'web-1.example' };

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const markdown =
  'echo "$ACTION $TARGET $HOST $ADDRESS $PORT $LB_NAME" >> "$OUT/log"; echo maint > "$OUT/state-$TARGET"';
const markup = 'echo "$ACTION $TARGET" >> "$OUT/log"; echo up > "$OUT/state-$TARGET"';
const status = 'cat "$OUT/state-$TARGET" 2>/dev/null || echo up';

describe('command traffic driver', () => {
  it("runs the user's scripts with the target in the environment", async () => {
    const { logger } = captureLogger();
    const t = new CommandTraffic(
      { kind: 'command', markdown, markup, status, timeoutMs: 5000 },
      { logger, env },
    );
    expect(await t.status(target)).toBe('up');
    const started = performance.now();
    await t.markdown(target);
    const ms = performance.now() - started;
    expect(await t.status(target)).toBe('maint');
    await t.markup(target);
    expect(await t.status(target)).toBe('up');
    expect(fs.readFileSync(path.join(dir, 'log'), 'utf8').split('\n')).toEqual([
      'markdown web-1 web-1.example 127.0.3.40 18400 pool-a/web1',
      'markup web-1',
      '',
    ]);
    console.info(`command markdown: ${ms.toFixed(1)} ms (sh -c spawn)`);
  });

  it('side-by-side (S7): a slot view gets that slot in SLOT, its port in PORT, its server in LB_NAME', async () => {
    const { logger } = captureLogger();
    const out = tempDir('traffic-cmd-slot');
    const t = new CommandTraffic(
      {
        kind: 'command',
        markdown: 'echo "$ACTION ${SLOT-none} $PORT $LB_NAME" >> "$OUT/log"',
        markup: 'echo "$ACTION ${SLOT-none} $PORT $LB_NAME" >> "$OUT/log"',
        timeoutMs: 5000,
      },
      { logger, env: { ...process.env, OUT: out } },
    );
    const both = { ...target, altPort: 18401 };
    await t.markup(slotTarget(both, 'b'));
    await t.markdown(slotTarget(both, 'a'));
    await t.markdown(target);
    expect(fs.readFileSync(path.join(out, 'log'), 'utf8').split('\n')).toEqual([
      'markup b 18401 pool-a/web1-b',
      'markdown a 18400 pool-a/web1',
      'markdown none 18400 pool-a/web1',
      '',
    ]);
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('fails with the exit code and stderr', async () => {
    const { logger } = captureLogger();
    const t = new CommandTraffic(
      {
        kind: 'command',
        markdown: 'echo "F5 said: 401 Unauthorized" >&2; exit 3',
        markup: 'true',
        timeoutMs: 5000,
      },
      { logger, env },
    );
    const err = await t.markdown(target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrafficUnavailableError);
    expect((err as Error).message).toBe(
      'traffic markdown command for web-1 exited 3: F5 said: 401 Unauthorized',
    );
  });

  it('kills a command that outlives its timeout, with what it started', async () => {
    const { logger } = captureLogger();
    const pidFile = path.join(dir, 'sleeper.pid');
    const t = new CommandTraffic(
      {
        kind: 'command',
        markdown: `sleep 30 & echo $! > "${pidFile}"; wait`,
        markup: 'true',
        timeoutMs: 300,
      },
      { logger, env },
    );
    const started = performance.now();
    const err = await t.markdown(target).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(2000);
    expect((err as Error).message).toMatch(/timed out after 300 ms/);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 50));
    const stat = fs.existsSync(`/proc/${pid}/stat`)
      ? fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      : '';
    expect(stat === '' || / Z /.test(stat)).toBe(true);
  });

  it('reads an unrecognised or missing status as unknown', async () => {
    const { logger, lines } = captureLogger();
    const odd = new CommandTraffic(
      {
        kind: 'command',
        markdown: 'true',
        markup: 'true',
        status: 'echo enabled',
        timeoutMs: 5000,
      },
      { logger, env },
    );
    expect(await odd.status(target)).toBe('unknown');
    expect(await odd.status(target)).toBe('unknown');
    expect(lines.warn).toHaveLength(1);
    expect(lines.warn[0]).toMatch(/printed "enabled"/);
    const none = new CommandTraffic(
      { kind: 'command', markdown: 'true', markup: 'true', timeoutMs: 5000 },
      { logger, env },
    );
    expect(await none.status(target)).toBe('unknown');
  });

  it('through the breaker: an LB script failing is an outage, or a recorded skip when degraded', async () => {
    const failing = {
      kind: 'command' as const,
      markdown: 'echo "connect to lb.example:443 refused" >&2; exit 1',
      markup: 'echo "connect to lb.example:443 refused" >&2; exit 1',
      timeoutMs: 5000,
    };
    const strict = createTraffic(failing, {
      clock: wallClock,
      logger: captureLogger().logger,
      env,
      breaker: { retryDelayMs: 0 },
    });
    const err = await strict.markdown(target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyDownError);
    expect((err as Error).message).toMatch(/exited 1: connect to lb.example:443 refused/);
    expect((err as Error).message).toContain('--degrade lb');

    const { logger, lines } = captureLogger();
    const reasons: string[] = [];
    const lenient = createTraffic(
      { ...failing, degraded: true },
      {
        clock: wallClock,
        logger,
        env,
        onDegraded: (r) => void reasons.push(r),
        breaker: { retryDelayMs: 0 },
      },
    );
    await lenient.markdown(target);
    await lenient.markup(target);
    expect(await lenient.status(target)).toBe('unknown');
    expect(lines.warn.filter((l) => l.startsWith('degraded:'))).toHaveLength(1);
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toMatch(/load balancer \(command\) unavailable: markdown of web-1 skipped/);
  });
});
