import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { InputError } from '../model/errors';
import { assertVersion } from '../model/validate';
import { packDirectory } from './pack';

const run = promisify(execFile);

export interface BuildPackageOptions {
  /** Directory of the app: everything in it goes into the package (see layout.ts). */
  appDir: string;
  version: string;
  outDir: string;
  /**
   * Adds a BROKEN file: `true` makes /health answer 500, `'exit'` makes the app exit at start,
   * `{ onHosts }` makes /health answer 500 only where the app's HOST is one of those addresses.
   */
  broken?: boolean | 'exit' | { onHosts: string[] };
  /** Adds a `start-delay-ms` file. */
  startDelayMs?: number;
}

export interface BuiltPackage {
  path: string;
  sha256: string;
  version: string;
}

/**
 * Packs the app into `<outDir>/app-<version>.tar.gz` through `rollgate pack`'s own code, with the
 * test helpers' extra files beside VERSION.
 */
export async function buildPackage(options: BuildPackageOptions): Promise<BuiltPackage> {
  const version = assertVersion(options.version);
  const generated: Record<string, string> = {};
  if (options.broken) generated.BROKEN = `${brokenFile(options.broken)}\n`;
  if (options.startDelayMs !== undefined) {
    generated['start-delay-ms'] = `${options.startDelayMs}\n`;
  }
  const packed = await packDirectory({
    dir: options.appDir,
    version,
    output: resolve(options.outDir, `app-${version}.tar.gz`),
    generated,
    field: 'appDir',
  });
  return { path: packed.path, sha256: packed.sha256, version };
}

function brokenFile(broken: true | 'exit' | { onHosts: string[] }): string {
  if (broken === true) return 'broken';
  if (broken === 'exit') return 'exit';
  for (const address of broken.onHosts) {
    if (!/^[^\s]+$/.test(address))
      throw new InputError('broken.onHosts', `"${address}" is not an address`);
  }
  return `hosts ${broken.onHosts.join(' ')}`;
}

/** Entry names of a package, in archive order. */
export async function listPackage(path: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', path]);
  return stdout.split('\n').filter((line) => line !== '');
}
