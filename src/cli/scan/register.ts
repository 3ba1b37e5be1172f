import type { Command } from 'commander';
import { writeScanFiles } from '../../app/scan/files';
import { groupRunArgs, runScan } from '../../app/scan/run';
import { SCAN_SETTINGS } from '../../app/scan/settings';
import { verdictLine, verdictWord } from '../../app/scan/verdict-text';
import { realClock } from '../../clock/real';
import type { Logger } from '../../model/logger';
import { EXIT } from '../../model/errors';
import { verdictOf } from '../../scan/verdict';
import { FileVerdicts } from '../../store/file/verdicts';
import { addSettingOptions } from '../setting-options';
import { recordDirOf, SCAN_FLAGS, scanOptionsFromFlags } from './flags';
import { renderScanText } from './render';

interface OutputFlags {
  sarif?: string;
  json?: string;
  markdown?: string;
  recordDir?: string;
  group?: string;
}

/** `rollgate scan <image>` (B4): the options come from the scan settings table. */
export function registerScan(
  cli: Command,
  env: Record<string, string | undefined>,
  exitHelp: string,
): void {
  const cmd = cli
    .command('scan <image>')
    .description(
      "scan a pushed image: Clair's vulnerabilities and the compliance rules (without --clair: the compliance rules only, vulnerabilities NOT checked); records the verdict for the deploy gate; exit 0 passed, 1 failed",
    );
  addSettingOptions(cmd, SCAN_SETTINGS)
    .option('--markdown <file>', 'write the Markdown report')
    .option('--record-dir <dir>', 'record the verdict in <dir>/scans/ (default: ./.rollgate)')
    .addHelpText('after', exitHelp)
    .action(async (image: string, f: OutputFlags & Record<string, unknown>) => {
      const o = scanOptionsFromFlags(image, f, env);
      const recordDir = await recordDirOf(f, env);
      if (f.group) {
        const runArgs = await groupRunArgs(f.group, env);
        if (runArgs) o.runArgs = runArgs;
      }
      const logger: Logger = {
        info: (l) => console.log(l),
        warn: (l) => console.error(l),
        error: (l) => console.error(l),
      };
      const outcome = await runScan(o, SCAN_FLAGS, { clock: realClock, logger });
      console.log(`\n${renderScanText(outcome)}\n`);
      const files = await writeScanFiles(outcome, {
        ...(f.sarif ? { sarif: f.sarif } : {}),
        ...(f.json ? { json: f.json } : {}),
        ...(f.markdown ? { markdown: f.markdown } : {}),
      });
      for (const file of [files.sarif, files.json, files.markdown]) {
        if (file) console.log(`wrote ${file}`);
      }
      const verdict = verdictOf(outcome);
      console.log(`verdict recorded: ${await new FileVerdicts(recordDir).save(verdict)}`);
      console.log(`${verdictWord(verdict)} — ${verdictLine(verdict)}`);
      process.exitCode = verdict.passed ? EXIT.success : EXIT.failure;
    });
}
