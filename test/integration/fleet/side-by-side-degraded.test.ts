/**
 * Side-by-side (S7, issue 16) when the load balancer is degraded or lost: four sshd hosts
 * (127.0.50.1–4, SSH on 50022) running the sample app behind a real HAProxy (127.0.50.200:50200)
 * that declares a pair per target, `web-0N` on 50080 and `web-0N-b` on 50081. maxUnavailable
 * 50%: batches [web-01] (bastion), [web-02, web-03], [web-04].
 *
 * "Trust on the edges": a side-by-side host moves to a new version only through the load
 * balancer, so a release never ends SUCCESS while nothing switched; a flip the LB could not do
 * is named by the release and by `status` with the one command that finishes it, and that
 * command switches the verified slot without restarting it, leaving no stale error behind.
 */
import { readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DependencyDownError, InputError } from '../../../src/model/errors';
import { collectStatus } from '../../../src/report/collect';
import { oneShot } from '../../support/haproxy-lb';
import {
  cliChild,
  describeTargets,
  expectFleetInvariant,
  expectNoStackFrame,
  lbStatus,
  packageOf,
  readLedger,
  releaseOnFleet,
  statusJson,
} from '../../support/fleet-invariant';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';

const up = (s: string | undefined) => s?.startsWith('UP') === true;

function host(f: RealFleet, id: string) {
  return f.hosts.find((h) => h.id === id)!;
}

function servingSlot(f: RealFleet, id: string): 'a' | 'b' {
  const file = join(host(f, id).docBase, '.rollgate/serving');
  try {
    return readFileSync(file, 'utf8').trim() === 'b' ? 'b' : 'a';
  } catch {
    return 'a';
  }
}

/** The pid of the app a slot runs, from its pid file; null when there is none. */
function slotPid(f: RealFleet, id: string, slot: 'a' | 'b'): number | null {
  const file = join(host(f, id).docBase, '.rollgate', slot === 'a' ? 'app.pid' : 'app-b.pid');
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
}

function alive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('side-by-side with the load balancer degraded or lost (issue 16, trust on the edges)', () => {
  let f: RealFleet;
  let sock: string;

  /** The runtime API goes away (open connections included); HAProxy keeps its server states. */
  async function loseLb(): Promise<void> {
    await rename(sock, `${sock}.away`);
    const sessions = await oneShot(`${sock}.away`, 'show sess');
    for (const [, sid] of sessions.matchAll(/^(0x[0-9a-f]+): proto=unix_stream .*fe=GLOBAL/gm)) {
      await oneShot(`${sock}.away`, `shutdown session ${sid}`);
    }
  }

  async function lbBack(): Promise<void> {
    await rename(`${sock}.away`, sock);
  }

  beforeAll(async () => {
    f = await startRealFleet({
      n: 4,
      first: 1,
      net: '127.0.50',
      sshPort: 50022,
      appPort: 50080,
      altPort: 50081,
      frontend: '127.0.50.200:50200',
      deployment:
        '  strategy: side-by-side\n  keepWarm: 60s\n' +
        '  maxUnavailable: 50%\n  startTimeout: 5s\n  verifyInterval: 20ms',
      statsTimeoutMs: 500,
    });
    sock = f.lb.socketPath;
    for (const v of ['1.0.0', '2.0.0']) await f.build(v, { startDelayMs: 100 });
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
  }, 180_000);

  afterAll(async () => {
    if (f) await rename(`${sock}.away`, sock).catch(() => undefined);
    await f?.stop();
  });

  it('--degrade lb: a side-by-side release is refused before any host is touched, naming the flag and the fix', async () => {
    const before = (await readLedger(f))!;
    await loseLb();
    try {
      const rt = await f.runtime({ degrade: ['lb'] });
      let err: unknown;
      try {
        err = await rt.engine
          .deploy({ version: '2.0.0', package: packageOf(f, '2.0.0') })
          .catch((e: unknown) => e);
      } finally {
        await rt.close();
      }
      // Before the fix this release ran, skipped every flip and ended SUCCESS with no host on 2.0.0.
      expect(err).toBeInstanceOf(InputError);
      const text = (err as Error).message;
      expect(text).toMatch(/^--degrade lb: /);
      expect(text).toContain('side-by-side');
      expect(text).toContain(`rollgate deploy -g ${f.groupFile}`);
      // The record and the hosts are as they were: no release started, nothing downloaded.
      const after = (await readLedger(f))!;
      expect(after.current!.id).toBe(before.current!.id);
      expect(after.current!.phase).toBe('SUCCESS');
      for (const h of f.hosts) {
        expect(await f.current(h.id)).toBe('1.0.0');
        expect(slotPid(f, h.id, servingSlot(f, h.id) === 'a' ? 'b' : 'a'), h.id).toBeNull();
      }

      // The command line says the same, exit 2, no stack.
      const cli = await cliChild([
        'deploy',
        '-g',
        f.groupFile,
        '--version',
        '2.0.0',
        '--package',
        packageOf(f, '2.0.0').path!,
        '--degrade',
        'lb',
      ]).done;
      expect(cli.code, cli.stdout + cli.stderr).toBe(2);
      expectNoStackFrame(cli.stdout, cli.stderr);
      expect(cli.stderr).toContain('--degrade lb');
      expect(cli.stdout).not.toMatch(/SUCCESS/);
    } finally {
      await lbBack();
    }
    await expectFleetInvariant(f);
  });

  it('LB lost at the flip: the release and status name the pending host and `continue`; continue once it answers flips it without a restart and ends SUCCESS, no stale error', async () => {
    const rt = await f.runtime();
    let err: unknown;
    try {
      const smoke = await rt.engine.deploy({ version: '2.0.0', package: packageOf(f, '2.0.0') });
      expect(smoke.phase, describeTargets(smoke.deployment)).toBe('SMOKE_SUCCESS');
      expect((await rt.engine.bake()).phase).toBe('BAKE_SUCCESS');
      await loseLb();
      err = await rt.engine.continue().catch((e: unknown) => e);
    } finally {
      await rt.close();
    }
    expect(err).toBeInstanceOf(DependencyDownError);
    const said = (err as Error).message;
    // Side-by-side cannot go on without the LB: the advice is the re-run, never --degrade lb.
    expect(said).not.toContain('--degrade lb');
    expect(said).toMatch(/Verified, not in traffic \(the load balancer was unavailable\): web-02/);
    expect(said).toContain(`rollgate continue -g ${f.groupFile}`);

    const mid = (await readLedger(f))!.current!;
    expect(mid.phase).toBe('ROLLING_OUT');
    const pending = Object.values(mid.targets)
      .filter((t) => t.state === 'VERIFY_SUCCESS')
      .map((t) => t.id);
    expect(pending.length, describeTargets(mid)).toBeGreaterThan(0);
    for (const id of pending) {
      // Not blamed, and the host still serves the old version from its old slot.
      expect(await f.current(id)).toBe('1.0.0');
      expect(said).toContain(id);
    }
    const pids = new Map(
      pending.map((id) => {
        const slot = servingSlot(f, id) === 'a' ? 'b' : 'a';
        return [id, { slot, pid: slotPid(f, id, slot) }] as const;
      }),
    );
    for (const [id, p] of pids) expect(alive(p.pid), `${id} new slot ${p.slot}`).toBe(true);

    // status, the LB still away: each pending host named with why and the one command.
    const cmd = `rollgate continue -g ${f.groupFile}`;
    const rtS = await f.runtime();
    try {
      const st = await collectStatus(rtS.ports, rtS.loaded.group, 10, { groupFile: f.groupFile });
      for (const id of pending) {
        const w = st.targets.find((t) => t.id === id)!.wayBack;
        expect(w?.why, id).toMatch(/new slot verified on 2\.0\.0, not in traffic/);
        expect(w?.command, id).toBe(cmd);
      }
    } finally {
      await rtS.close();
    }
    await expectFleetInvariant(f, { lbDown: true });

    // `continue --degrade lb` is refused for side-by-side: it could not switch anything.
    const degraded = await cliChild(['continue', '-g', f.groupFile, '--degrade', 'lb']).done;
    expect(degraded.code, degraded.stdout + degraded.stderr).toBe(2);
    expectNoStackFrame(degraded.stdout, degraded.stderr);
    expect(degraded.stderr).toContain(cmd);

    await lbBack();
    // The LB answers: status still names them (nothing has switched yet) — real `status --json`.
    const st = await statusJson(f);
    for (const id of pending) {
      const w = st.targets.find((t) => t.id === id)!.wayBack;
      expect(w?.why, id).toMatch(/new slot verified on 2\.0\.0, not in traffic/);
      expect(w?.command, id).toBe(cmd);
    }

    const again = await cliChild(['continue', '-g', f.groupFile]).done;
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expectNoStackFrame(again.stdout, again.stderr);
    expect(again.stdout).toMatch(/^SUCCESS — released 2\.0\.0 on every target/m);
    expect(again.stdout).not.toMatch(/unavailable|state unknown/);

    const end = (await readLedger(f))!.current!;
    expect(end.phase).toBe('SUCCESS');
    for (const t of Object.values(end.targets)) {
      expect(t.state, t.id).toMatch(/^(MARKUP_SUCCESS|BAKE_SUCCESS)$/);
      // Before the fix the pending hosts kept "load balancer … is unavailable" here.
      expect(t.error, t.id).toBeUndefined();
      expect(t.lbUnknown, t.id).toBeUndefined();
    }
    const lb = await lbStatus(f);
    for (const [id, p] of pids) {
      // The flip, no restart: the slot verified before the outage serves, same process.
      expect(servingSlot(f, id)).toBe(p.slot);
      expect(slotPid(f, id, p.slot), id).toBe(p.pid);
      expect(alive(p.pid), id).toBe(true);
      expect(up(lb[p.slot === 'b' ? `${id}-b` : id]), `${id}: ${JSON.stringify(lb)}`).toBe(true);
    }
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('2.0.0');
    const report = await expectFleetInvariant(f, { statusCli: true });
    expect(report.status.targets.filter((t) => t.wayBack)).toEqual([]);
    expect(report.hosts.every((h) => h.health.ok && h.health.version === '2.0.0')).toBe(true);
  });
});
