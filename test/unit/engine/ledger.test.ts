import { describe, expect, it } from 'vitest';
import {
  deploymentId,
  emptyLedger,
  isDeploymentOf,
  newDeployment,
  type HistoryEntry,
  type Ledger,
  type NewDeployment,
} from '../../../src/engine/ledger';
import { makeConfig } from '../../support/fakes';

describe('deploymentId / isDeploymentOf', () => {
  it.each([
    ['web', Date.UTC(2026, 2, 1, 12, 34, 56, 789), 'a1b2', 'web-20260301T123456-a1b2'],
    ['web-eu', Date.UTC(2026, 11, 31, 23, 59, 59), '0000', 'web-eu-20261231T235959-0000'],
    ['g', 0, 'ffff', 'g-19700101T000000-ffff'],
  ])('%s at %d, suffix %s → %s', (group, now, suffix, id) => {
    expect(deploymentId(group, now, suffix)).toBe(id);
    expect(isDeploymentOf(group, id)).toBe(true);
  });

  it.each([
    ['web', 'web-eu-20261231T235959-0000', false], // another group whose name starts alike
    ['web-eu', 'web-20260301T123456-a1b2', false],
    ['web', 'web-20260301T123456-A1B2', false], // upper-case hex: not ours
    ['web', 'web-20260301T123456-a1b', false],
    ['web', 'web-2026030T123456-a1b2', false],
    ['web', 'api-20260301T123456-a1b2', false],
    ['web', 'web-20260301T123456-a1b2', true],
  ])('group %s, id %s → %s', (group, id, ours) => {
    expect(isDeploymentOf(group, id)).toBe(ours);
  });
});

const ok = (version: string, kind: HistoryEntry['kind'] = 'deploy'): HistoryEntry => ({
  id: `web-${version}`,
  kind,
  version,
  outcome: 'success',
  createdAt: 1,
  endedAt: 2,
  by: 'ann',
});

const input = (over: Partial<NewDeployment> = {}): NewDeployment => ({
  id: 'web-20260301T123456-a1b2',
  group: 'web',
  kind: 'deploy',
  version: '1.2.0',
  package: { version: '1.2.0' },
  config: makeConfig(),
  batches: [
    { index: 0, bastion: true, targets: ['web-01'] },
    { index: 1, bastion: false, targets: ['web-02', 'web-03'] },
  ],
  by: 'ann',
  now: 1_000,
  ...over,
});

describe('newDeployment (M3) — a release as it starts', () => {
  it('worked example: every target PENDING in its batch, a deploy starts SMOKING', () => {
    const d = newDeployment(emptyLedger('web'), input());
    expect(d).toEqual({
      id: 'web-20260301T123456-a1b2',
      group: 'web',
      kind: 'deploy',
      version: '1.2.0',
      fromVersion: null,
      package: { version: '1.2.0' },
      config: makeConfig(),
      phase: 'SMOKING',
      by: 'ann',
      createdAt: 1_000,
      updatedAt: 1_000,
      batches: [
        { index: 0, bastion: true, targets: ['web-01'] },
        { index: 1, bastion: false, targets: ['web-02', 'web-03'] },
      ],
      nextBatch: 0,
      targets: {
        'web-01': { id: 'web-01', batch: 0, state: 'PENDING', steps: {}, attempts: 0 },
        'web-02': { id: 'web-02', batch: 1, state: 'PENDING', steps: {}, attempts: 0 },
        'web-03': { id: 'web-03', batch: 1, state: 'PENDING', steps: {}, attempts: 0 },
      },
      brakeAccepted: 0,
      degraded: [],
      ops: [],
    });
  });

  it.each([
    // kind, history (newest first), fromVersion given, expected phase, expected fromVersion
    { kind: 'deploy', history: [], from: undefined, phase: 'SMOKING', expected: null },
    {
      kind: 'deploy',
      history: [ok('1.1.0'), ok('1.0.0')],
      from: undefined,
      phase: 'SMOKING',
      expected: '1.1.0',
    },
    {
      kind: 'deploy',
      history: [{ ...ok('1.1.1'), outcome: 'failure' }, ok('1.1.0')],
      from: undefined,
      phase: 'SMOKING',
      expected: '1.1.0', // the newest SUCCESSFUL release
    },
    {
      kind: 'rollback',
      history: [ok('1.1.0'), ok('1.0.0')],
      from: '1.1.1', // what ran when the rollback started
      phase: 'ROLLING_OUT',
      expected: '1.1.1',
    },
    { kind: 'rollback', history: [ok('1.0.0')], from: null, phase: 'ROLLING_OUT', expected: null },
  ] as const)(
    '$kind, history $history.length, from $from → $phase, fromVersion $expected',
    ({ kind, history, from, phase, expected }) => {
      const ledger: Ledger = { ...emptyLedger('web'), history: [...history] };
      const d = newDeployment(
        ledger,
        input({ kind, ...(from !== undefined ? { fromVersion: from } : {}) }),
      );
      expect(d.phase).toBe(phase);
      expect(d.fromVersion).toBe(expected);
    },
  );

  it('F5: an LB state the record did not know stays unknown for the targets of the new release', () => {
    const ledger = emptyLedger('web');
    ledger.current = newDeployment(ledger, input());
    ledger.current.targets['web-02']!.lbUnknown = 'markup of web-02 did not complete';
    ledger.current.targets['web-03']!.state = 'MARKUP_FAILURE';
    const d = newDeployment(ledger, input({ id: 'web-20260301T130000-0001' }));
    expect(d.targets['web-02']).toEqual({
      id: 'web-02',
      batch: 1,
      state: 'PENDING',
      steps: {},
      attempts: 0,
      lbUnknown: 'markup of web-02 did not complete',
    });
    expect(d.targets['web-03']).toEqual({
      id: 'web-03',
      batch: 1,
      state: 'PENDING',
      steps: {},
      attempts: 0,
    });
  });

  it('copies the plan: a later change to the release leaves the plan as it was', () => {
    const n = input();
    const d = newDeployment(emptyLedger('web'), n);
    d.batches[1]!.targets.push('web-09');
    expect(n.batches[1]!.targets).toEqual(['web-02', 'web-03']);
  });

  it('writes nothing to the ledger it reads', () => {
    const ledger: Ledger = { ...emptyLedger('web'), history: [ok('1.1.0')] };
    const before = structuredClone(ledger);
    newDeployment(ledger, input());
    expect(ledger).toEqual(before);
  });
});
