import type { SettingTable, SettingValues } from '../../app/settings';

/**
 * The release steps' inputs, keyed by their action.yml names (the one table each step's
 * action.yml must agree with: test/unit/actions/settings-tables.test.ts). Every step takes
 * the common ones.
 */
const COMMON = {
  'group-file': { shape: 'text', required: true },
  environment: { shape: 'text', required: true },
  // action.yml defaults it to github.token.
  token: { shape: 'text', required: true },
  who: { shape: 'text' },
  'degrade-lb': { shape: 'switch' },
  group: { shape: 'text' },
  'known-hosts': { shape: 'text' },
  'notify-link': { shape: 'text' },
  'page-url': { shape: 'text' },
} as const satisfies SettingTable;

const GATE = {
  'gate-environment': { shape: 'text' },
  'allow-unprotected-gates': { shape: 'switch' },
} as const satisfies SettingTable;

export const STEP_INPUTS = {
  'deploy-bastion': {
    ...COMMON,
    'gate-environments': { shape: 'list' },
    version: { shape: 'text', required: true },
    package: { shape: 'text' },
    image: { shape: 'text' },
    'scan-override': { shape: 'text' },
    'scan-run-id': { shape: 'text' },
    force: { shape: 'switch' },
  },
  bake: { ...COMMON, ...GATE, watch: { shape: 'text' } },
  'roll-batches': { ...COMMON, ...GATE },
  rollback: COMMON,
  stop: { ...COMMON, 'failed-gates': { shape: 'list' } },
  'monitor-30m': {
    ...COMMON,
    for: { shape: 'text' },
    interval: { shape: 'text' },
    'on-failure': { shape: 'text', default: 'fail' },
  },
} as const satisfies Record<string, SettingTable>;

export type StepName = keyof typeof STEP_INPUTS;

/** One step's inputs, typed by its table. */
export type StepInputs<S extends StepName> = SettingValues<(typeof STEP_INPUTS)[S]>;

/** The inputs the gate planning reads, whichever step it is: the common ones and the gates'. */
export type GateInputs = StepInputs<'rollback'> &
  Partial<
    Pick<StepInputs<'bake'>, 'gate-environment' | 'allow-unprotected-gates'> &
      Pick<StepInputs<'stop'>, 'failed-gates'> &
      Pick<StepInputs<'deploy-bastion'>, 'gate-environments'>
  >;
