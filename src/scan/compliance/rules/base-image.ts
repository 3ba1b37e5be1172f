import {
  matchesRepositoryPattern,
  parseImageReference,
  type ImageReference,
} from '../../../registry/reference';
import type { Issue } from '../policy';
import type { ImageConfig, RegistryImage } from '../../../registry/client';

/** base-image: the base image is on the allowed list and pinned by digest. */

export interface BaseClaim {
  /** The reference as the build named it (may include @digest). */
  name: string;
  digest?: string;
  /** Where the claim came from. */
  source: 'manifest annotations' | 'labels';
}

/**
 * What the image says its base is. rollgate's own labels first (written in the build's last
 * step from the FROM it used), then the builder's manifest annotations, then inherited labels.
 * buildah 1.28's annotations are not reliable on their own: with the layer cache, a build can
 * reuse an image made by another build from the same base under another name (a tag instead of
 * the digest, another registry address), annotations included.
 */
export function baseClaim(image: RegistryImage): BaseClaim | null {
  const labels = image.config.config?.Labels ?? {};
  const fromLabels = (): BaseClaim | null => {
    const name = labels['org.opencontainers.image.base.name'];
    if (!name) return null;
    const claim: BaseClaim = { name, source: 'labels' };
    const d = labels['org.opencontainers.image.base.digest'];
    if (d) claim.digest = d;
    return claim;
  };
  if (labels['dev.rollgate.kind'] && labels['org.opencontainers.image.base.name']) {
    return fromLabels();
  }
  const ann = image.manifest.manifest.annotations ?? {};
  const annName = ann['org.opencontainers.image.base.name'];
  if (annName) {
    const claim: BaseClaim = { name: annName, source: 'manifest annotations' };
    const d = ann['org.opencontainers.image.base.digest'];
    if (d) claim.digest = d;
    return claim;
  }
  return fromLabels();
}

/**
 * The pinned reference of the base, or why it is not pinned. A name with `@sha256:` is pinned;
 * a name without tag plus base.digest (rollgate's labels) is too; a tag is not.
 */
export function pinnedBase(claim: BaseClaim): { ref: ImageReference; pinned: boolean } {
  const ref = parseImageReference(claim.name, 'base image');
  if (ref.digest) return { ref, pinned: true };
  if (!ref.tag && claim.digest && claim.source === 'labels') {
    return { ref: { ...ref, digest: claim.digest }, pinned: true };
  }
  return { ref, pinned: false };
}

export function checkBaseClaim(claim: BaseClaim | null, allowed: readonly string[]): Issue[] {
  if (!claim) {
    return [
      {
        rule: 'base-image',
        message: 'the image does not say which base it was built from',
        layer: 'image manifest and config',
        fix: 'Build with rollgate (standard Containerfile or buildah/podman, which record org.opencontainers.image.base.name), or set the base.name/base.digest labels.',
      },
    ];
  }
  const issues: Issue[] = [];
  let parsed: { ref: ImageReference; pinned: boolean };
  try {
    parsed = pinnedBase(claim);
  } catch {
    return [
      {
        rule: 'base-image',
        message: `the base "${claim.name}" is not an image reference`,
        layer: claim.source,
        fix: 'Use FROM registry/repository@sha256:<digest>.',
      },
    ];
  }
  if (!parsed.pinned) {
    issues.push({
      rule: 'base-image',
      message: `the base ${claim.name} is not pinned by digest: a tag can move under the same name`,
      layer: `layer 1 (FROM ${claim.name})`,
      fix: `Use FROM ${claim.name.replace(/:[^/:@]+$/, '')}@sha256:<digest> (skopeo inspect or the registry shows the digest).`,
    });
  }
  if (!allowed.some((p) => matchesRepositoryPattern(parsed.ref, p))) {
    issues.push({
      rule: 'base-image',
      message: `the base ${claim.name} is not on the allowed list (${allowed.join(', ') || 'empty'})`,
      layer: `layer 1 (FROM ${claim.name})`,
      fix: 'Build from an allowed base image, or have the platform team review and add this one.',
    });
  }
  return issues;
}

/** The base's layers (uncompressed diff_ids) must be the first layers of the image. */
export function checkBaseLayers(image: ImageConfig, base: ImageConfig, baseName: string): Issue[] {
  const mine = image.rootfs?.diff_ids ?? [];
  const theirs = base.rootfs?.diff_ids ?? [];
  const prefix = theirs.length <= mine.length && theirs.every((d, i) => mine[i] === d);
  return prefix
    ? []
    : [
        {
          rule: 'base-image',
          message: `the image's first layers are not those of ${baseName}: it was not built from that base, or the claim is wrong`,
          layer: 'layer 1',
          fix: 'Rebuild from the allowed base; do not copy base.name labels by hand.',
        },
      ];
}
