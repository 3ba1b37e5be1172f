/**
 * Fault suite, side-by-side (S7, issue 16): the edges of issue 11 where a flip is in flight, on
 * four sshd hosts (127.0.29.1–4, SSH on 29022) behind a real HAProxy (127.0.29.200:29200) that
 * declares a pair per target, `web-0N` on 29080 and `web-0N-b` on 29081. maxUnavailable 50%:
 * batches [web-01] (bastion), [web-02, web-03], [web-04]. Each scenario ends with THE INVARIANT
 * (fleet-invariant.ts), slot-aware: never both slots of a target in traffic, every host serving
 * or named by status with why and one command, no host lock outliving its operation.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cliChild,
  describeTargets,
  expectFleetInvariant,
  expectNoStackFrame,
  hostLock,
  lbStatus,
  packageOf,
  readLedger,
  releaseOnFleet,
} from '../../support/fleet-invariant';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';
import { oneShot } from '../../support/haproxy-lb';
import { DependencyDownError } from '../../../src/model/errors';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function serving(f: RealFleet, id: string): string {
  const h = f.hosts.find((x) => x.id === id)!;
  return readFileSync(join(h.docBase, '.rollgate/serving'), 'utf8').trim();
}

/** `continue` in its own process, SIGKILLed by itself mid-flip of `id` (test/support/flip-kill.ts). */
function continueKilledMidFlip(
  f: RealFleet,
  id: string,
): Promise<{ signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/support/flip-kill.ts', f.groupFile, id],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ROLLGATE_WHO: 'cli-operator' },
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (_code, signal) => resolve({ signal, stderr })),
  );
}

describe('fault suite, side-by-side: a flip cut in the middle (issue 16)', () => {
  let f: RealFleet;

  beforeAll(async () => {
    f = await startRealFleet({
      n: 4,
      first: 1,
      net: '127.0.29',
      sshPort: 29022,
      appPort: 29080,
      altPort: 29081,
      frontend: '127.0.29.200:29200',
      deployment:
        '  strategy: side-by-side\n  keepWarm: 30s\n' +
        '  maxUnavailable: 50%\n  startTimeout: 5s\n  verifyInterval: 20ms',
      statsTimeoutMs: 500,
    });
    for (const v of ['1.0.0', '2.0.0', '3.0.0', '4.0.0']) {
      await f.build(v, { startDelayMs: 100 });
    }
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
  }, 180_000);

  afterAll(async () => f?.stop());

  async function deployAndBake(version: string): Promise<string> {
    const rt = await f.runtime();
    try {
      const smoke = await rt.engine.deploy({ version, package: packageOf(f, version) });
      expect(smoke.phase, describeTargets(smoke.deployment)).toBe('SMOKE_SUCCESS');
      expect((await rt.engine.bake()).phase).toBe('BAKE_SUCCESS');
      return smoke.deployment.id;
    } finally {
      await rt.close();
    }
  }

  it('kill -9 mid-flip (new slot in, old not yet drained), then `rollgate stop`: one slot per target in traffic, the one the host serves; locks released', async () => {
    await deployAndBake('2.0.0');
    const before = serving(f, 'web-02');
    const killed = await continueKilledMidFlip(f, 'web-02');
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    // The moment of the kill: both of web-02's servers in traffic, its host lock held.
    const mid = await lbStatus(f);
    expect(mid['web-02']).toMatch(/^UP/);
    expect(mid['web-02-b']).toMatch(/^UP/);
    expect(hostLock(f.hosts[1]!.docBase)).not.toBeNull();

    const stop = await cliChild(['stop', '-g', f.groupFile], 'second-shell').done;
    expect(stop.code, stop.stdout + stop.stderr).toBe(4);
    expectNoStackFrame(stop.stdout, stop.stderr);
    for (const h of f.hosts) expect(hostLock(h.docBase), h.id).toBeNull();
    const d = (await readLedger(f))!.current!;
    expect(d.phase).toBe('ABORTED');
    // Host truth decides: web-02 never recorded the flip, so its old slot serves alone.
    expect(serving(f, 'web-02')).toBe(before);
    await expectFleetInvariant(f);

    // The way back: a rollback returns every host to 1.0.0 (2.0.0 is quarantined, F4).
    const back = await f.runtime();
    try {
      const r = await back.engine.rollback();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    } finally {
      await back.close();
    }
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('1.0.0');
    await expectFleetInvariant(f);
  });

  it('hard stop (Ctrl-C twice) mid-flip: the flip in flight is cut; every target has one slot in traffic', async () => {
    await deployAndBake('3.0.0');
    const rt = await f.runtime({ who: 'operator' });
    let r;
    try {
      const traffic = rt.ports.traffic;
      const markdown = traffic.markdown.bind(traffic);
      traffic.markdown = async (target, signal) => {
        if (target.id === 'web-02' && target.slot !== undefined) {
          rt.engine.requestStop('operator (Ctrl-C)');
          rt.engine.abort('operator (Ctrl-C twice)');
        }
        return markdown(target, signal);
      };
      r = await rt.engine.continue();
    } finally {
      await rt.close();
    }
    expect(r.phase, describeTargets(r.deployment)).toBe('ABORTED');
    for (const h of f.hosts) expect(hostLock(h.docBase), h.id).toBeNull();
    await expectFleetInvariant(f);
  });

  it("LB lost between the flip's halves: the release stops naming continue; LB back → reconcile leaves one slot per target in traffic, status names the pending switch", async () => {
    await deployAndBake('4.0.0');
    const sock = f.lb.socketPath;
    const rt = await f.runtime();
    let lost = false;
    try {
      const traffic = rt.ports.traffic;
      const markdown = traffic.markdown.bind(traffic);
      traffic.markdown = async (target, signal) => {
        if (target.id === 'web-02' && target.slot !== undefined && !lost) {
          lost = true;
          // The runtime API goes away once web-02's new slot is in, open connections included.
          await rename(sock, `${sock}.away`);
          const sessions = await oneShot(`${sock}.away`, 'show sess');
          for (const [, sid] of sessions.matchAll(
            /^(0x[0-9a-f]+): proto=unix_stream .*fe=GLOBAL/gm,
          )) {
            await oneShot(`${sock}.away`, `shutdown session ${sid}`);
          }
        }
        return markdown(target, signal);
      };
      const err = await rt.engine.continue().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DependencyDownError);
      // Side-by-side cannot go on without the LB: the way on is continue once it answers.
      expect((err as Error).message).toContain(`rollgate continue -g ${f.groupFile}`);
    } finally {
      await rt.close();
    }
    expect(lost).toBe(true);
    // Both of web-02's servers are in traffic and the LB cannot be told otherwise right now.
    await expectFleetInvariant(f, { lbDown: true, alsoAllowed: ['1.0.0', '3.0.0'] });

    await rename(`${sock}.away`, sock);
    const rec = await cliChild(['reconcile', '-g', f.groupFile, '--json']).done;
    expect(rec.code, rec.stdout + rec.stderr).toBe(0);
    expectNoStackFrame(rec.stdout, rec.stderr);
    const lb = await lbStatus(f);
    const inTraffic = (st: string | undefined) => st !== undefined && !/^(MAINT|DRAIN)/.test(st);
    for (const h of f.hosts) {
      expect(
        [inTraffic(lb[h.id]), inTraffic(lb[`${h.id}-b`])].filter(Boolean),
        `${h.id}: ${lb[h.id]} / ${lb[`${h.id}-b`]}`,
      ).toHaveLength(1);
    }
    const end = await expectFleetInvariant(f, {
      statusCli: true,
      alsoAllowed: ['1.0.0', '3.0.0'],
    });
    // reconcile never switches a version: web-02 still waits for its switch, and status says how.
    const w = end.status.targets.find((t) => t.id === 'web-02')!.wayBack;
    expect(w?.command).toBe(`rollgate continue -g ${f.groupFile}`);
  });
});
