import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { brakeInput } from '../../../src/engine/budget';
import type { Deployment, Ledger } from '../../../src/engine/ledger';
import { rebuildLedger } from '../../../src/store/record-repair';
import { SimulatedClock } from '../../../src/engine/clock';
import type { DeploymentConfig } from '../../../src/model/types';
import { brakeLine, renderStatus, summarizeRelease } from '../../../src/report/status';
import { renderStatusMarkdown } from '../../../src/report/markdown';
import { makeConfig, makeGroup, fakePackage, releaseThrough, fakePorts } from '../../support/fakes';

/** 20 hosts at 25%: bastion web-01, then batches of 4 (web-02..05, web-06..09, …) and 3. */
function setup(n: number, over: Partial<DeploymentConfig> = {}) {
  const clock = new SimulatedClock();
  const { fleet, store, logger, ports } = fakePorts(clock);
  const group = makeGroup(n);
  const engine = new Engine(ports, group, makeConfig(over), 'tester');
  return {
    clock,
    fleet,
    logger,
    engine,
    release: (version: string) => releaseThrough(engine, version),
    ledger: async () => (await store.load(group.name))!,
    events: () => store.events(group.name),
    brakeEvents: async () => (await store.events(group.name)).filter((e) => e.type === 'brake'),
    failOnce: (...ids: string[]) => {
      for (const id of ids) fleet.failures.set(id, { op: 'install', times: 1 });
    },
  };
}

const BATCH_2 = ['web-02', 'web-03', 'web-04', 'web-05'];

describe('failure budgets in a release (F7), on the simulated clock', () => {
  it('per-batch 50%: a version failing on every host of batch 2 stops there, though 4 of 20 (20%) is under the global 25%', async () => {
    const s = setup(20, { failureBudget: { perBatch: 0.5 } });
    s.failOnce(...BATCH_2);
    const r = await s.release('1.0.0');
    expect(r).toMatchObject({ status: 'waiting', phase: 'BRAKED' });
    const d = r.deployment;
    expect(d.nextBatch).toBe(2); // before batch 3
    expect(d.targets['web-06']!.state).toBe('PENDING');
    expect(s.fleet.calls.some((c) => c.target === 'web-06' && c.op === 'install')).toBe(false);
    const log = s.logger.lines.join('\n');
    expect(log).toContain(
      'brake before batch 3: batch 2 lost 4 of 4 hosts (100%) ≥ per-batch budget 50% — braked by the per-batch budget',
    );
    expect(log).not.toContain('≥ max unavailable');
    // The record says which rule: on the brake event, and status/the summary from the record.
    expect((await s.ledger()).current!.phase).toBe('BRAKED');
    const st = summarizeRelease(d);
    expect(st.brake).toMatchObject({
      counted: 4,
      left: 0,
      rule: 'perBatch',
      perBatch: 0.5,
      braked: { rule: 'perBatch', rules: ['perBatch'] },
    });
    expect(brakeLine(st.brake!)).toBe(
      'brake: braked by the per-batch budget — batch 2 lost 4 of 4 hosts (100%) ≥ per-batch budget 50% (4 counted, max unavailable 25%)',
    );
    // The job summary (G4) says it too.
    const page = {
      group: 'shop',
      release: st,
      targets: [],
      history: [],
      rollbackTo: null,
      log: [],
    };
    expect(renderStatusMarkdown(page, { live: ['continue', 'stop'] })).toContain(
      '🛑 brake: braked by the per-batch budget — batch 2 lost 4 of 4 hosts (100%) ≥ per-batch budget 50%',
    );
    expect(JSON.parse(JSON.stringify(st)).brake.braked.rule).toBe('perBatch'); // status --json
  });

  it('control: the same failures without a budget roll on past batch 2 (the global ratio is not reached)', async () => {
    const s = setup(20);
    s.failOnce(...BATCH_2);
    const r = await s.release('1.0.0');
    expect(r.phase).toBe('FAILURE');
    expect(r.deployment.targets['web-20']!.state).toBe('MARKUP_SUCCESS');
  });

  it('the brake event carries the rule; continue accepts batch 2 and the next batch losing half brakes again', async () => {
    const s = setup(20, { failureBudget: { perBatch: 0.5 } });
    s.failOnce(...BATCH_2, 'web-10', 'web-11');
    expect((await s.release('1.0.0')).phase).toBe('BRAKED');
    // batch 3 (web-06..09) is clean: batch 2 is not judged again after the continue;
    // batch 4 (web-10..13) loses 2 of 4 → brake before batch 5.
    const r = await s.engine.continue();
    expect(r.phase).toBe('BRAKED');
    expect(r.deployment.nextBatch).toBe(4);
    expect(s.logger.lines.join('\n')).toContain(
      'brake before batch 5: batch 4 lost 2 of 4 hosts (50%) ≥ per-batch budget 50% — braked by the per-batch budget',
    );
    expect((await s.brakeEvents()).map((e) => e.brake)).toEqual([
      { rule: 'perBatch', rules: ['perBatch'] },
      undefined, // brake released by tester
      { rule: 'perBatch', rules: ['perBatch'] },
    ]);
    // T2: a record rebuilt from the log alone says the same (the config, with its budget, is
    // on the release event; brakeAccepted replays from "brake released").
    const rebuilt = rebuildLedger('shop', await s.events());
    expect(rebuilt.kind).toBe('rebuilt');
    const again = (rebuilt as { ledger: Ledger }).ledger.current!;
    expect(again.config.failureBudget).toEqual({ perBatch: 0.5 });
    expect(summarizeRelease(again).brake).toEqual(summarizeRelease(r.deployment).brake);
    expect(summarizeRelease(again).brake!.braked!.reason).toBe(
      'batch 4 lost 2 of 4 hosts (50%) ≥ per-batch budget 50%',
    );
    const r2 = await s.engine.continue();
    expect(r2.phase).toBe('FAILURE');
  });

  it('max failures 3: the third failure brakes before the next batch, whatever the ratio; status counts down', async () => {
    const s = setup(20, { failureBudget: { maxFailures: 3 } });
    s.failOnce('web-02', 'web-03', 'web-06');
    await s.engine.deploy({ version: '1.0.0', package: fakePackage('1.0.0') });
    await s.engine.bake();
    const before = summarizeRelease((await s.ledger()).current!);
    expect(before.brake).toMatchObject({ left: 3, rule: 'maxFailures', maxFailures: 3 });
    expect(brakeLine(before.brake!)).toBe(
      'brake: 3 more failures brake (max failures 3) (0 counted, max unavailable 25%)',
    );
    const r = await s.engine.continue();
    expect(r.phase).toBe('BRAKED');
    expect(r.deployment.nextBatch).toBe(3); // batch 2: 2 failed; batch 3: 1 → 3 → brake before 4
    expect(s.logger.lines.join('\n')).toContain(
      'brake before batch 4: 3 failures counted ≥ max failures 3 — braked by max failures',
    );
    expect(
      renderStatus({
        group: 'shop',
        release: summarizeRelease(r.deployment),
        targets: [],
        history: [],
        rollbackTo: null,
        log: [],
      }),
    ).toContain('brake: braked by max failures — 3 failures counted ≥ max failures 3');
  });

  it('status during the run: "1 more failure brakes" when batch 2 has lost 1 of its 2 allowed', async () => {
    const s = setup(20, { failureBudget: { perBatch: 0.5 } });
    let line = '';
    s.fleet.onInstall = async (t) => {
      if (t.id !== 'web-05') return;
      // web-02 failed already (its install ran first); the batch of 4 brakes at 2.
      const d = (await s.ledger()).current!;
      line = brakeLine(summarizeRelease(d).brake!);
    };
    s.failOnce('web-02');
    await s.release('1.0.0');
    expect(line).toBe(
      'brake: 1 more failure brakes (per-batch budget 50%: batch 2 has lost 1 of 4) (1 counted, max unavailable 25%)',
    );
  });

  it('skipped hosts count in the batch: 1 failed of 4 with 2 already on the version is 25%, not 50%', async () => {
    const s = setup(20, { failureBudget: { perBatch: 0.5 } });
    expect((await s.release('1.0.0')).phase).toBe('SUCCESS');
    // web-02 and web-03 were put on 2.0.0 by hand: healthy, in traffic → SKIPPED (F3).
    for (const id of ['web-02', 'web-03']) {
      const h = s.fleet.host(id);
      h.releases.push('2.0.0');
      h.current = '2.0.0';
      h.running = true;
    }
    s.failOnce('web-04');
    const r = await s.release('2.0.0');
    const t = r.deployment.targets;
    expect([t['web-02']!.state, t['web-03']!.state, t['web-04']!.state]).toEqual([
      'SKIPPED',
      'SKIPPED',
      'INSTALL_FAILURE',
    ]);
    expect(r.phase).toBe('FAILURE'); // rolled on past batch 2: 1 of 4 hosts (25%) < 50%
    expect(s.logger.lines.join('\n')).not.toContain('brake before');
  });

  it('manual mode: the brake comes before the pause', async () => {
    const s = setup(20, { manual: true, failureBudget: { perBatch: 0.5 } });
    s.failOnce(...BATCH_2);
    const r = await s.release('1.0.0');
    expect(r.phase).toBe('BRAKED');
  });

  it('stop: a stopped batch ends ABORTED, not BRAKED, whatever it lost', async () => {
    const s = setup(20, { failureBudget: { perBatch: 0.5, maxFailures: 1 } });
    // web-02..04 fail; web-05's install (the injected failures come first) asks for the stop.
    s.failOnce('web-02', 'web-03', 'web-04');
    s.fleet.onInstall = (t) => {
      if (t.id === 'web-05') s.engine.requestStop('operator');
    };
    const r = await s.release('1.0.0');
    expect(r).toMatchObject({ status: 'aborted', phase: 'ABORTED' });
    expect(s.logger.lines.join('\n')).not.toContain('brake before');
  });

  it('retry: a pass counts its own failures, and its first batch is not judged by the last batch of the release', async () => {
    // 10 hosts at 50%: bastion, then 4, 4, 1. web-10 (the last batch, 1 of 1) fails: no batch
    // after it, the release ends FAILURE. The retry's batch is not braked by that 100%.
    const s = setup(10, {
      sizing: { kind: 'ratio', maxUnavailable: 0.5 },
      failureBudget: { perBatch: 0.5, maxFailures: 2 },
    });
    s.failOnce('web-10');
    expect((await s.release('1.0.0')).phase).toBe('FAILURE');
    expect((await s.engine.retry()).phase).toBe('SUCCESS');
  });

  it('retry: failures of earlier attempts do not count — 2 targets failing twice never reach max failures 3', async () => {
    const s = setup(20, { failureBudget: { maxFailures: 3 } });
    for (const id of ['web-02', 'web-03']) s.fleet.failures.set(id, { op: 'install', times: 2 });
    expect((await s.release('1.0.0')).phase).toBe('FAILURE');
    const r = await s.engine.retry();
    expect(r.phase).toBe('FAILURE'); // 2 failed again in the pass: 2 < 3, no brake
    expect(s.logger.lines.join('\n')).not.toContain('brake before');
    expect((await s.engine.retry()).phase).toBe('SUCCESS');
  });

  it('rollback (F4): the budgets stay behind — a rollback batch losing half goes on', async () => {
    // 4 hosts: 1.0.0 everywhere, then 2.0.0; the rollback's batches are 2 and 2 (50%).
    const s = setup(4, { failureBudget: { perBatch: 0.5, maxFailures: 1 } });
    expect((await s.release('1.0.0')).phase).toBe('SUCCESS');
    expect((await s.release('2.0.0')).phase).toBe('SUCCESS');
    s.fleet.failures.set('web-01', { op: 'install', times: 1 });
    const r = await s.engine.rollback();
    expect(r.deployment.config.failureBudget).toBeUndefined();
    expect(r.phase).toBe('FAILURE'); // not BRAKED: batch 2 ran
    expect(r.deployment.targets['web-04']!.state).toBe('MARKUP_SUCCESS');
  });
});

describe('brakeInput — which batch the per-batch budget judges', () => {
  // web-1 bastion; batch 2 [web-2, web-3]; batch 3 [web-4]; retry 1 batch 1 [web-3].
  const d = {
    batches: [
      { index: 0, bastion: true, targets: ['web-1'] },
      { index: 1, bastion: false, targets: ['web-2', 'web-3'] },
      { index: 2, bastion: false, targets: ['web-4'] },
      { index: 3, bastion: false, targets: ['web-3'], pass: 1 },
    ],
    targets: {
      'web-1': { state: 'VERIFY_FAILURE' },
      'web-2': { state: 'INSTALL_FAILURE' },
      'web-3': { state: 'PENDING' },
      'web-4': { state: 'MARKUP_SUCCESS' },
    },
    brakeAccepted: 0,
    config: { sizing: { kind: 'ratio', maxUnavailable: 0.5 }, failureBudget: { perBatch: 0.5 } },
  } as unknown as Deployment;

  it.each([
    { index: 1, ended: true, batch: null, why: 'after the bastion: it is not judged (S4)' },
    {
      index: 2,
      ended: true,
      batch: { label: 'batch 2', size: 2, failed: 1 },
      why: 'the batch that just ended',
    },
    {
      index: 3,
      ended: true,
      batch: null,
      why: 'a retry pass: the last batch of the release is not its own',
    },
    {
      index: 2,
      ended: false,
      batch: { label: 'batch 3', size: 1, failed: 0 },
      why: 'status: the batch running or next',
    },
  ])('before index $index (ended: $ended) → $batch — $why', ({ index, ended, batch }) => {
    const input = brakeInput(d, index, ended);
    expect(input.batch).toEqual(batch);
    expect(input).toMatchObject({ failed: 2, total: 4, budget: { perBatch: 0.5 } });
  });
});
