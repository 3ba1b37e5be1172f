import { stepState, type TargetState } from '../model/states';
import type { Step } from '../model/types';

/** What can happen to a target (S2). */
export type TargetEvent =
  | { type: 'start'; step: Step }
  | { type: 'succeed' }
  | { type: 'fail' }
  /** F3: already runs the version, healthy and in traffic. */
  | { type: 'skip' }
  /** Retry of a failure, or a step interrupted by a killed run: start the chain again. */
  | { type: 'reset' };

/**
 * The steps each state may start next. Download may come before markdown (prefetch, while
 * the target still serves) or after it (S1 order); rollback goes from markdown to install
 * (the release is already on the host, F4). The bastion ends at VERIFY_SUCCESS and bakes (S4).
 */
const NEXT_STEPS: Partial<Record<TargetState, readonly Step[]>> = {
  PENDING: ['markdown', 'download'],
  DOWNLOAD_SUCCESS: ['markdown', 'install'],
  MARKDOWN_SUCCESS: ['download', 'install'],
  INSTALL_SUCCESS: ['verify'],
  VERIFY_SUCCESS: ['markup', 'bake'],
  // A bake that failed or was cut short by a killed run is pressed again.
  BAKE_RUNNING: ['bake'],
  BAKE_FAILURE: ['bake'],
};

export class TransitionError extends Error {
  constructor(
    readonly from: TargetState,
    readonly event: TargetEvent,
  ) {
    super(`no transition from ${from} on ${event.type}${'step' in event ? ` ${event.step}` : ''}`);
    this.name = 'TransitionError';
  }
}

/** Pure: the state after `event`, or a TransitionError. */
export function transition(from: TargetState, event: TargetEvent): TargetState {
  switch (event.type) {
    case 'start':
      if (NEXT_STEPS[from]?.includes(event.step)) return stepState(event.step, 'RUNNING');
      break;
    case 'succeed':
    case 'fail':
      if (from.endsWith('_RUNNING')) {
        const step = from.slice(0, -'_RUNNING'.length).toLowerCase() as Step;
        return stepState(step, event.type === 'succeed' ? 'SUCCESS' : 'FAILURE');
      }
      break;
    case 'skip':
      if (from === 'PENDING') return 'SKIPPED';
      break;
    case 'reset':
      if (from.endsWith('_FAILURE') || from.endsWith('_RUNNING')) return 'PENDING';
      break;
  }
  throw new TransitionError(from, event);
}

/** The step running in `state`, if any. */
export function runningStep(state: TargetState): Step | null {
  return state.endsWith('_RUNNING')
    ? (state.slice(0, -'_RUNNING'.length).toLowerCase() as Step)
    : null;
}
