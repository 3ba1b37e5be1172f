import { describe, expect, it } from 'vitest';
import {
  driftOf,
  judgeTarget,
  repairCommand,
  type Judgement,
  type ReleaseFacts,
  type TargetFacts,
  type TargetTruth,
} from '../../../src/engine/way-back';
import type { TargetState } from '../../../src/model/states';
import type { Phase } from '../../../src/model/states';

const release = (over: Partial<ReleaseFacts> = {}): ReleaseFacts => ({
  phase: 'ABORTED',
  kind: 'deploy',
  version: '2.0.0',
  fromVersion: '1.0.0',
  processGone: false,
  rollbackTo: '1.0.0',
  ...over,
});

/** A target whose chain started (markdown recorded) and sits in `state`. */
const target = (
  state: TargetState,
  over: Partial<TargetFacts> & { lbUnknown?: string; markdown?: boolean } = {},
): TargetFacts => ({
  id: 'web-02',
  pulledOut: over.pulledOut ?? false,
  bastion: over.bastion ?? false,
  record: {
    state,
    steps: over.markdown === false ? {} : { markdown: { startedAt: 1 } },
    ...(over.lbUnknown ? { lbUnknown: over.lbUnknown } : {}),
  },
});

const truth = (
  traffic: TargetTruth['traffic'],
  current: string | null | undefined,
  healthy: boolean | null = true,
): TargetTruth => ({
  current,
  healthy,
  ...(healthy && current ? { healthVersion: current } : {}),
  healthDetail: healthy ? 'HTTP 200' : 'connection refused',
  traffic,
});

type Want =
  | { kind: 'serving' }
  | { kind: 'restore'; version: string; to: string | null }
  | { kind: 'clear' }
  | { kind: 'out'; command: string };

const cases: {
  name: string;
  d: ReleaseFacts | null;
  t: TargetFacts;
  h: TargetTruth;
  want: Want;
}[] = [
  {
    name: 'in traffic, healthy: serving',
    d: release(),
    t: target('MARKUP_SUCCESS'),
    h: truth('up', '2.0.0'),
    want: { kind: 'serving' },
  },
  {
    name: 'no load balancer at all (traffic none), healthy: serving',
    d: release({ phase: 'SUCCESS' }),
    t: target('MARKUP_SUCCESS'),
    h: truth('none', '2.0.0'),
    want: { kind: 'serving' },
  },
  {
    name: 'hard stop mid-verify, healthy on the new version, in MAINT: back in (MARKUP_SUCCESS)',
    d: release(),
    t: target('VERIFY_FAILURE'),
    h: truth('maint', '2.0.0'),
    want: { kind: 'restore', version: '2.0.0', to: 'MARKUP_SUCCESS' },
  },
  {
    name: 'killed mid-install, install finished on the host: back in on the new version',
    d: release({ phase: 'ROLLING_OUT', processGone: true }),
    t: target('INSTALL_RUNNING'),
    h: truth('maint', '2.0.0'),
    want: { kind: 'restore', version: '2.0.0', to: 'MARKUP_SUCCESS' },
  },
  {
    name: 'hard stop mid-install, still on the old version: back in, the record back to PENDING',
    d: release(),
    t: target('INSTALL_FAILURE'),
    h: truth('maint', '1.0.0'),
    want: { kind: 'restore', version: '1.0.0', to: 'reset' },
  },
  {
    name: 'a failed install in a FAILURE release, old version healthy: back in, failure kept for retry',
    d: release({ phase: 'FAILURE' }),
    t: target('INSTALL_FAILURE'),
    h: truth('maint', '1.0.0'),
    want: { kind: 'restore', version: '1.0.0', to: null },
  },
  {
    name: 'a dead run left it marked down: back in on the old version, PENDING for continue',
    d: release({ phase: 'ROLLING_OUT', processGone: true }),
    t: target('MARKDOWN_SUCCESS'),
    h: truth('drain', '1.0.0'),
    want: { kind: 'restore', version: '1.0.0', to: 'PENDING' },
  },
  {
    name: 'the LB answers again for an LB-unknown target it shows in traffic: the note goes',
    d: release({ phase: 'SUCCESS' }),
    t: target('MARKUP_SUCCESS', { lbUnknown: 'markup skipped' }),
    h: truth('up', '2.0.0'),
    want: { kind: 'clear' },
  },
  {
    name: 'LB back, LB-unknown target still in MAINT, verified: back in, state kept',
    d: release({ phase: 'SUCCESS' }),
    t: target('MARKUP_SUCCESS', { lbUnknown: 'markup skipped' }),
    h: truth('maint', '2.0.0'),
    want: { kind: 'restore', version: '2.0.0', to: null },
  },
  {
    name: 'the LB still does not answer: out, reconcile once it does',
    d: release({ phase: 'SUCCESS' }),
    t: target('MARKUP_SUCCESS', { lbUnknown: 'markup skipped' }),
    h: truth('unknown', '2.0.0'),
    want: { kind: 'out', command: 'reconcile' },
  },
  {
    name: 'out of traffic and unhealthy after a FAILURE: retry',
    d: release({ phase: 'FAILURE' }),
    t: target('VERIFY_FAILURE'),
    h: truth('maint', '2.0.0', false),
    want: { kind: 'out', command: 'retry' },
  },
  {
    name: 'out of traffic and unhealthy after a stop: rollback',
    d: release(),
    t: target('VERIFY_FAILURE'),
    h: truth('maint', '2.0.0', false),
    want: { kind: 'out', command: 'rollback' },
  },
  {
    name: 'unhealthy after a stop, nothing to roll back to: a new release',
    d: release({ rollbackTo: null }),
    t: target('VERIFY_FAILURE'),
    h: truth('maint', '2.0.0', false),
    want: { kind: 'out', command: 'deploy' },
  },
  {
    name: 'unhealthy while braked: continue (retry re-runs it after)',
    d: release({ phase: 'BRAKED' }),
    t: target('INSTALL_FAILURE'),
    h: truth('maint', '1.0.0', false),
    want: { kind: 'out', command: 'continue' },
  },
  {
    name: 'unhealthy in a dead run: continue resumes it',
    d: release({ phase: 'ROLLING_OUT', processGone: true }),
    t: target('INSTALL_RUNNING'),
    h: truth('maint', '2.0.0', false),
    want: { kind: 'out', command: 'continue' },
  },
  {
    name: 'the bastion waiting for its bake: bake, never reconcile',
    d: release({ phase: 'SMOKE_SUCCESS' }),
    t: target('VERIFY_SUCCESS', { bastion: true }),
    h: truth('maint', '2.0.0'),
    want: { kind: 'out', command: 'bake' },
  },
  {
    name: 'a stopped release’s bastion, verified but never baked: rollback (no bake without a person)',
    d: release(),
    t: target('VERIFY_SUCCESS', { bastion: true }),
    h: truth('maint', '2.0.0'),
    want: { kind: 'out', command: 'rollback' },
  },
  {
    name: 'a stopped release’s bastion still on the old version: back in',
    d: release(),
    t: target('MARKDOWN_SUCCESS', { bastion: true }),
    h: truth('maint', '1.0.0'),
    want: { kind: 'restore', version: '1.0.0', to: 'PENDING' },
  },
  {
    name: 'a bastion whose bake was pressed (LB down at bake), healthy: back in, BAKE_SUCCESS',
    d: release({ phase: 'SMOKE_SUCCESS' }),
    t: target('BAKE_FAILURE', { bastion: true }),
    h: truth('maint', '2.0.0'),
    want: { kind: 'restore', version: '2.0.0', to: 'BAKE_SUCCESS' },
  },
  {
    name: 'pulled out by the operator (M6): never touched',
    d: release(),
    t: target('PENDING', { pulledOut: true, markdown: false }),
    h: truth('maint', '1.0.0'),
    want: { kind: 'out', command: 'none' },
  },
  {
    name: 'in MAINT but the release never touched it: left to whoever did',
    d: release(),
    t: target('PENDING', { markdown: false }),
    h: truth('maint', '1.0.0'),
    want: { kind: 'out', command: 'none' },
  },
  {
    name: 'marked up by the release, in MAINT now: someone took it out by hand',
    d: release({ phase: 'SUCCESS' }),
    t: target('MARKUP_SUCCESS'),
    h: truth('maint', '2.0.0'),
    want: { kind: 'out', command: 'none' },
  },
  {
    name: 'the host does not answer: out, reconcile once it does',
    d: release(),
    t: target('MARKUP_SUCCESS'),
    h: truth('up', undefined, null),
    want: { kind: 'out', command: 'reconcile' },
  },
  {
    name: 'serves the old version but its download failed in a FAILURE release: serving, retry',
    d: release({ phase: 'FAILURE' }),
    t: target('DOWNLOAD_FAILURE', { markdown: false }),
    h: truth('up', '1.0.0'),
    want: { kind: 'serving' },
  },
  {
    name: 'in traffic but not healthy: out, by the phase',
    d: release({ phase: 'SUCCESS' }),
    t: target('MARKUP_SUCCESS'),
    h: truth('up', '2.0.0', false),
    want: { kind: 'out', command: 'rollback' },
  },
  {
    name: 'no release at all, out of traffic: not rollgate’s',
    d: null,
    t: { id: 'web-02', pulledOut: false, bastion: false, record: null },
    h: truth('maint', '1.0.0'),
    want: { kind: 'out', command: 'none' },
  },
];

function summary(j: Judgement): Want {
  switch (j.kind) {
    case 'serving':
      return { kind: 'serving' };
    case 'clear':
      return { kind: 'clear' };
    case 'restore':
      return { kind: 'restore', version: j.version, to: j.to };
    case 'out':
      return { kind: 'out', command: j.command };
  }
}

describe('judgeTarget: serving, put back by reconcile, or out with its one command', () => {
  it.each(cases)('$name', ({ d, t, h, want }) => {
    const j = judgeTarget(d, t, h);
    expect(summary(j)).toEqual(want);
    if (j.kind === 'out' || j.kind === 'restore') expect(j.why.length).toBeGreaterThan(10);
  });

  it('a failed target that still serves carries its failure and the command', () => {
    const j = judgeTarget(
      release({ phase: 'FAILURE' }),
      target('DOWNLOAD_FAILURE', { markdown: false }),
      truth('up', '1.0.0'),
    );
    expect(j).toMatchObject({ kind: 'serving', failed: { command: 'retry' } });
  });
});

describe('repairCommand by phase', () => {
  it.each<[Phase, boolean, string]>([
    ['FAILURE', false, 'retry'],
    ['SMOKE_FAILURE', false, 'retry'],
    ['BRAKED', false, 'continue'],
    ['PAUSED', false, 'continue'],
    ['BAKE_SUCCESS', false, 'continue'],
    ['ROLLING_OUT', false, 'none'],
    ['ROLLING_OUT', true, 'continue'],
    ['SMOKING', true, 'continue'],
    ['BAKING', true, 'bake'],
    ['SUCCESS', false, 'rollback'],
    ['ABORTED', false, 'rollback'],
  ])('%s (process gone: %s) → %s', (phase, processGone, command) => {
    expect(repairCommand(release({ phase, processGone }))).toBe(command);
  });
});

describe('driftOf', () => {
  it.each<[string, TargetState, string | null, boolean]>([
    ['verified on 2.0.0, runs 2.0.0', 'MARKUP_SUCCESS', '2.0.0', false],
    ['verified on 2.0.0, runs 1.0.0', 'MARKUP_SUCCESS', '1.0.0', true],
    ['not started, runs 1.0.0', 'PENDING', '1.0.0', false],
    ['not started, runs 0.9.0', 'PENDING', '0.9.0', true],
    ['failed install, runs 1.0.0', 'INSTALL_FAILURE', '1.0.0', false],
  ])('%s', (_name, state, current, drift) => {
    expect(driftOf(release(), target(state), truth('up', current)) !== null).toBe(drift);
  });
});

describe('judgeTarget, side-by-side: a verified new slot the LB has not switched to (S7)', () => {
  const sbs = (over: Partial<ReleaseFacts> = {}) =>
    release({ phase: 'ROLLING_OUT', processGone: true, sideBySide: true, ...over });
  const verified = (over: { lbUnknown?: string; bastion?: boolean } = {}) =>
    target('VERIFY_SUCCESS', { markdown: false, ...over });
  const lost = 'markup of web-02 did not complete: load balancer (haproxy) is unavailable';
  type Row = [string, ReleaseFacts, TargetFacts, TargetTruth, Want & { pending?: string }];
  const rows: Row[] = [
    [
      'LB lost at the switch, LB still down: out, continue once it answers',
      sbs(),
      verified({ lbUnknown: lost }),
      truth('unknown', '1.0.0'),
      { kind: 'out', command: 'continue' },
    ],
    [
      'LB back, old slot serving: serving, continue switches it (never "clear" first)',
      sbs(),
      verified({ lbUnknown: lost }),
      truth('up', '1.0.0'),
      { kind: 'serving', pending: 'continue' },
    ],
    [
      'a killed run between verify and the switch: serving, continue',
      sbs(),
      verified(),
      truth('up', '1.0.0'),
      { kind: 'serving', pending: 'continue' },
    ],
    [
      'braked before the next batch: serving, continue',
      sbs({ phase: 'BRAKED', processGone: false }),
      verified(),
      truth('up', '1.0.0'),
      { kind: 'serving', pending: 'continue' },
    ],
    [
      'an operation runs now (it switches it): plain serving',
      sbs({ processGone: false }),
      verified(),
      truth('up', '1.0.0'),
      { kind: 'serving' },
    ],
    [
      'the release ended (ABORTED): plain serving on the old version',
      sbs({ phase: 'ABORTED', processGone: false }),
      verified(),
      truth('up', '1.0.0'),
      { kind: 'serving' },
    ],
    [
      'the bastion keeps its own rule (bake)',
      sbs({ phase: 'SMOKE_SUCCESS', processGone: false }),
      verified({ bastion: true }),
      truth('up', '1.0.0'),
      { kind: 'serving' },
    ],
    [
      'the bastion whose bake the LB did not take: serving on its old slot, bake again',
      sbs({ phase: 'SMOKE_SUCCESS', processGone: false }),
      {
        ...verified({ bastion: true }),
        record: { state: 'BAKE_FAILURE', steps: {}, lbUnknown: lost },
      },
      truth('up', '1.0.0'),
      { kind: 'serving', pending: 'bake' },
    ],
    [
      'in-place keeps its rule: LB back, the note is cleared',
      sbs({ sideBySide: false }),
      verified({ lbUnknown: lost }),
      truth('up', '1.0.0'),
      { kind: 'clear' },
    ],
  ];
  it.each(rows)('%s', (_name, d, t, h, want) => {
    const j = judgeTarget(d, t, h);
    const { pending, ...kind } = want;
    expect(summary(j)).toEqual(kind);
    if (j.kind === 'serving') {
      expect(j.pending?.command).toBe(pending);
      if (pending) expect(j.pending!.why).toMatch(/^new slot verified on 2\.0\.0, not in traffic/);
    }
    if (j.kind === 'out') expect(j.why).toMatch(/load balancer was unavailable/);
  });
});
