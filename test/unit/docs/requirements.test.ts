import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// Requirement ids: a letter of the requirement list and one digit, cited in comments (`F3:`).
const TAG = /\b[BDFGMOPSTU][0-9]\b/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

describe('docs/requirements.md', () => {
  const listed = new Set(
    [
      ...readFileSync(join(ROOT, 'docs/requirements.md'), 'utf8').matchAll(/^\| ([A-Z][0-9]) \|/gm),
    ].map((m) => m[1]),
  );

  it('lists every requirement id that src/ cites', () => {
    const cited = new Map<string, string>();
    for (const file of sources(join(ROOT, 'src'))) {
      for (const [tag] of readFileSync(file, 'utf8').matchAll(TAG)) cited.set(tag, file);
    }
    expect(cited.size).toBeGreaterThan(20);
    const missing = [...cited].filter(([tag]) => !listed.has(tag)).map(([t, f]) => `${t} (${f})`);
    expect(missing).toEqual([]);
  });

  it('lists each id once', () => {
    const rows = [
      ...readFileSync(join(ROOT, 'docs/requirements.md'), 'utf8').matchAll(/^\| ([A-Z][0-9]) \|/gm),
    ].map((m) => m[1]);
    expect(rows.length).toBe(listed.size);
  });
});
