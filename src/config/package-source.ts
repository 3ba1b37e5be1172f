import { assertVersion } from '../model/validate';
import type { PackageSpec } from './specs';

/** The package tarball for `version`: `{version}` in the source filled in, after the version is checked. */
export function packagePath(spec: PackageSpec, version: string): string | undefined {
  if (spec.source === undefined) return undefined;
  return spec.source.replaceAll('{version}', assertVersion(version));
}
