#!/usr/bin/env node
// Bundles the CLI (dist/cli) and every GitHub Action (dist/actions, one bundle they share) with
// ncc, both at once, then writes for each action.yml the one-line entry its `runs.main` names.
// Native addons (ssh2's optional crypto binding, cpu-features) are left out: the bundles run on
// the runner's Node, whatever its ABI, with ssh2's pure-JavaScript fallback, and dist/ stays
// byte-identical across machines. ncc only transpiles (--transpile-only): `npm run typecheck`
// checks the types, once for the whole project.
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse } from 'yaml';

const DIST = resolve(process.env.DIST_DIR ?? 'dist');
const BUNDLES = { cli: 'src/cli/bin.ts', actions: 'src/actions/index.ts', web: 'src/web/bin.ts' };

const only = process.argv.slice(2);
const unknown = only.filter((n) => !(n in BUNDLES));
if (unknown.length) {
  console.error(`build: no bundle named ${unknown.join(', ')} (bundles: cli, actions, web)`);
  process.exit(2);
}
const chosen = Object.entries(BUNDLES).filter(([name]) => !only.length || only.includes(name));
const results = await Promise.allSettled(chosen.map(([name, entry]) => bundle(name, entry)));
const failed = results.filter((r) => r.status === 'rejected');
for (const r of failed) console.error(String(r.reason.message ?? r.reason));
if (failed.length) process.exit(1);
if (!only.length || only.includes('actions')) writeActionEntries();

async function bundle(name, entry) {
  const out = join(DIST, name);
  rmSync(out, { recursive: true, force: true });
  await new Promise((done, fail) => {
    const ncc = spawn(
      process.execPath,
      [
        'node_modules/@vercel/ncc/dist/ncc/cli.js',
        'build',
        entry,
        '-o',
        out,
        '--quiet',
        '--transpile-only',
        '--no-source-map-register',
        '--license',
        'licenses.txt',
        '--target',
        'es2022',
      ],
      { stdio: 'inherit' },
    );
    ncc.on('error', fail);
    ncc.on('exit', (code, signal) =>
      code === 0 ? done() : fail(new Error(`ncc ${entry}: exit ${code ?? signal}`)),
    );
  });
  // Keep only JavaScript and the license file.
  for (const f of readdirSync(out)) {
    const p = join(out, f);
    if (statSync(p).isDirectory() || !/\.(js|txt)$/.test(f))
      rmSync(p, { recursive: true, force: true });
  }
  unshadowImportMetaUrl(join(out, 'index.js'));
  console.log(`built ${join(out, 'index.js')}`);
}

/**
 * Every action.yml (the root one and actions/<name>/action.yml) runs `dist/<name>/index.js`: a
 * file that requires the shared bundle by a path relative to itself, so it works wherever the
 * runner checked the repository out.
 */
function writeActionEntries() {
  const files = ['action.yml'];
  if (existsSync('actions'))
    for (const d of readdirSync('actions').sort())
      if (existsSync(join('actions', d, 'action.yml')))
        files.push(join('actions', d, 'action.yml'));
  for (const file of files) {
    const main = parse(readFileSync(file, 'utf8'))?.runs?.main;
    const target = main && relative(resolve('dist'), resolve(dirname(file), main));
    const m = target && /^([a-z0-9-]+)\/index\.js$/.exec(target.split('\\').join('/'));
    if (!m || m[1] === 'actions' || m[1] === 'cli') {
      throw new Error(`${file}: runs.main must be ../dist/<action>/index.js (is ${main})`);
    }
    const out = join(DIST, m[1]);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    writeFileSync(
      join(out, 'index.js'),
      `// Written by scripts/build.mjs: every action runs the one bundle in dist/actions.\nrequire('../actions/index.js').run(${JSON.stringify(m[1])});\n`,
    );
    console.log(`wrote ${join(out, 'index.js')} (${file})`);
  }
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
