import * as core from '@actions/core';
import { describeError } from '../../report/error';

/**
 * The actions' error boundary: the job fails with the message only (`core.setFailed`); what a
 * record write failure knew goes to the log; the stack only with step debug logging on
 * (ACTIONS_STEP_DEBUG or RUNNER_DEBUG), as `--debug` does on the command line.
 */
export function failStep(
  err: unknown,
  env: Record<string, string | undefined>,
  groupFile: string | undefined,
): void {
  const debug = env.ACTIONS_STEP_DEBUG === 'true' || env.RUNNER_DEBUG === '1';
  const [first = 'rollgate: internal error', ...rest] = describeError(err, {
    debug,
    groupFile,
  }).lines;
  for (const line of rest) core.info(line);
  core.setFailed(first.replace(/^rollgate: /, ''));
}
