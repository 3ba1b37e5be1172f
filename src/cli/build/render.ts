import type { BuildRun } from '../../app/build/run';
import { listPlatformOptions } from '../../image/platform-options';

/** `--list-options`: one line per platform option. */
export function renderPlatformOptions(): string[] {
  return listPlatformOptions().map(
    (o) => `${o.takesValue ? `${o.name}=…` : o.name}  (${o.kinds.join(', ')})  ${o.summary}`,
  );
}

/** The build for `--json`: one document. */
export function buildJson({ request, result }: BuildRun): string {
  return JSON.stringify(
    {
      image: result.image,
      tags: request.tags,
      reference: result.reference,
      digest: result.digest,
      builder: result.builder,
      imageId: result.imageId,
      labels: result.labels,
      cacheHits: result.cacheHits,
      timings: result.timings,
    },
    null,
    2,
  );
}

/** The build for a terminal: what was built, and what was pushed (the reference to deploy). */
export function renderBuild({ request, result }: BuildRun): string[] {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const lines = [
    `built ${result.image} with ${result.builder} in ${seconds(result.timings.buildMs)} (${result.cacheHits} cached steps)`,
  ];
  if (!result.reference) return [...lines, `not pushed (--no-push): image ${result.imageId}`];
  return [
    ...lines,
    `pushed ${[result.image, ...(request.extraTags ?? [])].join(', ')} in ${seconds(result.timings.pushMs)}`,
    `reference: ${result.reference}`,
    `digest: ${result.digest}`,
  ];
}
