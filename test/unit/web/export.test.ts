import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GroupView } from '../../../src/app/fleet-view';
import { InputError } from '../../../src/model/errors';
import {
  exportFiles,
  groupPagePath,
  writeExport,
  type ExportSource,
} from '../../../src/web/export';
import { escapeHtml } from '../../../src/web/html';
import { brakedView, HOSTILE, viewSource } from '../../support/page-views';

const AT = '2026-12-05T01:00:00.000Z';
const source = (views: GroupView[]): ExportSource => viewSource(views);

describe('groupPagePath', () => {
  it.each([
    ['web', 'g/web.html'],
    ['shop-eu_1.prod', 'g/shop-eu_1.prod.html'],
    ['..', /^g\/\.\.~[0-9a-f]{10}\.html$/],
    ['.hidden', /^g\/\.hidden~[0-9a-f]{10}\.html$/],
    ['a/b', /^g\/a_b~[0-9a-f]{10}\.html$/],
    [HOSTILE, /^g\/_img_src_x_onerror_alert_1_~[0-9a-f]{10}\.html$/],
    ['x'.repeat(101), /^g\/x{40}~[0-9a-f]{10}\.html$/],
  ])('%s → %s', (name, want) => {
    const path = groupPagePath(name);
    if (typeof want === 'string') expect(path).toBe(want);
    else expect(path).toMatch(want);
    // One folder deep, URL-safe: a link needs no encoding, a static host no decoding.
    expect(path).toMatch(/^g\/[A-Za-z0-9._~-]+\.html$/);
  });

  it('keeps two names that slug alike apart', () => {
    expect(groupPagePath('a b')).not.toBe(groupPagePath('a/b'));
    expect(groupPagePath('a_b')).toBe('g/a_b.html');
    expect(groupPagePath('a b')).not.toBe('g/a_b.html');
  });
});

describe('the static export', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), 'rollgate-export-'));
    dirs.push(d);
    return d;
  };

  it('writes index.html, one page per group and the assets, nothing else', async () => {
    const files = await exportFiles(source([brakedView('web'), brakedView(HOSTILE)]), AT);
    expect([...files.keys()].sort()).toEqual(
      [
        'index.html',
        'g/web.html',
        groupPagePath(HOSTILE),
        'assets/rollgate.css',
        'assets/rollgate.js',
      ].sort(),
    );
  });

  it('links relatively: home → g/<group>.html, a group → ../index.html and ../assets/', async () => {
    const files = await exportFiles(source([brakedView('web')]), AT);
    const home = files.get('index.html')!;
    expect(home).toContain('href="g/web.html"');
    expect(home).toContain('href="index.html"');
    expect(home).toContain('href="assets/rollgate.css"');
    expect(home).toContain('src="assets/rollgate.js"');
    const group = files.get('g/web.html')!;
    expect(group).toContain('href="../index.html"');
    expect(group).toContain('href="../assets/rollgate.css"');
    expect(group).toContain('src="../assets/rollgate.js"');
    // No absolute link, no request to the server that is not there.
    for (const text of [home, group]) {
      expect(text).not.toMatch(/(href|src|action)="\//);
      expect(text).not.toContain('EventSource');
      expect(text).not.toContain('/events');
    }
  });

  it('draws no button and no form, and names the commands instead (the release is braked)', async () => {
    const group = (await exportFiles(source([brakedView('web')]), AT)).get('g/web.html')!;
    expect(group).not.toMatch(/<button|<form|rollgate-csrf/);
    expect(group).toContain('A static page (no buttons)');
    expect(group).toContain('<code>rollgate continue -g &lt;group file&gt;</code>');
  });

  it('escapes a hostile group name and log line on every page', async () => {
    const files = await exportFiles(source([brakedView(HOSTILE)]), AT);
    const home = files.get('index.html')!;
    const group = files.get(groupPagePath(HOSTILE))!;
    for (const text of [home, group]) {
      expect(text).not.toContain(HOSTILE);
      expect(text).toContain(escapeHtml(HOSTILE));
      expect(text).not.toContain('<script>alert(2)');
    }
    expect(group).toContain(escapeHtml('</li><script>alert(2)</script>'));
    expect(home).toContain(`href="${groupPagePath(HOSTILE)}"`);
  });

  it('the script of the export is the filter alone; the served page keeps the live one', async () => {
    const js = (await exportFiles(source([]), AT)).get('assets/rollgate.js')!;
    expect(js).toContain('__rollgateFilter');
    expect(js).not.toContain('EventSource');
  });

  it('writes into a new directory and replaces an earlier export, stale pages gone', async () => {
    const out = join(await tmp(), 'page');
    await writeExport(source([brakedView('web'), brakedView('old')]), out, AT);
    expect((await readdir(join(out, 'g'))).sort()).toEqual(['old.html', 'web.html']);
    const written = await writeExport(source([brakedView('web')]), out, AT);
    expect(written).toContain('g/web.html');
    expect(await readdir(join(out, 'g'))).toEqual(['web.html']);
    expect(await readFile(join(out, 'index.html'), 'utf8')).toContain(
      `<meta name="rollgate-export" content="${AT}"`,
    );
  });

  it('refuses a directory that holds something else, naming --out', async () => {
    const out = await tmp();
    await writeFile(join(out, 'notes.txt'), 'mine');
    const err = await writeExport(source([brakedView('web')]), out, AT).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/^--out: .* is not empty and holds no earlier export/);
    expect(await readdir(out)).toEqual(['notes.txt']);
  });
});
