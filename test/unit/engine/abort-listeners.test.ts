import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { SimulatedClock } from '../../../src/engine/clock';
import { fakePorts, makeConfig, makeGroup, releaseThrough } from '../../support/fakes';

// Every wait and remote command of every target in flight listens to the engine's one hard-stop
// signal, and lets go when it ends. An in-place rollback runs half the fleet at once (F4): 24
// targets put 12 listeners on it at once — concurrency, not a leak — and Node's default of 10
// printed a MaxListenersExceededWarning in the fleet bench.
const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
afterEach(() => {
  process.off('warning', onWarning);
  warnings.length = 0;
});

describe("the hard-stop signal's listeners", () => {
  it('an in-place rollback of 24 targets: no MaxListenersExceededWarning, none left after it', async () => {
    process.on('warning', onWarning);
    const clock = new SimulatedClock();
    const { ports } = fakePorts(clock);
    const engine = new Engine(ports, makeGroup(24), makeConfig(), 'tester');
    const hard = (engine as unknown as { hard: AbortController }).hard.signal;
    expect((await releaseThrough(engine, '1.0.0')).phase).toBe('SUCCESS');
    expect((await releaseThrough(engine, '2.0.0')).phase).toBe('SUCCESS');
    const rolledBack = await engine.rollback();
    expect(rolledBack.phase).toBe('SUCCESS');
    expect(rolledBack.deployment.batches[0]!.targets).toHaveLength(12);
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    // Not a leak: each listener was removed when its wait or command ended.
    expect(getEventListeners(hard, 'abort')).toHaveLength(0);
  });
});
