import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The layer rule (.dependency-cruiser.cjs, README "Layout") runs in `npm test`; these tests run
 * the very `lint:deps` script on a copy of src/ with forbidden imports added, and on the copy as
 * it is, so a rule that stopped matching or a script that stopped failing shows here.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPTS = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of the project's src/ and its rule, plus `extra` files (path -> source). */
function copyWith(extra: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rollgate-layers-'));
  dirs.push(dir);
  cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json', '.dependency-cruiser.cjs']) {
    cpSync(join(ROOT, f), join(dir, f));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  for (const [path, source] of Object.entries(extra)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), source);
  }
  return dir;
}

function lintDeps(dir: string): { status: number | null; output: string } {
  const run = spawnSync(SCRIPTS['lint:deps']!, {
    cwd: dir,
    shell: true,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}` },
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

// Each forbidden edge: the file that imports across it, what it imports, the rule that says no.
const VIOLATIONS = [
  { file: 'src/model/up.ts', imports: '../engine/engine', rule: 'model-imports-nothing' },
  { file: 'src/plan/up.ts', imports: '../traffic/none', rule: 'plan-imports-model' },
  { file: 'src/engine/up.ts', imports: '../cli/index', rule: 'engine-imports-core' },
  { file: 'src/traffic/up.ts', imports: '../app/use-case', rule: 'adapters-below-report' },
  { file: 'src/monitor/up.ts', imports: '../report/status', rule: 'adapters-below-report' },
  {
    file: 'src/store/up.ts',
    imports: '../engine/engine',
    rule: 'adapters-see-ports-not-the-engine',
  },
  { file: 'src/report/up.ts', imports: '../cli/index', rule: 'report-below-app' },
  { file: 'src/app/up.ts', imports: '../cli/index', rule: 'app-below-shells' },
  { file: 'src/cli/up.ts', imports: '../actions/lib/inputs', rule: 'cli-is-a-shell' },
  { file: 'src/actions/lib/up.ts', imports: '../../cli/index', rule: 'actions-is-a-shell' },
  { file: 'src/scan/up.ts', imports: 'commander', rule: 'commander-only-in-cli' },
  // image/ imports registry/, so this closes a cycle that no layer rule alone forbids.
  { file: 'src/registry/up.ts', imports: '../image/labels', rule: 'no-folder-cycles' },
  { file: 'src/misc/up.ts', imports: '../model/errors', rule: 'folder-has-a-layer' },
];

// Each run parses all of src/ with the TypeScript compiler in a child process: seconds, not ms.
const RUN_MS = 60_000;

describe('the layer rule', () => {
  it('is part of npm test', () => {
    expect(SCRIPTS.test).toMatch(/npm run lint\b/);
    expect(SCRIPTS.lint).toMatch(/npm run lint:deps\b/);
  });

  it(
    'passes the project as it is',
    () => {
      const { status, output } = lintDeps(copyWith({}));
      expect(output).toContain('no dependency violations found');
      expect(status).toBe(0);
    },
    RUN_MS,
  );

  it(
    'fails on each forbidden import, naming the rule and the file',
    () => {
      const extra: Record<string, string> = {
        'src/app/use-case.ts': "import '../engine/ports';\nexport const useCase = 1;\n",
      };
      for (const v of VIOLATIONS) extra[v.file] = `import '${v.imports}';\nexport const up = 1;\n`;
      const { status, output } = lintDeps(copyWith(extra));
      expect(status).not.toBe(0);
      for (const v of VIOLATIONS) {
        const from = v.rule === 'no-folder-cycles' ? dirname(v.file) : v.file;
        expect(output, `${v.rule} on ${v.file}`).toContain(`error ${v.rule}: ${from}`);
      }
      // Nothing else broke a layer rule (the added imports also close cycles through other folders).
      const layerErrors = [...output.matchAll(/error ([\w-]+): (src\/[\w/.-]+) →/g)]
        .filter(([, rule]) => !rule!.endsWith('-cycles'))
        .map(([, rule, file]) => `${rule} ${file}`);
      expect(new Set(layerErrors)).toEqual(
        new Set(
          VIOLATIONS.filter((v) => !v.rule.endsWith('-cycles')).map((v) => `${v.rule} ${v.file}`),
        ),
      );
    },
    RUN_MS,
  );

  it('ignores nothing: no known-violations list, no exception', () => {
    expect(SCRIPTS['lint:deps']).not.toMatch(/--ignore-known|--no-config/);
  });
});
