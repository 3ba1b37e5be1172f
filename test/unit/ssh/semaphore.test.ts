import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../../src/transport/ssh/semaphore';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Semaphore', () => {
  it('never lets more than its limit run at once', async () => {
    const semaphore = new Semaphore(3);
    let running = 0;
    let peak = 0;
    const task = async (ms: number) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, ms));
      running--;
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => semaphore.use(() => task(i % 4))));
    expect(peak).toBe(3);
    expect(semaphore.inUse).toBe(0);
    expect(semaphore.waiting).toBe(0);
  });

  it('serves waiters in arrival order, and a newcomer cannot overtake them', async () => {
    const semaphore = new Semaphore(1);
    const order: string[] = [];
    const first = await semaphore.acquire();
    const waiting = ['a', 'b', 'c'].map((name) =>
      semaphore.acquire().then((release) => {
        order.push(name);
        return release;
      }),
    );
    expect(semaphore.waiting).toBe(3);
    first();
    const a = await waiting[0]!;
    const late = semaphore.acquire().then((release) => {
      order.push('late');
      return release;
    });
    a();
    (await waiting[1]!)();
    (await waiting[2]!)();
    (await late)();
    expect(order).toEqual(['a', 'b', 'c', 'late']);
    expect(semaphore.inUse).toBe(0);
  });

  it('ignores a second release of the same permit', async () => {
    const semaphore = new Semaphore(2);
    const release = await semaphore.acquire();
    await semaphore.acquire();
    release();
    release();
    expect(semaphore.inUse).toBe(1);
  });

  it('releases the permit when the task throws', async () => {
    const semaphore = new Semaphore(1);
    await expect(semaphore.use(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(semaphore.inUse).toBe(0);
    let ran = false;
    await semaphore.use(async () => {
      ran = true;
    });
    expect(ran).toBe(true);
  });

  it('keeps later waiters waiting while permits are held', async () => {
    const semaphore = new Semaphore(2);
    await semaphore.acquire();
    await semaphore.acquire();
    let got = false;
    void semaphore.acquire().then(() => (got = true));
    await tick();
    expect(got).toBe(false);
    expect(semaphore.waiting).toBe(1);
  });

  it('rejects a limit that is not a positive integer', () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
    expect(() => new Semaphore(1.5)).toThrow(RangeError);
  });
});
