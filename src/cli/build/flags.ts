import {
  BUILD_SETTINGS,
  buildOptionsOf,
  type BuildNames,
  type BuildOptions,
} from '../../app/build/settings';
import { registryAuthFrom } from '../../app/registry-access';
import { flagSource, readSettings, settingNames } from '../../app/settings';

/** `rollgate build`'s settings by flag, for errors. */
export const BUILD_FLAGS: BuildNames = settingNames(BUILD_SETTINGS, flagSource({}));

/** The parsed flags (commander's opts()) → the build options. */
export function buildOptionsFromFlags(
  flags: Readonly<Record<string, unknown>>,
  env: Record<string, string | undefined>,
): BuildOptions {
  const source = flagSource(flags);
  const v = readSettings(BUILD_SETTINGS, source);
  const o = buildOptionsOf(v, BUILD_FLAGS, env);
  const auth = registryAuthFrom(
    v['registry-username'],
    v['registry-password'] ?? 'ROLLGATE_REGISTRY_PASSWORD',
    env,
    BUILD_FLAGS.registryPassword,
  );
  if (auth) o.registryAuth = auth;
  return o;
}
