import { describe, expect, it } from 'vitest';
import { TARGET_STATES, type TargetState } from '../../../src/model/states';
import { STEPS } from '../../../src/model/types';
import { transition, TransitionError, type TargetEvent } from '../../../src/engine/target-machine';
import { chainFor } from '../../../src/engine/chain';

/** Every allowed transition (S2). Anything not listed must be refused. */
const ALLOWED: [TargetState, TargetEvent, TargetState][] = [
  ['PENDING', { type: 'start', step: 'markdown' }, 'MARKDOWN_RUNNING'],
  ['PENDING', { type: 'start', step: 'download' }, 'DOWNLOAD_RUNNING'],
  // S7: a side-by-side rollback has neither markdown nor download.
  ['PENDING', { type: 'start', step: 'install' }, 'INSTALL_RUNNING'],
  ['PENDING', { type: 'skip' }, 'SKIPPED'],
  ['DOWNLOAD_SUCCESS', { type: 'start', step: 'markdown' }, 'MARKDOWN_RUNNING'],
  ['DOWNLOAD_SUCCESS', { type: 'start', step: 'install' }, 'INSTALL_RUNNING'],
  ['MARKDOWN_SUCCESS', { type: 'start', step: 'download' }, 'DOWNLOAD_RUNNING'],
  ['MARKDOWN_SUCCESS', { type: 'start', step: 'install' }, 'INSTALL_RUNNING'],
  ['INSTALL_SUCCESS', { type: 'start', step: 'verify' }, 'VERIFY_RUNNING'],
  ['VERIFY_SUCCESS', { type: 'start', step: 'markup' }, 'MARKUP_RUNNING'],
  ['VERIFY_SUCCESS', { type: 'start', step: 'bake' }, 'BAKE_RUNNING'],
  ['BAKE_RUNNING', { type: 'start', step: 'bake' }, 'BAKE_RUNNING'],
  ['BAKE_FAILURE', { type: 'start', step: 'bake' }, 'BAKE_RUNNING'],
  ...STEPS.flatMap((s): [TargetState, TargetEvent, TargetState][] => {
    const S = s.toUpperCase();
    return [
      [`${S}_RUNNING` as TargetState, { type: 'succeed' }, `${S}_SUCCESS` as TargetState],
      [`${S}_RUNNING` as TargetState, { type: 'fail' }, `${S}_FAILURE` as TargetState],
      [`${S}_RUNNING` as TargetState, { type: 'reset' }, 'PENDING'],
      [`${S}_FAILURE` as TargetState, { type: 'reset' }, 'PENDING'],
    ];
  }),
  // Host truth puts the record right (reconcile; a markup the LB did not take).
  ...(['MARKDOWN_SUCCESS', 'DOWNLOAD_SUCCESS', 'INSTALL_SUCCESS', 'VERIFY_SUCCESS'] as const).map(
    (s): [TargetState, TargetEvent, TargetState] => [
      s,
      { type: 'restore', to: 'PENDING' },
      'PENDING',
    ],
  ),
  ['MARKUP_RUNNING', { type: 'restore', to: 'VERIFY_SUCCESS' }, 'VERIFY_SUCCESS'],
  ['MARKUP_FAILURE', { type: 'restore', to: 'VERIFY_SUCCESS' }, 'VERIFY_SUCCESS'],
  ...(
    [
      'INSTALL_RUNNING',
      'INSTALL_SUCCESS',
      'INSTALL_FAILURE',
      'VERIFY_RUNNING',
      'VERIFY_SUCCESS',
      'VERIFY_FAILURE',
      'MARKUP_RUNNING',
      'MARKUP_FAILURE',
    ] as const
  ).map((s): [TargetState, TargetEvent, TargetState] => [
    s,
    { type: 'restore', to: 'MARKUP_SUCCESS' },
    'MARKUP_SUCCESS',
  ]),
  ['BAKE_RUNNING', { type: 'restore', to: 'BAKE_SUCCESS' }, 'BAKE_SUCCESS'],
  ['BAKE_FAILURE', { type: 'restore', to: 'BAKE_SUCCESS' }, 'BAKE_SUCCESS'],
];

const EVENTS: TargetEvent[] = [
  ...STEPS.map((step) => ({ type: 'start', step }) as TargetEvent),
  { type: 'succeed' },
  { type: 'fail' },
  { type: 'skip' },
  { type: 'reset' },
  ...(['PENDING', 'VERIFY_SUCCESS', 'MARKUP_SUCCESS', 'BAKE_SUCCESS'] as const).map(
    (to): TargetEvent => ({ type: 'restore', to }),
  ),
];

const key = (s: TargetState, e: TargetEvent) =>
  `${s} ${e.type}${'step' in e ? ` ${e.step}` : ''}${'to' in e ? ` to ${e.to}` : ''}`;

describe('target state machine (S2)', () => {
  it.each(ALLOWED.map(([from, event, to]) => ({ from, event, to, name: key(from, event) })))(
    '$name → $to',
    ({ from, event, to }) => {
      expect(transition(from, event)).toBe(to);
    },
  );

  it('refuses every transition not in the table', () => {
    const allowed = new Set(ALLOWED.map(([s, e]) => key(s, e)));
    let refused = 0;
    for (const s of TARGET_STATES) {
      for (const e of EVENTS) {
        if (allowed.has(key(s, e))) continue;
        expect(() => transition(s, e), key(s, e)).toThrow(TransitionError);
        refused++;
      }
    }
    expect(refused).toBe(TARGET_STATES.length * EVENTS.length - allowed.size);
  });

  it("contains the seed's state names", () => {
    for (const s of ['VERIFY_SUCCESS', 'VERIFY_FAILURE', 'BAKE_SUCCESS'] as const) {
      expect(TARGET_STATES).toContain(s);
    }
  });

  it.each([
    {
      role: 'rollout',
      kind: 'deploy',
      prefetch: false,
      steps: 'markdown download install verify markup',
    }, // S1 order
    {
      role: 'rollout',
      kind: 'deploy',
      prefetch: true,
      steps: 'download markdown install verify markup',
    },
    { role: 'bastion', kind: 'deploy', prefetch: true, steps: 'download markdown install verify' }, // S4
    { role: 'rollout', kind: 'rollback', prefetch: true, steps: 'markdown install verify markup' }, // F4
    // S7: side-by-side — no markdown; markup is the flip
    {
      role: 'rollout',
      kind: 'deploy',
      prefetch: true,
      strategy: 'side-by-side',
      steps: 'download install verify markup',
    },
    {
      role: 'bastion',
      kind: 'deploy',
      prefetch: true,
      strategy: 'side-by-side',
      steps: 'download install verify',
    },
    {
      role: 'rollout',
      kind: 'rollback',
      prefetch: true,
      strategy: 'side-by-side',
      steps: 'install verify markup',
    },
  ] as const)(
    'chain: $role $kind prefetch=$prefetch → $steps, every step a legal transition',
    (row) => {
      const { role, kind, prefetch, steps } = row;
      const chain = chainFor(role, kind, prefetch, 'strategy' in row ? row.strategy : undefined);
      expect(chain.join(' ')).toBe(steps);
      let state: TargetState = 'PENDING';
      for (const step of chain) {
        state = transition(transition(state, { type: 'start', step }), { type: 'succeed' });
      }
      expect(state).toBe(role === 'bastion' ? 'VERIFY_SUCCESS' : 'MARKUP_SUCCESS');
    },
  );
});
