/**
 * Issue 14 item 4: each command's settings table and its action.yml agree — the same inputs, a
 * required input required in both (or defaulted by action.yml), the same defaults, switches that
 * default to "true" or "false" — so a setting added to one and not the other fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BUILD_SETTINGS } from '../../../src/app/build/settings';
import { SCAN_SETTINGS } from '../../../src/app/scan/settings';
import { flagKey, longFlag, type SettingTable } from '../../../src/app/settings';
import { STEP_INPUTS } from '../../../src/actions/lib/step-inputs';

interface ActionInput {
  required?: boolean;
  default?: string;
}

function actionInputs(action: string): Record<string, ActionInput> {
  const yml = parse(readFileSync(`actions/${action}/action.yml`, 'utf8')) as {
    inputs: Record<string, ActionInput | null>;
  };
  return Object.fromEntries(Object.entries(yml.inputs).map(([k, v]) => [k, v ?? {}]));
}

/** What does not agree, one line each; empty when the table and action.yml agree. */
function disagreements(table: SettingTable, inputs: Record<string, ActionInput>): string[] {
  const out: string[] = [];
  for (const name of Object.keys(inputs)) {
    if (!(name in table)) out.push(`${name}: in action.yml, not in the table`);
  }
  for (const [name, s] of Object.entries(table)) {
    const input = inputs[name];
    if (!input) {
      out.push(`${name}: in the table, not in action.yml`);
      continue;
    }
    const given = input.default !== undefined && input.default !== '';
    if (input.required === true && !s.required) out.push(`${name}: required only in action.yml`);
    if (s.required && input.required !== true && !given) {
      out.push(`${name}: required in the table; action.yml neither requires nor defaults it`);
    }
    if (s.default !== undefined && input.default !== s.default) {
      out.push(`${name}: default "${s.default}" in the table, "${input.default}" in action.yml`);
    }
    if (s.shape === 'switch' && !['true', 'false'].includes(input.default ?? '')) {
      out.push(`${name}: a switch whose action.yml default is not "true" or "false"`);
    }
  }
  return out;
}

const TABLES: [string, SettingTable][] = [
  ['build-image', BUILD_SETTINGS],
  ['clair-scan', SCAN_SETTINGS],
  ...Object.entries(STEP_INPUTS),
];

describe('settings tables and action.yml', () => {
  it.each(TABLES)('%s: the table and action.yml agree', (action, table) => {
    expect(disagreements(table, actionInputs(action))).toEqual([]);
  });

  it('every action has a table', () => {
    expect(TABLES.map(([a]) => a).sort()).toEqual(readdirSync('actions').sort());
  });

  it('finds a missing row, an extra row, a required or default that differs', () => {
    const inputs = actionInputs('build-image');
    const { title: _title, ...withoutTitle } = BUILD_SETTINGS;
    expect(disagreements(withoutTitle, inputs)).toEqual(['title: in action.yml, not in the table']);
    expect(disagreements({ ...BUILD_SETTINGS, extra: { shape: 'text' } }, inputs)).toEqual([
      'extra: in the table, not in action.yml',
    ]);
    expect(
      disagreements({ ...BUILD_SETTINGS, port: { shape: 'text', required: true } }, inputs),
    ).toEqual(['port: required in the table; action.yml neither requires nor defaults it']);
    expect(disagreements({ ...BUILD_SETTINGS, context: { shape: 'text' } }, inputs)).toEqual([]);
    expect(
      disagreements({ ...BUILD_SETTINGS, context: { shape: 'text', default: './app' } }, inputs),
    ).toEqual(['context: default "./app" in the table, "." in action.yml']);
  });

  it('CLI flags are unique per command, and commander keeps each under its own key', () => {
    for (const table of [BUILD_SETTINGS, SCAN_SETTINGS] as SettingTable[]) {
      const options = Object.values(table).flatMap((s) => s.cli ?? []);
      const flags = options.map(longFlag);
      expect(new Set(flags).size).toBe(flags.length);
      const keys = Object.values(table)
        .filter((s) => s.cli?.[0])
        .map((s) => flagKey(s.cli![0]!));
      expect(new Set(keys).size).toBe(keys.length);
    }
  });
});
