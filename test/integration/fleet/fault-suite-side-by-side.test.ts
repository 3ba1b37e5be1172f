/**
 * The fault suite of issue 4 (fault-host, fault-app, fault-process) run with `strategy:
 * side-by-side` (S7, issue 16 "Done when"). Three real fleets on 127.0.31.x (sshd on 31022, the
 * sample app on 31080 = slot a, 31081 = slot b) behind a real HAProxy each, declaring a pair of
 * servers per target (`web-0N`, `web-0N-b`). Each scenario ends with the slot-aware INVARIANT
 * (fleet-invariant.ts). Where the in-place test asserts "the host keeps serving" (or, in-place,
 * that a failed host is out of the LB with a record), this one asserts the side-by-side
 * equivalent: the old slot never left traffic — a 25 ms LB sampler sees every target with a
 * server UP for the whole scenario.
 *
 * The scenario bodies are written out here rather than shared with the in-place files: the
 * chains differ (no markdown; install starts the idle slot; markup is the flip), so nearly every
 * assertion about states, LB servers and `current` differs, and the in-place files stay as they are.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import {
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import type { Ports } from '../../../src/engine/ports';
import type { Executor } from '../../../src/host/executor';
import { COMPLETE_MARKER, lockContent } from '../../../src/host/scripts';
import { ShellHost } from '../../../src/host/shell-host';
import {
  DependencyDownError,
  InputError,
  LockHeldError,
  PhaseError,
} from '../../../src/model/errors';
import { buildPackage } from '../../../src/package/tarball';
import { collectStatus } from '../../../src/report/collect';
import { SshExecutor } from '../../../src/transport/ssh/ssh-executor';
import {
  cliChild,
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
import { APP_DIR, startRealFleet, type RealFleet } from '../../support/real-fleet';

const run = promisify(execFile);
const NET = '127.0.31';
const SSH_PORT = 31022;
const PORT_A = 31080;
const PORT_B = 31081;

const up = (s: string | undefined) => s?.startsWith('UP') === true;

function servingSlot(f: RealFleet, id: string): 'a' | 'b' {
  const h = f.hosts.find((x) => x.id === id)!;
  try {
    return readFileSync(join(h.docBase, '.rollgate/serving'), 'utf8').trim() === 'b' ? 'b' : 'a';
  } catch {
    return 'a';
  }
}

/** The LB status of the server of the slot the host names as serving, and of the other one. */
async function slotsInLb(f: RealFleet, id: string): Promise<{ serving: string; idle: string }> {
  const st = await lbStatus(f);
  const b = servingSlot(f, id) === 'b';
  return {
    serving: st[b ? `${id}-b` : id] ?? 'missing',
    idle: st[b ? id : `${id}-b`] ?? 'missing',
  };
}

/**
 * Samples HAProxy every 25 ms; `stop` returns, per target, how many samples saw neither of its
 * servers UP (0 everywhere = no target ever left traffic) and how many samples were taken.
 */
function trafficWatch(f: RealFleet) {
  const out: Record<string, number> = Object.fromEntries(f.hosts.map((h) => [h.id, 0]));
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const st = await lbStatus(f).catch(() => null);
      if (st) {
        samples++;
        for (const h of f.hosts) if (!up(st[h.id]) && !up(st[`${h.id}-b`])) out[h.id]!++;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { out, samples };
    },
  };
}

async function expectNeverLeftTraffic(w: ReturnType<typeof trafficWatch>): Promise<void> {
  const { out, samples } = await w.stop();
  expect(samples).toBeGreaterThan(0);
  expect(out).toEqual(Object.fromEntries(Object.keys(out).map((id) => [id, 0])));
}

function sbsFleet(o: { n: number; first: number; frontend: string; startTimeout: string }) {
  return startRealFleet({
    n: o.n,
    first: o.first,
    net: NET,
    sshPort: SSH_PORT,
    appPort: PORT_A,
    altPort: PORT_B,
    frontend: o.frontend,
    deployment:
      '  strategy: side-by-side\n  keepWarm: 120s\n' +
      `  maxUnavailable: 50%\n  startTimeout: ${o.startTimeout}\n  verifyInterval: 20ms`,
  });
}

describe('fault suite, side-by-side: host faults (issue 4 × S7)', () => {
  let f: RealFleet;
  const mounts: string[] = [];
  const host = (id: string) => f.hosts.find((h) => h.id === id)!;

  beforeAll(async () => {
    f = await sbsFleet({ n: 5, first: 1, frontend: `${NET}.200:31210`, startTimeout: '3s' });
    for (const v of ['1.0.0', '2.0.0', '3.0.0', '4.0.0']) await f.build(v, { startDelayMs: 100 });
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
  }, 120_000);

  afterEach(async () => f?.ssh.restart());

  afterAll(async () => {
    for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
    await f?.stop();
  });

  it('1. host unreachable mid-chain: that target fails and its old slot keeps serving; retry finishes it', async () => {
    const victim = host('web-03');
    const rt = await f.runtime();
    let killedAt: string | undefined;
    let watch: ReturnType<typeof trafficWatch> | undefined;
    try {
      const smoke = await rt.engine.deploy({ version: '2.0.0', package: packageOf(f, '2.0.0') });
      expect(smoke.phase).toBe('SMOKE_SUCCESS');
      expect((await rt.engine.bake()).phase).toBe('BAKE_SUCCESS');
      onEvents(rt, async (e) => {
        if (e.target === victim.id && e.state === 'INSTALL_RUNNING' && !killedAt) {
          killedAt = e.state;
          await f.ssh.kill(victim.sshIndex);
        }
      });
      watch = trafficWatch(f);
      const r = await rt.engine.continue();
      await expectNeverLeftTraffic(watch);
      expect(killedAt).toBe('INSTALL_RUNNING');
      expect(r.phase, describeTargets(r.deployment)).toBe('FAILURE');
      const t = r.deployment.targets[victim.id]!;
      expect(t.state).toBe('INSTALL_FAILURE');
      expect(t.error).toMatch(/unreachable|cannot reach/i);
      for (const id of ['web-02', 'web-04', 'web-05']) {
        expect(r.deployment.targets[id]!.state).toBe('MARKUP_SUCCESS');
        expect(await f.current(id)).toBe('2.0.0');
      }
      // In-place it is out of traffic with a record; side-by-side its old slot still serves.
      expect(await f.current(victim.id)).toBe('1.0.0');
      expect((await slotsInLb(f, victim.id)).serving).toMatch(/^UP/);
      await expectFleetInvariant(f);
    } finally {
      await rt.close();
    }

    await f.ssh.restart();
    const rt2 = await f.runtime();
    try {
      const r = await rt2.engine.retry();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
      expect(r.deployment.targets[victim.id]!.state).toBe('MARKUP_SUCCESS');
      expect(r.deployment.targets[victim.id]!.attempts).toBe(1);
    } finally {
      await rt2.close();
    }
    expect(await f.current(victim.id)).toBe('2.0.0');
    const end = await expectFleetInvariant(f);
    expect(end.hosts.every((h) => h.health.ok && h.current === '2.0.0' && /^UP/.test(h.lb))).toBe(
      true,
    );
  });

  it('2. sshd killed during install (stopping the warm old process in the idle slot): INSTALL_FAILURE, `current` and the serving slot untouched', async () => {
    const victim = host('web-05');
    // web-05 serves 2.0.0 from slot b; slot a runs 1.0.0 warm. Installing 3.0.0 in slot a stops
    // that process first: a half-sent request keeps it stopping while sshd dies.
    expect(servingSlot(f, victim.id)).toBe('b');
    const log = join(victim.docBase, '.rollgate/app.log');
    const client = net.connect(PORT_A, victim.address);
    await once(client, 'connect');
    client.write('GET / HTTP/1.1\r\nHost: web-05\r\n');
    const rt = await f.runtime();
    let kill: Promise<string> | undefined;
    const watch = trafficWatch(f);
    try {
      onEvents(rt, (e) => {
        if (e.target !== victim.id || e.state !== 'INSTALL_RUNNING' || kill) return;
        kill = (async () => {
          const from = (await stat(log)).size;
          const deadline = Date.now() + 10_000;
          while (Date.now() < deadline) {
            const text = (await readFile(log, 'utf8')).slice(from);
            if (text.includes('1.0.0: SIGTERM')) {
              await f.ssh.kill(victim.sshIndex);
              return 'killed while the warm old app was stopping';
            }
            await new Promise((r) => setTimeout(r, 2));
          }
          return 'the warm old app was never stopped';
        })();
      });
      const r = await fullRelease(rt.engine, f, '3.0.0');
      await expectNeverLeftTraffic(watch);
      expect(await kill).toBe('killed while the warm old app was stopping');
      expect(r.phase, describeTargets(r.deployment)).toBe('FAILURE');
      const t = r.deployment.targets[victim.id]!;
      expect(t.state).toBe('INSTALL_FAILURE');
      expect(t.error).toMatch(/connection lost while the command ran/);
      expect(r.deployment.targets['web-04']!.state).toBe('MARKUP_SUCCESS');
      expect(await f.current(victim.id)).toBe('2.0.0');
      expect(servingSlot(f, victim.id)).toBe('b');
      expect((await slotsInLb(f, victim.id)).serving).toMatch(/^UP/);
      expect(existsSync(join(victim.docBase, 'releases/3.0.0', COMPLETE_MARKER))).toBe(true);
      await expectFleetInvariant(f);
    } finally {
      client.destroy();
      await rt.close();
    }

    await f.ssh.restart();
    const rt2 = await f.runtime();
    try {
      const r = await rt2.engine.retry();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    } finally {
      await rt2.close();
    }
    expect(await f.current(victim.id)).toBe('3.0.0');
    await expectFleetInvariant(f);
  });

  it('7. package corrupted in transit: DOWNLOAD_FAILURE on checksum, the serving slot never left traffic', async () => {
    const victim = host('web-04');
    const rt = await f.runtime();
    const ssh = new SshExecutor({
      ...(rt.loaded.transport as Extract<typeof rt.loaded.transport, { kind: 'ssh' }>),
      logger: { info: () => undefined, warn: () => undefined },
      env: process.env,
    });
    let flipped = '';
    const corrupting: Executor = {
      exec: (h, script, options) => ssh.exec(h, script, options),
      async put(h, localPath, remotePath) {
        await ssh.put(h, localPath, remotePath);
        if (h.id !== victim.id) return;
        const fh = await open(remotePath, 'r+');
        try {
          const b = Buffer.alloc(1);
          await fh.read(b, 0, 1, 100);
          b[0] = b[0]! ^ 0xff;
          await fh.write(b, 0, 1, 100);
          flipped = remotePath;
        } finally {
          await fh.close();
        }
      },
      close: () => ssh.close(),
    };
    const transport = new ShellHost({ executor: corrupting, group: rt.loaded.group });
    const ports: Ports = { ...rt.ports, transport };
    const engine = new Engine(ports, rt.loaded.group, rt.loaded.config, 'fault-test');
    const watch = trafficWatch(f);
    try {
      const r = await fullRelease(engine, f, '4.0.0');
      await expectNeverLeftTraffic(watch);
      expect(flipped).toContain('/.rollgate/incoming/4.0.0.');
      expect(r.phase, describeTargets(r.deployment)).toBe('FAILURE');
      const t = r.deployment.targets[victim.id]!;
      expect(t.state).toBe('DOWNLOAD_FAILURE');
      expect(t.error).toMatch(/checksum mismatch/);
      expect(t.steps.install).toBeUndefined();
      for (const id of ['web-02', 'web-03', 'web-05']) {
        expect(r.deployment.targets[id]!.state).toBe('MARKUP_SUCCESS');
      }
      expect(existsSync(join(victim.docBase, 'releases/4.0.0'))).toBe(false);
      expect(
        readdirSync(join(victim.docBase, 'releases')).filter((n) => n.startsWith('.')),
      ).toEqual([]);
      expect(
        readdirSync(join(victim.docBase, '.rollgate/incoming')).filter((n) => n.includes('4.0.0')),
      ).toEqual([]);
      expect(await f.current(victim.id)).toBe('3.0.0');
      const lb = await slotsInLb(f, victim.id);
      expect(lb.serving).toMatch(/^UP/);
      expect(lb.idle).toMatch(/^MAINT/);
      const end = await expectFleetInvariant(f);
      expect(end.hosts.find((h) => h.id === victim.id)!.health).toMatchObject({
        ok: true,
        version: '3.0.0',
      });
    } finally {
      await transport.close();
      await rt.close();
    }

    const rt2 = await f.runtime();
    try {
      expect((await rt2.engine.retry()).phase).toBe('SUCCESS');
    } finally {
      await rt2.close();
    }
    expect(await f.current(victim.id)).toBe('4.0.0');
    await expectFleetInvariant(f);
  });

  it('8. disk full on download: DOWNLOAD_FAILURE naming the disk error, the serving slot never left traffic', async () => {
    const victim = host('web-02');
    const appDir = await mkdtemp(join(tmpdir(), 'rollgate-bigapp-'));
    for (const name of await readdir(APP_DIR)) {
      if ((await stat(join(APP_DIR, name))).isFile()) {
        await copyFile(join(APP_DIR, name), join(appDir, name));
      }
    }
    await writeFile(join(appDir, 'blob.bin'), randomBytes(2 << 20));
    const pkg = await buildPackage({
      appDir,
      version: '5.0.0',
      outDir: f.packages,
      startDelayMs: 100,
    });
    await rm(appDir, { recursive: true, force: true });
    expect((await stat(pkg.path)).size).toBeGreaterThan(2 << 20);

    const incoming = join(victim.docBase, '.rollgate/incoming');
    await mkdir(incoming, { recursive: true });
    const { uid, gid } = await stat(victim.docBase);
    await run('mount', [
      '-t',
      'tmpfs',
      '-o',
      `size=1m,mode=0755,uid=${uid},gid=${gid}`,
      'tmpfs',
      incoming,
    ]);
    mounts.push(incoming);
    const watch = trafficWatch(f);
    try {
      const r = await releaseOnFleet(f, '5.0.0');
      await expectNeverLeftTraffic(watch);
      expect(r.phase, describeTargets(r.deployment)).toBe('FAILURE');
      const t = r.deployment.targets[victim.id]!;
      expect(t.state).toBe('DOWNLOAD_FAILURE');
      expect(t.error).toMatch(/no space left|disk full/i);
      for (const id of ['web-03', 'web-04', 'web-05']) {
        expect(r.deployment.targets[id]!.state).toBe('MARKUP_SUCCESS');
        expect(await f.current(id)).toBe('5.0.0');
      }
      expect(await f.current(victim.id)).toBe('4.0.0');
      expect(existsSync(join(victim.docBase, 'releases/5.0.0'))).toBe(false);
      expect(readdirSync(incoming)).toEqual([]);
      expect((await slotsInLb(f, victim.id)).serving).toMatch(/^UP/);
      await expectFleetInvariant(f);
    } finally {
      await run('umount', [incoming]);
      mounts.splice(mounts.indexOf(incoming), 1);
    }

    const rt = await f.runtime();
    try {
      expect((await rt.engine.retry()).phase).toBe('SUCCESS');
    } finally {
      await rt.close();
    }
    expect(await f.current(victim.id)).toBe('5.0.0');
    await expectFleetInvariant(f);
  });
});

describe('fault suite, side-by-side: application faults (issue 4 × S7)', () => {
  let f: RealFleet;

  beforeAll(async () => {
    f = await sbsFleet({ n: 4, first: 11, frontend: `${NET}.201:31220`, startTimeout: '2000ms' });
    await f.build('1.0.0', { startDelayMs: 100 });
    await f.build('2.0.0', { startDelayMs: 100, broken: true });
    await f.build('3.0.0', {
      startDelayMs: 100,
      broken: { onHosts: [f.hosts[1]!.address, f.hosts[2]!.address] },
    });
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
  }, 120_000);

  afterAll(async () => f?.stop());

  it('3. app never healthy on the bastion: VERIFY_FAILURE, its old slot never leaves traffic; retry fails again; rollback returns it', async () => {
    const watch = trafficWatch(f);
    const rt = await f.runtime();
    try {
      const smoke = await rt.engine.deploy({ version: '2.0.0', package: packageOf(f, '2.0.0') });
      expect(smoke.phase).toBe('SMOKE_FAILURE');
      const bastion = smoke.deployment.targets['web-01']!;
      expect(bastion.state).toBe('VERIFY_FAILURE');
      expect(bastion.error).toMatch(/not healthy within 2s: HTTP 500/);
      const verify = bastion.steps.verify!;
      expect(verify.endedAt! - verify.startedAt).toBeGreaterThanOrEqual(2000);
      for (const id of ['web-02', 'web-03', 'web-04']) {
        expect(smoke.deployment.targets[id]!.state).toBe('PENDING');
        expect(await f.current(id)).toBe('1.0.0');
      }
      expect(await f.current('web-01')).toBe('1.0.0');
      const lb = await slotsInLb(f, 'web-01');
      expect(lb.serving).toMatch(/^UP/);
      expect(lb.idle).toMatch(/^MAINT/);
      await expectFleetInvariant(f);

      await expect(rt.engine.bake()).rejects.toBeInstanceOf(PhaseError);
      await expect(rt.engine.continue()).rejects.toBeInstanceOf(PhaseError);
      const again = await rt.engine.retry();
      expect(again.phase).toBe('SMOKE_FAILURE');
      expect(again.deployment.targets['web-01']).toMatchObject({
        state: 'VERIFY_FAILURE',
        attempts: 1,
      });
      await expectFleetInvariant(f);

      const back = await rt.engine.rollback();
      expect(back.phase, describeTargets(back.deployment)).toBe('SUCCESS');
      expect(back.deployment).toMatchObject({ kind: 'rollback', version: '1.0.0' });
      // In-place the bastion is switched back (MARKUP_SUCCESS); side-by-side its new slot never
      // went in, so every target, the bastion too, already serves 1.0.0: nothing to flip.
      for (const id of ['web-01', 'web-02', 'web-03', 'web-04']) {
        expect(back.deployment.targets[id]!.state, id).toBe('SKIPPED');
      }
      await expect(
        rt.engine.deploy({ version: '2.0.0', package: packageOf(f, '2.0.0') }),
      ).rejects.toThrow(/quarantined/);
    } finally {
      await rt.close();
    }
    await expectNeverLeftTraffic(watch);
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('1.0.0');
    await expectFleetInvariant(f);
  });

  it('9. brake exactly at the ratio: 2 of 4 failed (50%) brakes before batch 4, not one earlier; the failed hosts keep serving', async () => {
    const watch = trafficWatch(f);
    const rt = await f.runtime();
    try {
      const r = await fullRelease(rt.engine, f, '3.0.0');
      expect(r.phase, describeTargets(r.deployment)).toBe('BRAKED');
      const t = r.deployment.targets;
      expect(r.deployment.batches.map((b) => b.targets.length)).toEqual([1, 1, 1, 1]);
      expect(t['web-01']!.state).toBe('BAKE_SUCCESS');
      // 1 of 4 (25%) after batch 2 is below the ratio: batch 3 ran.
      expect(t['web-02']!.state).toBe('VERIFY_FAILURE');
      expect(t['web-03']!.state).toBe('VERIFY_FAILURE');
      expect(t['web-04']).toMatchObject({ state: 'PENDING', steps: {} });
      expect(r.deployment.nextBatch).toBe(3);
      expect(await f.current('web-04')).toBe('1.0.0');
      for (const id of ['web-02', 'web-03']) {
        expect(await f.current(id)).toBe('1.0.0');
        expect((await slotsInLb(f, id)).serving).toMatch(/^UP/);
      }
      const events = (await readEvents(f)).filter((e) => e.deployment === r.deployment.id);
      const brakes = events.filter((e) => e.type === 'brake');
      expect(brakes.map((e) => e.message)).toEqual([
        'brake before batch 4: 2 of 4 targets failed (50%) ≥ max unavailable 50%',
      ]);
      const lastFailure = Math.max(
        ...['web-02', 'web-03'].map((id) =>
          events.findIndex((e) => e.target === id && e.state === 'VERIFY_FAILURE'),
        ),
      );
      expect(events.indexOf(brakes[0]!)).toBeGreaterThan(lastFailure);
      await expectFleetInvariant(f);

      const done = await rt.engine.continue();
      expect(done.phase, describeTargets(done.deployment)).toBe('FAILURE');
      expect(done.deployment.brakeAccepted).toBe(2);
      expect(done.deployment.targets['web-04']!.state).toBe('MARKUP_SUCCESS');
      expect(await f.current('web-04')).toBe('3.0.0');
    } finally {
      await rt.close();
    }
    await expectNeverLeftTraffic(watch);
    await expectFleetInvariant(f);
  });

  it('10. rollback after a partial failure: all back on 1.0.0, one slot per target in the LB, no request lost', async () => {
    const probe = f.probe(4);
    const watch = trafficWatch(f);
    const rt = await f.runtime();
    try {
      const r = await rt.engine.rollback();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
      expect(r.deployment).toMatchObject({
        kind: 'rollback',
        version: '1.0.0',
        fromVersion: '3.0.0',
      });
      for (const t of Object.values(r.deployment.targets)) {
        expect(t.steps.download, t.id).toBeUndefined();
      }
      // The two that flipped to 3.0.0 flip back to their warm 1.0.0 slot: nothing starts.
      for (const id of ['web-01', 'web-04']) {
        const t = r.deployment.targets[id]!;
        expect(t.state).toBe('MARKUP_SUCCESS');
        expect(t.steps.install?.detail).toMatch(/still runs 1.0.0, warm: nothing to start/);
      }
    } finally {
      await rt.close();
    }
    const stats = await probe.stop();
    await expectNeverLeftTraffic(watch);
    expect(stats.ok).toBeGreaterThan(20);
    expect(stats.failed, stats.errors.slice(0, 5).join('; ')).toBe(0);
    for (const h of f.hosts) {
      expect(await f.current(h.id)).toBe('1.0.0');
      const lb = await slotsInLb(f, h.id);
      expect(lb.serving, h.id).toMatch(/^UP/);
      expect(lb.idle, h.id).toMatch(/^MAINT/);
    }
    await expectFleetInvariant(f);
  });
});

describe('fault suite, side-by-side: process, lock and load balancer faults (issue 4 × S7)', () => {
  let f: RealFleet;

  beforeAll(async () => {
    f = await sbsFleet({ n: 4, first: 21, frontend: `${NET}.202:31230`, startTimeout: '3s' });
    for (const v of ['1.0.0', '2.0.0', '3.0.0', '4.0.0', '5.0.0', '6.0.0']) {
      await f.build(v, { startDelayMs: 100 });
    }
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
  }, 120_000);

  afterAll(async () => f?.stop());

  it('6a. a second release while one runs is refused with who holds it and since when', async () => {
    const rt = await f.runtime();
    let refused: Awaited<ReturnType<typeof cliChild>['done']> | undefined;
    let inProcess: unknown;
    try {
      onEvents(rt, async (e) => {
        if (e.target !== 'web-03' || e.state !== 'INSTALL_RUNNING' || refused) return;
        refused = await cliChild(['deploy', '-g', f.groupFile, '--version', '3.0.0']).done;
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
    const ledger = await readLedger(f);
    expect(ledger!.current!.version).toBe('2.0.0');
    expect((await readEvents(f)).some((e) => e.message.includes('3.0.0'))).toBe(false);
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('2.0.0');
    await expectFleetInvariant(f);
  });

  it('6b. a host locked by another deployment is refused with the holder named; it keeps serving', async () => {
    const victim = f.hosts.find((h) => h.id === 'web-03')!;
    const lock = join(victim.docBase, '.rollgate/lock');
    const since = '2030-01-02T03:04:05.000Z';
    await writeFile(
      lock,
      `${lockContent({ deploymentId: 'other-shop-20300102T030405-beef', who: 'alice@ops-7' }, since)}\n`,
      { mode: 0o644 },
    );
    const watch = trafficWatch(f);
    const rt = await f.runtime();
    try {
      const err = await fullRelease(rt.engine, f, '3.0.0').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LockHeldError);
      expect((err as Error).message).toBe(
        `host web-03 is locked by alice@ops-7 (deployment other-shop-20300102T030405-beef) since ${since}`,
      );
      const d = (await readLedger(f))!.current!;
      expect(d.phase).toBe('ROLLING_OUT');
      expect(d.targets['web-03']).toMatchObject({ state: 'PENDING', steps: {} });
      expect(d.targets['web-04']).toMatchObject({ state: 'PENDING', steps: {} });
      expect(await f.current('web-03')).toBe('2.0.0');
      expect((await slotsInLb(f, 'web-03')).serving).toMatch(/^UP/);
      await expectFleetInvariant(f);
    } finally {
      await rt.close();
    }
    await rm(lock);
    const rt2 = await f.runtime();
    try {
      const r = await rt2.engine.continue();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    } finally {
      await rt2.close();
    }
    await expectNeverLeftTraffic(watch);
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
    const watch = trafficWatch(f);
    const id = (await readLedger(f))!.current!.id;
    const first = cliChild(['continue', '-g', f.groupFile]);
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
    first.signal('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const mid = (await readLedger(f))!.current!;
    expect(mid.phase).toBe('ROLLING_OUT');
    expect(mid.targets['web-04']!.state).toBe('PENDING');
    await expectFleetInvariant(f, { justKilled: true });

    const second = await cliChild(['continue', '-g', f.groupFile]).done;
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toMatch(/SUCCESS — released /);
    await expectNeverLeftTraffic(watch);
    const d = (await readLedger(f))!.current!;
    expect(d.id).toBe(id);
    expect(d.phase).toBe('SUCCESS');
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('4.0.0');
    const end = await expectFleetInvariant(f);
    expect(end.hosts.every((h) => h.health.ok && h.lb.startsWith('UP'))).toBe(true);
  });

  it('5b. the process dies between two steps of a target: continue goes on from there', async () => {
    const watch = trafficWatch(f);
    const dying = await f.runtime({ who: 'dying-run' });
    const smoke = await dying.engine.deploy({ version: '5.0.0', package: packageOf(f, '5.0.0') });
    expect(smoke.phase).toBe('SMOKE_SUCCESS');
    expect((await dying.engine.bake()).phase).toBe('BAKE_SUCCESS');
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
    // No markdown in side-by-side: web-03's last recorded step is its download.
    expect(['DOWNLOAD_SUCCESS', 'INSTALL_RUNNING']).toContain(mid.targets['web-03']!.state);
    // In-place web-03 is out of the LB here (MAINT); side-by-side its serving slot is in.
    expect((await slotsInLb(f, 'web-03')).serving).toMatch(/^UP/);
    await dying.close();
    await rm(join(f.dir, 'state/fleet-shop/run.lock'));

    const rt = await f.runtime();
    try {
      const r = await rt.engine.continue();
      expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
      expect(r.deployment.targets['web-03']!.state).toBe('MARKUP_SUCCESS');
    } finally {
      await rt.close();
    }
    await expectNeverLeftTraffic(watch);
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('5.0.0');
    const end = await expectFleetInvariant(f);
    expect(end.hosts.every((h) => h.health.ok && h.lb.startsWith('UP'))).toBe(true);
  });

  it('4. HAProxy down at the flip: the release stops naming the verified host and `continue`; nothing flipped; --degrade lb is refused (it could switch nothing)', async () => {
    const old = await f.current('web-04');
    const rt = await f.runtime();
    let err: unknown;
    try {
      const smoke = await rt.engine.deploy({ version: '6.0.0', package: packageOf(f, '6.0.0') });
      expect(smoke.phase).toBe('SMOKE_SUCCESS');
      expect((await rt.engine.bake()).phase).toBe('BAKE_SUCCESS');
      await f.lb.kill();
      err = await rt.engine.continue().catch((e: unknown) => e);
    } finally {
      await rt.close();
    }
    expect(err).toBeInstanceOf(DependencyDownError);
    expect((err as Error).message).toMatch(/load balancer \(haproxy\) is unavailable/);
    // Side-by-side cannot go on without the LB: the way on is continue once it answers.
    expect((err as Error).message).not.toContain('--degrade lb');
    expect((err as Error).message).toContain(`rollgate continue -g ${f.groupFile}`);
    expect((err as Error).message).toMatch(/Verified, not in traffic .*: web-02/);
    const d = (await readLedger(f))!.current!;
    expect(d.phase).toBe('ROLLING_OUT');
    // Nobody flipped: the hosts still name their old slot serving, on the old version.
    for (const id of ['web-02', 'web-03', 'web-04']) {
      expect(await f.current(id), id).toBe(old);
      expect(d.targets[id]!.state, id).not.toBe('MARKUP_SUCCESS');
    }
    // In-place the cut markdown resets web-02 to PENDING; side-by-side the outage cuts the flip
    // after a passed verify: web-02 stays VERIFY_SUCCESS (not blamed), the next target never started.
    expect(d.targets['web-02']!.state).toBe('VERIFY_SUCCESS');
    expect(d.targets['web-02']!.error).toContain('load balancer (haproxy) is unavailable');
    expect(d.targets['web-03']).toMatchObject({ state: 'PENDING', steps: {} });
    expect(d.targets['web-04']).toMatchObject({ state: 'PENDING', steps: {} });
    expect(d.degraded).toEqual([]);
    await expectFleetInvariant(f, { lbDown: true });

    // A degraded re-run would switch nothing: refused before any host is touched.
    const rt2 = await f.runtime({ degrade: ['lb'] });
    try {
      const refused = await rt2.engine.continue().catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(InputError);
      expect((refused as Error).message).toMatch(/^--degrade lb: side-by-side /);
      const status = await collectStatus(rt2.ports, rt2.loaded.group, 10, {
        groupFile: f.groupFile,
      });
      expect(status.release!.phase).toBe('ROLLING_OUT');
      const w = status.targets.find((t) => t.id === 'web-02')!.wayBack;
      expect(w?.why).toMatch(/^new slot verified on 6\.0\.0, not in traffic/);
      expect(w?.command).toBe(`rollgate continue -g ${f.groupFile}`);
    } finally {
      await rt2.close();
    }
    expect((await readLedger(f))!.current!.targets['web-03']!.state).toBe('PENDING');
    for (const id of ['web-02', 'web-03', 'web-04']) expect(await f.current(id)).toBe(old);
    await expectFleetInvariant(f, { lbDown: true, alsoAllowed: [old!] });
  });
});
