import { InputError } from '../model/errors';
import type { RegistryAuth } from '../registry/client';

/** tls-verify as given (a flag's or an input's text): only "true" or "false". */
export function tlsVerifyOf(value: string, field: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InputError(field, `"${value}" is not true or false`);
}

/** Registry credentials for the digest check: a user and the variable holding the password. */
export function registryAuthFrom(
  user: string | undefined,
  passwordEnv: string,
  env: Record<string, string | undefined>,
  field: string,
): RegistryAuth | undefined {
  if (!user) return undefined;
  const password = env[passwordEnv];
  if (!password)
    throw new InputError(field, `$${passwordEnv} (the registry password) is empty or unset`);
  return { username: user, password };
}
