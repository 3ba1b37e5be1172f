import { describe, expect, it } from 'vitest';
import { buttonsOf, groupView, homeRow, recordedVersion } from '../../../src/app/fleet-view';
import type { Deployment, Ledger, ReleaseEvent, TargetRecord } from '../../../src/engine/ledger';
import type { Phase, TargetState } from '../../../src/model/states';
import { makeConfig } from '../../support/fakes';

function target(id: string, batch: number, state: TargetState, error?: string): TargetRecord {
  const t0 = 1_000;
  const steps: TargetRecord['steps'] = {};
  const order = ['download', 'markdown', 'install', 'verify', 'markup'] as const;
  const at = order.indexOf(state.split('_')[0]!.toLowerCase() as (typeof order)[number]);
  order.forEach((s, i) => {
    if (at < 0 || i > at) return;
    const running = i === at && state.endsWith('_RUNNING');
    steps[s] = { startedAt: t0 + i * 100, ...(running ? {} : { endedAt: t0 + i * 100 + 50 }) };
  });
  return { id, batch, state, steps, attempts: 1, ...(error ? { error } : {}) };
}

function deployment(
  phase: Phase,
  targets: TargetRecord[],
  over: Partial<Deployment> = {},
): Deployment {
  return {
    id: 'shop-20261204T230000-abcd',
    group: 'shop',
    kind: 'deploy',
    version: '2.0.0',
    fromVersion: '1.0.0',
    package: { version: '2.0.0', path: '/p.tgz' },
    config: makeConfig(),
    phase,
    by: 'alice',
    createdAt: 1_000,
    updatedAt: 2_000,
    batches: [
      { index: 0, bastion: true, targets: ['web-01'] },
      { index: 1, bastion: false, targets: ['web-02', 'web-03'] },
    ],
    nextBatch: 1,
    targets: Object.fromEntries(targets.map((t) => [t.id, t])),
    brakeAccepted: 0,
    degraded: [],
    ...over,
  };
}

function ledger(d: Deployment | null, history: Ledger['history'] = []): Ledger {
  return { schemaVersion: 1, group: 'shop', current: d, history, quarantined: {} };
}

const OK_1 = {
  id: 'shop-1',
  kind: 'deploy' as const,
  version: '1.0.0',
  outcome: 'success' as const,
  createdAt: 10,
  endedAt: 20,
  by: 'bob',
};

describe('fleet view: what the page shows of a group, from the record alone', () => {
  it.each([
    // phase, holder, running, buttons
    ['ROLLING_OUT', { alive: true, who: 'ci' }, true, ['stop']],
    ['ROLLING_OUT', null, false, ['continue', 'stop']], // process gone: the way on
    ['BAKE_SUCCESS', null, false, ['continue', 'stop']],
    ['SMOKE_SUCCESS', null, false, ['bake', 'stop']],
    ['BRAKED', null, false, ['continue', 'stop']],
    ['FAILURE', null, false, ['retry', 'rollback']],
    ['SUCCESS', null, false, ['rollback']],
  ] as const)('%s with run lock %j: running %s, buttons %j', (phase, holder, running, buttons) => {
    const d = deployment(phase, [
      target('web-01', 0, 'MARKUP_SUCCESS'),
      target('web-02', 1, 'PENDING'),
      target('web-03', 1, 'PENDING'),
    ]);
    const v = groupView({ name: 'shop', ledger: ledger(d, [OK_1]), events: [], holder });
    expect(v.release?.running).toBe(running);
    expect(v.release?.buttons).toEqual(buttons);
    expect(v.rollbackTo).toBe('1.0.0');
  });

  it.each([
    ['continue or stop', ['continue', 'stop']],
    ['rollback (to 1.0.0) at any time', ['rollback']],
    ['a new release (no earlier version to roll back to)', []],
    ['rollback or a new release', ['rollback']],
    ['retry (no earlier version to roll back to)', ['retry']],
  ])('buttons of "%s": %j (never more than two)', (next, ops) => {
    expect(buttonsOf(next)).toEqual(ops);
  });

  it.each([
    ['PENDING', '1.0.0'],
    ['DOWNLOAD_SUCCESS', '1.0.0'],
    ['INSTALL_RUNNING', '1.0.0'],
    ['INSTALL_SUCCESS', '2.0.0'],
    ['VERIFY_FAILURE', '2.0.0'],
    ['MARKUP_SUCCESS', '2.0.0'],
    ['SKIPPED', '2.0.0'],
  ] as const)('a target in %s runs %s per the record', (state, version) => {
    const d = deployment('ROLLING_OUT', [target('web-02', 1, state)]);
    expect(recordedVersion(d, 'web-02', '1.0.0')).toBe(version);
  });

  it('draws each target chain, the failed step red with its reason and the way back', () => {
    const d = deployment('BRAKED', [
      target('web-01', 0, 'MARKUP_SUCCESS'),
      target('web-02', 1, 'VERIFY_FAILURE', 'health check timed out'),
      target('web-03', 1, 'INSTALL_RUNNING'),
    ]);
    const v = groupView({
      name: 'shop',
      ledger: ledger(d, [OK_1]),
      events: [],
      holder: null,
      file: {
        path: 'shop.yml',
        targets: ['web-01', 'web-02', 'web-03'].map((id, i) => ({
          id,
          address: `10.0.0.${i + 1}`,
          pulledOut: false,
        })),
        config: makeConfig(),
        loadBalancer: 'haproxy',
        degraded: false,
      },
    });
    const [w1, w2, w3] = v.targets;
    expect(w1!.chain.map((s) => `${s.step}:${s.status}`)).toEqual([
      'download:done',
      'markdown:done',
      'install:done',
      'verify:done',
      'markup:done',
    ]);
    expect(w1!.bastion).toBe(true);
    expect(w1!.batch).toBe(1);
    expect(w2!.chain.at(-1)).toEqual({ step: 'verify', status: 'failed', ms: 50 });
    expect(w2!.out?.why).toContain('VERIFY_FAILURE: health check timed out');
    expect(w2!.out?.why).toContain('out of traffic');
    expect(w2!.out?.command).toBe('rollgate continue -g shop.yml');
    expect(w3!.chain.at(-1)).toEqual({ step: 'install', status: 'running' });
    expect(w1!.span).toEqual({ start: 1_000, end: 1_450 });
    expect(w3!.span).toEqual({ start: 1_000, end: null });
    expect(w3!.out).toBeUndefined();
    expect(v.cluster.loadBalancer).toBe('haproxy');
    expect(v.version).toBe('2.0.0'); // web-01 and web-02 installed it
    expect(v.release?.batches.map((b) => [b.number, b.size, b.done, b.failed])).toEqual([
      [1, 1, 1, 0],
      [2, 2, 0, 1],
    ]);
  });

  it('keeps the log tail with levels and the newest event time; history marks quarantined', () => {
    const ev = (
      type: ReleaseEvent['type'],
      message: string,
      state?: TargetState,
    ): ReleaseEvent => ({
      at: `2026-12-04T23:00:0${message.length % 10}Z`,
      group: 'shop',
      deployment: 'd',
      type,
      message,
      ...(state ? { state } : {}),
    });
    const events = [
      ev('release', 'deploy 2.0.0'),
      ev('target', 'web-02 VERIFY_FAILURE', 'VERIFY_FAILURE'),
      ev('warn', 'lb slow'),
    ];
    const l = ledger(null, [{ ...OK_1, version: '1.1.0', outcome: 'failure' }, OK_1]);
    l.quarantined['1.1.0'] = { reason: 'rolled back', at: 30 };
    const v = groupView({ name: 'shop', ledger: l, events }, 2);
    expect(v.log.map((x) => x.level)).toEqual(['error', 'warn']);
    expect(v.lastEventAt).toBe(events[2]!.at);
    expect(v.history.map((h) => [h.version, h.outcome, h.quarantined])).toEqual([
      ['1.1.0', 'failure', true],
      ['1.0.0', 'success', false],
    ]);
    expect(v.release).toBeNull();
    expect(homeRow(v)).toMatchObject({ name: 'shop', version: '1.0.0', release: null });
  });
});
