import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { SimulatedClock } from '../../../src/engine/clock';
import { emptyLedger, type Ledger, type ReleaseEvent } from '../../../src/engine/ledger';
import type { DeploymentConfig } from '../../../src/model/types';
import { ledgerProblem, parseEventLog, rebuildLedger } from '../../../src/store/record-repair';
import {
  FakeFleet,
  FakeTraffic,
  MemoryStore,
  makeConfig,
  makeGroup,
  makeLogger,
  fakePackage,
} from '../../support/fakes';

const ev = (over: Partial<ReleaseEvent>): ReleaseEvent => ({
  at: '2030-01-02T03:04:05.000Z',
  group: 'shop',
  deployment: 'shop-1',
  type: 'warn',
  message: 'm',
  ...over,
});
const line = (e: Partial<ReleaseEvent>) => JSON.stringify(ev(e));

describe('parseEventLog: what a crash or a full disk leaves in events.ndjson', () => {
  const cases: Array<[string, string, number, Array<{ line: number; partial: boolean }>]> = [
    ['an empty log', '', 0, []],
    ['whole lines', `${line({})}\n${line({})}\n`, 2, []],
    [
      'a partial last line (no newline)',
      `${line({})}\n${line({}).slice(0, 30)}`,
      1,
      [{ line: 2, partial: true }],
    ],
    ['a whole last line without its newline', `${line({})}\n${line({})}`, 2, []],
    [
      'a damaged line in the middle',
      `${line({})}\n{"at":"x",\n${line({})}\n`,
      2,
      [{ line: 2, partial: false }],
    ],
    [
      'a partial line glued to the next write',
      `${line({}).slice(0, 20)}\n${line({})}\n`,
      1,
      [{ line: 1, partial: false }],
    ],
    [
      'JSON that is not an event',
      `null\n[1]\n{"at":1}\n${line({})}\n`,
      1,
      [1, 2, 3].map((n) => ({ line: n, partial: false })),
    ],
    [
      'an unknown event type',
      `${line({ type: 'nope' as never })}\n`,
      0,
      [{ line: 1, partial: false }],
    ],
    [
      'an unknown target state',
      `${line({ type: 'target', target: 'a', state: 'WAT' as never })}\n`,
      0,
      [{ line: 1, partial: false }],
    ],
    [
      'a target event without its target',
      `${line({ type: 'target', state: 'PENDING' })}\n`,
      0,
      [{ line: 1, partial: false }],
    ],
    [
      'NUL bytes from a crash before the data reached the disk',
      `${line({})}\n\u0000\u0000\u0000\n`,
      1,
      [{ line: 2, partial: false }],
    ],
    ['blank lines', `\n\n${line({})}\n\n`, 1, []],
  ];
  it.each(cases)('%s', (_name, text, count, damaged) => {
    const parsed = parseEventLog(text);
    expect(parsed.events).toHaveLength(count);
    expect(parsed.damaged.map(({ line: l, partial }) => ({ line: l, partial }))).toEqual(damaged);
  });
});

describe('ledgerProblem: a state.json is trusted only with the shape of a record', () => {
  const good = (): Ledger => {
    const l = emptyLedger('shop');
    l.history.push({
      id: 'shop-1',
      kind: 'deploy',
      version: '1.0.0',
      outcome: 'success',
      createdAt: 1,
      endedAt: 2,
      by: 'alice',
    });
    return l;
  };
  const cases: Array<[string, unknown, RegExp | null]> = [
    ['an empty record', emptyLedger('shop'), null],
    ['a record with history', good(), null],
    ['null', null, /null/],
    ['a number', 42, /number/],
    ['a list', [], /object|record/],
    ['another group', { ...emptyLedger('other') }, /group/],
    ['history not a list', { ...emptyLedger('shop'), history: {} }, /history/],
    [
      'a history entry with a wrong type',
      { ...good(), history: [{ ...good().history[0], endedAt: 'x' }] },
      /history\[0\]/,
    ],
    ['quarantined not an object', { ...emptyLedger('shop'), quarantined: [] }, /quarantined/],
    ['current a string', { ...emptyLedger('shop'), current: 'x' }, /current/],
    ['current without targets', { ...emptyLedger('shop'), current: { id: 'x' } }, /current/],
  ];
  it.each(cases)('%s', (_name, value, problem) => {
    const found = ledgerProblem(value, 'shop');
    if (problem === null) expect(found).toBeNull();
    else expect(found).toMatch(problem);
  });

  it('a record the engine saved mid-release passes; a wrong target state does not', async () => {
    const s = setup(4);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    const saved = (await s.store.load('shop'))!;
    expect(ledgerProblem(saved, 'shop')).toBeNull();
    (saved.current!.targets['web-01'] as { state: string }).state = 'HALF_DONE';
    expect(ledgerProblem(saved, 'shop')).toMatch(/targets\.web-01\.state/);
  });
});

function setup(n: number, over: Partial<DeploymentConfig> = {}) {
  const clock = new SimulatedClock();
  const fleet = new FakeFleet(clock, 100);
  const store = new MemoryStore();
  const group = makeGroup(n);
  const ports = {
    transport: fleet,
    traffic: new FakeTraffic(),
    store,
    clock,
    logger: makeLogger(),
  };
  const engine = new Engine(ports, group, makeConfig(over), 'alice');
  /** Another run (a stop requested in this one stays requested). */
  const fresh = () => new Engine(ports, group, makeConfig(over), 'carol');
  const pkg = fakePackage;
  /** The log rebuilt must give exactly what the engine saved. */
  const expectRebuildsSaved = async () => {
    const saved = (await store.load('shop'))!;
    delete saved.openRun;
    const rebuilt = rebuildLedger('shop', await store.events('shop'));
    expect(rebuilt.kind).toBe('rebuilt');
    if (rebuilt.kind !== 'rebuilt') return;
    expect(rebuilt.notes).toEqual([]);
    expect(rebuilt.ledger).toEqual(saved);
    expect(ledgerProblem(rebuilt.ledger, 'shop')).toBeNull();
  };
  return { clock, fleet, store, engine, fresh, pkg, expectRebuildsSaved, ports, group };
}

describe('rebuildLedger: the record from the release log alone equals the saved record', () => {
  it('a release: bastion, bake, the batches', async () => {
    const s = setup(6, { sizing: { kind: 'ratio', maxUnavailable: 0.5 } });
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.expectRebuildsSaved();
    await s.engine.bake();
    await s.expectRebuildsSaved();
    expect((await s.engine.continue()).phase).toBe('SUCCESS');
    await s.expectRebuildsSaved();
  });

  it('a brake, its release by continue, a failure, a retry in new batches', async () => {
    const s = setup(8);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.engine.bake();
    await s.engine.continue();
    s.fleet.failures.set('web-03', { op: 'install', times: 1 });
    s.fleet.failures.set('web-04', { op: 'install', times: 1 });
    await s.engine.deploy({ version: '2.0.0', package: s.pkg('2.0.0') });
    await s.engine.bake();
    const braked = await s.engine.continue();
    expect(braked.phase).toBe('BRAKED');
    await s.expectRebuildsSaved();
    const failed = await s.engine.continue();
    expect(failed.phase).toBe('FAILURE');
    await s.expectRebuildsSaved();
    const retried = await s.engine.retry();
    expect(retried.phase).toBe('SUCCESS');
    await s.expectRebuildsSaved();
  });

  it('a rollback: the version rolled back from is quarantined, the history kept', async () => {
    const s = setup(4);
    for (const v of ['1.0.0', '2.0.0']) {
      await s.engine.deploy({ version: v, package: s.pkg(v) });
      await s.engine.bake();
      await s.engine.continue();
    }
    expect((await s.engine.rollback()).phase).toBe('SUCCESS');
    await s.expectRebuildsSaved();
    const rebuilt = rebuildLedger('shop', await s.store.events('shop'));
    expect(rebuilt.kind === 'rebuilt' && rebuilt.ledger.quarantined['2.0.0']).toBeTruthy();
  });

  it('a stop mid-batch (ABORTED), and a rollback superseding a release in progress', async () => {
    const s = setup(8);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.engine.bake();
    await s.engine.continue();
    await s.engine.deploy({ version: '2.0.0', package: s.pkg('2.0.0') });
    await s.engine.bake();
    s.fleet.onInstall = (t) => {
      if (t.id === 'web-05') s.engine.requestStop('bob');
    };
    expect((await s.engine.continue()).phase).toBe('ABORTED');
    s.fleet.onInstall = () => undefined;
    await s.expectRebuildsSaved();
    const next = s.fresh();
    await next.deploy({ version: '3.0.0', package: s.pkg('3.0.0') });
    await s.expectRebuildsSaved();
    expect((await next.rollback()).phase).toBe('SUCCESS');
    await s.expectRebuildsSaved();
  });

  it('manual mode: paused between batches', async () => {
    const s = setup(8, { manual: true });
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.engine.bake();
    expect((await s.engine.continue()).phase).toBe('PAUSED');
    await s.expectRebuildsSaved();
    expect((await s.engine.continue()).phase).toBe('PAUSED');
    await s.expectRebuildsSaved();
  });

  it('who pressed what, a stop, retry passes and earlier attempts (issue 13 items 3, 9)', async () => {
    const half: Partial<DeploymentConfig> = { sizing: { kind: 'ratio', maxUnavailable: 0.5 } };
    const s = setup(8, half);
    const as = (who: string) => new Engine(s.ports, s.group, makeConfig(half), who);
    await as('alice').deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await as('bob').bake();
    s.fleet.failures.set('web-03', { op: 'install', times: 2 });
    s.fleet.failures.set('web-06', { op: 'install', times: 1 });
    expect((await as('carol').continue()).phase).toBe('FAILURE');
    expect((await as('dave').retry()).phase).toBe('FAILURE');
    await s.expectRebuildsSaved();
    const dave = as('dave');
    s.fleet.onInstall = (t) => {
      if (t.id === 'web-03') dave.requestStop('erin');
    };
    expect((await dave.retry()).phase).toBe('ABORTED');
    s.fleet.onInstall = () => undefined;
    const d = (await s.store.load('shop'))!.current!;
    expect(d.ops!.map((o) => `${o.op} ${o.by}`)).toEqual([
      'deploy alice',
      'bake bob',
      'continue carol',
      'retry dave',
      'retry dave',
      'stop erin',
    ]);
    expect(d.targets['web-03']!.previous).toHaveLength(2);
    expect(d.batches.filter((b) => b.pass === 2)).toHaveLength(1);
    await s.expectRebuildsSaved();
  });

  it('a bastion that fails, then a retry of the bastion', async () => {
    const s = setup(4);
    s.fleet.failures.set('web-01', { op: 'install', times: 1 });
    expect((await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') })).phase).toBe(
      'SMOKE_FAILURE',
    );
    await s.expectRebuildsSaved();
    expect((await s.engine.retry()).phase).toBe('SMOKE_SUCCESS');
    await s.expectRebuildsSaved();
  });
});

describe('rebuildLedger: what the log cannot say', () => {
  it('a log with no release is empty: nothing was lost', () => {
    expect(rebuildLedger('shop', [])).toEqual({ kind: 'empty' });
    expect(rebuildLedger('shop', [ev({ type: 'monitor' })])).toEqual({ kind: 'empty' });
  });

  it('a release whose start has no details (an older rollgate) cannot be rebuilt', () => {
    const r = rebuildLedger('shop', [
      ev({ type: 'release', message: 'release 1.0.0 of shop by x' }),
    ]);
    expect(r.kind).toBe('impossible');
    expect(r.kind === 'impossible' && r.reason).toMatch(/older rollgate/);
  });

  it('an older release without details is left out of the history, with a note', async () => {
    const s = setup(4);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    const events = [
      ev({ deployment: 'shop-old', type: 'release', message: 'release 0.9 of shop by x' }),
      ev({ deployment: 'shop-old', type: 'phase', phase: 'SUCCESS', message: 'released' }),
      ...(await s.store.events('shop')),
    ];
    const r = rebuildLedger('shop', events);
    expect(r.kind).toBe('rebuilt');
    if (r.kind !== 'rebuilt') return;
    expect(r.notes.join()).toMatch(/shop-old/);
    expect(r.ledger.current!.version).toBe('1.0.0');
  });

  it('events of another group are ignored', async () => {
    const s = setup(4);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    const events = (await s.store.events('shop')).map((e) => ({ ...e, group: 'other' }));
    expect(rebuildLedger('shop', events)).toEqual({ kind: 'empty' });
  });
});
