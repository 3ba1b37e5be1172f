import { describe, expect, it } from 'vitest';
import { judgeScanGate } from '../../../src/plan/scan-gate';
import { planBatches } from '../../../src/plan/batches';
import { buildPlanReport, renderPlan } from '../../../src/report/plan';
import { renderStatus, summarizeRelease, type GroupStatus } from '../../../src/report/status';
import { renderStatusMarkdown } from '../../../src/report/markdown';
import type { Deployment } from '../../../src/engine/ledger';
import { makeConfig, makeTargets } from '../../support/fakes';

describe('plan report', () => {
  it('shows batches, capacity kept, waits and the expected time', () => {
    const targets = makeTargets(10, [10]);
    const config = makeConfig({ waitBetweenBatchesMs: 60_000, waitFromBatch3Ms: 10_000 });
    const plan = planBatches(targets, config);
    const r = buildPlanReport('shop', '2.0.0', plan, config, targets.length, null);
    expect(
      r.batches.map((b) => [b.batch, b.targets.length, b.capacityKept, b.waitBeforeMs]),
    ).toEqual([
      [1, 1, 0.8, 0], // bastion: 10 − 1 pulled out − 1 = 8 of 10 serving
      [2, 2, 0.7, 0],
      [3, 2, 0.7, 60_000],
      [4, 2, 0.7, 10_000],
      [5, 2, 0.7, 10_000],
    ]);
    expect(r.expectedMs).toBe(80_000 + 5 * 10_000);
    const text = renderPlan(r);
    expect(text).toContain('plan: shop → 2.0.0: 9 targets in 5 batches');
    expect(text).toContain('pulled out, not released: web-10');
    expect(text).toContain('1 (bastion)');
    expect(text).toContain('expected time: ~2 min 10 s (10.0 s per batch, assumed)');
    expect(text).toContain('nothing was touched.');
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
          { index: 0, bastion: true, size: 1, done: 1, failed: 0 },
          { index: 1, bastion: false, size: 2, done: 0, failed: 2 },
        ],
        nextBatch: 2,
        degraded: [],
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
          batch: 0,
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
          batch: 1,
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
