import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../../src/engine/clock';

describe('SimulatedClock', () => {
  it('parallel sleepers overlap as in real time and wake in time order', async () => {
    const c = new SimulatedClock(0);
    const woke: string[] = [];
    await Promise.all([
      c.sleep(300).then(() => woke.push(`a@${c.now()}`)),
      c.sleep(100).then(() => woke.push(`b@${c.now()}`)),
      c.sleep(200).then(() => woke.push(`c@${c.now()}`)),
    ]);
    expect(woke).toEqual(['b@100', 'c@200', 'a@300']);
    expect(c.now()).toBe(300); // not 600: they overlapped
  });

  it('an hour of sleeps takes no real time', async () => {
    const c = new SimulatedClock(0);
    const t0 = performance.now();
    for (let i = 0; i < 60; i++) await c.sleep(60_000);
    expect(c.now()).toBe(3_600_000);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
