import { readFile } from 'node:fs/promises';
import { utils as ssh2Utils } from 'ssh2';
import type { SshTransportSpec } from '../../config/specs';
import { InputError } from '../../model/errors';

type Env = Readonly<Record<string, string | undefined>>;
type Credentials = Pick<SshTransportSpec, 'privateKeyFile' | 'privateKeyEnv' | 'agent'>;

/** Refuses a transport with no way to log in, before any host is contacted. */
export function checkCredentials(options: Credentials, env: Env): void {
  if (!options.privateKeyFile && !options.privateKeyEnv && !options.agent) {
    throw new InputError('transport', 'set privateKeyFile, privateKeyEnv or agent');
  }
  if (options.privateKeyEnv && !env[options.privateKeyEnv]) {
    throw new InputError(
      'transport.privateKeyEnv',
      `environment variable ${options.privateKeyEnv} is empty or not set`,
    );
  }
  if (options.agent && !env.SSH_AUTH_SOCK) {
    throw new InputError('transport.agent', 'SSH_AUTH_SOCK is not set: no ssh-agent to use');
  }
}

/** The private key from privateKeyFile or privateKeyEnv (none with agent only), checked. */
export async function readPrivateKey(options: Credentials, env: Env): Promise<Buffer | undefined> {
  const { privateKeyFile, privateKeyEnv } = options;
  let key: Buffer;
  let field: string;
  if (privateKeyFile) {
    field = 'transport.privateKeyFile';
    key = await readFile(privateKeyFile).catch((error: NodeJS.ErrnoException) => {
      throw new InputError(field, `cannot read ${privateKeyFile} (${error.code ?? error.message})`);
    });
  } else if (privateKeyEnv) {
    field = 'transport.privateKeyEnv';
    let text = (env[privateKeyEnv] ?? '').trim();
    // Some secret stores keep a multi-line value with literal \n escapes.
    if (!text.includes('\n') && text.includes('\\n')) text = text.replaceAll('\\n', '\n');
    key = Buffer.from(`${text}\n`);
  } else {
    return undefined;
  }
  const parsed = ssh2Utils.parseKey(key);
  if (parsed instanceof Error) {
    throw new InputError(field, `not a usable private key: ${parsed.message}`);
  }
  return key;
}
