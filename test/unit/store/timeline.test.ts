import { describe, expect, it } from 'vitest';
import { timelineEvent } from '../../../src/store/timeline-store';
import { emptyLedger, type Ledger, type ReleaseEvent } from '../../../src/engine/ledger';

const ledger = (kind: 'deploy' | 'rollback'): Ledger => ({
  ...emptyLedger('shop'),
  current: { id: 'd1', kind } as Ledger['current'] & object,
});
const ev = (e: Partial<ReleaseEvent>): ReleaseEvent => ({
  at: '2026-01-01T00:00:00Z',
  group: 'shop',
  deployment: 'd1',
  type: 'target',
  message: '',
  ...e,
});

describe('timelineEvent (O4): which events go on the monitoring timeline', () => {
  it.each([
    { e: ev({ type: 'release' }), kind: 'deploy', want: 'release-started' },
    { e: ev({ type: 'release' }), kind: 'rollback', want: 'rollback-started' },
    { e: ev({ type: 'phase', phase: 'SMOKE_SUCCESS' }), kind: 'deploy', want: 'bastion-verified' },
    { e: ev({ type: 'phase', phase: 'BAKE_SUCCESS' }), kind: 'deploy', want: 'baked' },
    { e: ev({ type: 'phase', phase: 'BRAKED' }), kind: 'deploy', want: 'braked' },
    { e: ev({ type: 'phase', phase: 'SUCCESS' }), kind: 'deploy', want: 'released' },
    { e: ev({ type: 'phase', phase: 'SUCCESS' }), kind: 'rollback', want: 'rolled-back' },
    { e: ev({ type: 'phase', phase: 'ROLLING_OUT' }), kind: 'deploy', want: null },
    {
      e: ev({ type: 'monitor', message: 'monitor degraded: error ratio 12% > 10%' }),
      kind: 'deploy',
      want: 'monitor-degraded',
    },
    {
      e: ev({ type: 'monitor', message: 'monitor healthy: 31 polls' }),
      kind: 'deploy',
      want: 'monitor-healthy',
    },
    { e: ev({ type: 'target', state: 'VERIFY_SUCCESS' }), kind: 'deploy', want: null },
    { e: ev({ type: 'batch', message: 'batch 2/5 done' }), kind: 'deploy', want: null },
  ] as const)('$e.type $e.phase ($kind) → $want', ({ e, kind, want }) => {
    expect(timelineEvent(e, ledger(kind))).toBe(want);
  });
});
