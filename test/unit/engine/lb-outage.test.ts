import { describe, expect, it } from 'vitest';
import {
  degradedRefusal,
  pendingSwitches,
  sideBySideOutageAdvice,
  type LbOperation,
} from '../../../src/engine/lb-outage';
import type { TargetRecord } from '../../../src/engine/ledger';
import type { TargetState } from '../../../src/model/states';

const cmd = (c: string) => `\`rollgate ${c} -g g.yml\``;

describe('degradedRefusal: side-by-side never runs with the LB degraded (S7 × F5)', () => {
  type Row = [LbOperation, string | undefined, boolean, RegExp | null];
  const rows: Row[] = [
    ['deploy', '--degrade lb', true, /run it without --degrade lb: `rollgate deploy -g g.yml`\./],
    ['rollback', '--degrade lb', true, /the rollback would switch nothing/],
    [
      'continue',
      '--degrade lb',
      true,
      /`rollgate continue -g g.yml` \(verified hosts are switched without a restart\); or `rollgate stop -g g.yml` ends the release/,
    ],
    ['bake', '--degrade lb', true, /`rollgate bake -g g.yml`/],
    ['retry', '--degrade lb', true, /`rollgate retry -g g.yml`/],
    [
      'deploy',
      'traffic.degraded',
      true,
      /set traffic\.degraded: false in the group file, then run: `rollgate deploy/,
    ],
    ['deploy', undefined, true, null],
    ['deploy', '--degrade lb', false, null],
    ['continue', 'traffic.degraded', false, null],
  ];
  it.each(rows)('%s with %s, side-by-side %s', (op, flag, sbs, want) => {
    const why = degradedRefusal(op, flag, sbs, cmd);
    if (want === null) {
      expect(why).toBeNull();
      return;
    }
    expect(why).toMatch(want);
    expect(why).toContain('Nothing was started');
    expect(why).toContain('`rollgate status -g g.yml` shows what each host serves');
  });
});

const rec = (id: string, state: TargetState, lbUnknown?: string): TargetRecord => ({
  id,
  batch: 1,
  state,
  steps: {},
  attempts: 0,
  ...(lbUnknown ? { lbUnknown } : {}),
});

describe('pendingSwitches and the outage advice', () => {
  const targets = {
    'web-01': rec('web-01', 'MARKUP_SUCCESS'),
    'web-02': rec('web-02', 'VERIFY_SUCCESS', 'markup of web-02 did not complete'),
    'web-03': rec('web-03', 'VERIFY_SUCCESS'),
    'web-04': rec('web-04', 'PENDING'),
    'web-05': rec('web-05', 'BAKE_FAILURE', 'bake of web-05 did not complete'),
  };

  it('names the verified targets whose switch the LB did not take, nothing else', () => {
    expect(pendingSwitches({ targets })).toEqual(['web-02', 'web-05']);
  });

  it('the advice names them and the one command, never --degrade lb', () => {
    const text = sideBySideOutageAdvice({ phase: 'ROLLING_OUT', targets }, 'continue', cmd);
    expect(text).toContain(
      'Verified, not in traffic (the load balancer was unavailable): web-02, web-05.',
    );
    expect(text).toContain('`rollgate continue -g g.yml` switches them without a restart');
    expect(text).toContain('`rollgate stop -g g.yml` ends the release');
    expect(text).not.toContain('--degrade');
  });

  it('with nobody waiting it still says the way on', () => {
    const text = sideBySideOutageAdvice({ phase: 'SMOKE_SUCCESS', targets: {} }, 'bake', cmd);
    expect(text).toMatch(
      /^The release waits in phase SMOKE_SUCCESS\. Once the load balancer answers, `rollgate bake -g g.yml`/,
    );
  });
});
