/**
 * Fault suite (issue 4), faults around the release process on a real fleet: four sshd hosts
 * behind HAProxy, maxUnavailable 50% → batches [web-01] (bastion), [web-02], [web-03], [web-04].
 * Scenarios run in order on one fleet (the HAProxy kill comes last), each ending with THE
 * INVARIANT (test/support/fleet-invariant.ts).
 */
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DependencyDownError, LockHeldError } from '../../../src/model/errors';
import { lockContent } from '../../../src/host/scripts';
import { collectStatus } from '../../../src/report/collect';
import {
  describeTargets,
  expectFleetInvariant,
  fullRelease,
  lbStatus,
  onEvents,
  packageOf,
  readEvents,
  readLedger,
  releaseOnFleet,
} from '../../support/fleet-invariant';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

interface Cli {
  pid: number;
  kill(): void;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
}

/** The real command line, as a child process: `node --import tsx src/cli/bin.ts …`. */
function cli(args: string[], who = 'cli-operator'): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, ROLLGATE_WHO: who },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    pid: child.pid!,
    kill: () => child.kill('SIGKILL'),
    done: new Promise((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
    ),
  };
}

describe('fault suite: process, lock and load balancer faults (issue 4)', () => {
  let f: RealFleet;

  beforeAll(async () => {
    f = await startRealFleet({
      n: 4,
      first: 131,
      appPort: 18780,
      frontend: '127.0.7.31:18731',
      deployment: '  maxUnavailable: 50%\n  startTimeout: 3s\n  verifyInterval: 20ms',
    });
    for (const v of ['1.0.0', '2.0.0', '3.0.0', '4.0.0', '5.0.0', '6.0.0']) {
      await f.build(v, { startDelayMs: 100 });
    }
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
  });

  afterAll(async () => f?.stop());

  it('6a. a second release while one runs is refused with who holds it and since when', async () => {
    const rt = await f.runtime();
    let refused: Awaited<Cli['done']> | undefined;
    let inProcess: unknown;
    try {
      onEvents(rt, async (e) => {
        if (e.target !== 'web-03' || e.state !== 'INSTALL_RUNNING' || refused) return;
        // Mid-batch: another operator's command line, and another engine in this process.
        refused = await cli(['deploy', '-g', f.groupFile, '--version', '3.0.0']).done;
        const other = await f.runtime({ who: 'second-engine' });
        try {
          inProcess = await other.engine
            .deploy({ version: '3.0.0', package: packageOf(f, '3.0.0') })
            .catch((err: unknown) => err);
        } finally {
          await other.close();
        }
      });
      const r = await fullRelease(rt.engine, f, '2.0.0');
      // The running release did not notice.
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    } finally {
      await rt.close();
    }
    expect(refused?.code, refused?.stderr).toBe(5);
    expect(refused!.stderr).toMatch(
      new RegExp(
        `group fleet-shop is locked by fleet-test \\(pid ${process.pid} on [^)]+\\) since \\d{4}-\\d\\d-\\d\\dT`,
      ),
    );
    expect(inProcess).toBeInstanceOf(LockHeldError);
    expect(inProcess).toMatchObject({ what: 'group fleet-shop' });
    expect((inProcess as LockHeldError).holder).toContain('fleet-test');
    // Nothing of 3.0.0 was recorded or shipped.
    const ledger = await readLedger(f);
    expect(ledger!.current!.version).toBe('2.0.0');
    expect((await readEvents(f)).some((e) => e.message.includes('3.0.0'))).toBe(false);
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('2.0.0');
    await expectFleetInvariant(f);
  });

  it('6b. a host locked by another deployment is refused with the holder named', async () => {
    const victim = f.hosts.find((h) => h.id === 'web-03')!;
    const lock = join(victim.docBase, '.rollgate/lock');
    const since = '2030-01-02T03:04:05.000Z';
    // As lockScript writes it, for a release of another group.
    await writeFile(
      lock,
      `${lockContent({ deploymentId: 'other-shop-20300102T030405-beef', who: 'alice@ops-7' }, since)}\n`,
      { mode: 0o644 },
    );
    const rt = await f.runtime();
    try {
      const err = await fullRelease(rt.engine, f, '3.0.0').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LockHeldError);
      expect((err as Error).message).toBe(
        `host web-03 is locked by alice@ops-7 (deployment other-shop-20300102T030405-beef) since ${since}`,
      );
      const d = (await readLedger(f))!.current!;
      expect(d.phase).toBe('ROLLING_OUT');
      expect(d.targets['web-02']!.state).toBe('MARKUP_SUCCESS');
      // Refused before anything touched it; the last batch never started.
      expect(d.targets['web-03']).toMatchObject({ state: 'PENDING', steps: {} });
      expect(d.targets['web-04']).toMatchObject({ state: 'PENDING', steps: {} });
      expect(await f.current('web-03')).toBe('2.0.0');
      expect((await lbStatus(f))['web-03']).toMatch(/^UP/);
      await expectFleetInvariant(f);
    } finally {
      await rt.close();
    }
    // The other release lets go: continue finishes this one.
    await rm(lock);
    const rt2 = await f.runtime();
    try {
      const r = await rt2.engine.continue();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    } finally {
      await rt2.close();
    }
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('3.0.0');
    await expectFleetInvariant(f);
  });

  it('5. the release process SIGKILLed mid-batch, then continue finishes correctly', async () => {
    const rt = await f.runtime();
    try {
      const smoke = await rt.engine.deploy({ version: '4.0.0', package: packageOf(f, '4.0.0') });
      expect(smoke.phase).toBe('SMOKE_SUCCESS');
      expect((await rt.engine.bake()).phase).toBe('BAKE_SUCCESS');
    } finally {
      await rt.close();
    }
    const id = (await readLedger(f))!.current!.id;
    const first = cli(['continue', '-g', f.groupFile]);
    let seen = false;
    const deadline = Date.now() + 20_000;
    while (!seen && Date.now() < deadline) {
      const events = await readEvents(f);
      seen = events.some(
        (e) => e.deployment === id && e.target === 'web-03' && e.state === 'INSTALL_RUNNING',
      );
      if (!seen) await new Promise((r) => setTimeout(r, 5));
    }
    expect(seen).toBe(true);
    first.kill();
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const mid = (await readLedger(f))!.current!;
    expect(mid.phase).toBe('ROLLING_OUT');
    expect(mid.targets['web-02']!.state).toBe('MARKUP_SUCCESS');
    expect(mid.targets['web-04']!.state).toBe('PENDING');
    await expectFleetInvariant(f, { justKilled: true });

    // The run lock and the host lock of the dead process are taken over.
    const second = await cli(['continue', '-g', f.groupFile]).done;
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toMatch(/SUCCESS — released /);
    const d = (await readLedger(f))!.current!;
    expect(d.id).toBe(id);
    expect(d.phase).toBe('SUCCESS');
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('4.0.0');
    const end = await expectFleetInvariant(f);
    expect(end.hosts.every((h) => h.health.ok && h.lb.startsWith('UP'))).toBe(true);
  });

  it('5b. the process dies between two steps of a target: continue goes on from there', async () => {
    const dying = await f.runtime({ who: 'dying-run' });
    const smoke = await dying.engine.deploy({ version: '5.0.0', package: packageOf(f, '5.0.0') });
    expect(smoke.phase).toBe('SMOKE_SUCCESS');
    expect((await dying.engine.bake()).phase).toBe('BAKE_SUCCESS');
    // web-03's markdown is recorded; the process freezes for good as it starts the install,
    // before that reaches the log: its last save may or may not hold the new state.
    let frozen = false;
    onEvents(dying, (e) => {
      if (e.target !== 'web-03' || e.state !== 'INSTALL_RUNNING') return;
      frozen = true;
      return new Promise<void>(() => undefined);
    });
    void dying.engine.continue();
    const deadline = Date.now() + 10_000;
    while (!frozen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(frozen).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const mid = (await readLedger(f))!.current!;
    expect(['MARKDOWN_SUCCESS', 'INSTALL_RUNNING']).toContain(mid.targets['web-03']!.state);
    expect((await lbStatus(f))['web-03']).toMatch(/^MAINT/);
    await dying.close();
    // Its run lock goes with the dead process (another pid would be detected as gone).
    await rm(join(f.dir, 'state/fleet-shop/run.lock'));

    const rt = await f.runtime();
    try {
      const r = await rt.engine.continue();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
      expect(r.deployment.targets['web-03']!.state).toBe('MARKUP_SUCCESS');
    } finally {
      await rt.close();
    }
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('5.0.0');
    const end = await expectFleetInvariant(f);
    expect(end.hosts.every((h) => h.health.ok && h.lb.startsWith('UP'))).toBe(true);
  });

  it('4. HAProxy down at markdown: stops naming --degrade lb; a degraded re-run finishes, recorded', async () => {
    const old = await f.current('web-04');
    const rt = await f.runtime();
    try {
      const smoke = await rt.engine.deploy({ version: '6.0.0', package: packageOf(f, '6.0.0') });
      expect(smoke.phase).toBe('SMOKE_SUCCESS');
      expect((await rt.engine.bake()).phase).toBe('BAKE_SUCCESS');
      await f.lb.kill();
      const err = await rt.engine.continue().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DependencyDownError);
      expect((err as Error).message).toMatch(
        /load balancer \(haproxy\) is unavailable: markdown of web-02/,
      );
      expect((err as Error).message).toContain('--degrade lb');
    } finally {
      await rt.close();
    }
    const d = (await readLedger(f))!.current!;
    expect(d.phase).toBe('ROLLING_OUT');
    // No host went further than the markdown that failed; nothing was installed. That target is
    // not blamed (no failure counted against the brake): it starts over on continue.
    for (const id of ['web-02', 'web-03', 'web-04']) {
      expect(d.targets[id]!.steps.install, id).toBeUndefined();
    }
    expect(d.targets['web-02']!.state).toBe('PENDING');
    // The attempt the outage cut is kept as an earlier attempt; the next one starts afresh.
    expect(d.targets['web-02']!.steps).toEqual({});
    expect(d.targets['web-02']!.previous![0]!.steps.markdown!.detail).toContain('--degrade lb');
    const log = (await readEvents(f)).filter((e) => e.deployment === d.id && e.target === 'web-02');
    expect(log.map((e) => e.state)).toEqual([
      'DOWNLOAD_RUNNING',
      'DOWNLOAD_SUCCESS',
      'MARKDOWN_RUNNING',
      'MARKDOWN_FAILURE',
      'PENDING',
    ]);
    expect(d.targets['web-03']).toMatchObject({ state: 'PENDING', steps: {} });
    expect(d.targets['web-04']).toMatchObject({ state: 'PENDING', steps: {} });
    for (const id of ['web-02', 'web-03', 'web-04']) expect(await f.current(id)).toBe(old);
    expect(d.degraded).toEqual([]);
    await expectFleetInvariant(f, { lbDown: true });

    const rt2 = await f.runtime({ degrade: ['lb'] });
    try {
      const r = await rt2.engine.continue();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
      const status = await collectStatus(rt2.ports, rt2.loaded.group);
      expect(status.release!.phase).toBe('SUCCESS');
      for (const id of ['web-02', 'web-03', 'web-04']) {
        for (const op of ['markdown', 'markup']) {
          expect(status.release!.degraded.some((s) => s.includes(`${op} of ${id} skipped`))).toBe(
            true,
          );
        }
      }
    } finally {
      await rt2.close();
    }
    const warns = (await readEvents(f)).filter((e) => e.deployment === d.id && e.type === 'warn');
    expect(warns.some((e) => /^degraded: .*markdown of web-02 skipped/.test(e.message))).toBe(true);
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('6.0.0');
    await expectFleetInvariant(f, { lbDown: true });
  });
});
