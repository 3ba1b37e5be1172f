import { InputError } from '../model/errors';
import type { PackageRef } from '../model/types';
import { assertVersion } from '../model/validate';
import { assertPinnedImage } from '../host/image';
import type { PackageSpec } from './specs';

/** The package tarball for `version`: `{version}` in the source filled in, after the version is checked. */
export function packagePath(spec: PackageSpec, version: string): string | undefined {
  if (spec.source === undefined) return undefined;
  return spec.source.replaceAll('{version}', assertVersion(version));
}

/**
 * An image release's package: `image` pinned by digest and from the group's
 * `package.image.repository`, or a bare `sha256:<64 hex>` in that repository. `field` names the
 * input in errors (`--image` for the CLI, `image` for an action).
 */
export function imagePackage(
  spec: PackageSpec,
  version: string,
  image: string | undefined,
  field = '--image',
): PackageRef {
  assertVersion(version, '--version');
  const repository = spec.image?.repository;
  if (repository === undefined) {
    throw new InputError(
      field,
      'the group file has no package.image: add package.image.repository to release images',
    );
  }
  if (image === undefined || image.trim() === '') {
    throw new InputError(
      field,
      `the group releases images (package.image): give the image, ${repository}@sha256:<64 hex>`,
    );
  }
  const wanted = image.trim();
  const pinned = assertPinnedImage(
    wanted.startsWith('sha256:') ? `${repository}@${wanted}` : wanted,
    field,
  );
  const from = pinned.slice(0, pinned.lastIndexOf('@'));
  if (from !== repository) {
    throw new InputError(
      field,
      `"${wanted}" is from ${from}, not from the group's ${repository} (package.image.repository)`,
    );
  }
  return { version, image: pinned };
}
