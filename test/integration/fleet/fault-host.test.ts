/**
 * Fault suite (issue 4), host faults on a real fleet: five sshd hosts behind HAProxy, batches
 * [web-01] (bastion), [web-02, web-03], [web-04, web-05]. Scenarios run in order on one fleet,
 * each a new version, each ending with THE INVARIANT (test/support/fleet-invariant.ts).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
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
import { COMPLETE_MARKER } from '../../../src/host/scripts';
import { ShellHost } from '../../../src/host/shell-host';
import { buildPackage } from '../../../src/package/tarball';
import { SshExecutor } from '../../../src/transport/ssh/ssh-executor';
import {
  describeTargets,
  expectFleetInvariant,
  fullRelease,
  lbStatus,
  onEvents,
  packageOf,
  releaseOnFleet,
} from '../../support/fleet-invariant';
import {
  APP_DIR,
  startRealFleet,
  type RealFleet,
  type RealFleetHost,
} from '../../support/real-fleet';

const run = promisify(execFile);

describe('fault suite: host faults (issue 4)', () => {
  let f: RealFleet;
  let host: (id: string) => RealFleetHost;
  const mounts: string[] = [];

  beforeAll(async () => {
    f = await startRealFleet({
      n: 5,
      first: 111,
      appPort: 18780,
      frontend: '127.0.7.11:18711',
      deployment: '  maxUnavailable: 50%\n  startTimeout: 3s\n  verifyInterval: 20ms',
    });
    host = (id) => f.hosts.find((h) => h.id === id)!;
    for (const v of ['1.0.0', '2.0.0', '3.0.0', '4.0.0']) await f.build(v, { startDelayMs: 100 });
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
  });

  // A scenario that failed half-way must not leave a host without sshd for the next one.
  afterEach(async () => f?.ssh.restart());

  afterAll(async () => {
    for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
    await f?.stop();
  });

  it('1. host unreachable mid-chain: that target fails, the others finish; retry finishes it', async () => {
    const victim = host('web-03');
    const rt = await f.runtime();
    let killedAt: string | undefined;
    try {
      const smoke = await rt.engine.deploy({ version: '2.0.0', package: packageOf(f, '2.0.0') });
      expect(smoke.phase).toBe('SMOKE_SUCCESS');
      expect((await rt.engine.bake()).phase).toBe('BAKE_SUCCESS');
      // The kill lands after download and markdown, before install: the middle of its chain.
      onEvents(rt, async (e) => {
        if (e.target === victim.id && e.state === 'INSTALL_RUNNING' && !killedAt) {
          killedAt = e.state;
          await f.ssh.kill(victim.sshIndex);
        }
      });
      const r = await rt.engine.continue();
      expect(killedAt).toBe('INSTALL_RUNNING');
      expect(r.phase, describeTargets(r.deployment)).toBe('FAILURE');
      const t = r.deployment.targets[victim.id]!;
      expect(t.state).toBe('INSTALL_FAILURE');
      expect(t.error).toMatch(/unreachable|cannot reach/i);
      for (const id of ['web-02', 'web-04', 'web-05']) {
        expect(r.deployment.targets[id]!.state).toBe('MARKUP_SUCCESS');
        expect(await f.current(id)).toBe('2.0.0');
      }
      // Never reached by install: still on the old version, out of traffic with a record.
      expect(await f.current(victim.id)).toBe('1.0.0');
      expect((await lbStatus(f))[victim.id]).toMatch(/^MAINT/);
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

  it('2. sshd killed during install: INSTALL_FAILURE, never a half-installed current', async () => {
    const victim = host('web-05');
    const log = join(victim.docBase, '.rollgate/app.log');
    // A client in the middle of sending a request keeps the old app from closing for seconds
    // after its SIGTERM, so the install script is surely still in its stop step when sshd dies.
    const client = net.connect(18780, victim.address);
    await once(client, 'connect');
    client.write('GET / HTTP/1.1\r\nHost: web-05\r\n');
    const rt = await f.runtime();
    let kill: Promise<string> | undefined;
    try {
      onEvents(rt, (e) => {
        if (e.target !== victim.id || e.state !== 'INSTALL_RUNNING' || kill) return;
        // Not awaited: the install runs on the host meanwhile. Once the old app logs its
        // SIGTERM, the script is inside its stop step: the host's sshd dies there.
        kill = (async () => {
          const from = (await stat(log)).size;
          const deadline = Date.now() + 10_000;
          while (Date.now() < deadline) {
            const text = (await readFile(log, 'utf8')).slice(from);
            if (text.includes('2.0.0: SIGTERM')) {
              await f.ssh.kill(victim.sshIndex);
              return 'killed while the old app was stopping';
            }
            await new Promise((r) => setTimeout(r, 2));
          }
          return 'the old app was never stopped';
        })();
      });
      const r = await fullRelease(rt.engine, f, '3.0.0');
      expect(await kill).toBe('killed while the old app was stopping');
      expect(r.phase, describeTargets(r.deployment)).toBe('FAILURE');
      const t = r.deployment.targets[victim.id]!;
      expect(t.state).toBe('INSTALL_FAILURE');
      expect(t.error).toMatch(/connection lost while the command ran/);
      expect(r.deployment.targets['web-04']!.state).toBe('MARKUP_SUCCESS');
      // Cut off before its switch: `current` is still the old, complete release.
      expect(await f.current(victim.id)).toBe('2.0.0');
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

  it('7. package corrupted in transit: DOWNLOAD_FAILURE on checksum, host keeps serving', async () => {
    const victim = host('web-04');
    const rt = await f.runtime();
    const ssh = new SshExecutor({
      ...(rt.loaded.transport as Extract<typeof rt.loaded.transport, { kind: 'ssh' }>),
      logger: { info: () => undefined, warn: () => undefined },
      env: process.env,
    });
    let flipped = '';
    // The bytes arrive, then one of them is not what was sent: a corrupted transfer.
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
    try {
      const r = await fullRelease(engine, f, '4.0.0');
      expect(flipped).toContain('/.rollgate/incoming/4.0.0.');
      expect(r.phase, describeTargets(r.deployment)).toBe('FAILURE');
      const t = r.deployment.targets[victim.id]!;
      expect(t.state).toBe('DOWNLOAD_FAILURE');
      expect(t.error).toMatch(/checksum mismatch/);
      expect(t.steps.markdown).toBeUndefined();
      for (const id of ['web-02', 'web-03', 'web-05']) {
        expect(r.deployment.targets[id]!.state).toBe('MARKUP_SUCCESS');
      }
      // Nothing of 4.0.0 stays on the host; it still serves 3.0.0 and is still in the LB.
      expect(existsSync(join(victim.docBase, 'releases/4.0.0'))).toBe(false);
      expect(
        readdirSync(join(victim.docBase, 'releases')).filter((n) => n.startsWith('.')),
      ).toEqual([]);
      expect(
        readdirSync(join(victim.docBase, '.rollgate/incoming')).filter((n) => n.includes('4.0.0')),
      ).toEqual([]);
      expect(await f.current(victim.id)).toBe('3.0.0');
      expect((await lbStatus(f))[victim.id]).toMatch(/^UP/);
      const end = await expectFleetInvariant(f);
      expect(end.hosts.find((h) => h.id === victim.id)!.health).toMatchObject({
        ok: true,
        version: '3.0.0',
      });
    } finally {
      await transport.close();
      await rt.close();
    }

    // A clean transfer on retry finishes it.
    const rt2 = await f.runtime();
    try {
      expect((await rt2.engine.retry()).phase).toBe('SUCCESS');
    } finally {
      await rt2.close();
    }
    expect(await f.current(victim.id)).toBe('4.0.0');
    await expectFleetInvariant(f);
  });

  it('8. disk full on download: DOWNLOAD_FAILURE naming the disk error, other hosts fine', async () => {
    const victim = host('web-02');
    // The package: the app plus 2 MiB of incompressible bytes.
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

    // Uploads land in <docBase>/.rollgate/incoming: a 1 MiB file system there is full at once.
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
    try {
      const r = await releaseOnFleet(f, '5.0.0');
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
      expect((await lbStatus(f))[victim.id]).toMatch(/^UP/);
      await expectFleetInvariant(f);
    } finally {
      await run('umount', [incoming]);
      mounts.splice(mounts.indexOf(incoming), 1);
    }

    // With room again, a retry finishes it.
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
