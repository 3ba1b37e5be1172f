import type { Command } from 'commander';
import { runBuild, isProgressLine } from '../../app/build/run';
import { BUILD_SETTINGS } from '../../app/build/settings';
import type { Logger } from '../../model/logger';
import { addSettingOptions } from '../setting-options';
import { BUILD_FLAGS, buildOptionsFromFlags } from './flags';
import { buildJson, renderBuild, renderPlatformOptions } from './render';

/** `rollgate build` (B1–B3): the options come from the build settings table. */
export function registerBuild(
  cli: Command,
  env: Record<string, string | undefined>,
  exitHelp: string,
): void {
  const cmd = cli
    .command('build')
    .description(
      'build the app into an image (standard Containerfile per kind, or its own), push it; prints the pinned reference and digest',
    );
  addSettingOptions(cmd, BUILD_SETTINGS)
    .option('--list-options', 'print the platform options and exit')
    .option('--json', 'print the result as JSON (progress goes to stderr)')
    .addHelpText('after', exitHelp)
    .action(async (f: Record<string, unknown>) => {
      if (f.listOptions) {
        for (const line of renderPlatformOptions()) console.log(line);
        return;
      }
      const o = buildOptionsFromFlags(f, env);
      const say = (l: string) => (f.json ? console.error(l) : console.log(l));
      const logger: Logger = {
        info: say,
        warn: (l) => console.error(l),
        error: (l) => console.error(l),
      };
      const run = await runBuild(o, env, BUILD_FLAGS, logger, (line) => {
        if (f.verbose || isProgressLine(line)) say(`  ${line}`);
      });
      if (f.json) console.log(buildJson(run));
      else for (const line of renderBuild(run)) console.log(line);
    });
}
