/**
 * `rollgate page --out <dir>`: the page `rollgate serve` draws, written as static files — the
 * same renderer (pages.ts), read-only, without the live script — so a workflow can upload it as
 * an artifact or publish it on any static host. Links are relative: it works from a folder, an
 * unzipped artifact or a sub-path of GitHub Pages.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FleetSource } from '../app/fleet-source';
import { groupPagePath } from '../app/page-path';
import { InputError } from '../model/errors';
import { FILTER_JS, STATIC_ASSETS, STYLE } from './assets';
import { groupBody, homeBody, layout, type ExportedPage, type PageContext } from './pages';

export { groupPagePath };

export type ExportSource = Pick<FleetSource, 'home' | 'group' | 'groupNames'>;

/** The files of an export: path from the root → contents. Pure given the source's answers. */
export async function exportFiles(source: ExportSource, at: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const ctx = (root: string): PageContext => {
    const exported: ExportedPage = { root, groupPath: groupPagePath, at };
    return { allowOperations: false, canOperate: () => false, csrf: '', exported };
  };
  files.set(
    'index.html',
    layout('rollgate', 'home', homeBody(await source.home(), [], ctx('')), ctx('')),
  );
  for (const name of await source.groupNames()) {
    const v = await source.group(name);
    if (!v) continue;
    const path = groupPagePath(name);
    const c = ctx('../'.repeat(path.split('/').length - 1));
    files.set(path, layout(`${v.name} · rollgate`, `group:${name}`, groupBody(v, c), c));
  }
  files.set(STATIC_ASSETS.style, STYLE);
  files.set(STATIC_ASSETS.script, FILTER_JS);
  return files;
}

const MARK = '<meta name="rollgate-export"';

/**
 * Writes the export into `out`: a new or empty directory, or an earlier export (its pages are
 * replaced, so a group gone from the store leaves no stale page). Anything else is refused.
 */
export async function writeExport(
  source: ExportSource,
  out: string,
  at: string,
): Promise<string[]> {
  const entries = await readdir(out).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw new InputError('--out', `${out} cannot be read: ${err.message}`);
  });
  if (entries.length > 0) {
    const index = await readFile(join(out, 'index.html'), 'utf8').catch(() => '');
    if (!index.includes(MARK)) {
      throw new InputError(
        '--out',
        `${out} is not empty and holds no earlier export of the page: give a new or empty directory`,
      );
    }
    await rm(join(out, 'g'), { recursive: true, force: true });
  }
  const files = await exportFiles(source, at);
  for (const [path, text] of files) {
    const file = join(out, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
  }
  return [...files.keys()];
}
