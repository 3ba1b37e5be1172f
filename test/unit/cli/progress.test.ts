import { describe, expect, it } from 'vitest';
import { progressLine, track, type InFlight } from '../../../src/cli/progress';
import type { ReleaseEvent } from '../../../src/engine/ledger';

const ev = (over: Partial<ReleaseEvent>): ReleaseEvent => ({
  at: '2026-01-01T00:00:00.000Z',
  group: 'shop',
  deployment: 'shop-1',
  type: 'target',
  message: '',
  ...over,
});

describe('the progress line on a terminal (issue 13 item 11)', () => {
  it('shows each step in flight with its elapsed time, and drops a target when its step ends', () => {
    const f: InFlight = { running: new Map() };
    track(f, ev({ target: 'web-03', state: 'VERIFY_RUNNING' }), 1_000);
    track(f, ev({ target: 'web-04', state: 'INSTALL_RUNNING' }), 3_000);
    expect(progressLine(f, 5_400)).toBe('… web-03 verify 4 s, web-04 install 2 s');
    track(f, ev({ target: 'web-04', state: 'INSTALL_SUCCESS' }), 6_000);
    expect(progressLine(f, 7_000)).toBe('… web-03 verify 6 s');
    track(f, ev({ target: 'web-03', state: 'VERIFY_FAILURE' }), 8_000);
    expect(progressLine(f, 9_000)).toBe('');
  });

  it('counts a wait between batches down', () => {
    const f: InFlight = { running: new Map() };
    track(f, ev({ type: 'wait', message: 'waiting 1m before batch 3' }), 0);
    expect(progressLine(f, 15_000)).toBe('… before batch 3 in 45 s');
    track(f, ev({ type: 'batch', message: 'batch 3/5: web-05' }), 60_000);
    expect(progressLine(f, 60_000)).toBe('');
    // A retry pass's batches are named as the log names them (issue 13 item 9).
    track(f, ev({ type: 'wait', message: 'waiting 1m before retry 1, batch 2' }), 0);
    expect(progressLine(f, 10_000)).toBe('… before retry 1, batch 2 in 50 s');
  });

  it('counts up while a batch waits for the package still on its way to it (issue 17, slow link)', () => {
    const f: InFlight = { running: new Map() };
    const message =
      'waiting for the package to reach batch 3: still on its way while those targets serve';
    track(f, ev({ type: 'wait', message }), 1_000);
    expect(progressLine(f, 34_000)).toBe('… waiting for the package to reach batch 3 33 s');
    track(f, ev({ type: 'batch', message: 'batch 3/4: web-05' }), 35_000);
    expect(progressLine(f, 35_000)).toBe('');
  });

  it.each([
    ['waiting 2m30s before batch 4', '… before batch 4 in 150 s'],
    ['waiting 2.5s before batch 2', '… before batch 2 in 3 s'],
    ['waiting 1h1m before batch 9', '… before batch 9 in 3660 s'],
  ])('reads the wait as the log writes it: %s', (message, line) => {
    const f: InFlight = { running: new Map() };
    track(f, ev({ type: 'wait', message }), 0);
    expect(progressLine(f, 0)).toBe(line);
  });

  it('never wraps: long lines are cut', () => {
    const f: InFlight = { running: new Map() };
    for (let i = 0; i < 30; i++) track(f, ev({ target: `web-${i}`, state: 'VERIFY_RUNNING' }), 0);
    const line = progressLine(f, 1_000, 60);
    expect(line).toHaveLength(60);
    expect(line.endsWith('…')).toBe(true);
  });
});
