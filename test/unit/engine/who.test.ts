/**
 * Issue 13 item 3: who pressed what. Every event an operation emits carries who ran it (`by`),
 * the release keeps the trail of its operations ({op, by, at}) — deploy, bake, continue, retry,
 * stop (from this process or another), rollback, reconcile, the takeover of a killed run — the
 * history keeps it, `status` (text and JSON) and the job summary show it, and the record rebuilt
 * from the log alone has the same trail.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { SimulatedClock } from '../../../src/engine/clock';
import type { DeploymentConfig } from '../../../src/model/types';
import { collectStatus } from '../../../src/report/collect';
import { renderStatus } from '../../../src/report/status';
import { renderStatusMarkdown } from '../../../src/report/markdown';
import { rebuildLedger } from '../../../src/store/record-repair';
import { makeConfig, makeGroup, fakePackage, fakePorts } from '../../support/fakes';

function setup(n: number, over: Partial<DeploymentConfig> = {}) {
  const clock = new SimulatedClock(Date.parse('2030-01-02T12:00:00.000Z'));
  const { fleet, traffic, store, ports } = fakePorts(clock);
  const group = makeGroup(n);
  const config = makeConfig({ sizing: { kind: 'ratio', maxUnavailable: 0.5 }, ...over });
  /** One engine per person: each is a run of its own. */
  const as = (who: string) => new Engine(ports, group, config, who, { groupFile: 'web.yml' });
  const pkg = fakePackage;
  const ledger = async () => (await store.load(group.name))!;
  const expectRebuildsSaved = async () => {
    const saved = await ledger();
    delete saved.openRun;
    const rebuilt = rebuildLedger('shop', await store.events('shop'));
    expect(rebuilt.kind).toBe('rebuilt');
    if (rebuilt.kind === 'rebuilt') expect(rebuilt.ledger).toEqual(saved);
  };
  return { clock, fleet, traffic, store, ports, group, as, pkg, ledger, expectRebuildsSaved };
}

const trail = (ops: { op: string; by: string }[] | undefined) =>
  (ops ?? []).map((o) => `${o.op} ${o.by}`);

describe('who pressed what (issue 13 item 3)', () => {
  it('every event of an operation carries who ran it; the release keeps the trail', async () => {
    const s = setup(4);
    await s.as('alice').deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.as('alice').bake();
    await s.as('alice').continue();
    s.fleet.failures.set('web-04', { op: 'install', times: 1 });
    await s.as('alice').deploy({ version: '2.0.0', package: s.pkg('2.0.0') });
    const mark = (await s.store.events('shop')).length;
    s.clock.advance(60_000);
    await s.as('bob').bake();
    const baking = (await s.store.events('shop')).slice(mark);
    expect(baking.length).toBeGreaterThan(2);
    // Every line of the bake says bob pressed it, not just the first.
    expect(new Set(baking.map((e) => e.by))).toEqual(new Set(['bob']));
    expect((await s.as('carol').continue()).phase).toBe('FAILURE');
    expect((await s.as('dave').retry()).phase).toBe('SUCCESS');

    const d = (await s.ledger()).current!;
    expect(trail(d.ops)).toEqual(['deploy alice', 'bake bob', 'continue carol', 'retry dave']);
    // Each entry has the time of the event that started the operation.
    const events = (await s.store.events('shop')).filter((e) => e.deployment === d.id);
    const started = events.filter((e) => e.operation).map((e) => Date.parse(e.at));
    expect(d.ops!.map((o) => o.at)).toEqual(started);
    expect(events.filter((e) => e.by === undefined)).toEqual([]);
    // The history keeps the trail of each release.
    expect(trail((await s.ledger()).history[0]!.ops)).toEqual(trail(d.ops));
    await s.expectRebuildsSaved();

    await s.as('erin').rollback();
    const r = (await s.ledger()).current!;
    expect(r.kind).toBe('rollback');
    expect(trail(r.ops)).toEqual(['rollback erin']);
    await s.expectRebuildsSaved();
  });

  it('a stop from another shell is recorded as its own operation, by who asked for it', async () => {
    const s = setup(6);
    await s.as('alice').deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.as('alice').bake();
    s.fleet.onInstall = async (t) => {
      if (t.id === 'web-02') expect(await s.as('bob').stop()).toBeNull(); // requested
    };
    expect((await s.as('carol').continue()).phase).toBe('ABORTED');
    const d = (await s.ledger()).current!;
    expect(trail(d.ops)).toEqual(['deploy alice', 'bake alice', 'continue carol', 'stop bob']);
    const stop = (await s.store.events('shop')).find((e) => e.type === 'stop')!;
    // The line is carol's run's; the operation is bob's.
    expect(stop).toMatchObject({ by: 'carol', operation: { op: 'stop', by: 'bob' } });
    await s.expectRebuildsSaved();
  });

  it('a stop while nothing runs, and a reconcile, name who did them', async () => {
    const s = setup(4);
    await s.as('alice').deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.as('frank').stop();
    await s.as('gina').reconcile();
    const d = (await s.ledger()).current!;
    expect(trail(d.ops)).toEqual(['deploy alice', 'stop frank', 'reconcile gina']);
    // The release had ended: its history entry follows the trail.
    expect(trail((await s.ledger()).history[0]!.ops)).toEqual(trail(d.ops));
    await s.expectRebuildsSaved();
    // A dry run records nothing.
    await s.as('hal').reconcile({ dryRun: true });
    expect(trail((await s.ledger()).current!.ops)).toEqual(trail(d.ops));
  });

  it('the recovery of a killed run says whose run was killed and who took it over', async () => {
    const s = setup(6);
    await s.as('alice').deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    await s.as('alice').bake();
    // "Kill" alice's continue: an install that never returns; her run lock is gone with her.
    s.fleet.onInstall = (t) => (t.id === 'web-03' ? new Promise<void>(() => undefined) : undefined);
    void s.as('alice').continue();
    await new Promise((r) => setTimeout(r, 50));
    expect((await s.ledger()).openRun).toBe('alice');
    s.store.shared.runLock.clear();
    s.fleet.onInstall = () => undefined;
    s.fleet.host('web-03').lock = null;
    expect((await s.as('bob').continue()).phase).toBe('SUCCESS');
    const d = (await s.ledger()).current!;
    expect(trail(d.ops)).toEqual([
      'deploy alice',
      'bake alice',
      'continue alice',
      'takeover bob',
      'continue bob',
    ]);
    const taken = (await s.store.events('shop')).find((e) => e.operation?.op === 'takeover')!;
    expect(taken.message).toMatch(/alice.*did not finish.*bob takes over/);
    // The reset of the step the killed run left running is bob's.
    const reset = (await s.store.events('shop')).find((e) =>
      e.message.includes('interrupted by a killed run'),
    )!;
    expect(reset.by).toBe('bob');
    await s.expectRebuildsSaved();
  });

  it('status (text and JSON) and the job summary show the trail', async () => {
    const s = setup(4);
    await s.as('alice').deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    s.clock.advance(7 * 60_000);
    await s.as('bob').bake();
    s.clock.advance(60_000);
    await s.as('carol').continue();
    const st = await collectStatus(s.ports, s.group, 10, { groupFile: 'web.yml' });
    expect(trail(st.release!.ops)).toEqual(['deploy alice', 'bake bob', 'continue carol']);
    const text = renderStatus(st);
    expect(text).toContain(
      'operations: deploy by alice 12:00 · bake by bob 12:07 · continue by carol 12:08',
    );
    // The history line names who pressed what after the start.
    expect(text).toMatch(/deploy\s+1\.0\.0\s+success\s+by alice · bake bob · continue carol/);
    const md = renderStatusMarkdown(st, { live: [] });
    expect(md).toContain('deploy by alice 12:00 · bake by bob 12:07 · continue by carol 12:08');
    expect(JSON.parse(JSON.stringify(st)).release.ops[1]).toMatchObject({ op: 'bake', by: 'bob' });
  });
});
