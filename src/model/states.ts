import type { Step } from './types';

/**
 * S2: per-target states. Each step has RUNNING, SUCCESS and FAILURE; the seed's names
 * (VERIFY_SUCCESS, VERIFY_FAILURE, BAKE_SUCCESS) are among them.
 */
export const TARGET_STATES = [
  'PENDING',
  'SKIPPED',
  'MARKDOWN_RUNNING',
  'MARKDOWN_SUCCESS',
  'MARKDOWN_FAILURE',
  'DOWNLOAD_RUNNING',
  'DOWNLOAD_SUCCESS',
  'DOWNLOAD_FAILURE',
  'INSTALL_RUNNING',
  'INSTALL_SUCCESS',
  'INSTALL_FAILURE',
  'VERIFY_RUNNING',
  'VERIFY_SUCCESS',
  'VERIFY_FAILURE',
  'MARKUP_RUNNING',
  'MARKUP_SUCCESS',
  'MARKUP_FAILURE',
  'BAKE_RUNNING',
  'BAKE_SUCCESS',
  'BAKE_FAILURE',
] as const;
export type TargetState = (typeof TARGET_STATES)[number];

/** Deployment phases: a closed set. SUCCESS, FAILURE and ABORTED are the three outcomes (U3). */
export const PHASES = [
  'SMOKING', // bastion chain running
  'SMOKE_SUCCESS', // bastion verified, waiting for bake
  'SMOKE_FAILURE', // bastion failed: retry or stop
  'BAKING',
  'BAKE_SUCCESS', // bastion in traffic, waiting for continue
  'ROLLING_OUT',
  'PAUSED', // manual mode: waiting for continue between batches
  'BRAKED', // failure rate reached max unavailable: continue or stop
  'SUCCESS',
  'FAILURE',
  'ABORTED',
] as const;
export type Phase = (typeof PHASES)[number];

export const OUTCOMES = ['success', 'failure', 'aborted'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export function stepState(step: Step, kind: 'RUNNING' | 'SUCCESS' | 'FAILURE'): TargetState {
  return `${step.toUpperCase()}_${kind}` as TargetState;
}

export function isFailure(s: TargetState): boolean {
  return s.endsWith('_FAILURE');
}

export function isRunning(s: TargetState): boolean {
  return s.endsWith('_RUNNING');
}
