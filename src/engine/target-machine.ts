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
  | { type: 'reset' }
  /**
   * Host truth puts the record right (reconcile, an LB that did not take a markup): the target
   * is back where `to` says. Only the moves in RESTORE are legal.
   */
  | { type: 'restore'; to: RestoreTo };

export type RestoreTo = 'PENDING' | 'VERIFY_SUCCESS' | 'MARKUP_SUCCESS' | 'BAKE_SUCCESS';

/**
 * Where host truth may move a record, and from where:
 * - PENDING: back in traffic on the version it came from, after rollgate took it out.
 * - VERIFY_SUCCESS: a markup the load balancer did not take (it was down): verified, still out.
 * - MARKUP_SUCCESS: installed (the record shows the install ran), healthy on the new version,
 *   put back in traffic by reconcile.
 * - BAKE_SUCCESS: a bastion whose bake a person pressed, healthy, put back in traffic.
 */
const RESTORE: Record<RestoreTo, readonly TargetState[]> = {
  PENDING: ['MARKDOWN_SUCCESS', 'DOWNLOAD_SUCCESS', 'INSTALL_SUCCESS', 'VERIFY_SUCCESS'],
  VERIFY_SUCCESS: ['MARKUP_RUNNING', 'MARKUP_FAILURE'],
  MARKUP_SUCCESS: [
    'INSTALL_RUNNING',
    'INSTALL_SUCCESS',
    'INSTALL_FAILURE',
    'VERIFY_RUNNING',
    'VERIFY_SUCCESS',
    'VERIFY_FAILURE',
    'MARKUP_RUNNING',
    'MARKUP_FAILURE',
  ],
  BAKE_SUCCESS: ['BAKE_RUNNING', 'BAKE_FAILURE'],
};

/**
 * The steps each state may start next. Download may come before markdown (prefetch, while
 * the target still serves) or after it (S1 order); rollback goes from markdown to install
 * (the release is already on the host, F4). The bastion ends at VERIFY_SUCCESS and bakes (S4).
 */
const NEXT_STEPS: Partial<Record<TargetState, readonly Step[]>> = {
  // Side-by-side (S7) has no markdown; its rollback starts at install (the release is kept).
  PENDING: ['markdown', 'download', 'install'],
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
    const arg = 'step' in event ? ` ${event.step}` : 'to' in event ? ` to ${event.to}` : '';
    super(`no transition from ${from} on ${event.type}${arg}`);
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
    case 'restore':
      if (RESTORE[event.to].includes(from)) return event.to;
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
