import { describe, expect, it } from 'vitest';
import type { ReleaseEvent } from '../../../src/engine/ledger';
import {
  gatePassesOf,
  gatePassMessage,
  judgeGate,
  parseGatePass,
  protectionWarning,
  rejectionOf,
  repositoryVisibility,
  reviewerWho,
  type GatePass,
  type Review,
} from '../../../src/actions/lib/gates';

const approved = (env: string, login: string, comment: string): Review => ({
  environments: [env],
  state: 'approved',
  login,
  comment,
});
const rejected = (env: string, login: string, comment: string): Review => ({
  ...approved(env, login, comment),
  state: 'rejected',
});
const pass = (env: string, login: string, comment: string, attempt = 1): GatePass => ({
  environment: env,
  runId: 302,
  attempt,
  login,
  comment,
});

describe('the gate event in the record', () => {
  it('reads back what it writes, quotes and new lines included', () => {
    for (const p of [
      pass('production-bake', 'alice', 'ship it'),
      pass('prod "eu" west', 'bob', 'line 1\nline "2" \\ end', 3),
      pass('production', 'carol', ''),
    ]) {
      expect(parseGatePass(gatePassMessage(p))).toEqual(p);
    }
    expect(gatePassMessage(pass('production-bake', 'alice', 'ship it'))).toBe(
      'gate "production-bake" approved by alice in run 302 (attempt 1): "ship it"',
    );
    expect(parseGatePass('scan gate: passed (0 findings)')).toBeNull();
  });

  it('keeps only this run’s gate events', () => {
    const ev = (message: string, type: ReleaseEvent['type'] = 'gate'): ReleaseEvent => ({
      at: '2025-01-01T00:00:00.000Z',
      group: 'web',
      deployment: 'd1',
      type,
      message,
    });
    const mine = pass('production', 'alice', 'go');
    const other = { ...pass('production', 'bob', 'go'), runId: 301 };
    expect(
      gatePassesOf(
        [
          ev(gatePassMessage(mine)),
          ev(gatePassMessage(other)),
          ev(gatePassMessage(mine), 'warn'),
          ev('scan gate: passed'),
        ],
        302,
      ),
    ).toEqual([mine]);
  });
});

describe('judgeGate: an approval of this job, in this attempt as far as GitHub tells', () => {
  const B = 'production-bake';
  const P = 'production';
  const cases: [string, string, Review[], GatePass[], string][] = [
    ['no review at all (environment missing or open)', B, [], [], 'none 0/0'],
    ['an approval no step used', B, [approved(B, 'alice', 'a')], [], 'alice'],
    [
      'the one approval was used by attempt 1; attempt 2 ran without a review (protection removed)',
      B,
      [approved(B, 'alice', 'a')],
      [pass(B, 'alice', 'a')],
      'none 1/1',
    ],
    [
      'attempt 2 was approved again',
      B,
      [approved(B, 'alice', 'a1'), approved(B, 'bob', 'a2')],
      [pass(B, 'alice', 'a1')],
      'bob',
    ],
    [
      'the used approval is matched by reviewer and comment, not by position',
      P,
      [approved(P, 'bob', 'continue'), approved(P, 'alice', 'roll')],
      [pass(P, 'alice', 'roll')],
      'bob',
    ],
    [
      'another environment’s approval does not count',
      P,
      [approved(B, 'alice', 'a')],
      [],
      'none 0/0',
    ],
    ['a rejection is no approval', P, [rejected(P, 'bob', 'no')], [], 'none 0/0'],
    ['names are not case sensitive', P, [approved('Production', 'alice', 'a')], [], 'alice'],
    [
      'a used approval that matches nothing still takes one away (fail closed)',
      P,
      [approved(P, 'alice', 'a')],
      [pass(P, 'mallory', 'lost record')],
      'none 1/1',
    ],
    [
      'one review for two environments counts for each',
      P,
      [{ environments: [B, P], state: 'approved', login: 'alice', comment: 'both' }],
      [pass(B, 'alice', 'both')],
      'alice',
    ],
  ];
  it.each(cases)('%s', (_name, environment, reviews, passes, want) => {
    const v = judgeGate(reviews, environment, passes);
    expect(v.kind === 'approved' ? v.review.login : `none ${v.approvals}/${v.used}`).toBe(want);
  });
});

describe('rejectionOf: the stop job tells a rejected gate from a failed job', () => {
  it.each([
    ['rejected', [rejected('production-bake', 'bob', 'no')], 'bob'],
    ['approved, then the runner was lost', [approved('production-bake', 'alice', 'go')], null],
    ['nothing reviewed (checkout failed before an open gate)', [], null],
    [
      'attempt 1 rejected, attempt 2 approved: the newest decides',
      [rejected('production-bake', 'bob', 'no'), approved('production-bake', 'alice', 'go')],
      null,
    ],
    ['another environment rejected', [rejected('staging', 'bob', 'no')], null],
  ] as [string, Review[], string | null][])('%s', (_name, reviews, want) => {
    expect(rejectionOf(reviews, ['production-bake', 'production'])?.review.login ?? null).toBe(
      want,
    );
  });
});

describe('who, warnings and the repository', () => {
  it('puts the reviewer, the gate and the comment (one line, clipped) in who', () => {
    expect(reviewerWho('alice', 'approved', 'production-bake', 'ship\nit')).toBe(
      'alice (approved production-bake: "ship it")',
    );
    expect(reviewerWho('bob', 'rejected', 'production', '')).toBe('bob (rejected production)');
    expect(reviewerWho('a', 'approved', 'p', 'x'.repeat(100))).toMatch(/"x{59}…"\)$/);
  });

  it('warns about a missing, open or (in a private repository) unenforced gate; not about a protected one', () => {
    expect(protectionWarning('production-bake', { kind: 'missing' }, 'public')).toMatch(
      /does not exist: the job naming it creates it without protection.*Settings → Environments → production-bake → Required reviewers/,
    );
    expect(
      protectionWarning('production', { kind: 'open', rules: ['wait_timer'] }, 'public'),
    ).toMatch(/has no required reviewers \(only wait_timer\)/);
    expect(
      protectionWarning('production', { kind: 'reviewers', reviewers: 1 }, 'public'),
    ).toBeNull();
    expect(
      protectionWarning('production', { kind: 'reviewers', reviewers: 1 }, undefined),
    ).toBeNull();
    expect(protectionWarning('production', { kind: 'reviewers', reviewers: 1 }, 'private')).toMatch(
      /only with GitHub Enterprise \(Free, Pro and Team: public repositories only\)/,
    );
  });

  it('reads the visibility from the event payload', () => {
    expect(repositoryVisibility({ repository: { visibility: 'internal', private: true } })).toBe(
      'internal',
    );
    expect(repositoryVisibility({ repository: { private: true } })).toBe('private');
    expect(repositoryVisibility({})).toBeUndefined();
    expect(repositoryVisibility(null)).toBeUndefined();
  });
});
