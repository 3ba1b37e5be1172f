#!/usr/bin/env node
// dist/ is committed and must equal a fresh build (rule 6): build into a temporary directory
// and compare every file byte for byte.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const fresh = mkdtempSync(join(tmpdir(), 'rollgate-dist-'));
try {
  execFileSync(process.execPath, ['scripts/build.mjs'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DIST_DIR: fresh },
  });
  const files = (root) =>
    existsSync(root)
      ? readdirSync(root, { recursive: true })
          .map(String)
          .filter((f) => statSync(join(root, f)).isFile())
          .sort()
      : [];
  const want = files(fresh);
  const have = new Set(files('dist'));
  const problems = [];
  for (const f of want) {
    if (!have.has(f)) problems.push(`missing: dist/${f}`);
    else if (!readFileSync(join(fresh, f)).equals(readFileSync(join('dist', f))))
      problems.push(`differs: dist/${f}`);
    have.delete(f);
  }
  for (const f of have) problems.push(`not built any more: dist/${f}`);
  if (problems.length) {
    console.error(
      `dist/ does not match a fresh build (run npm run build and commit):\n  ${problems.join('\n  ')}`,
    );
    process.exit(1);
  }
  console.log(`dist/ matches a fresh build (${want.length} files, ${relative('.', 'dist')})`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
