import { describe, expect, it } from 'vitest';
import {
  emptyLedger,
  type Deployment,
  type HistoryEntry,
  type Ledger,
  type TargetRecord,
} from '../../../src/engine/ledger';
import type { TargetState } from '../../../src/model/states';
import {
  failedOutcome,
  nextActions,
  rollbackTarget,
  staleDeployment,
} from '../../../src/engine/phases';
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

describe('staleDeployment: a host lock of a deployment that runs nowhere is taken over', () => {
  const CUR = 'shop-20260301T120000-aaaa';
  const OLD = 'shop-20260201T120000-bbbb';
  const GONE = 'shop-20260101T120000-cccc';
  const ledger = (phase: Deployment['phase']): Ledger => ({
    ...emptyLedger('shop'),
    current: { id: CUR, kind: 'deploy', version: '1.2.0', phase } as Deployment,
    history: [entry('1.1.0', { id: OLD, kind: 'rollback', outcome: 'aborted' })],
  });
  it.each<[string, Ledger, string, string | null, string | null]>([
    ['the running deployment: refused', ledger('ROLLING_OUT'), CUR, CUR, null],
    [
      "another group's deployment: refused",
      ledger('ABORTED'),
      'api-20260301T120000-aaaa',
      null,
      null,
    ],
    ['not a deployment id: refused', ledger('ABORTED'), 'someone', null, null],
    ['the current one, ended', ledger('ABORTED'), CUR, null, `deploy ${CUR} of 1.2.0 (ABORTED)`],
    [
      'the current one, its process gone',
      ledger('ROLLING_OUT'),
      CUR,
      'shop-20260301T130000-dddd',
      `deploy ${CUR} of 1.2.0 (ROLLING_OUT, its process gone)`,
    ],
    ['one in the history', ledger('SUCCESS'), OLD, CUR, `rollback ${OLD} of 1.1.0 (ABORTED)`],
    [
      'one older than the history',
      ledger('SUCCESS'),
      GONE,
      CUR,
      `${GONE} (an earlier release of shop, no longer in the record)`,
    ],
  ])('%s', (_, l, id, running, described) => {
    expect(staleDeployment(l, 'shop', id, running)).toBe(described);
  });
});

describe('failedOutcome (issue 13 item 11): which targets failed, at which step, why', () => {
  const targets = (...states: [TargetState, string?][]): Record<string, TargetRecord> =>
    Object.fromEntries(
      states.map(([state, error], i) => {
        const id = `web-0${i + 1}`;
        return [id, { id, batch: 1, state, steps: {}, attempts: 0, ...(error ? { error } : {}) }];
      }),
    );
  it.each<[string, Record<string, TargetRecord>, 'FAILURE' | 'SMOKE_FAILURE', string]>([
    [
      'one of three',
      targets(
        ['MARKUP_SUCCESS'],
        ['SKIPPED'],
        ['VERIFY_FAILURE', 'not healthy within 5s: HTTP 500'],
      ),
      'FAILURE',
      '1 of 3 targets failed: web-03 verify: not healthy within 5s: HTTP 500',
    ],
    [
      'the bastion',
      targets(['INSTALL_FAILURE', 'disk full'], ['PENDING']),
      'SMOKE_FAILURE',
      'bastion failed: web-01 install: disk full',
    ],
    [
      'no error recorded',
      targets(['MARKDOWN_FAILURE']),
      'FAILURE',
      '1 of 1 targets failed: web-01 markdown: failed',
    ],
    [
      'control characters from a host are shown escaped',
      targets(['DOWNLOAD_FAILURE', 'bad\nline']),
      'FAILURE',
      '1 of 1 targets failed: web-01 download: bad\\nline',
    ],
    [
      'the first five, and how many more',
      targets(...Array.from({ length: 8 }, (): [TargetState, string] => ['INSTALL_FAILURE', 'x'])),
      'FAILURE',
      '8 of 8 targets failed: web-01 install: x; web-02 install: x; web-03 install: x; ' +
        'web-04 install: x; web-05 install: x; and 3 more',
    ],
  ])('%s', (_, t, phase, line) => {
    expect(failedOutcome({ targets: t }, phase)).toBe(line);
  });
});
