#!/usr/bin/env node
// Bundles each entry point with ncc into dist/<name>/index.js. Native addons (ssh2's optional
// crypto binding, cpu-features) are left out: the bundles run on the runner's Node, whatever its
// ABI, with ssh2's pure-JavaScript fallback, and dist/ stays byte-identical across machines.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ENTRIES = { cli: 'src/cli/bin.ts' };
// Each GitHub Action has its entry in src/actions/<name>.ts.
if (existsSync('src/actions')) {
  for (const f of readdirSync('src/actions').filter((f) => f.endsWith('.ts'))) {
    ENTRIES[f.replace(/\.ts$/, '')] = join('src/actions', f);
  }
}

const only = process.argv.slice(2);
for (const [name, entry] of Object.entries(ENTRIES)) {
  if (only.length && !only.includes(name)) continue;
  const out = join(process.env.DIST_DIR ?? 'dist', name);
  rmSync(out, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      'node_modules/@vercel/ncc/dist/ncc/cli.js',
      'build',
      entry,
      '-o',
      out,
      '--quiet',
      '--no-source-map-register',
      '--license',
      'licenses.txt',
      '--target',
      'es2022',
    ],
    { stdio: 'inherit' },
  );
  // Keep only JavaScript and the license file.
  for (const f of readdirSync(out)) {
    const p = join(out, f);
    if (statSync(p).isDirectory() || !/\.(js|txt)$/.test(f))
      rmSync(p, { recursive: true, force: true });
  }
  console.log(`built ${out}/index.js`);
}
