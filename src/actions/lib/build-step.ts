import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as cache from '@actions/cache';
import * as core from '@actions/core';
import { isProgressLine, runBuild } from '../../app/build/run';
import { resolveKind } from '../../app/build/request';
import {
  BUILD_SETTINGS,
  buildOptionsOf,
  type BuildNames,
  type BuildOptions,
  type BuildSettingValues,
} from '../../app/build/settings';
import { settingNames } from '../../app/settings';
import { coreLogger } from './core-logger';
import { inputSource, readInputs, registryAuthInput } from './inputs';

/** Each setting by the input that gives it, for errors. */
export const BUILD_INPUTS: BuildNames = settingNames(BUILD_SETTINGS, inputSource);

export function buildInputs(
  env: Record<string, string | undefined>,
  inputs: BuildSettingValues = readInputs(BUILD_SETTINGS),
): BuildOptions {
  const o = buildOptionsOf(inputs, BUILD_INPUTS, env);
  const auth = registryAuthInput();
  if (auth) o.registryAuth = auth;
  return o;
}

const LOCKFILES: Record<string, string[]> = {
  node: ['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml'],
  static: ['go.sum', 'Cargo.lock', 'package-lock.json', 'yarn.lock', 'pnpm-lock.yaml'],
};

/**
 * Cache key of the dependency cache: the kind and the hash of the context's lockfiles. An older
 * cache of the same kind (another lockfile) is restored when there is no exact one.
 */
export async function dependencyCacheKey(
  contextDir: string,
  kind: string,
  os: string,
): Promise<{ primary: string; restore: string[] }> {
  const hash = createHash('sha256');
  let found = 0;
  for (const name of LOCKFILES[kind] ?? [...new Set(Object.values(LOCKFILES).flat())]) {
    const text = await readFile(join(contextDir, name)).catch(() => null);
    if (text) {
      hash.update(`${name}\0`).update(text).update('\0');
      found += 1;
    }
  }
  const prefix = `rollgate-build-${kind}-${os.toLowerCase()}-`;
  const id = found ? hash.digest('hex').slice(0, 32) : 'no-lockfile';
  return { primary: `${prefix}${id}`, restore: [prefix] };
}

/** Restores the cache; a miss or a broken cache service never fails the build. */
async function restore(dir: string, key: { primary: string; restore: string[] }) {
  if (!cache.isFeatureAvailable()) {
    core.warning(
      'build-image: the Actions cache service is not available: building without the dependency cache',
    );
    return undefined;
  }
  try {
    const hit = await cache.restoreCache([dir], key.primary, key.restore);
    core.info(
      hit
        ? `dependency cache restored from ${hit}`
        : `dependency cache: no entry for ${key.primary} yet`,
    );
    return hit;
  } catch (err) {
    core.warning(`build-image: could not restore the dependency cache: ${(err as Error).message}`);
    return undefined;
  }
}

async function save(dir: string, key: string): Promise<void> {
  const entries = await readdir(dir).catch(() => []);
  if (entries.length === 0) return core.info('dependency cache: empty, nothing to save');
  try {
    const id = await cache.saveCache([dir], key);
    if (id > 0) core.info(`dependency cache saved as ${key}`);
  } catch (err) {
    core.warning(`build-image: could not save the dependency cache: ${(err as Error).message}`);
  }
}

/** The build-image step: restore the cache, build and push, outputs, save the cache. */
export async function buildStep(): Promise<void> {
  const env = process.env;
  try {
    const inputs = readInputs(BUILD_SETTINGS);
    const o = buildInputs(env, inputs);
    const kind = resolveKind(o, BUILD_INPUTS);
    const key = o.cacheDir
      ? await dependencyCacheKey(resolve(o.context), kind, env.RUNNER_OS ?? 'linux')
      : null;
    const hit = key && o.cacheDir ? await restore(o.cacheDir, key) : undefined;
    const verbose = inputs.verbose;
    const { request, result } = await runBuild(o, env, BUILD_INPUTS, coreLogger, (line) => {
      if (verbose || isProgressLine(line)) core.info(line);
    });
    core.setOutput('image', result.image);
    core.setOutput('digest', result.digest ?? '');
    core.setOutput('reference', result.reference ?? '');
    core.setOutput('tags', request.tags.join(','));
    if (key && o.cacheDir && hit !== key.primary) await save(o.cacheDir, key.primary);
    const rows = [
      ['image', [result.image, ...(request.extraTags ?? [])].join(', ')],
      ['reference', result.reference ?? 'not pushed'],
      ['builder', result.builder],
      ['cached steps', String(result.cacheHits)],
      ['dependency cache', key ? (hit ? `restored from \`${hit}\`` : 'miss') : 'off'],
      ['build / push', `${result.timings.buildMs} ms / ${result.timings.pushMs} ms`],
    ];
    await core.summary
      .addRaw(
        `## build-image ✅\n\n| | |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`,
      )
      .write();
  } catch (err) {
    core.setFailed(err instanceof Error ? err.message : String(err));
  }
}
