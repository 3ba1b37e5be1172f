import { describe, expect, it } from 'vitest';
import { notificationOf } from '../../../src/app/notify';
import {
  emptyLedger,
  type Deployment,
  type Ledger,
  type ReleaseEvent,
} from '../../../src/engine/ledger';
import type { Phase } from '../../../src/model/states';

function ledger(o: {
  kind?: 'deploy' | 'rollback';
  phase: Phase;
  ops?: Deployment['ops'];
  stop?: Deployment['stop'];
  earlier?: boolean;
}): Ledger {
  const l = emptyLedger('shop');
  l.current = {
    id: 'd2',
    group: 'shop',
    kind: o.kind ?? 'deploy',
    version: o.kind === 'rollback' ? '1.0.0' : '2.0.0',
    fromVersion: o.kind === 'rollback' ? '2.0.0' : '1.0.0',
    phase: o.phase,
    by: 'alice (run 7)',
    ops: o.ops ?? [{ op: 'deploy', by: 'alice (run 7)', at: 1 }],
    ...(o.stop ? { stop: o.stop } : {}),
  } as Deployment;
  if (o.earlier !== false) {
    l.history.push({
      id: 'd1',
      kind: 'deploy',
      version: '1.0.0',
      outcome: 'success',
      createdAt: 0,
      endedAt: 1,
      by: 'bob',
    });
  }
  return l;
}

const phase = (p: Phase, message = `phase ${p}`): ReleaseEvent => ({
  at: '2026-03-01T12:00:05.000Z',
  group: 'shop',
  deployment: 'd2',
  type: 'phase',
  phase: p,
  message,
  by: 'alice (run 7)',
});

describe('notificationOf: which events tell a person, and what', () => {
  it.each([
    [
      'SMOKE_SUCCESS',
      'bastion-verified',
      'bastion verified, waiting for bake',
      'bake or stop',
      ['bake', 'stop'],
      true,
    ],
    [
      'BAKE_SUCCESS',
      'baked',
      'baked, waiting for continue',
      'continue or stop',
      ['continue', 'stop'],
      true,
    ],
    [
      'PAUSED',
      'paused',
      'batch done, waiting for continue',
      'continue or stop',
      ['continue', 'stop'],
      true,
    ],
    [
      'BRAKED',
      'braked',
      'braked: too many targets failed',
      'continue or stop',
      ['continue', 'stop'],
      true,
    ],
    ['SMOKE_FAILURE', 'bastion-failed', 'bastion failed', 'retry or stop', ['retry', 'stop'], true],
    ['FAILURE', 'failed', 'failed', 'retry or rollback', ['retry', 'rollback'], true],
    ['SUCCESS', 'succeeded', 'succeeded', 'rollback (to 1.0.0) at any time', ['rollback'], false],
    ['ABORTED', 'stopped', 'stopped', 'rollback or a new release', ['rollback'], false],
  ] as const)('%s → %s', (p, kind, headline, next, buttons, urgent) => {
    const n = notificationOf(phase(p), ledger({ phase: p }), {
      environment: 'production',
      link: 'https://ci.example/runs/7',
    });
    expect(n).toEqual({
      kind,
      headline,
      detail: `phase ${p}`,
      group: 'shop',
      environment: 'production',
      version: '2.0.0',
      deployment: 'd2',
      by: 'alice (run 7)',
      at: '2026-03-01T12:00:05.000Z',
      next,
      buttons,
      link: 'https://ci.example/runs/7',
      urgent,
    });
  });

  it.each(['SMOKING', 'BAKING', 'ROLLING_OUT'] as const)('%s (running) → nothing', (p) => {
    expect(notificationOf(phase(p), ledger({ phase: p }))).toBeNull();
  });

  it('a target or batch event → nothing; an event of another release → nothing', () => {
    const l = ledger({ phase: 'SMOKE_SUCCESS' });
    expect(
      notificationOf({ ...phase('SMOKE_SUCCESS'), type: 'target', phase: undefined }, l),
    ).toBeNull();
    expect(notificationOf({ ...phase('SMOKE_SUCCESS'), deployment: 'd0' }, l)).toBeNull();
    expect(notificationOf(phase('SMOKE_SUCCESS'), null)).toBeNull();
  });

  it('who acted: the last operation (the baker, not the deployer); a stop: the stopper', () => {
    const ops = [
      { op: 'deploy' as const, by: 'alice (run 7)', at: 1 },
      { op: 'bake' as const, by: 'carol (run 7, attempt 2)', at: 2 },
    ];
    expect(notificationOf(phase('BAKE_SUCCESS'), ledger({ phase: 'BAKE_SUCCESS', ops }))?.by).toBe(
      'carol (run 7, attempt 2)',
    );
    const stopped = ledger({ phase: 'ABORTED', ops, stop: { by: 'dave (Ctrl-C)', hard: false } });
    expect(notificationOf(phase('ABORTED'), stopped)?.by).toBe('dave (Ctrl-C)');
  });

  it('a rollback: "rolled back from 2.0.0" when it ends; its failure says rollback', () => {
    const ok = notificationOf(phase('SUCCESS'), ledger({ kind: 'rollback', phase: 'SUCCESS' }));
    expect(ok).toMatchObject({
      kind: 'rolled-back',
      headline: 'rolled back from 2.0.0',
      version: '1.0.0',
    });
    const failed = notificationOf(phase('FAILURE'), ledger({ kind: 'rollback', phase: 'FAILURE' }));
    expect(failed).toMatchObject({ kind: 'failed', headline: 'rollback failed' });
  });

  it('the first release: no rollback button, "a new release" instead', () => {
    const n = notificationOf(phase('SUCCESS'), ledger({ phase: 'SUCCESS', earlier: false }));
    expect(n).toMatchObject({
      next: 'a new release (no earlier version to roll back to)',
      buttons: [],
    });
  });

  it.each([
    ['monitor healthy: 31 polls, every check passed', 'monitor: healthy', false],
    ['monitor degraded: error-ratio 12% > 10%', 'monitor: degraded', true],
    ['monitor unknown: Prometheus did not answer', 'monitor: unknown', true],
  ] as const)('the monitor verdict "%s"', (message, headline, urgent) => {
    const e: ReleaseEvent = { ...phase('SUCCESS', message), type: 'monitor', phase: undefined };
    expect(notificationOf(e, ledger({ phase: 'SUCCESS' }))).toMatchObject({
      kind: 'monitor',
      headline,
      urgent,
      detail: message,
      next: 'rollback (to 1.0.0) at any time',
    });
  });

  it('no environment and no link: left out, not empty', () => {
    const n = notificationOf(phase('BRAKED'), ledger({ phase: 'BRAKED' }))!;
    expect('environment' in n).toBe(false);
    expect('link' in n).toBe(false);
  });
});
