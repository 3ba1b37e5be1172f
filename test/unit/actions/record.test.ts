import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CANCEL_GRACE_MS,
  CANCEL_SOFT_MS,
  deploymentFacts,
  guardCancel,
  isCheckpoint,
  recordStopIn,
  snapshotRecord,
  type CancelGuard,
} from '../../../src/actions/lib/record';
import { SimulatedClock } from '../../../src/engine/clock';
import type { Ledger, ReleaseEvent } from '../../../src/engine/ledger';
import type { Store } from '../../../src/engine/ports';
import { makeLogger, midReleaseLedger } from '../../support/fakes';

// Issue 12 item 3, the actions' side: when the record is uploaded, what a cancel does.

const ev = (e: Partial<ReleaseEvent>): ReleaseEvent => ({
  at: '2026-01-01T00:00:00.000Z',
  group: 'shop',
  deployment: 'd1',
  type: 'warn',
  message: '',
  ...e,
});

describe('isCheckpoint: after every batch, at every phase a person acts on', () => {
  it.each([
    [ev({ type: 'batch', message: 'batch 2/4 done in 3 s: 1 ok, 0 failed' }), true],
    [ev({ type: 'batch', message: 'batch 1/4 (bastion) done in 9 s: 1 ok, 0 failed' }), true],
    [ev({ type: 'batch', message: 'batch 2/4: web-02' }), false],
    [ev({ type: 'phase', phase: 'SMOKE_SUCCESS' }), true],
    [ev({ type: 'phase', phase: 'SMOKE_FAILURE' }), true],
    [ev({ type: 'phase', phase: 'BAKE_SUCCESS' }), true],
    [ev({ type: 'phase', phase: 'BRAKED' }), true],
    [ev({ type: 'phase', phase: 'PAUSED' }), true],
    [ev({ type: 'phase', phase: 'FAILURE' }), true],
    [ev({ type: 'phase', phase: 'ROLLING_OUT' }), false],
    [ev({ type: 'target', state: 'VERIFY_SUCCESS' }), false],
  ])('%o → %s', (e, yes) => {
    expect(isCheckpoint(e)).toBe(yes);
  });
});

let dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  dirs = [];
});
const temp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'rollgate-record-test-'));
  dirs.push(d);
  return d;
};

describe('snapshotRecord', () => {
  it('copies the record and cuts a line being written off the event log', async () => {
    const from = await temp();
    const into = join(await temp(), 'shop');
    await writeFile(join(from, 'state.json'), '{"schemaVersion":1}');
    await writeFile(join(from, 'events.ndjson'), '{"a":1}\n{"b":2}\n{"c":');
    await snapshotRecord(from, into);
    expect(await readFile(join(into, 'state.json'), 'utf8')).toBe('{"schemaVersion":1}');
    expect(await readFile(join(into, 'events.ndjson'), 'utf8')).toBe('{"a":1}\n{"b":2}\n');
  });
});

describe('recordStopIn: the stop written into a copy of the record', () => {
  const ledger = (phase: 'ROLLING_OUT' | 'SUCCESS'): Ledger => midReleaseLedger('shop', phase);

  it('ABORTED, the targets caught mid-step named, reported through the decorated store', async () => {
    const root = await temp();
    const dir = join(root, 'shop');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'state.json'), JSON.stringify(ledger('ROLLING_OUT')));
    const reported: string[] = [];
    const decorate = (s: Store): Store =>
      Object.assign(Object.create(s) as Store, {
        save: (l: Ledger) => s.save(l),
        append: async (g: string, e: ReleaseEvent) => {
          await s.append(g, e);
          reported.push(`${e.type} ${e.phase ?? ''} ${e.message}`);
        },
      });
    const id = await recordStopIn(dir, {
      group: 'shop',
      by: 'the workflow run was cancelled',
      decorate,
      logger: makeLogger(),
      clock: new SimulatedClock(),
    });
    expect(id).toBe('d1');
    const after = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as Ledger;
    expect(after.current).toMatchObject({
      phase: 'ABORTED',
      outcome: 'aborted',
      stop: { by: 'the workflow run was cancelled', hard: true },
    });
    expect(after.current!.ops?.at(-1)).toMatchObject({
      op: 'stop',
      by: 'the workflow run was cancelled',
    });
    expect(after.current!.targets['web-02']!.state).toBe('VERIFY_RUNNING');
    expect(after.openRun).toBeUndefined();
    expect(after.history.map((h) => `${h.version} ${h.outcome}`)).toEqual(['2.0.0 aborted']);
    expect(reported).toEqual([
      'stop  stopped by the workflow run was cancelled; interrupted: web-02 (VERIFY_RUNNING)',
      'phase ABORTED stopped by the workflow run was cancelled in phase ROLLING_OUT; interrupted: web-02 (VERIFY_RUNNING); targets stay as they are',
    ]);
  });

  it('leaves an ended release alone', async () => {
    const root = await temp();
    const dir = join(root, 'shop');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'state.json'), JSON.stringify(ledger('SUCCESS')));
    const id = await recordStopIn(dir, {
      group: 'shop',
      by: 'x',
      decorate: (s) => s,
      logger: makeLogger(),
      clock: new SimulatedClock(),
    });
    expect(id).toBeNull();
    expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).current.phase).toBe(
      'SUCCESS',
    );
  });
});

describe('guardCancel: soft stop, hard stop, the record saved — all before SIGTERM', () => {
  let guard: CancelGuard | undefined;
  afterEach(() => guard?.uninstall());

  const setup = (softMs = 30, graceMs = 60) => {
    const calls: string[] = [];
    const engine = {
      requestStop: (by: string) => calls.push(`requestStop ${by}`),
      abort: (by: string) => calls.push(`abort ${by}`),
    };
    const aborter = new AbortController();
    const log = { info: (l: string) => calls.push(`info ${l}`), warning: () => undefined };
    guard = guardCancel({
      engine,
      aborter,
      by: 'cancelled',
      softMs,
      graceMs,
      log,
      emergency: async () => {
        calls.push('emergency');
      },
    });
    return { calls, aborter };
  };
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('SIGINT: a soft stop, the hard stop later, then the save when the step has not ended', async () => {
    const { calls, aborter } = setup();
    process.emit('SIGINT', 'SIGINT');
    expect(calls).toEqual(['requestStop cancelled']);
    expect(aborter.signal.aborted).toBe(true);
    await wait(45);
    expect(calls).toEqual(['requestStop cancelled', 'abort cancelled']);
    await wait(40);
    expect(calls).toEqual(['requestStop cancelled', 'abort cancelled', 'emergency']);
  });

  it('SIGTERM (first, or after SIGINT) stops at once', () => {
    const { calls } = setup(10_000, 20_000);
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGTERM', 'SIGTERM');
    expect(calls).toEqual(['requestStop cancelled', 'abort cancelled']);
  });

  it('no hard stop and no emergency save when the step ended in time', async () => {
    const { calls } = setup();
    process.emit('SIGINT', 'SIGINT');
    guard!.finished();
    await wait(90);
    expect(calls).toEqual(['requestStop cancelled']);
  });

  it('the defaults fit GitHub: hard stop and save both before SIGTERM at 7.5 s', () => {
    expect(CANCEL_SOFT_MS).toBeLessThan(CANCEL_GRACE_MS);
    expect(CANCEL_GRACE_MS).toBeLessThanOrEqual(6000);
  });
});

describe('deploymentFacts: the durable history as the rebuild reads it', () => {
  it('statuses oldest first even when GitHub gives them the same second (it lists newest first)', async () => {
    const at = '2026-01-01T00:00:00Z';
    const octokit = {
      rest: {
        repos: {
          listDeployments: async () => ({
            data: [
              {
                id: 2,
                created_at: at,
                creator: { login: 'bot' },
                payload: { rollgate: 1, deployment: 'd2' },
              },
              {
                id: 1,
                created_at: at,
                creator: { login: 'bot' },
                payload: '{"rollgate":1,"deployment":"d1"}',
              },
              { id: 0, created_at: at, creator: { login: 'bot' }, payload: {} },
            ],
          }),
          listDeploymentStatuses: async ({ deployment_id }: { deployment_id: number }) => ({
            data: [
              { state: 'success', description: `released ${deployment_id}`, created_at: at },
              { state: 'in_progress', description: 'batch 2/2 done', created_at: at },
              {
                state: 'in_progress',
                description: 'bastion web-01: chain up to verify',
                created_at: at,
              },
            ],
          }),
        },
      },
    } as unknown as Parameters<typeof deploymentFacts>[0];
    const facts = await deploymentFacts(octokit, {
      owner: 'acme',
      repo: 'shop',
      environment: 'p/shop',
    });
    expect(facts.map((f) => f.payload.deployment)).toEqual(['d2', 'd1']);
    expect(facts[0]!.statuses.map((s) => s.state)).toEqual([
      'in_progress',
      'in_progress',
      'success',
    ]);
  });
});
