import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/model/errors';
import { SshExecutor, type SshExecutorOptions } from '../../../src/transport/ssh/ssh-executor';

const base: SshExecutorOptions = {
  user: 'deploy',
  port: 22,
  privateKeyFile: '/nonexistent/key',
  knownHostsFile: '/nonexistent/known_hosts',
  insecureIgnoreHostKey: false,
  maxChannelsPerHost: 8,
  maxConnecting: 8,
  connectTimeoutMs: 1000,
  logger: { info: () => undefined, warn: () => undefined },
};

function inputError(options: SshExecutorOptions): InputError {
  try {
    new SshExecutor(options);
  } catch (error) {
    if (error instanceof InputError) return error;
    throw error;
  }
  throw new Error('expected an InputError');
}

describe('SshExecutor options', () => {
  it('needs a way to authenticate', () => {
    expect(inputError({ ...base, privateKeyFile: undefined }).field).toBe('transport');
  });

  it('needs the key variable to be set, looked up in the env it is given', () => {
    const options = { ...base, privateKeyFile: undefined, privateKeyEnv: 'DEPLOY_KEY' };
    expect(inputError(options).message).toContain('DEPLOY_KEY');
    expect(() => new SshExecutor({ ...options, env: { DEPLOY_KEY: 'x' } })).not.toThrow();
  });

  it('needs SSH_AUTH_SOCK for the agent', () => {
    const options = { ...base, privateKeyFile: undefined, agent: true };
    expect(inputError(options).field).toBe('transport.agent');
    expect(() => new SshExecutor({ ...options, env: { SSH_AUTH_SOCK: '/s' } })).not.toThrow();
  });

  it('rejects limits below 1', () => {
    expect(inputError({ ...base, maxChannelsPerHost: 0 }).field).toBe(
      'transport.maxChannelsPerHost',
    );
    expect(inputError({ ...base, maxConnecting: 0.5 }).field).toBe('transport.maxConnecting');
  });

  it('reports an unreadable known_hosts file as bad input when it connects', async () => {
    const executor = new SshExecutor(base);
    const host = { id: 'h1', host: 'h1', address: '127.0.2.10' };
    await expect(executor.exec(host, 'true')).rejects.toThrow(/known_hosts.*ENOENT/);
    await executor.close();
  });

  it('refuses work after close', async () => {
    const executor = new SshExecutor(base);
    await executor.close();
    const host = { id: 'h1', host: 'h1', address: '127.0.2.10' };
    await expect(executor.exec(host, 'true')).rejects.toThrow('closed');
  });
});
