import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadGroupFile } from '../config/group-file';
import { InputError } from '../model/errors';
import { assertVersion } from '../model/validate';
import { packDirectory, packMtime, type PackResult } from '../package/pack';
import { DEFAULT_SITE, parseOciSource } from '../config/package-store';
import { pushPackageArtifact, type PushResult } from '../registry/push';
import { RegistryError } from '../registry/client';

/** `rollgate pack <dir> --version <v>`: the tarball `deploy` releases (see src/package/layout.ts). */

interface PackFlags {
  version: string;
  output?: string;
  group?: string;
  json?: boolean;
  push?: string | true;
  pushAuth?: string;
}

/** Where the package goes: -o, else the group file's package.source, else ./app-<version>.tar.gz. */
export async function packOutput(
  f: PackFlags,
  env: Record<string, string | undefined>,
): Promise<string> {
  const version = assertVersion(f.version, '--version');
  if (f.output && f.group) throw new InputError('-o', 'give either -o or -g, not both');
  if (f.output) return resolve(f.output);
  if (f.group) {
    const loaded = await loadGroupFile(f.group, env);
    const source = loaded.package.source;
    // A group whose hosts fetch from a store: the tarball is made here, then pushed (--push).
    if (loaded.package.store) return resolve(`app-${version}.tar.gz`);
    if (!source) {
      throw new InputError(
        '-g',
        `${f.group} has no package.source (it releases images or names no file): give -o <file>`,
      );
    }
    return resolve(source.replaceAll('{version}', version));
  }
  return resolve(`app-${version}.tar.gz`);
}

function kib(bytes: number): string {
  return bytes < 1024 * 1024
    ? `${(bytes / 1024).toFixed(1)} KiB`
    : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function renderPackResult(r: PackResult): string {
  const parts = [count(r.files, 'file', 'files'), count(r.directories, 'directory', 'directories')];
  if (r.symlinks) parts.push(count(r.symlinks, 'symbolic link', 'symbolic links'));
  return [
    `packed ${r.version}: ${parts.join(', ')} (${kib(r.bytes)})`,
    `path    ${r.path}`,
    `sha256  ${r.sha256}`,
  ].join('\n');
}

export function registerPack(
  cli: Command,
  env: Record<string, string | undefined>,
  exitHelp: string,
): void {
  cli
    .command('pack <dir>')
    .description(
      'package a directory for deploy: its files at the archive root plus VERSION; the same input gives the same sha256; prints the path and sha256',
    )
    .requiredOption('--version <version>', 'the version the package carries (written to VERSION)')
    .option('-o, --output <file>', 'the tarball to write (default ./app-<version>.tar.gz)')
    .option('-g, --group <file>', "write it where the group file's package.source points")
    .option('--json', 'print {path, sha256, version, bytes, files, …} as JSON')
    .option(
      '--push [ref]',
      "then put it in an OCI registry, once for the release: oci://registry/repository:{version} (oci+http:// without TLS); without ref, the -g group's package store",
    )
    .option(
      '--push-auth <env:NAME>',
      "the variable holding the registry's Authorization header (default: the -g group's package.auth)",
    )
    .addHelpText(
      'after',
      `
Refused (each named): devices, FIFOs, sockets, symbolic links leading out of <dir>, names that
are not UTF-8, and top-level IMAGE or .rollgate-complete (the host gives them a meaning). Entry
times are $SOURCE_DATE_EPOCH, else 1980-01-01; owners 0:0; modes 0644, or 0755 for directories
and owner-executable files.${exitHelp}`,
    )
    .action(async (dir: string, f: PackFlags) => {
      const output = await packOutput(f, env);
      const result = await packDirectory({
        dir,
        version: f.version,
        output,
        mtime: packMtime(env),
      });
      const pushed = f.push === undefined ? undefined : await pushPacked(f, result, env);
      if (f.json) console.log(JSON.stringify(pushed ? { ...result, pushed } : result, null, 2));
      else {
        console.log(renderPackResult(result));
        if (pushed) {
          console.log(
            `pushed  ${pushed.reference} (manifest ${pushed.manifest}${pushed.uploaded ? '' : ', the layer was there already'})`,
          );
        }
      }
    });
}

/** `--push`: where to (the flag, or the group's store) and with which credential. */
async function pushPacked(
  f: PackFlags,
  packed: PackResult,
  env: Record<string, string | undefined>,
): Promise<PushResult> {
  let template = typeof f.push === 'string' ? f.push : undefined;
  let authName = f.pushAuth;
  if (f.group && (template === undefined || authName === undefined)) {
    const store = (await loadGroupFile(f.group, env)).package.store;
    if (template === undefined && store?.kind === 'oci') {
      template = store.sources[DEFAULT_SITE] ?? Object.values(store.sources)[0];
    }
    if (authName === undefined && store?.authEnv) authName = `env:${store.authEnv}`;
  }
  if (template === undefined) {
    throw new InputError(
      '--push',
      'give the artifact, oci://registry/repository:{version}, or -g with a group whose package.source is an oci:// artifact',
    );
  }
  if (template.includes('{site}')) {
    throw new InputError(
      '--push',
      `"${template}" has {site}: push to one registry, the one the others replicate from`,
    );
  }
  const target = parseOciSource(template.replaceAll('{version}', packed.version), '--push');
  let authorization: string | undefined;
  if (authName !== undefined) {
    const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(authName);
    if (!m) throw new InputError('--push-auth', `"${authName}" must be env:NAME`);
    const value = env[m[1]!];
    if (!value) throw new InputError('--push-auth', `${m[1]} is not set`);
    authorization = value;
  }
  try {
    return await pushPackageArtifact({
      target,
      file: packed.path,
      version: packed.version,
      ...(authorization ? { authorization } : {}),
    });
  } catch (error) {
    if (error instanceof RegistryError) throw new InputError('--push', error.message);
    throw error;
  }
}
