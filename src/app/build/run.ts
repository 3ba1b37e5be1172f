import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { realClock } from '../../clock/real';
import type { Logger } from '../../model/logger';
import { buildImage, type BuildImageRequest, type BuildImageResult } from '../../image/build';
import { spawnRunner, type CommandRunner } from '../../image/command';
import { LABEL } from '../../image/labels';
import { buildRequest, renameInputError, resolveProvenance, type GitReader } from './request';
import type { BuildNames, BuildOptions } from './settings';

export function gitReader(runner: CommandRunner, env: Record<string, string>): GitReader {
  return async (dir, args) => {
    try {
      const r = await runner.run(
        { command: 'git', args: ['-C', dir, ...args] },
        { env, timeoutMs: 10_000 },
      );
      return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
    } catch {
      return null;
    }
  };
}

export interface BuildRun {
  request: BuildImageRequest & { tags: string[] };
  result: BuildImageResult;
}

/** Provenance, request, build and push: what both the CLI and the action do. */
export async function runBuild(
  o: BuildOptions,
  env: Record<string, string | undefined>,
  names: BuildNames,
  logger: Logger,
  onOutput?: (line: string) => void,
): Promise<BuildRun> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const runner = spawnRunner();
  try {
    const { createdFrom, ...provenance } = await resolveProvenance(
      o,
      env,
      gitReader(runner, childEnv),
      names,
      realClock.now(),
    );
    if (createdFrom === 'now') {
      logger.warn(
        `build-image: no commit time for ${provenance.commit} (and no SOURCE_DATE_EPOCH): the image is stamped with the current time, so building it again gives a new digest`,
      );
    }
    if (!provenance.source) {
      logger.warn(
        `build-image: ${resolve(o.context)} has no git remote origin and no ${names.source} was given: the image gets no ${LABEL.source} label`,
      );
    }
    const workDir = await mkdtemp(join(env.RUNNER_TEMP ?? tmpdir(), 'rollgate-build-'));
    try {
      const request = buildRequest(o, provenance, names, workDir);
      const result = await buildImage(request, {
        runner,
        env: childEnv,
        clock: realClock,
        logger,
        ...(onOutput ? { onOutput } : {}),
      });
      return { request, result };
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  } catch (err) {
    throw renameInputError(err, names);
  }
}

/** The builder's lines worth showing without --verbose: one per build step and the push. */
export function isProgressLine(line: string): boolean {
  return /^(STEP \d+\/\d+:|#\d+ \[|COMMIT |Writing manifest|Copying (blob|config))/.test(line);
}
