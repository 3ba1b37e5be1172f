import * as core from '@actions/core';
import { runStep, type StepName } from './lib/run';

const STEPS: readonly StepName[] = [
  'deploy-bastion',
  'bake',
  'roll-batches',
  'rollback',
  'stop',
  'monitor-30m',
];

const step = core.getInput('step').trim() as StepName;
if (STEPS.includes(step)) {
  void runStep(step);
} else {
  core.setFailed(`input step: "${step}" is not one of ${STEPS.join(', ')}`);
}
