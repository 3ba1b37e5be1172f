import * as core from '@actions/core';
import { InputError } from '../../model/errors';
import type { RegistryAuth } from '../../registry/client';
import {
  readSettings,
  type SettingSource,
  type SettingTable,
  type SettingValues,
} from '../../app/settings';

/** Typed action inputs: a missing or bad one fails the job with an error naming the input. */
export function required(name: string): string {
  const v = core.getInput(name).trim();
  if (!v) throw new InputError(`input ${name}`, 'is required');
  return v;
}

export function optional(name: string): string | undefined {
  const v = core.getInput(name).trim();
  return v === '' ? undefined : v;
}

export function flag(name: string): boolean {
  const v = core.getInput(name).trim().toLowerCase();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new InputError(`input ${name}`, `"${v}" is not true or false`);
}

export function list(name: string): string[] {
  return core
    .getInput(name)
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Inputs registry-username + registry-password (masked in the log); none without a user. */
export function registryAuthInput(): RegistryAuth | undefined {
  const username = optional('registry-username');
  if (!username) return undefined;
  const password = required('registry-password');
  core.setSecret(password);
  return { username, password };
}

/** The action's inputs as a settings source: errors name `input <name>`. */
export const inputSource: SettingSource = {
  label: (name) => `input ${name}`,
  text: (name) => optional(name),
  list: (name) => list(name),
  switch: (name) => flag(name),
};

/** A settings table's values from this step's inputs, each read when first asked for. */
export function readInputs<T extends SettingTable>(table: T): SettingValues<T> {
  return readSettings(table, inputSource);
}
