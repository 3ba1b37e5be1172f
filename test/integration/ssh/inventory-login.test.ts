/**
 * Issue 13 item 8: the SSH login an Ansible inventory gives each host reaches the connection.
 * Real sshd on 127.0.2.231–234: two on port 2222, one on 22, one on 2222 reached through an
 * IPv6 (IPv4-mapped) address. The group file's transport says user "nobody-here", port 22;
 * only the inventory (inline vars, group_vars/) names the right port and the deploy user.
 */
import { chmod, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime, type Runtime } from '../../../src/app/runtime';
import { ensureSshd, startSshFleet, type SshFleet } from '../../support/ssh-fleet';

const unavailable = await ensureSshd();
if (unavailable) console.warn(`skipping inventory SSH tests: ${unavailable}`);

describe.skipIf(unavailable !== null)('inventory SSH logins against real sshd', () => {
  const fleets: SshFleet[] = [];
  let dir: string;
  let runtime: Runtime | undefined;
  const info: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-inventory-ssh-'));
    // sshd reads authorized_keys inside as the deploy user: it must be able to get there.
    await chmod(dir, 0o755);
    const sshd = join(dir, 'sshd');
    fleets.push(await startSshFleet({ n: 2, first: 231, port: 2222, dir: sshd }));
    fleets.push(await startSshFleet({ n: 1, first: 233, port: 22, dir: sshd }));
    fleets.push(await startSshFleet({ n: 1, first: 234, port: 2222, dir: sshd }));
    const key = async (k: number) =>
      (await readFile(join(sshd, 'keys', `hostkey-${k}.pub`), 'utf8'))
        .split(' ')
        .slice(0, 2)
        .join(' ');
    await writeFile(
      join(dir, 'known_hosts'),
      [
        `[127.0.2.231]:2222 ${await key(231)}`,
        `[::ffff:127.0.2.232]:2222 ${await key(232)}`,
        `127.0.2.233 ${await key(233)}`,
        `[::ffff:127.0.2.234]:2222 ${await key(234)}`,
      ].join('\n') + '\n',
    );
    await writeFile(
      join(dir, 'hosts.ini'),
      [
        '[web]',
        'h231 ansible_host=127.0.2.231',
        'h232 ansible_ssh_host=::ffff:127.0.2.232 ansible_host=127.0.2.239',
        'h233 ansible_host=127.0.2.233 ansible_port=22',
        '[::ffff:127.0.2.234]:2222',
      ].join('\n') + '\n',
    );
    await mkdir(join(dir, 'group_vars'));
    await writeFile(
      join(dir, 'group_vars', 'web.yml'),
      'ansible_port: 2222\nansible_user: deploy\n',
    );
    await writeFile(
      join(dir, 'group.yml'),
      [
        'group: inv-ssh',
        'docBase: /srv/inv-ssh',
        'port: 19000',
        'service: { start: ./run }',
        'transport:',
        '  kind: ssh',
        '  user: nobody-here',
        '  port: 22',
        `  privateKeyFile: ${join(sshd, 'client_key')}`,
        `  knownHostsFile: ${join(dir, 'known_hosts')}`,
        '  connectTimeout: 5s',
        'inventory:',
        '  file: ./hosts.ini',
        '  group: web',
        `store: { dir: ${join(dir, 'store')} }`,
      ].join('\n') + '\n',
    );
  }, 120_000);

  afterAll(async () => {
    await runtime?.close();
    for (const fleet of fleets.reverse()) await fleet.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('reaches each host on the port and as the user the inventory gives it', async () => {
    runtime = await openRuntime({
      groupFile: join(dir, 'group.yml'),
      env: { HOME: dir, PATH: process.env.PATH },
      logger: {
        debug: (line) => info.push(line),
        info: (line) => info.push(line),
        warn: (line) => info.push(line),
        error: (line) => info.push(line),
      },
    });
    const targets = runtime.loaded.group.targets;
    expect(targets.map((t) => [t.id, t.address])).toEqual([
      ['h231', '127.0.2.231'],
      ['h232', '::ffff:127.0.2.232'],
      ['h233', '127.0.2.233'],
      ['::ffff:127.0.2.234', '::ffff:127.0.2.234'],
    ]);
    for (const target of targets) {
      await expect(runtime.ports.transport.probe(target)).resolves.toBeDefined();
    }
    expect(
      info
        .filter((line) => line.startsWith('ssh: connected'))
        .map((l) => l.replace(/ in \d+ ms$/, '')),
    ).toEqual([
      'ssh: connected to h231 (127.0.2.231:2222)',
      'ssh: connected to h232 ([::ffff:127.0.2.232]:2222)',
      'ssh: connected to h233 (127.0.2.233:22)',
      'ssh: connected to ::ffff:127.0.2.234 ([::ffff:127.0.2.234]:2222)',
    ]);
  });
});
