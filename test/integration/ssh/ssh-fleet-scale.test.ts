import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SshExecutor, type SshExecutorOptions } from '../../../src/transport/ssh/ssh-executor';
import {
  ensureSshd,
  hostRef,
  sshOptionsFor,
  startSshFleet,
  type SshFleet,
} from '../../support/ssh-fleet';

const unavailable = await ensureSshd();
if (unavailable) console.warn(`skipping SSH scale tests: ${unavailable}`);

const HOSTS = 50;

describe.skipIf(unavailable !== null)('SshExecutor across many hosts', () => {
  let fleet: SshFleet;
  let crowded: SshFleet;
  const executors: SshExecutor[] = [];
  const make = (overrides: Partial<SshExecutorOptions> = {}) => {
    const executor = new SshExecutor(sshOptionsFor(fleet, overrides));
    executors.push(executor);
    return executor;
  };

  beforeAll(async () => {
    const started = performance.now();
    // OpenSSH defaults: MaxStartups 10:30:100, MaxSessions 10.
    fleet = await startSshFleet({ n: HOSTS, first: 11, maxSessions: 10, maxStartups: '10:30:100' });
    crowded = await startSshFleet({ dir: fleet.dir, n: 1, first: 9, maxStartups: '2' });
    console.log(
      `ssh: ${HOSTS + 1} sshd listeners up in ${(performance.now() - started).toFixed(0)} ms`,
    );
  });

  afterEach(async () => {
    await Promise.all(executors.splice(0).map((e) => e.close()));
  });

  afterAll(async () => {
    await crowded?.stop();
    await fleet?.stop();
  });

  it(`connects to ${HOSTS} hosts at once, maxConnecting 8, and runs 3 commands on each`, async () => {
    const executor = make({ maxConnecting: 8 });
    const started = performance.now();
    const results = await Promise.all(
      fleet.hosts.flatMap((host) =>
        [1, 2, 3].map((n) => executor.exec(hostRef(host), `echo ${host.index}-${n}`)),
      ),
    );
    const ms = performance.now() - started;
    expect(results.map((r) => r.stdout.trim())).toEqual(
      fleet.hosts.flatMap((host) => [1, 2, 3].map((n) => `${host.index}-${n}`)),
    );
    expect(executor.stats.connects).toBe(HOSTS);
    console.log(
      `ssh: ${HOSTS} hosts × 3 execs from cold: ${ms.toFixed(0)} ms ` +
        `(${executor.stats.connectRetries} connect retries)`,
    );

    const warm = performance.now();
    await Promise.all(fleet.hosts.map((host) => executor.exec(hostRef(host), 'true')));
    console.log(`ssh: ${HOSTS} hosts × 1 exec, warm: ${(performance.now() - warm).toFixed(0)} ms`);
  });

  it(`puts 1 MiB on ${HOSTS} hosts at once`, async () => {
    const executor = make();
    const local = join(fleet.dir, 'one-mib.bin');
    await writeFile(local, randomBytes(1 << 20));
    const started = performance.now();
    await Promise.all(
      fleet.hosts.map((host) => executor.put(hostRef(host), local, `${host.root}/pkg/one-mib.bin`)),
    );
    console.log(
      `ssh: 1 MiB to ${HOSTS} hosts (cold): ${(performance.now() - started).toFixed(0)} ms`,
    );
    const sizes = await Promise.all(
      fleet.hosts.map((host) =>
        executor.exec(hostRef(host), `stat -c %s ${host.root}/pkg/one-mib.bin`),
      ),
    );
    expect(sizes.map((r) => r.stdout.trim())).toEqual(Array(HOSTS).fill(String(1 << 20)));
  });

  it('shares one connection among targets on the same address (several apps per host)', async () => {
    const executor = make();
    const host = fleet.hosts[0]!;
    const targets = Array.from({ length: 20 }, (_, i) => ({
      id: `app-${i}`,
      host: 'h11',
      address: host.address,
    }));
    const results = await Promise.all(targets.map((t) => executor.exec(t, 'echo ok')));
    expect(results.every((r) => r.stdout === 'ok\n')).toBe(true);
    expect(executor.stats.connects).toBe(1);
  });

  it('retries connects that sshd drops before the handshake (MaxStartups)', async () => {
    const host = hostRef(crowded.hosts[0]!);
    const many = Array.from({ length: 6 }, () => make({ connectRetries: 6 }));
    const results = await Promise.all(many.map((e) => e.exec(host, 'echo ok')));
    expect(results.map((r) => r.stdout)).toEqual(Array(6).fill('ok\n'));
    const retries = many.reduce((sum, e) => sum + e.stats.connectRetries, 0);
    console.log(`ssh: 6 clients at once against MaxStartups 2: all connected, ${retries} retries`);
  });
});
