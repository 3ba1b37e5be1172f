import { join } from 'node:path';
import { ROOT } from './actions-runner';
import type { JobResultKind, WorkflowRunResult } from './workflow-driver';

/** The release workflow the end-to-end tests drive job by job. */
export const ROLLOUT_WORKFLOW = join(ROOT, '.github/workflows/rollout.yml');

/** The jobs of rollout.yml, in the order the driver runs them (by `needs`). */
export const ROLLOUT_JOBS = [
  'build-image',
  'clair-scan',
  'deploy-bastion',
  'bake',
  'roll',
  'continue',
  'monitor',
  'rollback',
  'stop',
  'gate-failed',
] as const;

export type RolloutJob = (typeof ROLLOUT_JOBS)[number];
export type RolloutResults = Record<RolloutJob, JobResultKind>;

/** Every job of rollout.yml with its result: the ones named as given, every other one skipped. */
export function jobResults(ran: Partial<RolloutResults>): RolloutResults {
  return Object.fromEntries(ROLLOUT_JOBS.map((j) => [j, ran[j] ?? 'skipped'])) as RolloutResults;
}

/** Build, scan, bastion, bake and roll passed; the batches ran without a brake, so no continue. */
const DEPLOYED: Partial<RolloutResults> = {
  'build-image': 'success',
  'clair-scan': 'success',
  'deploy-bastion': 'success',
  bake: 'success',
  roll: 'success',
};

/**
 * A release that went through without a brake. The monitor job passes (with no monitor section
 * in the group file it notes that and passes); rollback, stop and gate-failed are skipped.
 */
export const RELEASED: RolloutResults = jobResults({ ...DEPLOYED, monitor: 'success' });

/** Deployed to the bastion, baked, then the batches: `rest` says what happened from there. */
export const deployedThen = (rest: Partial<RolloutResults>): RolloutResults =>
  jobResults({ ...DEPLOYED, ...rest });

/** Each job of a run by its result (`success`, `failure`, `cancelled`, `skipped`). */
export const results = (r: WorkflowRunResult): Record<string, JobResultKind> =>
  Object.fromEntries(Object.entries(r.jobs).map(([n, j]) => [n, j.result]));

/** The action log of a job's rollgate step, for failure messages. */
export function logOf(r: WorkflowRunResult, job: string): string {
  const a = r.jobs[job]?.steps.find((s) => s.how === 'action')?.action;
  return a ? `${a.stdout}\n${a.stderr}` : `(no action ran in ${job})`;
}
