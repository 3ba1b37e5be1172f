import { InputError } from '../model/errors';

/**
 * One table per command (issue 14 item 4): each setting keyed by its action.yml input name,
 * with how it is given and the CLI option that gives it. The action inputs, the CLI options,
 * the names in errors and the types are all derived from it, so a new setting is one row here
 * (and its input in action.yml: test/unit/actions/settings-tables.test.ts checks they agree).
 */

/** A commander option, as data: `flags` as commander takes them ('--base-image <ref>'). */
export interface CliOption {
  readonly flags: string;
  readonly help: string;
  readonly default?: string | boolean;
  readonly choices?: readonly string[];
}

export interface Setting {
  /** text: one value; list: comma/space-separated input, a repeatable flag; switch: true/false. */
  readonly shape: 'text' | 'list' | 'switch';
  /** Empty fails with `<name>: is required` (and the reason given here). */
  readonly required?: string | true;
  /** The value when the input or flag is not given (a text setting). */
  readonly default?: string;
  /** The CLI options that give it; none: the action only (or the CLI takes it as an argument). */
  readonly cli?: readonly CliOption[];
  /** How the CLI names it in errors when that is not its first option's long flag ('<image>'). */
  readonly cliName?: string;
}

export type SettingTable = Readonly<Record<string, Setting>>;

/** The value a setting reads as: a list, a switch, a required or defaulted text, an optional text. */
export type SettingValue<S extends Setting> = S['shape'] extends 'list'
  ? string[]
  : S['shape'] extends 'switch'
    ? boolean
    : S extends { required: string | true } | { default: string }
      ? string
      : string | undefined;

/** All of a table's values keyed by input name, as docker/build-push-action's `Inputs`. */
export type SettingValues<T extends SettingTable> = { readonly [K in keyof T]: SettingValue<T[K]> };

/** 'base-image' → 'baseImage'. */
export type CamelCase<S extends string> = S extends `${infer H}-${infer T}`
  ? `${H}${Capitalize<CamelCase<T>>}`
  : S;

export function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** How each setting is named in errors, by its camelCase name: '--base-image' or 'input base-image'. */
export type SettingNames<T extends SettingTable> = Record<CamelCase<keyof T & string>, string>;

/** Where the values come from: the CLI's parsed flags or the action's inputs. */
export interface SettingSource {
  /** How the user names the setting: a flag, or `input <name>`. */
  label(name: string, setting: Setting): string;
  /** undefined: not given (an empty input is not given). */
  text(name: string, setting: Setting): string | undefined;
  list(name: string, setting: Setting): string[];
  switch(name: string, setting: Setting): boolean;
}

/**
 * The table's values from a source, each read when first asked for: a step reads what it needs
 * when it needs it, so a missing input fails at the same point it always did.
 */
export function readSettings<T extends SettingTable>(
  table: T,
  source: SettingSource,
): SettingValues<T> {
  const values: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(table)) {
    let read = false;
    let value: unknown;
    Object.defineProperty(values, name, {
      enumerable: true,
      get() {
        if (!read) {
          value = readOne(name, setting, source);
          read = true;
        }
        return value;
      },
    });
  }
  return values as SettingValues<T>;
}

function readOne(name: string, s: Setting, source: SettingSource): unknown {
  if (s.shape === 'list') return source.list(name, s);
  if (s.shape === 'switch') return source.switch(name, s);
  const v = source.text(name, s) ?? s.default;
  if (v === undefined && s.required) {
    const why = s.required === true ? '' : `: ${s.required}`;
    throw new InputError(source.label(name, s), `is required${why}`);
  }
  return v;
}

/** Each setting's name in errors, keyed by its camelCase name (the options' field). */
export function settingNames<T extends SettingTable>(
  table: T,
  source: Pick<SettingSource, 'label'>,
): SettingNames<T> {
  const names: Record<string, string> = {};
  for (const [name, s] of Object.entries(table)) names[camelCase(name)] = source.label(name, s);
  return names as SettingNames<T>;
}

/** The long flag of a CLI option: '-g, --group <file>' → '--group'; '--no-cache' → '--no-cache'. */
export function longFlag(o: CliOption): string {
  return /--[\w-]+/.exec(o.flags)?.[0] ?? o.flags.split(/[ ,]/)[0]!;
}

/** The key commander stores an option's value under: '--platform-option' → platformOption. */
export function flagKey(o: CliOption): string {
  return camelCase(longFlag(o).replace(/^--(no-)?/, ''));
}

/** The CLI's parsed options as a source (commander's `opts()` object). */
export function flagSource(flags: Readonly<Record<string, unknown>>): SettingSource {
  const key = (name: string, s: Setting) => (s.cli?.[0] ? flagKey(s.cli[0]) : camelCase(name));
  return {
    label: (name, s) => s.cliName ?? (s.cli?.[0] ? longFlag(s.cli[0]) : `--${name}`),
    text: (name, s) => {
      const v = flags[key(name, s)];
      return typeof v === 'string' ? v : undefined;
    },
    list: (name, s) => {
      const v = flags[key(name, s)];
      return Array.isArray(v) ? (v as string[]) : [];
    },
    switch: (name, s) => flags[key(name, s)] === true,
  };
}

/** A setting that may be absent is an optional field. */
type WithOptional<T> = {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
} & { [K in keyof T as undefined extends T[K] ? never : K]: T[K] };

/**
 * The options a table's settings fill as they are, by camelCase name ('base-image' → baseImage);
 * `Apart` are those the command reads itself (several settings make one option, a secret, …).
 */
export type CopiedOptions<T extends SettingTable, Apart extends keyof T> = WithOptional<{
  -readonly [K in Exclude<keyof T, Apart> & string as CamelCase<K>]: SettingValue<T[K]>;
}>;

/** The values of the settings not read apart, by camelCase name; absent ones left out. */
export function copySettings<T extends SettingTable, Apart extends keyof T & string>(
  table: T,
  values: SettingValues<T>,
  apart: readonly Apart[],
): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const name of Object.keys(table)) {
    if ((apart as readonly string[]).includes(name)) continue;
    const value = values[name];
    if (value !== undefined) o[camelCase(name)] = value;
  }
  return o;
}
