import { describe, expect, it } from 'vitest';
import { judgeScanGate } from '../../../src/plan/scan-gate';
import { planBatches } from '../../../src/plan/batches';
import { buildPlanReport, renderPlan } from '../../../src/report/plan';
import {
  brakeLine,
  renderStatus,
  summarizeRelease,
  type GroupStatus,
} from '../../../src/report/status';
import { renderStatusMarkdown } from '../../../src/report/markdown';
import type { Deployment } from '../../../src/engine/ledger';
import { makeConfig, makeTargets } from '../../support/fakes';

describe('plan report', () => {
  it('shows batches, capacity kept, waits and the expected time', () => {
    const targets = makeTargets(10, [10]);
    const config = makeConfig({ waitBetweenBatchesMs: 60_000, waitFromBatch3Ms: 10_000 });
    const plan = planBatches(targets, config);
    const r = buildPlanReport('shop', '2.0.0', plan, config, targets.length, null);
    // M6/F2 (issue 13 item 5): 25% of 10 allows 2 out at once; web-10 is pulled out, so each
    // batch holds 1 host and never more than 2 of 10 (80% serving) are out.
    expect(
      r.batches.map((b) => [b.batch, b.targets.length, b.capacityKept, b.waitBeforeMs]),
    ).toEqual([
      [1, 1, 0.8, 0], // bastion: 10 − 1 pulled out − 1 = 8 of 10 serving
      [2, 1, 0.8, 0], // after the bake: no wait
      [3, 1, 0.8, 10_000], // tail acceleration from batch 3 (S5)
      [4, 1, 0.8, 10_000],
      [5, 1, 0.8, 10_000],
      [6, 1, 0.8, 10_000],
      [7, 1, 0.8, 10_000],
      [8, 1, 0.8, 10_000],
      [9, 1, 0.8, 10_000],
    ]);
    expect(Math.min(...r.batches.map((b) => b.capacityKept))).toBeGreaterThanOrEqual(0.75);
    expect(r.expectedMs).toBe(7 * 10_000 + 9 * 10_000);
    const text = renderPlan(r);
    expect(text).toContain('plan: shop → 2.0.0: 9 targets in 9 batches');
    expect(text).toContain(
      'max unavailable 25% allows 2 of 10 out at once; 1 already out (web-10) count against it',
    );
    expect(text).toContain('pulled out, not released: web-10');
    expect(text).toContain('1 (bastion)');
    expect(text).toContain('expected time: ~2m40s (10s per batch, assumed)');
    expect(text).toContain('nothing was touched.');
    expect(text).toContain('brake: brakes at 25% of the group (3 of 9 targets)');
    expect(text).not.toContain('brakes at\n');
  });

  it('F7: shows the failure budgets in words, and what each batch may lose', () => {
    // 21 targets at 25%: bastion, then 5, 5, 5, 5.
    const targets = makeTargets(21);
    const config = makeConfig({ failureBudget: { perBatch: 0.5, maxFailures: 3 } });
    const r = buildPlanReport('shop', '2.0.0', planBatches(targets, config), config, 21, null);
    expect(r.brake).toEqual({
      words:
        'brakes at 3 failures, or when a batch loses 50% of its hosts, or at 25% of the group (6 of 21 targets)',
      maxUnavailable: 0.25,
      atFailures: 6,
      perBatch: 0.5,
      maxFailures: 3,
    });
    // the bastion stops on any failure; the last batch has nothing after it to hold back.
    expect(r.batches.map((b) => [b.targets.length, b.brakesAt])).toEqual([
      [1, undefined],
      [5, 3],
      [5, 3],
      [5, 3],
      [5, undefined],
    ]);
    const text = renderPlan(r);
    expect(text).toContain(
      'brake: brakes at 3 failures, or when a batch loses 50% of its hosts, or at 25% of the group (6 of 21 targets)',
    );
    expect(text).toMatch(/^2\s+5\s+.*web-06\s+3 failed$/m);
    expect(text).toMatch(/^5\s+5\s+.*web-21\s+-$/m);
  });

  it('F7: max failures above the group size says the other rules brake', () => {
    const targets = makeTargets(4);
    const config = makeConfig({ failureBudget: { maxFailures: 10 } });
    const text = renderPlan(
      buildPlanReport('shop', '2.0.0', planBatches(targets, config), config, 4, null),
    );
    expect(text).toContain(
      'max failures 10 is more than the 4 targets: only the other rules can brake',
    );
  });
});

describe('status page', () => {
  it('has the six parts: cluster, instances, log, history, batches, operations', () => {
    const s: GroupStatus = {
      group: 'shop',
      release: {
        id: 'shop-1',
        kind: 'deploy',
        version: '2.0.0',
        fromVersion: '1.0.0',
        phase: 'BRAKED',
        by: 'alice',
        batches: [
          { index: 0, number: 1, bastion: true, size: 1, done: 1, failed: 0 },
          { index: 1, number: 2, bastion: false, size: 2, done: 0, failed: 2 },
        ],
        nextBatch: 2,
        degraded: [],
        brake: { counted: 2, accepted: 0, left: 0, maxUnavailable: 0.5 },
        next: 'continue or stop',
      },
      targets: [
        {
          id: 'web-01',
          address: '10.0.0.1',
          running: '2.0.0',
          healthy: true,
          traffic: 'up',
          state: 'BAKE_SUCCESS',
          batch: 1,
          steps: { install: 1200 },
          pulledOut: false,
        },
        {
          id: 'web-02',
          address: '10.0.0.2',
          running: '2.0.0',
          healthy: false,
          traffic: 'maint',
          state: 'VERIFY_FAILURE',
          batch: 2,
          steps: {},
          error: 'not healthy',
          pulledOut: false,
        },
      ],
      history: [
        {
          id: 'shop-0',
          kind: 'deploy',
          version: '1.0.0',
          outcome: 'success',
          createdAt: 0,
          endedAt: 0,
          by: 'bob',
        },
      ],
      rollbackTo: '1.0.0',
      log: [
        {
          at: '2026-01-01T00:00:00.000Z',
          group: 'shop',
          deployment: 'shop-1',
          type: 'brake',
          message: 'brake before batch 3',
        },
      ],
    };
    const text = renderStatus(s);
    expect(text).toContain('group shop');
    expect(text).toContain('deploy 1.0.0 → 2.0.0 by alice — BRAKED');
    expect(text).toContain('batches: 1 (bastion) 1/1 · 2 0/2 2✗');
    expect(text).toMatch(/web-02\s+10\.0\.0\.2\s+2\.0\.0\s+DOWN\s+maint\s+VERIFY_FAILURE/);
    expect(text).toContain('✗ not healthy');
    expect(text).toContain('brake before batch 3');
    expect(text).toContain('rollback would return to: 1.0.0');
    expect(text).toContain('now possible: continue or stop');
    expect(text).toContain('brake: braked (2 counted, max unavailable 50%)');
  });

  it('a host with nothing installed is "-", not DOWN; batch numbers are the ones shown (1 = bastion)', () => {
    const s: GroupStatus = {
      group: 'shop',
      release: null,
      targets: [
        {
          id: 'web-09',
          address: '10.0.0.9',
          running: null,
          healthy: false,
          traffic: 'unknown',
          state: null,
          batch: null,
          steps: {},
          pulledOut: false,
        },
        {
          id: 'web-01',
          address: '10.0.0.1',
          running: '1.0.0',
          healthy: true,
          traffic: 'up',
          state: 'BAKE_SUCCESS',
          batch: 1,
          steps: {},
          pulledOut: false,
        },
      ],
      history: [],
      rollbackTo: null,
      log: [],
    };
    const text = renderStatus(s);
    expect(text).toMatch(/^web-09\s+10\.0\.0\.9\s+-\s+-\s+unknown\s+-\s+-/m);
    expect(text).toMatch(/^web-01\s+10\.0\.0\.1\s+1\.0\.0\s+ok\s+up\s+BAKE_SUCCESS\s+1\s/m);
  });

  it('shows the brake budget left during a roll-out (F2, issue 13 item 10)', () => {
    expect(brakeLine({ counted: 3, accepted: 0, left: 2, maxUnavailable: 0.25 })).toBe(
      'brake: 2 more failures brake (3 counted, max unavailable 25%)',
    );
    expect(brakeLine({ counted: 1, accepted: 5, left: 4, maxUnavailable: 0.25 })).toBe(
      'brake: 4 more failures brake (1 counted, max unavailable 25%; 5 accepted by a continue, not counted)',
    );
  });

  it.each([
    {
      b: { counted: 4, accepted: 0, left: 1, maxUnavailable: 0.25 },
      line: 'brake: 1 more failure brakes (4 counted, max unavailable 25%)',
    },
    {
      b: {
        counted: 2,
        accepted: 0,
        left: 1,
        maxUnavailable: 0.25,
        rule: 'maxFailures' as const,
        maxFailures: 3,
      },
      line: 'brake: 1 more failure brakes (max failures 3) (2 counted, max unavailable 25%)',
    },
    {
      b: {
        counted: 1,
        accepted: 0,
        left: 1,
        maxUnavailable: 0.25,
        rule: 'perBatch' as const,
        perBatch: 0.5,
        batch: { number: 2, pass: 1, size: 4, failed: 1 },
      },
      line: 'brake: 1 more failure brakes (per-batch budget 50%: retry 1, batch 2 has lost 1 of 4) (1 counted, max unavailable 25%)',
    },
    {
      b: {
        counted: 3,
        accepted: 0,
        left: 2,
        maxUnavailable: 0.25,
        rule: 'maxUnavailable' as const,
        maxFailures: 5,
      },
      line: 'brake: 2 more failures brake (3 counted, max unavailable 25%)',
    },
  ])('F7: $line', ({ b, line }) => {
    expect(brakeLine(b)).toBe(line);
  });
});

describe('status of an image release (B4)', () => {
  it('shows the image and the scan gate, an override with who and why', () => {
    const digest = `sha256:${'d'.repeat(64)}`;
    const d = {
      id: 'shop-3',
      group: 'shop',
      kind: 'deploy',
      version: '3.0.0',
      fromVersion: '2.0.0',
      package: {
        version: '3.0.0',
        image: `127.0.0.1:5000/acme/shop@${digest}`,
        scan: {
          digest,
          passed: false,
          summary: 'scan of sha256:ddddddddddd failed (compliance rules failed: non-root)',
          override: { reason: 'INC-9 hotfix', by: 'carol' },
        },
      },
      phase: 'SMOKE_SUCCESS',
      by: 'carol',
      batches: [],
      nextBatch: 0,
      targets: {},
      degraded: [],
    } as unknown as Deployment;
    const release = summarizeRelease(d);
    expect(release.image).toBe(`127.0.0.1:5000/acme/shop@${digest}`);
    const s: GroupStatus = {
      group: 'shop',
      release,
      targets: [],
      history: [],
      rollbackTo: null,
      log: [],
    };
    const line = `image 127.0.0.1:5000/acme/shop@${digest} — scan of sha256:ddddddddddd failed (compliance rules failed: non-root); overridden by carol: INC-9 hotfix`;
    expect(renderStatus(s)).toContain(line);
    expect(renderStatusMarkdown(s, { live: [] })).toContain('overridden by carol: INC-9 hotfix');
  });

  it('a compliance-only scan (no Clair): status says the vulnerabilities were not checked', () => {
    const digest = `sha256:${'d'.repeat(64)}`;
    const gate = judgeScanGate(
      digest,
      {
        rollgateScan: 1,
        digest,
        reference: `127.0.0.1:5000/acme/shop@${digest}`,
        passed: true,
        scannedAt: '2026-11-23T10:00:00.000Z',
        vulnerabilities: { checked: false, passed: true, failing: [] },
        compliance: { checked: true, passed: true, failed: [], warned: [] },
      },
      undefined,
    );
    expect(gate.allowed).toBe(true);
    const d = {
      id: 'shop-4',
      group: 'shop',
      kind: 'deploy',
      version: '4.0.0',
      package: { version: '4.0.0', image: `127.0.0.1:5000/acme/shop@${digest}`, scan: gate.record },
      phase: 'SMOKE_SUCCESS',
      by: 'dave',
      batches: [],
      nextBatch: 0,
      targets: {},
      degraded: [],
    } as unknown as Deployment;
    const s: GroupStatus = {
      group: 'shop',
      release: summarizeRelease(d),
      targets: [],
      history: [],
      rollbackTo: null,
      log: [],
    };
    expect(renderStatus(s)).toContain(
      `image 127.0.0.1:5000/acme/shop@${digest} — scan of sha256:dddddddddddd: compliance rules passed, vulnerabilities NOT checked (no Clair) (2026-11-23T10:00:00.000Z)`,
    );
  });
});

describe('the job summary lists every target out of traffic with its way back (T1)', () => {
  it('a table of target, why and the one command; nothing when every target serves', () => {
    const base: GroupStatus = {
      group: 'shop',
      release: null,
      targets: [
        {
          id: 'web-02',
          address: '10.0.0.2',
          running: '2.0.0',
          healthy: true,
          traffic: 'maint',
          state: 'VERIFY_FAILURE',
          batch: 2,
          steps: {},
          pulledOut: false,
          wayBack: {
            why: 'verify interrupted by a hard stop | healthy on 2.0.0',
            action: 'reconcile',
            command: 'rollgate reconcile -g web.yml',
          },
        },
      ],
      history: [],
      rollbackTo: '1.0.0',
      log: [],
    };
    const md = renderStatusMarkdown(base, { live: [] });
    expect(md).toContain('### Out of traffic or failed: the way back');
    expect(md).toContain(
      '| web-02 | verify interrupted by a hard stop \\| healthy on 2.0.0 | `rollgate reconcile -g web.yml` |',
    );
    const serving = { ...base, targets: base.targets.map(({ wayBack: _w, ...t }) => t) };
    expect(renderStatusMarkdown(serving, { live: [] })).not.toContain('the way back');
  });
});
