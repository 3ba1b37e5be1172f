import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import type { TransportSpec } from '../../config/specs';
import { InputError } from '../../model/errors';
import { KNOWN_HOSTS_ENV } from '../../transport/ssh/host-key-check';

type Env = Record<string, string | undefined>;

/** The variable the reusable workflow puts the deploy key in. */
const DEFAULT_KEY_ENV = 'ROLLGATE_SSH_KEY';

/**
 * The deploy key never reaches the log: the whole value and each of its lines are masked (a
 * PEM printed line by line would otherwise show).
 */
export function maskKey(transport: TransportSpec, env: Env): void {
  const names = new Set([DEFAULT_KEY_ENV]);
  if (transport.kind === 'ssh' && transport.privateKeyEnv) names.add(transport.privateKeyEnv);
  for (const name of names) {
    const value = env[name];
    if (!value?.trim()) continue;
    core.setSecret(value);
    for (const line of value.split(/\r?\n|\\n/)) {
      if (line.trim().length >= 8 && !/^-----(BEGIN|END) /.test(line.trim()))
        core.setSecret(line.trim());
    }
  }
}

/**
 * Input `known-hosts` (the secret's lines) is written to `$RUNNER_TEMP`, which the runner
 * empties after the job, and handed to the SSH executor through ROLLGATE_KNOWN_HOSTS_FILE —
 * never the runner user's persistent ~/.ssh/known_hosts. An SSH group that pins host keys and
 * names no known_hosts file of its own fails a step that reaches hosts when the input is empty.
 */
export async function knownHostsEnv(o: {
  transport: TransportSpec;
  groupFile: string;
  knownHosts: string | undefined;
  env: Env;
  tempDir: string;
  reachesHosts: boolean;
}): Promise<Env> {
  const t = o.transport;
  if (t.kind !== 'ssh') return o.env;
  const file = join(o.tempDir, 'known_hosts');
  if (o.knownHosts?.trim()) {
    await writeFile(file, `${o.knownHosts.trim()}\n`, { mode: 0o600 });
    return { ...o.env, [KNOWN_HOSTS_ENV]: file };
  }
  if (t.insecureIgnoreHostKey || o.env[KNOWN_HOSTS_ENV] || t.knownHostsFile) return o.env;
  if (o.reachesHosts) {
    throw new InputError(
      'input known-hosts',
      `is empty: ${o.groupFile} releases over SSH with pinned host keys and names no ` +
        'transport.knownHostsFile. Set the known-hosts secret to the hosts’ key lines ' +
        '(`ssh-keyscan <host>`, checked against the hosts), or name a known_hosts file in the ' +
        "group file. The runner's own ~/.ssh/known_hosts is never used.",
    );
  }
  // A step that reaches no host (stop) goes on; its status page trusts no key.
  await writeFile(file, '', { mode: 0o600 });
  return { ...o.env, [KNOWN_HOSTS_ENV]: file };
}
