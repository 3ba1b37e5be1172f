/**
 * The fleet the page tests show, without a store: group views built from a ledger in memory and
 * the read side of a fleet source over them (the static export and the page app use both).
 */
import { groupView, homeRow, type GroupView } from '../../src/app/fleet-view';
import type { FleetSource } from '../../src/app/fleet-source';
import type { Ledger } from '../../src/engine/ledger';
import { makeConfig } from './fakes';

/** A group name an attacker would choose: every page must escape it. */
export const HOSTILE = '<img src=x onerror=alert(1)>';

/** A group braked after its bastion, whose one log line tries to close the list and script. */
export function brakedView(name: string): GroupView {
  const l: Ledger = {
    schemaVersion: 1,
    group: name,
    history: [],
    quarantined: {},
    current: {
      id: `${name}-1`,
      group: name,
      kind: 'deploy',
      version: '2.0.0',
      fromVersion: '1.0.0',
      package: { version: '2.0.0', path: '/p' },
      config: makeConfig(),
      phase: 'BRAKED',
      by: 'alice',
      createdAt: 1,
      updatedAt: 2,
      batches: [{ index: 0, bastion: true, targets: ['web-01'] }],
      nextBatch: 1,
      targets: {
        'web-01': { id: 'web-01', batch: 0, state: 'MARKUP_SUCCESS', steps: {}, attempts: 1 },
      },
      brakeAccepted: 0,
      degraded: [],
    },
  };
  return groupView({
    name,
    ledger: l,
    holder: null,
    events: [
      {
        at: '2026-12-04T23:00:00Z',
        group: name,
        deployment: 'd',
        type: 'warn',
        message: `</li><script>alert(2)</script>`,
      },
    ],
  });
}

/** What a fleet source reads, over fixed views: the home rows, one group, the names. */
export function viewSource(
  views: readonly GroupView[],
): Pick<FleetSource, 'home' | 'group' | 'groupNames'> {
  return {
    home: () => Promise.resolve(views.map(homeRow)),
    group: (n: string) => Promise.resolve(views.find((v) => v.name === n) ?? null),
    groupNames: () => Promise.resolve(views.map((v) => v.name).sort()),
  };
}
