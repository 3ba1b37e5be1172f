import { resolve } from 'node:path';
import { registryAuthFrom } from '../../app/registry-access';
import { pskConfig } from '../../app/scan/run';
import {
  SCAN_SETTINGS,
  scanOptionsOf,
  type ScanNames,
  type ScanOptions,
} from '../../app/scan/settings';
import { flagSource, readSettings, settingNames } from '../../app/settings';
import { loadGroupFile } from '../../config/group-file';
import { InputError } from '../../model/errors';

/** `rollgate scan`'s settings by flag (the image is its argument), for errors. */
export const SCAN_FLAGS: ScanNames = settingNames(SCAN_SETTINGS, flagSource({}));

/** The image argument and the parsed flags (commander's opts()) → the scan options. */
export function scanOptionsFromFlags(
  image: string,
  flags: Readonly<Record<string, unknown>>,
  env: Record<string, string | undefined>,
): ScanOptions {
  const v = readSettings(SCAN_SETTINGS, flagSource({ ...flags, image }));
  const o = scanOptionsOf(v, SCAN_FLAGS);
  if (v.psk !== undefined) {
    o.psk = pskConfig(env[v.psk], v['psk-issuer'], {
      key: `${SCAN_FLAGS.psk} ($${v.psk})`,
      issuer: SCAN_FLAGS.pskIssuer,
    });
  }
  const auth = registryAuthFrom(
    v['registry-username'],
    v['registry-password'] ?? 'ROLLGATE_REGISTRY_PASSWORD',
    env,
    SCAN_FLAGS.registryPassword,
  );
  if (auth) o.registryAuth = auth;
  return o;
}

/** Where the verdict is recorded: --record-dir, the group file's store.dir, or ./.rollgate. */
export async function recordDirOf(
  f: { recordDir?: string; group?: string },
  env: Record<string, string | undefined>,
): Promise<string> {
  if (f.recordDir && f.group) {
    throw new InputError('--record-dir', 'give either --record-dir or -g, not both');
  }
  if (f.recordDir) return resolve(f.recordDir);
  if (f.group) return (await loadGroupFile(f.group, env)).store.dir;
  return resolve('.rollgate');
}
