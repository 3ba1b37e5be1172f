import { utils } from 'ssh2';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime } from '../../../src/app/runtime';
import { InputError } from '../../../src/model/errors';
import { LazyExecutor } from '../../../src/transport/lazy-executor';
import { KNOWN_HOSTS_ENV } from '../../../src/transport/ssh/host-key-check';
import { SshExecutor } from '../../../src/transport/ssh/ssh-executor';

// Issue 12 item 1: the stop job of an SSH group had no key, and building the runtime threw
// (transport.privateKeyEnv: ROLLGATE_SSH_KEY is empty) before it could record the stop.

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let dir: string;
let groupFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rollgate-lazy-'));
  groupFile = join(dir, 'web.yml');
  await writeFile(
    groupFile,
    `group: web
docBase: /srv/web
port: 18901
service: { start: node server.js }
package:
  source: ./app-{version}.tar.gz
transport: { kind: ssh, user: deploy, privateKeyEnv: ROLLGATE_SSH_KEY }
traffic: { kind: none }
store: { dir: ./state }
targets:
  - { host: web-01, address: 127.0.2.181 }
`,
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the SSH executor is built when a host is reached', () => {
  it('opens the runtime of an SSH group without a key when asked to be lazy; the first host contact names the missing key', async () => {
    const rt = await openRuntime({ groupFile, env: {}, logger: quiet, lazyTransport: true });
    try {
      expect(await rt.ports.store.load('web')).toBeNull();
      const target = rt.loaded.group.targets[0]!;
      await expect(rt.ports.transport.probe(target)).rejects.toThrow(
        /transport\.privateKeyEnv: environment variable ROLLGATE_SSH_KEY is empty or not set/,
      );
    } finally {
      await rt.close();
    }
  });

  it('still fails at once without a key by default (the CLI and the steps that deploy)', async () => {
    await expect(openRuntime({ groupFile, env: {}, logger: quiet })).rejects.toBeInstanceOf(
      InputError,
    );
  });

  it('builds once and closes only what it built', async () => {
    let builds = 0;
    const closed: string[] = [];
    const lazy = new LazyExecutor(() => {
      builds++;
      return {
        exec: async () => ({ code: 0, stdout: 'ok', stderr: '' }),
        put: async () => undefined,
        close: async () => void closed.push('inner'),
      };
    });
    await lazy.close();
    expect(closed).toEqual([]);
    expect(lazy.built).toBe(false);
    const host = { id: 'h', host: 'h', address: '127.0.2.181' };
    await lazy.exec(host, 'true');
    await lazy.exec(host, 'true');
    expect(builds).toBe(1);
    await lazy.close();
    expect(closed).toEqual(['inner']);
  });
});

describe('known_hosts of the run', () => {
  const KEY = utils.generateKeyPairSync('ed25519').private;
  const base = {
    user: 'deploy',
    port: 22,
    // A key that reads at once: only the known_hosts file can be what fails (both are read in
    // parallel, so a missing key file would race it).
    privateKeyEnv: 'TEST_KEY',
    knownHostsFile: '/nonexistent/group-file-known_hosts',
    insecureIgnoreHostKey: false,
    maxChannelsPerHost: 8,
    maxConnecting: 8,
    connectTimeoutMs: 1000,
    logger: { info: () => undefined, warn: () => undefined },
  };
  const host = { id: 'h1', host: 'h1', address: '127.0.2.181' };

  it(`${KNOWN_HOSTS_ENV} takes precedence over transport.knownHostsFile`, async () => {
    const ex = new SshExecutor({
      ...base,
      env: { TEST_KEY: KEY, [KNOWN_HOSTS_ENV]: '/nonexistent/run-known_hosts' },
    });
    await expect(ex.exec(host, 'true')).rejects.toThrow(/run-known_hosts.*ENOENT/);
    await ex.close();
  });

  it('without it, the group file names the file', async () => {
    const ex = new SshExecutor({ ...base, env: { TEST_KEY: KEY } });
    await expect(ex.exec(host, 'true')).rejects.toThrow(/group-file-known_hosts.*ENOENT/);
    await ex.close();
  });
});
