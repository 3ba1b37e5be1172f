import { Command, Option } from 'commander';
import { EXIT, GROUP_FILE } from '../model/errors';
import type { RunResult } from '../engine/engine';
import type { Logger } from '../engine/ports';
import { planBatches } from '../plan/batches';
import { buildPlanReport, renderPlan } from '../report/plan';
import { collectStatus } from '../report/collect';
import { renderStatus } from '../report/status';
import { loadGroupFile } from '../config/group-file';
import { assertStoreDir, FileStore } from '../store/file/file-store';
import { fmtMs } from '../engine/chain';
import { openRuntime, resolvePackage, type Runtime } from './wire';
import { monitorRelease } from './monitor';
import { registerBuild } from './build';
import { gatePackage } from './gate';
import { FileVerdicts } from '../store/file/verdicts';
import { registerScan } from './scan';
import { groupFileOf, takeDebugFlag } from './errors';
import { describeError } from '../report/error';

/**
 * Prints to the console; messages of the store name the group file the person gave. `quiet`
 * sends progress lines to stderr too, so stdout holds only the page (`status --json`).
 */
function consoleLogger(groupFile: string | undefined, quiet = false): Logger {
  const named = (l: string) => (groupFile ? l.replaceAll(GROUP_FILE, groupFile) : l);
  return {
    info: (l) => (quiet ? console.error(named(l)) : console.log(named(l))),
    warn: (l) => console.warn(named(l)),
    error: (l) => console.error(named(l)),
  };
}

const EXIT_HELP = `
Exit codes: 0 success · 1 failure · 2 bad input · 3 waiting (for bake, continue, or braked) · 4 aborted · 5 busy (locked)`;

interface Common {
  group: string;
  who?: string;
  degrade?: string[];
}

function program(env: Record<string, string | undefined>): Command {
  const cli = new Command('rollgate')
    .description(
      'Progressive releases to a fleet: bastion first, bake, batches with a brake, retry, rollback.',
    )
    .version('0.1.0')
    // `rollgate deploy --version 2.0.0` is the release's version, not this program's.
    .enablePositionalOptions()
    .exitOverride()
    // Usage errors read like every other error: `rollgate: <what>`.
    .configureOutput({
      outputError: (text, write) => write(text.replace(/^error: /, 'rollgate: ')),
    })
    .showHelpAfterError('(add --help for usage)')
    .option('--debug', 'print the stack of an error too (or ROLLGATE_DEBUG=1)')
    .addHelpText('after', EXIT_HELP);

  const withGroup = (c: Command) =>
    c
      .requiredOption('-g, --group <file>', 'group file (YAML)')
      .option(
        '--who <name>',
        'who runs this, for the record (default: user@host, or $ROLLGATE_WHO)',
      )
      .addHelpText('after', EXIT_HELP);
  const withDegrade = (c: Command) =>
    c.addOption(
      new Option('--degrade <system...>', 'go on without an outside system (recorded): lb').choices(
        ['lb'],
      ),
    );

  const run = async (o: Common, op: (rt: Runtime) => Promise<RunResult | null>) => {
    const rt = await openRuntime({
      groupFile: o.group,
      env,
      logger: consoleLogger(o.group),
      ...(o.who ? { who: o.who } : {}),
      ...(o.degrade ? { degrade: o.degrade } : {}),
    });
    const started = Date.now();
    let interrupted = false;
    const onSigint = () => {
      if (interrupted) process.exit(EXIT.aborted);
      interrupted = true;
      console.error('stopping before the next step (Ctrl-C again to quit at once)');
      rt.engine.requestStop('Ctrl-C');
    };
    process.on('SIGINT', onSigint);
    try {
      const result = await op(rt);
      if (result) {
        console.log(
          `${result.status.toUpperCase()} — ${result.message} (${fmtMs(Date.now() - started)})`,
        );
        process.exitCode = {
          success: EXIT.success,
          failure: EXIT.failure,
          aborted: EXIT.aborted,
          waiting: EXIT.waiting,
        }[result.status];
      }
    } finally {
      process.off('SIGINT', onSigint);
      await rt.close();
    }
  };

  withGroup(cli.command('plan'))
    .description('show the batches, the capacity kept and the expected time; touches nothing')
    .requiredOption('--version <version>', 'version to plan')
    .option('--json', 'print JSON for scripts')
    .action(async (o: Common & { version: string; json?: boolean }) => {
      const loaded = await loadGroupFile(o.group, env);
      const plan = planBatches(loaded.group.targets, loaded.config);
      // The same checks as deploy: a store that cannot hold the record is refused here too.
      await assertStoreDir(loaded.store.dir);
      const ledger = await new FileStore(loaded.store.dir, consoleLogger(o.group)).load(
        loaded.group.name,
      );
      const last = ledger?.current;
      const spans = (last?.batches ?? []).filter((b) => b.startedAt && b.endedAt);
      const lastBatchMs = spans.length
        ? spans.reduce((s, b) => s + (b.endedAt! - b.startedAt!), 0) / spans.length
        : null;
      const report = buildPlanReport(
        loaded.group.name,
        o.version,
        plan,
        loaded.config,
        loaded.group.targets.length,
        lastBatchMs,
      );
      console.log(o.json ? JSON.stringify(report, null, 2) : renderPlan(report));
    });

  withDegrade(withGroup(cli.command('deploy')))
    .description('start a release: the bastion chain, up to VERIFY_SUCCESS (then: bake)')
    .requiredOption('--version <version>', 'version to release')
    .option('--package <file>', 'package tarball (default: the group file package.source)')
    .option(
      '--image <ref>',
      'image pinned by digest, registry/repository@sha256:… (groups with package.image)',
    )
    .option(
      '--override-scan <reason>',
      'release an image whose scan did not pass or is missing; the reason is recorded',
    )
    .option('--force', 'release a version an earlier rollback quarantined')
    .action(
      async (
        o: Common & {
          version: string;
          package?: string;
          image?: string;
          overrideScan?: string;
          force?: boolean;
        },
      ) =>
        run(o, async (rt) => {
          const pkg = await resolvePackage(rt.loaded, o.version, o.package, o.image);
          const verdicts = new FileVerdicts(rt.loaded.store.dir);
          const source = { where: verdicts.dir, get: (d: string) => verdicts.get(d) };
          const override =
            o.overrideScan !== undefined ? { reason: o.overrideScan, by: rt.who } : undefined;
          return rt.engine.deploy({
            version: o.version,
            package: await gatePackage(pkg, source, override),
            force: o.force === true,
          });
        }),
    );

  withDegrade(withGroup(cli.command('bake')))
    .description('put the verified bastion into traffic (BAKE_SUCCESS)')
    .action((o: Common) => run(o, (rt) => rt.engine.bake()));

  withDegrade(withGroup(cli.command('continue')))
    .description('roll out the other batches: after the bake, a brake, a pause or a killed run')
    .action((o: Common) => run(o, (rt) => rt.engine.continue()));

  withDegrade(withGroup(cli.command('retry')))
    .description(
      're-run failed targets only; targets already on the version and healthy are skipped',
    )
    .action((o: Common) => run(o, (rt) => rt.engine.retry()));

  withGroup(cli.command('stop'))
    .description(
      'abort the release: a running rollgate stops before its next step; state stays as it is',
    )
    .action((o: Common) => run(o, (rt) => rt.engine.stop()));

  withDegrade(withGroup(cli.command('rollback')))
    .description('back to the last successful version: no bastion, 50% batches, no download')
    .action((o: Common) => run(o, (rt) => rt.engine.rollback()));

  withGroup(cli.command('monitor'))
    .description(
      'watch the release on Prometheus for its window (O2: 30 min): one line per check per poll; healthy (0) or degraded/unknown (1)',
    )
    .option('--for <duration>', 'how long to watch (default: the group file monitor.window, 30m)')
    .option('--interval <duration>', 'time between polls (default: monitor.interval, 1m)')
    .addOption(
      new Option('--on-failure <action>', 'what a degraded verdict does')
        .choices(['fail', 'rollback'])
        .default('fail'),
    )
    .action(async (o: Common & { for?: string; interval?: string; onFailure: string }) => {
      const rt = await openRuntime({
        groupFile: o.group,
        env,
        logger: consoleLogger(o.group),
        ...(o.who ? { who: o.who } : {}),
      });
      const abort = new AbortController();
      const onSigint = () => abort.abort();
      process.once('SIGINT', onSigint);
      try {
        const { result, rollback } = await monitorRelease(rt, {
          ...(o.for ? { forText: o.for } : {}),
          ...(o.interval ? { intervalText: o.interval } : {}),
          rollbackOnDegraded: o.onFailure === 'rollback',
          signal: abort.signal,
        });
        console.log(`${result.verdict.toUpperCase()} — ${result.message}`);
        if (rollback)
          console.log(`rollback: ${rollback.status.toUpperCase()} — ${rollback.message}`);
        // unknown is never success: nobody saw the release healthy.
        process.exitCode = result.verdict === 'healthy' ? EXIT.success : EXIT.failure;
      } finally {
        process.off('SIGINT', onSigint);
        await rt.close();
      }
    });

  withGroup(cli.command('status'))
    .description('per target: version running, health, traffic, state, step timings; history')
    .option('--json', 'print JSON for scripts')
    .option('--log <lines>', 'release log lines to show', '10')
    .action(async (o: Common & { json?: boolean; log: string }) => {
      const rt = await openRuntime({
        groupFile: o.group,
        env,
        logger: consoleLogger(o.group, true),
        readOnly: true,
      });
      try {
        const status = await collectStatus(rt.ports, rt.loaded.group, Number(o.log) || 10);
        console.log(o.json ? JSON.stringify(status, null, 2) : renderStatus(status));
      } finally {
        await rt.close();
      }
    });

  registerBuild(cli, env, EXIT_HELP);
  registerScan(cli, env, EXIT_HELP);

  return cli;
}

export async function main(
  argv: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const { argv: args, debug } = takeDebugFlag(argv, env);
  try {
    await program(env).parseAsync(args, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err, { debug, groupFile: groupFileOf(args) });
  }
}

/** Prints an error the one way (see describeError) and returns its exit code. */
export function reportError(
  err: unknown,
  o: { debug: boolean; groupFile?: string | undefined },
): number {
  const { lines, exitCode } = describeError(err, o);
  for (const line of lines) console.error(line);
  return exitCode;
}
