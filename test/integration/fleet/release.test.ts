import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';

// A release and a rollback over real sshd hosts behind a real HAProxy, with a load probe.
describe('release over SSH through HAProxy (issue 4)', () => {
  let f: RealFleet;
  beforeAll(async () => {
    f = await startRealFleet({ n: 4, first: 101, appPort: 18700, frontend: '127.0.7.1:18700' });
    await f.build('1.0.0', { startDelayMs: 300 });
    await f.build('2.0.0', { startDelayMs: 300 });
  });
  afterAll(async () => f?.stop());

  async function release(version: string) {
    const rt = await f.runtime();
    try {
      const d = await rt.engine.deploy({
        version,
        package: { version, path: `${f.packages}/app-${version}.tar.gz` },
      });
      expect(
        d.phase,
        JSON.stringify(Object.values(d.deployment.targets).map((t) => [t.id, t.state, t.error])),
      ).toBe('SMOKE_SUCCESS');
      expect((await rt.engine.bake()).phase).toBe('BAKE_SUCCESS');
      return await rt.engine.continue();
    } finally {
      await rt.close();
    }
  }

  it('first release brings every host up and into HAProxy', async () => {
    const r = await release('1.0.0');
    expect(r.phase).toBe('SUCCESS');
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('1.0.0');
    const stat = await f.lb.cli('show stat');
    for (const h of f.hosts) expect(stat).toMatch(new RegExp(`app,${h.id},(?:[^,]*,){15}UP`));
  });

  it('an upgrade and a rollback under load lose no request', async () => {
    const probe = f.probe(4);
    const r = await release('2.0.0');
    expect(r.phase).toBe('SUCCESS');
    const rt = await f.runtime();
    try {
      expect((await rt.engine.rollback()).phase).toBe('SUCCESS');
    } finally {
      await rt.close();
    }
    const stats = await probe.stop();
    expect(stats.ok).toBeGreaterThan(50);
    expect(stats.failed, stats.errors.slice(0, 5).join('; ')).toBe(0);
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('1.0.0');
  });
});
