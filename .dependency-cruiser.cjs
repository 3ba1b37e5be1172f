/* global module */
// The layer rule for src/ (README "Layout"). `npm test` runs it through `npm run lint:deps`;
// test/unit/boundaries/layer-rule.test.ts proves forbidden imports fail it.
//
//   model  <-  plan  <-  engine  <-  report  <-  app  <-  cli | actions | web
//                           ^                     |
//                           +----  adapters  <----+
//
// An arrow points at what a folder may import (and, through it, everything further down).
// Adapters implement the engine's ports and may use each other, without cycles; report, app
// and the shells may use them; they never import report, app or a shell.

const CORE = ['model', 'plan', 'engine'];
const ADAPTERS = [
  'clock',
  'config',
  'github',
  'host',
  'image',
  'inventory',
  'monitor',
  'notify',
  'package',
  'registry',
  'scan',
  'store',
  'traffic',
  'transport',
];
const SHELLS = ['cli', 'actions', 'web'];
const ALL = [...CORE, ...ADAPTERS, 'report', 'app', ...SHELLS];

const under = (folders) => `^src/(${folders.join('|')})/`;

/** A rule: files in `from` may import only files in `allowed` (their own folder included). */
const onlyImports = (name, from, allowed, comment) => ({
  name,
  comment,
  severity: 'error',
  from: { path: under(from) },
  to: { path: '^src/', pathNot: under(allowed) },
});

module.exports = {
  forbidden: [
    {
      name: 'folder-has-a-layer',
      comment:
        'Every folder of src/ has a place in the layer rule: add a new one to .dependency-cruiser.cjs and to the README "Layout".',
      severity: 'error',
      from: { path: '^src/', pathNot: under(ALL) },
      to: {},
    },
    onlyImports('model-imports-nothing', ['model'], ['model'], 'model/ is the bottom.'),
    onlyImports('plan-imports-model', ['plan'], ['model', 'plan'], 'plan/ is pure arithmetic.'),
    onlyImports(
      'engine-imports-core',
      ['engine'],
      CORE,
      'The engine sequences over model/ and plan/ and talks to the world only through its ports.',
    ),
    onlyImports(
      'adapters-below-report',
      ADAPTERS,
      [...CORE, ...ADAPTERS],
      'Adapters implement ports: they never import report/, app/ or a shell.',
    ),
    {
      name: 'adapters-see-ports-not-the-engine',
      comment: 'An adapter implements a port; it does not drive the Engine.',
      severity: 'error',
      from: { path: under(ADAPTERS) },
      to: { path: '^src/engine/engine\\.ts$' },
    },
    onlyImports(
      'report-below-app',
      ['report'],
      [...CORE, ...ADAPTERS, 'report'],
      'report/ renders the record; app/ and the shells call it.',
    ),
    onlyImports(
      'app-below-shells',
      ['app'],
      [...CORE, ...ADAPTERS, 'report', 'app'],
      'app/ holds the use-cases; the shells call it, never the other way.',
    ),
    onlyImports(
      'cli-is-a-shell',
      ['cli'],
      [...CORE, ...ADAPTERS, 'report', 'app', 'cli'],
      'cli/ parses flags, calls app/ and renders: it never imports actions/ or web/.',
    ),
    onlyImports(
      'actions-is-a-shell',
      ['actions'],
      [...CORE, ...ADAPTERS, 'report', 'app', 'actions'],
      'actions/ reads inputs, calls app/ and renders: it never imports cli/ or web/.',
    ),
    onlyImports(
      'web-is-a-shell',
      ['web'],
      [...CORE, ...ADAPTERS, 'report', 'app', 'web'],
      'web/ calls app/: it never imports cli/ or actions/.',
    ),
    {
      name: 'commander-only-in-cli',
      comment: 'commander is the CLI’s parser; anywhere else it ends up in the action bundles.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '(^|/)node_modules/commander/' },
    },
    {
      name: 'no-folder-cycles',
      comment: 'Folders of src/ import each other one way only.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-module-cycles',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a port's types are a dependency like any other.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
