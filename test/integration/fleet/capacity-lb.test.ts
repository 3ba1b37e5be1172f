/**
 * Issue 13 item 5 on a real fleet: five sshd hosts (127.0.2.95–99) running the sample app behind
 * a real HAProxy (127.0.8.1:19140) with HTTP health checks. 50% of 5 allows 2 out at once.
 *
 * - The first release: nothing runs, HAProxy has every server DOWN — the ratio's batches
 *   (bastion, 2, 2), no capacity warning.
 * - web-05's app dies (DOWN in HAProxy). The next release asks HAProxy before cutting batches:
 *   web-05 goes first, after the bastion; the serving hosts follow 2 and 1. At every markdown,
 *   HAProxy never has more than 2 of 5 servers out of service — cut as before (bastion, 2, 2),
 *   web-02, web-03 and the DOWN web-05 were 3 out at once.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReleaseEvent } from '../../../src/engine/ledger';
import { fullRelease, lbStatus, onEvents } from '../../support/fleet-invariant';
import { killApp } from '../../support/kill-app';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';

describe('hosts DOWN in HAProxy count against max unavailable (issue 13 item 5)', () => {
  let f: RealFleet;
  beforeAll(async () => {
    f = await startRealFleet({
      n: 5,
      first: 95,
      appPort: 19120,
      frontend: '127.0.8.1:19140',
      deployment: '  maxUnavailable: 50%\n  startTimeout: 10s\n  verifyInterval: 50ms',
    });
    await f.build('1.0.0');
    await f.build('2.0.0');
  }, 120_000);
  afterAll(async () => f?.stop());

  /** Servers HAProxy has out of service (not UP) each time a target leaves traffic. */
  const watch = (events: ReleaseEvent[], outAtMarkdown: string[][]) => async (e: ReleaseEvent) => {
    events.push(e);
    if (e.type === 'target' && e.state === 'MARKDOWN_SUCCESS') {
      const st = await lbStatus(f);
      outAtMarkdown.push(
        Object.entries(st)
          .filter(([, s]) => !s.startsWith('UP'))
          .map(([id]) => id)
          .sort(),
      );
    }
  };

  it('the first release: every server DOWN (nothing runs yet), the ratio keeps its batches', async () => {
    // HAProxy starts its servers UP until the checks (500 ms, fall 2) find nothing answers.
    await waitFor(async () => Object.values(await lbStatus(f)).every((s) => s.startsWith('DOWN')));
    const rt = await f.runtime({ who: 'alice' });
    const events: ReleaseEvent[] = [];
    onEvents(rt, watch(events, []));
    try {
      expect((await fullRelease(rt.engine, f, '1.0.0')).phase).toBe('SUCCESS');
    } finally {
      await rt.close();
    }
    const d = (await rt.ports.store.load('fleet-shop'))!.current!;
    expect(d.batches.map((b) => b.targets.join(' '))).toEqual([
      'web-01',
      'web-02 web-03',
      'web-04 web-05',
    ]);
    expect(events.filter((e) => e.type === 'warn')).toEqual([]);
    // Once released, HAProxy sees them all UP.
    await waitFor(async () => Object.values(await lbStatus(f)).every((s) => s.startsWith('UP')));
  });

  it('web-05 DOWN: released first, and never more than 2 of 5 out at once', async () => {
    killApp(join(f.hosts[4]!.docBase, '.rollgate/app.pid'));
    await waitFor(async () => (await lbStatus(f))['web-05']!.startsWith('DOWN'));
    const rt = await f.runtime({ who: 'bob' });
    const events: ReleaseEvent[] = [];
    const outAtMarkdown: string[][] = [];
    onEvents(rt, watch(events, outAtMarkdown));
    try {
      expect((await fullRelease(rt.engine, f, '2.0.0')).phase).toBe('SUCCESS');
    } finally {
      await rt.close();
    }
    const d = (await rt.ports.store.load('fleet-shop'))!.current!;
    expect(d.batches.map((b) => b.targets.join(' '))).toEqual([
      'web-01',
      'web-05',
      'web-02 web-03',
      'web-04',
    ]);
    const release = events.find((e) => e.type === 'release')!;
    expect(release.outOfService).toEqual(['web-05']);
    expect(release.message).toContain(
      'out of traffic in the load balancer, counted against max unavailable 50% (2 of 5 out at once), released first: web-05 (down)',
    );
    // Measured on HAProxy at each markdown: the DOWN web-05 was back before 02 and 03 left.
    expect(outAtMarkdown.length).toBe(5);
    expect(Math.max(...outAtMarkdown.map((o) => o.length))).toBeLessThanOrEqual(2);
    expect(outAtMarkdown).toContainEqual(['web-02', 'web-03']);
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('2.0.0');
  });
});

async function waitFor(cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}
