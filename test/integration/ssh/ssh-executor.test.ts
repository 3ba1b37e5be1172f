import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HostRef } from '../../../src/host/executor';
import { InputError, StepError } from '../../../src/model/errors';
import {
  ExecTimeoutError,
  HostKeyError,
  HostUnreachableError,
} from '../../../src/transport/ssh/errors';
import { SshExecutor, type SshExecutorOptions } from '../../../src/transport/ssh/ssh-executor';
import {
  ensureSshd,
  hostRef,
  sshOptionsFor,
  startSshFleet,
  type SshFleet,
} from '../../support/ssh-fleet';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const unavailable = await ensureSshd();
if (unavailable) console.warn(`skipping SSH integration tests: ${unavailable}`);

describe.skipIf(unavailable !== null)('SshExecutor against real sshd', () => {
  let fleet: SshFleet;
  let knownHostLines: string[];
  const executors: SshExecutor[] = [];
  const h = (index: number): HostRef => hostRef(fleet.hosts[index - 1]!);
  const make = (overrides: Partial<SshExecutorOptions> = {}) => {
    const executor = new SshExecutor(sshOptionsFor(fleet, overrides));
    executors.push(executor);
    return executor;
  };
  const writeKnownHosts = async (name: string, lines: string[]) => {
    const file = join(fleet.dir, name);
    await writeFile(file, lines.join('\n') + '\n');
    return file;
  };
  const capture = () => {
    const lines = { debug: [] as string[], info: [] as string[], warn: [] as string[] };
    return {
      lines,
      logger: {
        debug: (l: string) => lines.debug.push(l),
        info: (l: string) => lines.info.push(l),
        warn: (l: string) => lines.warn.push(l),
      },
    };
  };

  beforeAll(async () => {
    // OpenSSH's own defaults (MaxSessions 10, MaxStartups 10:30:100): the executor must cope.
    fleet = await startSshFleet({ n: 6, first: 1, maxSessions: 10, maxStartups: '10:30:100' });
    knownHostLines = (await readFile(fleet.knownHostsFile, 'utf8')).trim().split('\n');
  });

  afterEach(async () => {
    await Promise.all(executors.splice(0).map((e) => e.close()));
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('runs a POSIX sh script and returns code, stdout and stderr', async () => {
    const executor = make();
    const result = await executor.exec(h(1), 'id -un; echo err >&2; exit 3');
    expect(result).toEqual({ code: 3, stdout: 'deploy\n', stderr: 'err\n' });

    const script = `set -e
x='it'"'"'s $HOME'; printf '%s|' "$x" "ünï" "\${BASH_VERSION:-no-bash}"
cd ${fleet.hosts[0]!.root} && pwd`;
    const quoted = await executor.exec(h(1), script);
    expect(quoted.stdout).toBe(`it's $HOME|ünï|no-bash|${fleet.hosts[0]!.root}\n`);
    expect(quoted.code).toBe(0);

    expect((await executor.exec(h(1), 'kill -TERM $$')).code).toBe(143);
    expect((await executor.exec(h(1), 'cat; echo done')).stdout).toBe('done\n');
  });

  it('keeps one connection per host; TCP_NODELAY makes sequential execs fast', async () => {
    const timings: Record<string, number> = {};
    for (const noDelay of [true, false]) {
      const { logger, lines } = capture();
      const executor = make({ noDelay, logger });
      const started = performance.now();
      await executor.exec(h(2), 'true');
      const first = performance.now() - started;
      const loop = performance.now();
      for (let i = 0; i < 20; i++) await executor.exec(h(2), 'true');
      timings[noDelay ? 'noDelay' : 'nagle'] = (performance.now() - loop) / 20;
      expect(executor.stats.connects).toBe(1);
      console.log(
        `ssh ${noDelay ? 'setNoDelay(true)' : 'Nagle on'}: first exec ${first.toFixed(1)} ms ` +
          `(${lines.info[0]}), then ${timings[noDelay ? 'noDelay' : 'nagle']!.toFixed(1)} ms per exec`,
      );
    }
  });

  it('connect opens the kept connection and runs nothing; the exec after it reuses it', async () => {
    const executor = make();
    await executor.connect(h(4));
    expect(executor.stats.connects).toBe(1);
    const result = await executor.exec(h(4), 'echo ok');
    expect(result.stdout).toBe('ok\n');
    expect(executor.stats.connects).toBe(1);
    // An aborted connect rejects at once with the reason.
    const ctl = new AbortController();
    ctl.abort(new Error('stopped'));
    await expect(executor.connect(h(5), { signal: ctl.signal })).rejects.toThrow('stopped');
  });

  it('runs 50 execs at once on one host, never more than maxChannelsPerHost channels', async () => {
    const executor = make({ maxChannelsPerHost: 8 });
    const slots = `${fleet.hosts[2]!.root}/slots`;
    await executor.exec(h(3), `rm -rf ${slots}; mkdir -p ${slots}`);
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        executor.exec(
          h(3),
          `mkdir ${slots}/$$ && sleep 0.05 && n=$(ls ${slots} | wc -l) && rmdir ${slots}/$$ && echo "${i} $n"`,
        ),
      ),
    );
    const ms = performance.now() - started;
    expect(results.map((r) => r.code)).toEqual(Array(50).fill(0));
    expect(results.map((r) => Number(r.stdout.split(' ')[0]))).toEqual([...Array(50).keys()]);
    const peak = Math.max(...results.map((r) => Number(r.stdout.split(' ')[1])));
    expect(peak).toBeLessThanOrEqual(8);
    console.log(
      `ssh: 50 execs at once on one host (8 channels, sshd MaxSessions 10): ${ms.toFixed(0)} ms, ` +
        `peak ${peak} running, ${executor.stats.channelRetries} channel retries`,
    );
  });

  it('puts a 5 MiB file (sha256 checked on the host), creating its directory', async () => {
    const executor = make();
    const local = join(fleet.dir, 'payload.bin');
    const content = randomBytes(5 << 20);
    await writeFile(local, content);
    const sha = createHash('sha256').update(content).digest('hex');
    const remote = `${fleet.hosts[3]!.root}/releases/v1/payload.bin`;
    await executor.exec(h(4), 'true');

    const rates: string[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await executor.put(h(4), local, remote);
      rates.push(((5 / (performance.now() - started)) * 1000).toFixed(0));
    }
    console.log(`ssh: put 5 MiB: ${rates.join(', ')} MiB/s (1st includes SFTP start + mkdir)`);

    const check = await executor.exec(
      h(4),
      `sha256sum ${remote} | cut -d' ' -f1; ls -A ${fleet.hosts[3]!.root}/releases/v1`,
    );
    expect(check.stdout).toBe(`${sha}\npayload.bin\n`);
  });

  it('reports a refused put as a StepError naming the path', async () => {
    const executor = make();
    const local = join(fleet.dir, 'small.txt');
    await writeFile(local, 'x');
    const error = await executor.put(h(4), local, '/root/nope/x.txt').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect(String(error)).toMatch(/put \/root\/nope\/x.txt on h4: .*[Pp]ermission denied/);
    expect(await executor.exec(h(4), 'echo still-fine')).toMatchObject({ code: 0 });
  });

  describe('host keys', () => {
    it('refuses a host that is not in known_hosts, saying how to add it', async () => {
      const file = await writeKnownHosts(
        'kh-unknown',
        knownHostLines.filter((l) => !l.startsWith('127.0.2.3 ')),
      );
      const error = await make({ knownHostsFile: file })
        .exec(h(3), 'true')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostKeyError);
      expect((error as HostKeyError).problem).toBe('unknown');
      expect((error as Error).message).toContain(
        `host key for 127.0.2.3 is not in ${file}: add it with ssh-keyscan 127.0.2.3 >> ${file}`,
      );
    });

    it('refuses a changed host key as a possible man-in-the-middle', async () => {
      const h4Key = knownHostLines[3]!.split(' ').slice(1).join(' ');
      const lines = knownHostLines.map((l) =>
        l.startsWith('127.0.2.3 ') ? `127.0.2.3 ${h4Key}` : l,
      );
      const file = await writeKnownHosts('kh-changed', lines);
      const error = await make({ knownHostsFile: file })
        .exec(h(3), 'true')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostKeyError);
      expect((error as Error).message).toMatch(
        /host key for 127\.0\.2\.3 has CHANGED \(possible man-in-the-middle attack\).*line 3/,
      );
    });

    it('refuses a key marked @revoked', async () => {
      const h3Key = knownHostLines[2]!.split(' ').slice(1).join(' ');
      const file = await writeKnownHosts('kh-revoked', [...knownHostLines, `@revoked * ${h3Key}`]);
      const error = await make({ knownHostsFile: file })
        .exec(h(3), 'true')
        .catch((e: unknown) => e);
      expect((error as HostKeyError).problem).toBe('revoked');
    });

    it('accepts a known_hosts file hashed by ssh-keygen -H', async () => {
      const file = await writeKnownHosts('kh-hashed', knownHostLines);
      await run('ssh-keygen', ['-H', '-f', file]);
      expect(await readFile(file, 'utf8')).toMatch(/^\|1\|/);
      expect((await make({ knownHostsFile: file }).exec(h(3), 'echo ok')).stdout).toBe('ok\n');
    });

    it('skips the check with insecureIgnoreHostKey and warns once per host', async () => {
      const { logger, lines } = capture();
      const executor = make({ insecureIgnoreHostKey: true, knownHostsFile: undefined, logger });
      await executor.exec(h(1), 'true');
      await executor.exec(h(1), 'true');
      await executor.exec(h(2), 'true');
      expect(lines.warn).toHaveLength(2);
      expect(lines.warn[0]).toMatch(/insecureIgnoreHostKey.*h1 \(127\.0\.2\.1:22\)/);
    });
  });

  describe('authentication', () => {
    it('takes the private key from an environment variable', async () => {
      const key = await readFile(fleet.keyFile, 'utf8');
      const executor = make({
        privateKeyFile: undefined,
        privateKeyEnv: 'ROLLGATE_SSH_KEY',
        env: { ROLLGATE_SSH_KEY: key },
      });
      expect((await executor.exec(h(1), 'id -un')).stdout).toBe('deploy\n');

      const escaped = make({
        privateKeyFile: undefined,
        privateKeyEnv: 'ROLLGATE_SSH_KEY',
        env: { ROLLGATE_SSH_KEY: key.trim().replaceAll('\n', '\\n') },
      });
      expect((await escaped.exec(h(1), 'id -un')).stdout).toBe('deploy\n');
    });

    it('says which setting is wrong when the variable holds no key', async () => {
      const executor = make({
        privateKeyFile: undefined,
        privateKeyEnv: 'ROLLGATE_SSH_KEY',
        env: { ROLLGATE_SSH_KEY: 'not a key' },
      });
      const error = await executor.exec(h(1), 'true').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).field).toBe('transport.privateKeyEnv');
    });

    it('uses ssh-agent through SSH_AUTH_SOCK from the env map', async () => {
      const socket = join(fleet.dir, 'agent.sock');
      const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
      try {
        for (let i = 0; i < 100; i++) {
          if (
            await run('test', ['-S', socket]).then(
              () => true,
              () => false,
            )
          )
            break;
          await sleep(20);
        }
        await run('ssh-add', [fleet.keyFile], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
        const executor = make({
          privateKeyFile: undefined,
          agent: true,
          env: { SSH_AUTH_SOCK: socket },
        });
        expect((await executor.exec(h(2), 'id -un')).stdout).toBe('deploy\n');
      } finally {
        agent.kill();
      }
    });

    it('reports a key the host does not accept as unreachable, naming the user', async () => {
      const other = join(fleet.dir, 'other_key');
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      const error = await make({ privateKeyFile: other })
        .exec(h(2), 'true')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostUnreachableError);
      expect((error as Error).message).toMatch(
        /h2 \(127\.0\.2\.2:22\): authentication as deploy failed/,
      );
    });
  });

  describe('jump host', () => {
    let closed: SshFleet | undefined;

    afterAll(async () => {
      await closed?.stop();
    });

    it('reaches a host through a jump host (forwardOut)', async () => {
      const { logger, lines } = capture();
      const executor = make({
        jumpHost: { host: '127.0.2.1', port: 22, user: 'deploy' },
        logger,
      });
      const results = await Promise.all([2, 3, 4].map((i) => executor.exec(h(i), 'id -un')));
      expect(results.map((r) => r.stdout)).toEqual(['deploy\n', 'deploy\n', 'deploy\n']);
      expect(executor.stats.connects).toBe(4);
      expect(lines.debug.filter((l) => l.includes('connected to 127.0.2.1'))).toHaveLength(1);
    });

    it('fails, naming the jump host, when it refuses to forward', async () => {
      closed = await startSshFleet({
        dir: fleet.dir,
        n: 1,
        first: 7,
        extraConfig: 'AllowTcpForwarding no',
      });
      const executor = make({ jumpHost: { host: '127.0.2.7', port: 22, user: 'deploy' } });
      const error = await executor.exec(h(2), 'true').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostUnreachableError);
      expect((error as Error).message).toMatch(
        /cannot reach h2 \(127\.0\.2\.2:22\): jump host 127\.0\.2\.7 could not open a tunnel/,
      );
    });
  });

  describe('failures', () => {
    it('rejects with HostUnreachableError naming the host when nothing listens', async () => {
      const host = { id: 'app-10', host: 'h10', address: '127.0.2.10' };
      const error = await make()
        .exec(host, 'true')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostUnreachableError);
      expect((error as Error).message).toBe(
        'cannot reach app-10 on h10 (127.0.2.10:22): connect ECONNREFUSED 127.0.2.10:22',
      );
      expect((error as HostUnreachableError).host).toEqual(host);
    });

    it('times out a command: closes the channel, kills it on the host, rejects', async () => {
      const executor = make();
      const started = performance.now();
      const error = await executor
        .exec(h(5), 'sleep 7.25; echo never', { timeoutMs: 300 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExecTimeoutError);
      expect(performance.now() - started).toBeLessThan(2000);
      await sleep(100);
      expect((await executor.exec(h(5), 'pgrep -f "sleep 7[.]25"')).code).toBe(1);
    });

    it('reconnects when the connection dropped between commands', async () => {
      const executor = make();
      expect((await executor.exec(h(5), 'echo one')).stdout).toBe('one\n');
      const listener = await fleet.pid(5);
      const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(listener)]);
      for (const pid of stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGTERM');
      await sleep(100);
      expect((await executor.exec(h(5), 'echo two')).stdout).toBe('two\n');
      expect(executor.stats.connects).toBe(2);
    });

    it('rejects a running command when sshd is killed, then recovers when it is back', async () => {
      const executor = make();
      await executor.exec(h(6), 'true');
      const running = executor
        .exec(h(6), 'sleep 20', { timeoutMs: 30_000 })
        .catch((e: unknown) => e);
      await sleep(200);
      const started = performance.now();
      await fleet.kill(6);
      const error = await running;
      console.log(
        `ssh: sshd killed mid-exec: rejected after ${(performance.now() - started).toFixed(0)} ms`,
      );
      expect(error).toBeInstanceOf(HostUnreachableError);
      expect((error as Error).message).toMatch(
        /h6 \(127\.0\.2\.6:22\): connection lost while the command ran/,
      );

      await expect(executor.exec(h(6), 'true')).rejects.toThrow(/ECONNREFUSED/);
      await fleet.restart();
      expect((await executor.exec(h(6), 'echo back')).stdout).toBe('back\n');
    });
  });
});
