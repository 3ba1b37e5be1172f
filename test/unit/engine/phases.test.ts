import { describe, expect, it } from 'vitest';
import { emptyLedger, type HistoryEntry, type Ledger } from '../../../src/engine/ledger';
import { nextActions, rollbackTarget } from '../../../src/engine/phases';
import { PHASES, type Phase } from '../../../src/model/states';

describe('nextActions (U2): the buttons of each phase', () => {
  // phase, buttons; process gone; no earlier version; rollback to 1.0.0 known
  const TABLE: [Phase, string, string, string, string][] = [
    ['SMOKING', 'stop', 'continue or stop', 'stop', 'stop'],
    ['SMOKE_SUCCESS', 'bake or stop', 'bake or stop', 'bake or stop', 'bake or stop'],
    ['SMOKE_FAILURE', 'retry or stop', 'retry or stop', 'retry or stop', 'retry or stop'],
    ['BAKING', 'stop', 'bake or stop', 'stop', 'stop'],
    [
      'BAKE_SUCCESS',
      'continue or stop',
      'continue or stop',
      'continue or stop',
      'continue or stop',
    ],
    ['ROLLING_OUT', 'stop', 'continue or stop', 'stop', 'stop'],
    ['PAUSED', 'continue or stop', 'continue or stop', 'continue or stop', 'continue or stop'],
    ['BRAKED', 'continue or stop', 'continue or stop', 'continue or stop', 'continue or stop'],
    [
      'SUCCESS',
      'rollback at any time',
      'rollback at any time',
      'a new release (no earlier version to roll back to)',
      'rollback (to 1.0.0) at any time',
    ],
    [
      'FAILURE',
      'retry or rollback',
      'retry or rollback',
      'retry (no earlier version to roll back to)',
      'retry or rollback',
    ],
    [
      'ABORTED',
      'rollback or a new release',
      'rollback or a new release',
      'a new release (no earlier version to roll back to)',
      'rollback or a new release',
    ],
  ];

  it('covers every phase', () => {
    expect(TABLE.map(([p]) => p)).toEqual([...PHASES]);
  });

  it.each(TABLE)('%s → %s', (phase, buttons, gone, none, to) => {
    expect(nextActions(phase)).toBe(buttons);
    expect(nextActions(phase, true)).toBe(gone);
    expect(nextActions(phase, false, null)).toBe(none);
    expect(nextActions(phase, false, '1.0.0')).toBe(to);
    // At most two buttons, whatever is known.
    for (const text of [buttons, gone, none, to]) {
      expect(text.split(' or ').length).toBeLessThanOrEqual(2);
    }
  });
});

const entry = (version: string, over: Partial<HistoryEntry> = {}): HistoryEntry => ({
  id: `shop-${version}`,
  kind: 'deploy',
  version,
  outcome: 'success',
  createdAt: 0,
  endedAt: 100,
  by: 'ann',
  ...over,
});

describe('rollbackTarget (F4, U4): where a rollback returns to', () => {
  it.each<[string, Partial<Ledger>, string | undefined]>([
    ['no history: nowhere', {}, undefined],
    ['the newest successful release', { history: [entry('1.1.0'), entry('1.0.0')] }, '1.1.0'],
    [
      'another version than the current one',
      {
        current: { version: '1.1.0' } as Ledger['current'],
        history: [entry('1.1.0'), entry('1.0.0')],
      },
      '1.0.0',
    ],
    [
      'not a failed one',
      { history: [entry('1.2.0', { outcome: 'failure' }), entry('1.1.0')] },
      '1.1.0',
    ],
    [
      'a deploy is preferred over a newer rollback',
      {
        history: [entry('1.0.0', { kind: 'rollback', id: 'r' }), entry('0.9.0')],
      },
      '0.9.0',
    ],
    [
      'only rollbacks succeeded: the newest of them',
      { history: [entry('1.0.0', { kind: 'rollback' }), entry('0.9.0', { kind: 'rollback' })] },
      '1.0.0',
    ],
    [
      'not one a later rollback quarantined',
      {
        history: [entry('1.1.0', { endedAt: 100 }), entry('1.0.0', { endedAt: 50 })],
        quarantined: { '1.1.0': { reason: 'rolled back', at: 200 } },
      },
      '1.0.0',
    ],
    [
      'a release after the quarantine counts again',
      {
        history: [entry('1.1.0', { endedAt: 300 }), entry('1.0.0', { endedAt: 50 })],
        quarantined: { '1.1.0': { reason: 'rolled back', at: 200 } },
      },
      '1.1.0',
    ],
  ])('%s', (_, over, version) => {
    const ledger: Ledger = { ...emptyLedger('shop'), ...over };
    expect(rollbackTarget(ledger)?.version).toBe(version);
  });
});
