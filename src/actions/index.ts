/**
 * Every action in one bundle. scripts/build.mjs bundles this file once, into
 * dist/actions/index.js, and writes for each action.yml the file its `runs.main` names
 * (dist/<name>/index.js): one line that calls `run('<name>')` here. The actions share all their
 * code (the Azure SDK of @actions/artifact alone is most of it), so one copy serves them all.
 */
import * as core from '@actions/core';
import { buildStep } from './lib/build-step';
import { runStep, type StepName } from './lib/run';
import { scanStep } from './lib/scan-step';

const RELEASE_STEPS: readonly StepName[] = [
  'deploy-bastion',
  'bake',
  'roll-batches',
  'rollback',
  'stop',
  'monitor-30m',
];

/** The umbrella action.yml at the root: its input `step` names the release step to run. */
async function umbrella(): Promise<void> {
  const step = core.getInput('step').trim() as StepName;
  if (RELEASE_STEPS.includes(step)) await runStep(step);
  else core.setFailed(`input step: "${step}" is not one of ${RELEASE_STEPS.join(', ')}`);
}

/** Keyed by the directory of the action's bundle entry: dist/<name>/index.js. */
export const ACTIONS: Readonly<Record<string, () => Promise<void>>> = {
  ...Object.fromEntries(RELEASE_STEPS.map((s) => [s, () => runStep(s)])),
  'build-image': buildStep,
  'clair-scan': scanStep,
  main: umbrella,
};

export function run(name: string): void {
  const action = ACTIONS[name];
  if (action) void action();
  else
    core.setFailed(
      `dist/${name}/index.js names an action this bundle does not have (${Object.keys(ACTIONS).join(', ')}): run npm run build`,
    );
}
