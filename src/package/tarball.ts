import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { InputError } from '../model/errors';
import { assertVersion } from '../model/validate';

const run = promisify(execFile);

export interface BuildPackageOptions {
  /** Directory of the app; its top-level regular files go into the package. */
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

/** Files the builder writes itself; copies of them in appDir are left out. */
const GENERATED = new Set(['VERSION', 'BROKEN', 'start-delay-ms']);

/** Tars the app into `<outDir>/app-<version>.tar.gz`, entries at the archive root. */
export async function buildPackage(options: BuildPackageOptions): Promise<BuiltPackage> {
  const version = assertVersion(options.version);
  const stage = await mkdtemp(join(tmpdir(), 'rollgate-pkg-'));
  try {
    const names: string[] = [];
    for (const entry of await readdir(options.appDir, { withFileTypes: true })) {
      if (!entry.isFile() || GENERATED.has(entry.name)) continue;
      await copyFile(join(options.appDir, entry.name), join(stage, entry.name));
      names.push(entry.name);
    }
    const extra: Record<string, string> = { VERSION: version };
    if (options.broken) extra.BROKEN = brokenFile(options.broken);
    if (options.startDelayMs !== undefined) extra['start-delay-ms'] = String(options.startDelayMs);
    for (const [name, content] of Object.entries(extra)) {
      await writeFile(join(stage, name), `${content}\n`);
      names.push(name);
    }
    await mkdir(options.outDir, { recursive: true });
    const path = resolve(options.outDir, `app-${version}.tar.gz`);
    await run('tar', ['-czf', path, '-C', stage, '--', ...names.sort()]);
    return { path, sha256: await sha256File(path), version };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
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

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Entry names of a package, in archive order. */
export async function listPackage(path: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', path]);
  return stdout.split('\n').filter((line) => line !== '');
}
