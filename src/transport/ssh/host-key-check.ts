import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { posix } from 'node:path';
import type { SshTransportSpec } from '../../config/specs';
import { InputError } from '../../model/errors';
import type { Endpoint } from './connection';
import type { SshLogger } from './options';
import { HostKeyError, hostPort } from './errors';
import {
  fingerprint,
  keyTypeOf,
  knownHostName,
  parseKnownHosts,
  verifyHostKey,
  type KnownHosts,
} from './known-hosts';

/** A known_hosts file that takes precedence over transport.knownHostsFile (set by the actions). */
export const KNOWN_HOSTS_ENV = 'ROLLGATE_KNOWN_HOSTS_FILE';

/** The known_hosts file host keys are checked against; none with insecureIgnoreHostKey. */
export function knownHostsFileOf(
  options: Pick<SshTransportSpec, 'insecureIgnoreHostKey' | 'knownHostsFile'>,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (options.insecureIgnoreHostKey) return undefined;
  // The run's own file (the actions write their known-hosts input there) beats the group
  // file's: a CI job says which host keys it trusts, never the runner's leftovers.
  return (
    env[KNOWN_HOSTS_ENV] ||
    (options.knownHostsFile ?? posix.join(env.HOME ?? homedir(), '.ssh', 'known_hosts'))
  );
}

/** Reads and parses known_hosts; lines it cannot use are warned about and skipped. */
export function readKnownHosts(file: string, logger: SshLogger): Promise<KnownHosts> {
  return readFile(file, 'utf8').then(
    (text) => {
      const parsed = parseKnownHosts(text);
      for (const problem of parsed.errors) {
        logger.warn(`ssh: ${file} line ${problem.line} ignored: ${problem.message}`);
      }
      return parsed;
    },
    (error: NodeJS.ErrnoException) => {
      throw new InputError(
        'transport.knownHostsFile',
        `cannot read ${file} (${error.code ?? error.message}); host keys are pinned unless ` +
          'insecureIgnoreHostKey is set',
      );
    },
  );
}

/** The known_hosts names a host's key may be listed under: its address, and its name. */
export function knownHostNames(endpoint: Endpoint): string[] {
  const names = [knownHostName(endpoint.ref.address, endpoint.port)];
  if (endpoint.ref.host !== endpoint.ref.address) {
    names.push(knownHostName(endpoint.ref.host, endpoint.port));
  }
  return names;
}

/** Why the offered key is refused, with the fix; undefined when known_hosts pins it. */
export function hostKeyProblem(
  endpoint: Endpoint,
  names: string[],
  knownHosts: KnownHosts,
  file: string,
  key: Buffer,
): HostKeyError | undefined {
  const verdict = verifyHostKey(knownHosts, names, key);
  const address = endpoint.ref.address;
  const offered = `${keyTypeOf(key)} ${fingerprint(key)}`;
  switch (verdict.status) {
    case 'match':
      return undefined;
    case 'unknown': {
      const port = endpoint.port === 22 ? '' : ` -p ${endpoint.port}`;
      return new HostKeyError(
        endpoint.ref,
        endpoint.port,
        'unknown',
        `host key for ${address} is not in ${file}: add it with ` +
          `ssh-keyscan${port} ${address} >> ${file} (and check it offers ${offered})`,
      );
    }
    case 'changed': {
      const pinned = verdict.pinned
        .map((p) => `line ${p.line}: ${p.keyType} ${p.fingerprint}`)
        .join('; ');
      return new HostKeyError(
        endpoint.ref,
        endpoint.port,
        'changed',
        `host key for ${address} has CHANGED (possible man-in-the-middle attack): it offered ` +
          `${offered}, but ${file} pins ${pinned}. If the host was rebuilt, replace that line`,
      );
    }
    case 'revoked':
      return new HostKeyError(
        endpoint.ref,
        endpoint.port,
        'revoked',
        `host key for ${address} (${offered}) is marked @revoked in ${file} line ${verdict.line}`,
      );
  }
}

export function insecureHostKeyWarning(endpoint: Endpoint): string {
  return (
    `ssh: insecureIgnoreHostKey is set: not checking the host key of ${endpoint.ref.host} ` +
    `(${hostPort(endpoint.ref.address, endpoint.port)})`
  );
}
