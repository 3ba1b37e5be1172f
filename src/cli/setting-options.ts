import { Option, type Command } from 'commander';
import type { SettingTable } from '../app/settings';

/** A command's options from its settings table, in the table's order. */
export function addSettingOptions(cmd: Command, table: SettingTable): Command {
  for (const setting of Object.values(table)) {
    for (const o of setting.cli ?? []) {
      const option = new Option(o.flags, o.help);
      if (o.choices) option.choices(o.choices);
      if (o.default !== undefined) option.default(o.default);
      else if (setting.default !== undefined && /<.+>/.test(o.flags))
        option.default(setting.default);
      cmd.addOption(option);
    }
  }
  return cmd;
}
