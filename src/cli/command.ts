import { Command, type Option } from 'commander';

/** commander methods its type declarations leave out (stable since v8). */
interface Internals {
  unknownOption(flag: string): never;
  missingMandatoryOptionValue(option: Option): never;
}
const base = Command.prototype as unknown as Internals;

/**
 * commander reports a missing required option before an unknown one, so a typo (`--versoin`)
 * came out as "required option '--version' not specified". A mistyped flag is the likelier
 * story: report it first, with commander's own "did you mean".
 */
export class RollgateCommand extends Command {
  override createCommand(name?: string): Command {
    return new RollgateCommand(name);
  }

  missingMandatoryOptionValue(option: Option): never {
    const typo = this.args.find((a) => a.startsWith('-') && a !== '-');
    if (typo) base.unknownOption.call(this, typo.split('=')[0]!);
    return base.missingMandatoryOptionValue.call(this, option);
  }
}
