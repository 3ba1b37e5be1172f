/**
 * build-image (B1–B3): the API the CLI (`rollgate build`) and the build-image action call.
 *
 *   const result = await buildImage(request, { runner: spawnRunner(), env, clock, logger });
 *   // result.reference = registry/repo@sha256:… (what a release deploys), result.digest
 */
export { buildImage, chooseBuilder, BuildError } from './build';
export type { BuildImageDeps, BuildImageRequest, BuildImageResult } from './build';
export {
  BUILDERS,
  buildCommand,
  dependencyCacheMode,
  pushCommand,
  removeImageCommand,
  versionCommand,
} from './builders';
export type { BuilderName, BuildInvocation, Command, PushInvocation } from './builders';
export { findOnPath, spawnRunner } from './command';
export type { CommandResult, CommandRunner, RunOptions } from './command';
export {
  APP_USER,
  DEPENDENCY_CACHE_DIR,
  finalBaseImage,
  renderContainerfile,
  renderIgnoreFile,
} from './containerfile';
export type { ContainerfileInput, DependencyCacheMode, HookDigests } from './containerfile';
export { LABEL, ociLabels } from './labels';
export type { ImageProvenance } from './labels';
export {
  DEFAULT_PLATFORM_HOST,
  listPlatformOptions,
  PLATFORM_CONTEXT,
  resolvePlatformOptions,
} from './platform-options';
export type { AppKind, PlatformHost, PlatformOptionInfo } from './platform-options';
export {
  formatImageReference,
  matchesRepositoryPattern,
  parseImageReference,
  pinnedReference,
} from '../registry/reference';
export type { ImageReference } from '../registry/reference';
