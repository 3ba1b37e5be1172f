/**
 * Fault suite, the edges (issue 11 items 1–3, issue 12 item 3's engine side, issue 13 items 2
 * and 6) on a real fleet: five sshd hosts (127.0.2.141–145) behind one HAProxy (127.0.7.41),
 * maxUnavailable 50% → batches [web-01] (bastion), [web-02, web-03], [web-04, web-05].
 *
 * Each scenario stops, kills or cuts off a release the way a person or CI does it — `rollgate
 * stop` from another shell, Ctrl-C once and twice on the real command line, kill -9, the load
 * balancer's runtime API gone at markup — and ends with THE INVARIANT (fleet-invariant.ts): HAProxy
 * `show stat` for every server, `current` and /health on every host, the lock files, and `status`
 * naming every host out of traffic with why and one command. No output holds a stack frame.
 * Between scenarios a rollback returns the fleet to 1.0.0 (the stopped versions are quarantined).
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DependencyDownError } from '../../../src/model/errors';
import { lockContent } from '../../../src/host/scripts';
import type { ReconcileReport } from '../../../src/engine/reconcile';
import {
  cliChild,
  describeTargets,
  expectFleetInvariant,
  expectNoStackFrame,
  health,
  hostLock,
  lbStatus,
  onEvents,
  packageOf,
  readEvents,
  readLedger,
  releaseOnFleet,
  statusJson,
  type CliResult,
} from '../../support/fleet-invariant';
import { oneShot } from '../../support/haproxy-lb';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';
import { openRuntime } from '../../../src/app/runtime';
import type { ReleaseEvent } from '../../../src/engine/ledger';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('fault suite: stop, Ctrl-C, kill -9, LB lost — every host serves or is listed (issue 11)', () => {
  let f: RealFleet;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    f = await startRealFleet({
      n: 5,
      first: 141,
      appPort: 18800,
      frontend: '127.0.7.41:18741',
      deployment: '  maxUnavailable: 50%\n  startTimeout: 10s\n  verifyInterval: 20ms',
      // Idle runtime API connections close after 500 ms: an LB taken away is noticed at once.
      statsTimeoutMs: 500,
    });
    await f.build('1.0.0', { startDelayMs: 100 });
    await f.build('2.0.0', { startDelayMs: 100 });
    await f.build('3.0.0', { startDelayMs: 2500 });
    await f.build('4.0.0', { startDelayMs: 2500 });
    await f.build('5.0.0', { startDelayMs: 3000 });
    await f.build('6.0.0', { startDelayMs: 2000 });
    await f.build('7.0.0', { startDelayMs: 1500 });
    await f.build('8.0.0', { startDelayMs: 100 });
    await f.build('9.0.0', { startDelayMs: 100 });
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
  });

  afterAll(async () => {
    console.log(`fault-edges timings (ms): ${JSON.stringify(timings)}`);
    await f?.stop();
  });

  /** deploy + bake through a runtime of this process (the bastion is web-01). */
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

  /** Back to 1.0.0 everywhere: a rollback (no download), then the invariant. */
  async function backTo1(): Promise<void> {
    const rt = await f.runtime();
    try {
      const r = await rt.engine.rollback();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    } finally {
      await rt.close();
    }
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('1.0.0');
    await expectFleetInvariant(f);
  }

  async function waitEvent(
    pred: (e: ReleaseEvent) => boolean,
    timeoutMs = 30_000,
  ): Promise<ReleaseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = (await readEvents(f)).find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error('event not seen in time');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async function waitHealthy(ids: string[], version: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (const id of ids) {
      const target = { address: f.hosts.find((h) => h.id === id)!.address, port: 18800 };
      for (;;) {
        const h = await health(target as never);
        if (h.ok && h.version === version) break;
        if (Date.now() > deadline) throw new Error(`${id} not healthy on ${version}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  const onTarget = (id: string, deployment: string, state: string) => (e: ReleaseEvent) =>
    e.deployment === deployment && e.target === id && e.state === state;

  function batchLine(events: ReleaseEvent[], deployment: string, batch: number): string {
    const line = events.find(
      (e) =>
        e.deployment === deployment &&
        e.type === 'batch' &&
        / done in /.test(e.message) &&
        e.batch === batch,
    );
    return line?.message ?? '(none)';
  }

  it('stop mid-install (`rollgate stop` from another shell): the batch finishes, nothing else starts', async () => {
    const id = await deployAndBake('2.0.0');
    const rt = await f.runtime();
    let stop: CliResult | undefined;
    try {
      onEvents(rt, async (e) => {
        if (e.target !== 'web-02' || e.state !== 'INSTALL_RUNNING' || stop) return;
        // The install of web-02 starts once this other shell's stop has been asked.
        stop = await cliChild(['stop', '-g', f.groupFile], 'second-shell').done;
      });
      const r = await rt.engine.continue();
      expect(r.phase, describeTargets(r.deployment)).toBe('ABORTED');
    } finally {
      await rt.close();
    }
    expect(stop!.code, stop!.stderr).toBe(0);
    expect(stop!.stdout).toMatch(/stop requested: fleet-test .* starts no more targets/);
    expectNoStackFrame(stop!.stdout, stop!.stderr);
    const d = (await readLedger(f))!.current!;
    expect(d.id).toBe(id);
    // In flight and out of traffic: finished, back in on 2.0.0. Not started: PENDING on 1.0.0.
    for (const t of ['web-02', 'web-03']) {
      expect(d.targets[t]!.state).toBe('MARKUP_SUCCESS');
      expect(await f.current(t)).toBe('2.0.0');
    }
    for (const t of ['web-04', 'web-05']) {
      expect(d.targets[t]!.state).toBe('PENDING');
      expect(await f.current(t)).toBe('1.0.0');
    }
    const lb = await lbStatus(f);
    for (const h of f.hosts) expect(lb[h.id]).toMatch(/^UP/);
    expect(batchLine(await readEvents(f), id, 1)).toMatch(
      /\(stopped\): 2 ok, 0 failed, 0 not started$/,
    );
    expect(d.stop).toEqual({ by: 'second-shell', hard: false });
    await expectFleetInvariant(f);
    await backTo1();
  });

  it('stop mid-verify: the verify in flight completes, the host is back in traffic', async () => {
    const id = await deployAndBake('3.0.0');
    const rt = await f.runtime();
    let stop: Promise<CliResult> | undefined;
    try {
      onEvents(rt, async (e) => {
        // web-02 enters verify once the other shell's stop has been asked: the stop lands while
        // its 2.5 s start-up runs, however long that shell takes to start on a loaded machine.
        if (e.target === 'web-02' && e.state === 'VERIFY_RUNNING' && !stop) {
          stop = cliChild(['stop', '-g', f.groupFile], 'second-shell').done;
          await stop;
        }
      });
      const r = await rt.engine.continue();
      expect(r.phase, describeTargets(r.deployment)).toBe('ABORTED');
    } finally {
      await rt.close();
    }
    const s = await stop!;
    expect(s.code, s.stderr).toBe(0);
    const events = await readEvents(f);
    const stopAt = events.find((e) => e.deployment === id && e.type === 'stop')!.at;
    const verified = events.find(onTarget('web-02', id, 'VERIFY_SUCCESS'))!.at;
    // The stop was recorded after web-02's verify finished: it did not cut it.
    expect(verified <= stopAt).toBe(true);
    const d = (await readLedger(f))!.current!;
    for (const t of ['web-02', 'web-03']) expect(d.targets[t]!.state).toBe('MARKUP_SUCCESS');
    for (const t of ['web-04', 'web-05']) expect(d.targets[t]!.state).toBe('PENDING');
    await expectFleetInvariant(f);
    await backTo1();
  });

  it('Ctrl-C once on `rollgate continue`: exit 4, the batch in flight finishes, the line says so', async () => {
    const id = await deployAndBake('4.0.0');
    const child = cliChild(['continue', '-g', f.groupFile]);
    await waitEvent(onTarget('web-02', id, 'VERIFY_RUNNING'));
    child.signal('SIGINT');
    const r = await child.done;
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stderr).toContain(
      'stopping: no target starts or leaves traffic any more; targets out of traffic finish their chain',
    );
    expect(r.stdout).toMatch(/ABORTED — stopped by .*\(Ctrl-C\): /);
    expectNoStackFrame(r.stdout, r.stderr);
    const d = (await readLedger(f))!.current!;
    for (const t of ['web-02', 'web-03']) expect(d.targets[t]!.state).toBe('MARKUP_SUCCESS');
    for (const t of ['web-04', 'web-05']) expect(d.targets[t]!.state).toBe('PENDING');
    expect(d.stop?.by).toMatch(/\(Ctrl-C\)$/);
    expect(batchLine(await readEvents(f), id, 1)).toMatch(
      /\(stopped\): 2 ok, 0 failed, 0 not started$/,
    );
    await expectFleetInvariant(f, { statusCli: true });
    await backTo1();
  });

  it('Ctrl-C twice: verify cut at once, recorded interrupted; status names reconcile; reconcile puts them back', async () => {
    const id = await deployAndBake('5.0.0');
    const child = cliChild(['continue', '-g', f.groupFile]);
    await waitEvent(onTarget('web-03', id, 'VERIFY_RUNNING'));
    await waitEvent(onTarget('web-02', id, 'VERIFY_RUNNING'));
    child.signal('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    const second = performance.now();
    child.signal('SIGINT');
    const r = await child.done;
    timings.exitAfterSecondCtrlC = Math.round(performance.now() - second);
    expect(r.code, r.stdout + r.stderr).toBe(4);
    // Cut within GitHub's grace with room to spare: a verify of 3 s start-up is not waited for.
    expect(timings.exitAfterSecondCtrlC).toBeLessThan(2000);
    expect(r.stderr).toContain(
      'stopping at once: steps in flight are cut and recorded as interrupted',
    );
    expectNoStackFrame(r.stdout, r.stderr);
    const d = (await readLedger(f))!.current!;
    expect(d.stop).toMatchObject({ hard: true });
    for (const t of ['web-02', 'web-03']) {
      expect(d.targets[t]!.state, describeTargets(d)).toBe('VERIFY_FAILURE');
      expect(d.targets[t]!.error).toMatch(
        /^verify interrupted by a hard stop \(.*Ctrl-C twice\)\): host truth decides/,
      );
    }
    const lb = await lbStatus(f);
    expect(lb['web-02']).toMatch(/^MAINT/);
    for (const t of ['web-04', 'web-05']) expect(d.targets[t]!.state).toBe('PENDING');
    await expectFleetInvariant(f, { statusCli: true });

    // Once their app is up, status says reconcile brings them back; reconcile does, changing no version.
    await waitHealthy(['web-02', 'web-03'], '5.0.0');
    const st = await statusJson(f);
    for (const t of ['web-02', 'web-03']) {
      expect(st.targets.find((x) => x.id === t)!.wayBack).toMatchObject({
        action: 'reconcile',
        command: `rollgate reconcile -g ${f.groupFile}`,
      });
    }
    const dry = await cliChild(['reconcile', '-g', f.groupFile, '--dry-run']).done;
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/web-02 .*would put back in traffic/);
    expect((await lbStatus(f))['web-02']).toMatch(/^MAINT/);
    const rec = await cliChild(['reconcile', '-g', f.groupFile, '--json']).done;
    expect(rec.code, rec.stderr).toBe(0);
    expectNoStackFrame(rec.stdout, rec.stderr);
    const report = JSON.parse(rec.stdout) as ReconcileReport;
    for (const t of ['web-02', 'web-03']) {
      expect(report.targets.find((x) => x.id === t)!.action).toBe('put back in traffic');
    }
    const after = await lbStatus(f);
    for (const h of f.hosts) expect(after[h.id]).toMatch(/^UP/);
    await expectFleetInvariant(f);
    await backTo1();
  });

  it('kill -9 mid-verify, then `rollgate stop`: ABORTED, host locks released, reconcile restores capacity', async () => {
    const id = await deployAndBake('6.0.0');
    const child = cliChild(['continue', '-g', f.groupFile]);
    await waitEvent(onTarget('web-02', id, 'VERIFY_RUNNING'));
    child.signal('SIGKILL');
    expect((await child.done).signal).toBe('SIGKILL');
    const web02 = f.hosts.find((h) => h.id === 'web-02')!;
    expect(hostLock(web02.docBase)?.deploymentId).toBe(id);
    await expectFleetInvariant(f, { justKilled: true });
    const mid = await statusJson(f);
    expect(mid.release!.process).toMatch(/^gone/);
    expect(mid.release!.next).toBe('continue or stop');

    const stop = await cliChild(['stop', '-g', f.groupFile], 'second-shell').done;
    expect(stop.code, stop.stdout + stop.stderr).toBe(4);
    expectNoStackFrame(stop.stdout, stop.stderr);
    for (const h of f.hosts) expect(hostLock(h.docBase), h.id).toBeNull();
    const d = (await readLedger(f))!.current!;
    expect(d.phase).toBe('ABORTED');
    expect(d.targets['web-02']!.error).toMatch(
      /^verify interrupted: the process running it is gone/,
    );
    await expectFleetInvariant(f);

    await waitHealthy(['web-02', 'web-03'], '6.0.0');
    const rec = await cliChild(['reconcile', '-g', f.groupFile]).done;
    expect(rec.code, rec.stdout + rec.stderr).toBe(0);
    expect(rec.stdout).toMatch(/every target serves/);
    const lb = await lbStatus(f);
    for (const h of f.hosts) expect(lb[h.id]).toMatch(/^UP/);
    await expectFleetInvariant(f, { statusCli: true });
    await backTo1();
  });

  it('kill -9, then `deploy` explains the way on, status says the process is gone, `continue` finishes', async () => {
    const id = await deployAndBake('7.0.0');
    const child = cliChild(['continue', '-g', f.groupFile]);
    await waitEvent(onTarget('web-02', id, 'VERIFY_RUNNING'));
    child.signal('SIGKILL');
    await child.done;
    const again = await cliChild(['deploy', '-g', f.groupFile, '--version', '7.0.0']).done;
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(
      `was interrupted in phase ROLLING_OUT; the process that ran it is gone. \`rollgate continue -g ${f.groupFile}\` resumes it, or \`rollgate stop -g ${f.groupFile}\` ends it`,
    );
    const text = await cliChild(['status', '-g', f.groupFile]).done;
    expect(text.stdout).toMatch(/^process: gone/m);
    expect(text.stdout).toMatch(/now possible: continue or stop/);
    const cont = await cliChild(['continue', '-g', f.groupFile]).done;
    expect(cont.code, cont.stdout + cont.stderr).toBe(0);
    expectNoStackFrame(
      again.stdout,
      again.stderr,
      text.stdout,
      text.stderr,
      cont.stdout,
      cont.stderr,
    );
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('7.0.0');
    const end = await expectFleetInvariant(f);
    expect(end.hosts.every((h) => h.health.ok && h.lb.startsWith('UP'))).toBe(true);
  });

  it('a host lock an ABORTED release left behind does not block the next release: taken over, named', async () => {
    const aborted = (await readLedger(f))!.history.find((h) => h.outcome === 'aborted')!;
    for (const id of ['web-01', 'web-04']) {
      const h = f.hosts.find((x) => x.id === id)!;
      // As a rollgate without lock release left it after kill -9 and stop.
      await writeFile(
        join(h.docBase, '.rollgate/lock'),
        `${lockContent({ deploymentId: aborted.id, who: 'cli-operator' }, '2026-01-01T00:00:00.000Z')}\n`,
      );
    }
    const r = await releaseOnFleet(f, '8.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    const warns = (await readEvents(f)).filter(
      (e) => e.deployment === r.deployment.id && e.type === 'lock',
    );
    expect(warns.map((e) => e.target).sort()).toEqual(['web-01', 'web-04']);
    expect(warns[0]!.message).toContain(
      `took over the lock of deploy ${aborted.id} of ${aborted.version} (ABORTED)`,
    );
    for (const h of f.hosts) expect(hostLock(h.docBase), h.id).toBeNull();
    await expectFleetInvariant(f);
  });

  it('LB lost at markup: the advice that works; `continue --degrade lb` says what it skipped; LB back → reconcile', async () => {
    // One target per batch (a second group file on the same record): web-02 alone at markup.
    const narrow = join(f.dir, 'group-25.yml');
    const { readFile } = await import('node:fs/promises');
    await writeFile(
      narrow,
      (await readFile(f.groupFile, 'utf8')).replace('maxUnavailable: 50%', 'maxUnavailable: 25%'),
    );
    const rt0 = await openRuntime({
      groupFile: narrow,
      env: process.env,
      logger: quiet,
      who: 'fleet-test',
    });
    let id: string;
    try {
      const smoke = await rt0.engine.deploy({ version: '9.0.0', package: packageOf(f, '9.0.0') });
      expect(smoke.phase).toBe('SMOKE_SUCCESS');
      expect((await rt0.engine.bake()).phase).toBe('BAKE_SUCCESS');
      id = smoke.deployment.id;
    } finally {
      await rt0.close();
    }
    const sock = f.lb.socketPath;
    const rt = await openRuntime({
      groupFile: narrow,
      env: process.env,
      logger: quiet,
      who: 'fleet-test',
    });
    let lost = false;
    try {
      const traffic = rt.ports.traffic;
      const markup = traffic.markup.bind(traffic);
      traffic.markup = async (target, signal) => {
        if (target.id === 'web-02' && !lost) {
          lost = true;
          // The runtime API goes away just before web-02's markup, open connections included
          // (as when the LB's host is cut off): no new connection, and the open ones cut.
          await rename(sock, `${sock}.away`);
          const sessions = await oneShot(`${sock}.away`, 'show sess');
          for (const [, id] of sessions.matchAll(
            /^(0x[0-9a-f]+): proto=unix_stream .*fe=GLOBAL/gm,
          )) {
            await oneShot(`${sock}.away`, `shutdown session ${id}`);
          }
        }
        return markup(target, signal);
      };
      const err = await rt.engine.continue().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DependencyDownError);
      expect((err as Error).message).toContain(
        `The release waits in phase ROLLING_OUT: \`rollgate continue -g ${narrow} --degrade lb\` goes on without the load balancer`,
      );
    } finally {
      await rt.close();
    }
    let d = (await readLedger(f))!.current!;
    expect(d.targets['web-02']!.state).toBe('VERIFY_SUCCESS');
    expect(d.targets['web-02']!.lbUnknown).toBeDefined();
    await expectFleetInvariant(f, { lbDown: true });

    // The advice a person tries first: deploy again with --degrade lb → the way on, not "stop first".
    const again = await cliChild(['deploy', '-g', narrow, '--version', '9.0.0', '--degrade', 'lb'])
      .done;
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(
      `\`rollgate continue -g ${narrow}\` resumes it (add --degrade lb to go on without the load balancer, recorded)`,
    );
    const cont = await cliChild(['continue', '-g', narrow, '--degrade', 'lb']).done;
    expect(cont.code, cont.stdout + cont.stderr).toBe(0);
    expect(cont.stdout).toMatch(
      new RegExp(
        `SUCCESS — released .*load balancer \\(haproxy\\) state unknown for web-02, web-03, web-04, web-05.*\`rollgate reconcile -g ${narrow.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\``,
      ),
    );
    expectNoStackFrame(again.stdout, again.stderr, cont.stdout, cont.stderr);
    const log = (await readEvents(f)).filter((e) => e.deployment === id);
    // Skipped steps say so; none claims "out of/back in traffic" once the LB was gone.
    const lbSteps = log.filter(
      (e) =>
        ['web-03', 'web-04', 'web-05'].includes(e.target ?? '') &&
        /^(MARKDOWN|MARKUP)_SUCCESS$/.test(e.state ?? ''),
    );
    expect(lbSteps).toHaveLength(6);
    for (const e of lbSteps) expect(e.message).toMatch(/^skipped \(LB degraded\): /);
    expect(log.find((e) => e.target === 'web-02' && e.state === 'MARKUP_SUCCESS')!.message).toMatch(
      /^skipped \(LB degraded\): /,
    );
    d = (await readLedger(f))!.current!;
    expect(d.phase).toBe('SUCCESS');

    // The LB is back: web-02 is still in MAINT (marked down before the outage); status says so.
    await rename(`${sock}.away`, sock);
    expect((await lbStatus(f))['web-02']).toMatch(/^MAINT/);
    const st = await statusJson(f);
    expect(st.release!.lbUnknown).toEqual(['web-02', 'web-03', 'web-04', 'web-05']);
    expect(st.targets.find((t) => t.id === 'web-02')!.wayBack).toMatchObject({
      action: 'reconcile',
    });
    await expectFleetInvariant(f);
    const rec = await cliChild(['reconcile', '-g', f.groupFile, '--json']).done;
    expect(rec.code, rec.stderr).toBe(0);
    const report = JSON.parse(rec.stdout) as ReconcileReport;
    expect(report.targets.find((t) => t.id === 'web-02')!.action).toBe('put back in traffic');
    expect(report.targets.find((t) => t.id === 'web-03')!.action).toBe('LB note cleared');
    const lb = await lbStatus(f);
    for (const h of f.hosts) expect(lb[h.id]).toMatch(/^UP/);
    const end = await expectFleetInvariant(f, { statusCli: true });
    expect(end.status.release!.lbUnknown).toEqual([]);
  });
});
