#!/usr/bin/env node
// Bundles each entry point with ncc into dist/<name>/index.js. Native addons (ssh2's optional
// crypto binding, cpu-features) are left out: the bundles run on the runner's Node, whatever its
// ABI, with ssh2's pure-JavaScript fallback, and dist/ stays byte-identical across machines.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
  unshadowImportMetaUrl(join(out, 'index.js'));
  console.log(`built ${out}/index.js`);
}

/**
 * @azure/storage-common (through @actions/artifact, ESM-only) ships an ESM shim in crc64.js that
 * declares its own `let require; let __filename` and sets `require = createRequire(import.meta.url)`.
 * webpack turns `import.meta.url` into `require("url").pathToFileURL(__filename).href`, and ncc's
 * renaming then points that `require`/`__filename` at the shim's own, still undefined, variables:
 * the bundle dies at load with "crc64_require is not a function" (Azure/azure-sdk-for-js#39057).
 * Point the replacement back at the module's real `require` and `__filename`.
 */
function unshadowImportMetaUrl(file) {
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(
    /\b(\w+_require)\("url"\)\.pathToFileURL\((\w+_filename)\)\.href/g,
    'require("url").pathToFileURL(__filename).href',
  );
  if (fixed !== text) writeFileSync(file, fixed);
}
