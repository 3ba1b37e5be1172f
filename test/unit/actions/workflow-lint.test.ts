import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../support/actions-runner';
import {
  actionlint,
  checkActionMetadata,
  checkScriptInjection,
  checkWorkflowUses,
  format,
} from '../../support/workflow-lint';

// G1: the actions compose in workflow YAML; these checks keep the YAML and the action.yml files
// honest. actionlint lints each file alone; the custom check knows this repository's actions.

const yml = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => join(ROOT, dir, f));

const WORKFLOWS = [...yml('.github/workflows'), ...yml('examples/workflows')];
const ACTIONS = [
  join(ROOT, 'action.yml'),
  ...readdirSync(join(ROOT, 'actions')).map((a) => join(ROOT, 'actions', a, 'action.yml')),
];

describe('actionlint', () => {
  it('finds the workflows to lint', () => {
    expect(WORKFLOWS.map((f) => f.slice(ROOT.length))).toEqual(
      expect.arrayContaining([
        '.github/workflows/rollout.yml',
        'examples/workflows/release.yml',
        'examples/workflows/operate.yml',
      ]),
    );
  });

  it.each(WORKFLOWS.map((f) => [f.slice(ROOT.length), f]))('%s is clean', async (_name, file) => {
    expect((await actionlint(file)).map(format)).toEqual([]);
  });

  it('is alive: it reports a bad needs and an undefined step output', async () => {
    const bad = `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    needs: nothere
    steps:
      - run: echo \${{ steps.nope.outputs.x }}
`;
    const found = (await actionlint('/tmp/bad.yml', bad)).map((f) => f.message).join('\n');
    expect(found).toMatch(/nothere/);
    expect(found).toMatch(/nope/);
  });
});

describe('values reach shells through env: only (issue 12: script injection)', () => {
  it.each(WORKFLOWS.map((f) => [f.slice(ROOT.length), f]))('%s', (_name, file) => {
    expect(checkScriptInjection(file).map(format)).toEqual([]);
  });

  it('is alive: it reports ${{ inputs.version }} in a run script', () => {
    const bad = `on: workflow_dispatch
jobs:
  package:
    runs-on: ubuntu-latest
    steps:
      - run: tar -czf "out/app-\${{ inputs.version }}.tar.gz" -C app .
      - env:
          VERSION: \${{ inputs.version }}
        run: tar -czf "out/app-$VERSION.tar.gz" -C app .
`;
    expect(checkScriptInjection('/tmp/bad.yml', bad).map((f) => `${f.line}: ${f.message}`)).toEqual(
      ['6: job package: ${{ }} inside run: pass the value through env: and use "$NAME"'],
    );
  });
});

describe('local actions used by the workflows', () => {
  it.each(WORKFLOWS.map((f) => [f.slice(ROOT.length), f]))(
    '%s: every local action exists, every with: key is an input, required inputs are given',
    (_name, file) => {
      expect(checkWorkflowUses(file).map(format)).toEqual([]);
    },
  );

  it('reports an unknown input, a missing required input and a missing action', () => {
    const wf = `on: workflow_dispatch
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: ./.rollgate/actions/deploy-bastion
        with:
          group-file: deploy/web.yml
          environment: production
          verison: 1.2.3
      - uses: ./actions/no-such-action
      - uses: rollgate/rollgate@v1
        with:
          group-file: deploy/web.yml
  b:
    uses: rollgate/rollgate/.github/workflows/rollout.yml@v1
    with:
      group-file: deploy/web.yml
      environment: production
      max-unavailable: 10%
    secrets:
      ssh-key: x
`;
    const found = checkWorkflowUses('/tmp/wf.yml', wf).map((f) => `${f.line}: ${f.message}`);
    expect(found).toEqual([
      expect.stringMatching(
        /^10: job a step 1: "verison" is not an input of actions\/deploy-bastion\/action.yml/,
      ),
      '6: job a step 1: required input "version" of actions/deploy-bastion/action.yml is not given',
      '11: job a step 2: ./actions/no-such-action: no actions/no-such-action/action.yml in this repository',
      '12: job a step 3: required input "step" of action.yml is not given',
      '12: job a step 3: required input "environment" of action.yml is not given',
      expect.stringMatching(
        /^20: job b: "max-unavailable" is not an input of \.github\/workflows\/rollout\.yml/,
      ),
      '16: job b: required input "group" of .github/workflows/rollout.yml is not given',
      '16: job b: required input "version" of .github/workflows/rollout.yml is not given',
      '22: job b: .github/workflows/rollout.yml declares no secret "ssh-key"',
    ]);
  });
});

describe('action.yml metadata', () => {
  it('covers the umbrella, the six steps, build-image and clair-scan', () => {
    expect(ACTIONS.map((f) => f.slice(ROOT.length)).sort()).toEqual([
      'action.yml',
      'actions/bake/action.yml',
      'actions/build-image/action.yml',
      'actions/clair-scan/action.yml',
      'actions/deploy-bastion/action.yml',
      'actions/monitor-30m/action.yml',
      'actions/roll-batches/action.yml',
      'actions/rollback/action.yml',
      'actions/stop/action.yml',
    ]);
  });

  it.each(ACTIONS.map((f) => [f.slice(ROOT.length), f]))(
    '%s: descriptions everywhere, node24, runs.main exists',
    (_name, file) => {
      expect(checkActionMetadata(file).map(format)).toEqual([]);
    },
  );

  it('reports a missing description, another runtime and a missing bundle', () => {
    const bad = `name: x
description: y
inputs:
  a:
    required: true
outputs:
  o:
    description: ''
runs:
  using: node20
  main: ../../dist/nothing/index.js
`;
    const found = checkActionMetadata(join(ROOT, 'actions/x/action.yml'), bad).map(
      (f) => `${f.line}: ${f.message}`,
    );
    expect(found).toEqual([
      '4: input a has no description',
      '7: output o has no description',
      '10: runs.using is node20, expected node24',
      '11: runs.main ../../dist/nothing/index.js does not exist (dist/nothing/index.js)',
    ]);
  });
});
