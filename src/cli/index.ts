import { Command, Option } from 'commander';
import { EXIT, GROUP_FILE } from '../model/errors';
import { formatMs } from '../model/text';
import type { RunResult } from '../engine/engine';
import type { ReleaseLogger } from '../engine/ports';
import { renderPlan } from '../report/plan';
import { collectStatus } from '../report/collect';
import { renderStatus } from '../report/status';
import { renderReconcile } from '../report/reconcile';
import { loadGroupFile } from '../config/group-file';
import { defaultWho, openRuntime, resolvePackage, type Runtime } from '../app/runtime';
import { runPlan } from '../app/plan';
import { RollgateCommand } from './command';
import { progressLine, track, type InFlight } from './progress';
import { monitorRelease } from '../app/monitor';
import { registerBuild } from './build/register';
import { fileVerdictSource, gatePackage } from '../app/gate';
import { registerScan } from './scan/register';
import { registerPack } from './pack';
import { groupFileOf, takeDebugFlag } from './errors';
import { describeError } from '../report/error';
import { runPageShell } from './serve';
import { inventoryLine } from '../inventory/sources';

/**
 * stdout carries what the command is for: an operation's release log (failures included, so
 * `> out.txt` keeps every line), or a read-only command's table or JSON — and for those nothing
 * else, so `--json` is exactly one document. Warnings go to stderr; connection chatter only
 * with --verbose.
 */
export function cliLogger(
  o: { verbose?: boolean; readOnly?: boolean; groupFile?: string } = {},
): ReleaseLogger {
  // The store's messages stand `<group file>` for the path; name the one the person gave.
  const named = (l: string) => (o.groupFile ? l.replaceAll(GROUP_FILE, o.groupFile) : l);
  // On a terminal, a progress line shows the steps in flight while nothing else prints.
  const tty = !o.readOnly && process.stderr.isTTY === true;
  const flight: InFlight = { running: new Map() };
  let shown = false;
  const clear = () => {
    if (shown) process.stderr.write('\r\x1b[K');
    shown = false;
  };
  if (tty) {
    setInterval(() => {
      const line = progressLine(
        flight,
        Date.now(),
        Math.max(40, (process.stderr.columns || 100) - 1),
      );
      clear();
      if (line) process.stderr.write(line);
      shown = line !== '';
    }, 1000).unref();
  }
  const out = (l: string) => (clear(), console.log(named(l)));
  const err = (l: string) => (clear(), console.error(named(l)));
  return {
    debug: o.verbose ? err : () => undefined,
    info: o.readOnly ? err : out,
    warn: err,
    error: err,
    // A read-only page or a JSON document owns stdout: its log lines (reconcile's) go to stderr.
    event: (e, line) => {
      // A read-only page (`reconcile --json`) keeps stdout for its one document.
      (o.readOnly ? err : out)(line);
      if (tty) track(flight, e, Date.now());
    },
  };
}

const ROLLGATE_VERSION = '0.1.0';

const EXIT_HELP = `
Exit codes: 0 success · 1 failure · 2 bad input · 3 waiting (for bake, continue, or braked) · 4 aborted · 5 busy (locked)`;

interface Common {
  group: string;
  who?: string;
  notifyLink?: string;
  environment?: string;
  degrade?: string[];
  verbose?: boolean;
}

function program(env: Record<string, string | undefined>): Command {
  const cli = new RollgateCommand('rollgate')
    .description(
      'Progressive releases to a fleet: bastion first, bake, batches with a brake, retry, rollback.',
    )
    // `--version` on deploy and plan is the release's version; rollgate's own is -V
    // (a bare `rollgate --version` still answers it, see main).
    .version(
      ROLLGATE_VERSION,
      '-V, --rollgate-version',
      "print rollgate's own version (a release's version is deploy/plan --version)",
    )
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
      .option('--verbose', 'also print connection details (on stderr)')
      .addHelpText('after', EXIT_HELP);
  // Operations are recorded with who ran them; read-only commands (plan, status) record nothing.
  const operation = (c: Command) =>
    withGroup(c)
      .option(
        '--who <name>',
        'who runs this, for the record (default: user@host, or $ROLLGATE_WHO)',
      )
      .option(
        '--notify-link <url>',
        'the link in notifications: the page or the job (default: the group file notify.link)',
      )
      .option(
        '--environment <name>',
        'the environment notifications name (default: the group file notify.environment)',
      );
  // Notifications name the environment and link to the page or the job (group file notify).
  const notifying = (o: Common) => ({
    ...(o.notifyLink ? { notifyLink: o.notifyLink } : {}),
    ...(o.environment ? { environment: o.environment } : {}),
  });
  const withDegrade = (c: Command) =>
    c.addOption(
      new Option(
        '--degrade <system...>',
        'go on without an outside system (recorded): lb — in-place groups only (side-by-side switches hosts through the load balancer and refuses it)',
      ).choices(['lb']),
    );

  const run = async (o: Common, op: (rt: Runtime) => Promise<RunResult | null>) => {
    const rt = await openRuntime({
      groupFile: o.group,
      env,
      logger: cliLogger({ verbose: o.verbose === true, groupFile: o.group }),
      ...(o.who ? { who: o.who } : {}),
      ...notifying(o),
      ...(o.degrade ? { degrade: o.degrade } : {}),
    });
    const started = Date.now();
    // Ctrl-C once: soft stop. Twice: hard stop, the record saved. Three times: out at once.
    let presses = 0;
    const onSigint = () => {
      presses += 1;
      if (presses === 1) {
        console.error(
          'stopping: no target starts or leaves traffic any more; targets out of traffic finish their chain (Ctrl-C again to stop at once)',
        );
        rt.engine.requestStop(`${rt.who} (Ctrl-C)`);
      } else if (presses === 2) {
        console.error(
          'stopping at once: steps in flight are cut and recorded as interrupted; saving the record (Ctrl-C again to quit without waiting)',
        );
        rt.engine.abort(`${rt.who} (Ctrl-C twice)`);
      } else {
        console.error(
          `rollgate: quit at once; the record may lag what the hosts did: \`rollgate status -g ${o.group}\` shows each target and its way back`,
        );
        process.exit(EXIT.aborted);
      }
    };
    const onSigterm = () => {
      console.error('SIGTERM: stopping at once; saving the record');
      rt.engine.abort(`${rt.who} (SIGTERM)`);
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    try {
      const result = await op(rt);
      if (result) {
        console.log(
          `${result.status.toUpperCase()} — ${result.message} (${formatMs(Date.now() - started)})`,
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
      process.off('SIGTERM', onSigterm);
      await rt.close();
    }
  };

  withGroup(cli.command('plan'))
    .description(
      "show the batches, the capacity kept and the expected time after deploy's own checks (package, image scan gate, addresses, quarantine); connects to nothing",
    )
    .requiredOption('--version <version>', 'version to plan')
    .option('--package <file>', 'package tarball (default: the group file package.source)')
    .option('--image <ref>', 'image pinned by digest (groups with package.image)')
    .option('--override-scan <reason>', 'as deploy: an image whose scan did not pass goes out')
    .option('--force', 'as deploy: a version an earlier rollback quarantined')
    .option('--json', 'print JSON for scripts')
    .action(
      async (
        o: Common & {
          version: string;
          package?: string;
          image?: string;
          overrideScan?: string;
          force?: boolean;
          json?: boolean;
        },
      ) => {
        const loaded = await loadGroupFile(o.group, env);
        const report = await runPlan(
          loaded,
          {
            version: o.version,
            ...(o.package !== undefined ? { package: o.package } : {}),
            ...(o.image !== undefined ? { image: o.image } : {}),
            ...(o.overrideScan !== undefined ? { overrideScan: o.overrideScan } : {}),
            force: o.force === true,
            who: defaultWho(env),
          },
          cliLogger({ readOnly: true, groupFile: o.group }),
        );
        console.log(o.json ? JSON.stringify(report, null, 2) : renderPlan(report));
      },
    );

  withDegrade(operation(cli.command('deploy')))
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
          const source = fileVerdictSource(rt.loaded.store.dir);
          const override =
            o.overrideScan !== undefined ? { reason: o.overrideScan, by: rt.who } : undefined;
          return rt.engine.deploy({
            version: o.version,
            package: await gatePackage(pkg, source, override),
            force: o.force === true,
          });
        }),
    );

  withDegrade(operation(cli.command('bake')))
    .description('put the verified bastion into traffic (BAKE_SUCCESS)')
    .action((o: Common) => run(o, (rt) => rt.engine.bake()));

  withDegrade(operation(cli.command('continue')))
    .description('roll out the other batches: after the bake, a brake, a pause or a killed run')
    .action((o: Common) => run(o, (rt) => rt.engine.continue()));

  withDegrade(operation(cli.command('retry')))
    .description(
      're-run failed targets only; targets already on the version and healthy are skipped',
    )
    .action((o: Common) => run(o, (rt) => rt.engine.retry()));

  operation(cli.command('stop'))
    .description(
      'abort the release: a running rollgate starts no more targets (those out of traffic finish their chain); otherwise ABORTED at once, host locks released',
    )
    .action((o: Common) => run(o, (rt) => rt.engine.stop()));

  operation(cli.command('reconcile'))
    .description(
      'compare host truth, the load balancer and the record: put verified hosts back in traffic, release dead host locks, report drift; never changes versions',
    )
    .option('--dry-run', 'say what it would do; change nothing')
    .option('--json', 'print one JSON document')
    .action(async (o: Common & { dryRun?: boolean; json?: boolean }) => {
      const rt = await openRuntime({
        groupFile: o.group,
        env,
        logger: cliLogger({
          verbose: o.verbose === true,
          readOnly: o.json === true,
          groupFile: o.group,
        }),
        ...(o.who ? { who: o.who } : {}),
        ...notifying(o),
      });
      try {
        const report = await rt.engine.reconcile({ dryRun: o.dryRun === true });
        console.log(o.json ? JSON.stringify(report, null, 2) : renderReconcile(report));
        process.exitCode = report.ok ? EXIT.success : EXIT.failure;
      } finally {
        await rt.close();
      }
    });

  withDegrade(operation(cli.command('rollback')))
    .description('back to the last successful version: no bastion, 50% batches, no download')
    .action((o: Common) => run(o, (rt) => rt.engine.rollback()));

  operation(cli.command('monitor'))
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
        logger: cliLogger({ verbose: o.verbose === true, groupFile: o.group }),
        ...(o.who ? { who: o.who } : {}),
        ...notifying(o),
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
        logger: cliLogger({ verbose: o.verbose === true, readOnly: true, groupFile: o.group }),
        readOnly: true,
      });
      try {
        const origin = rt.loaded.inventoryOrigin;
        const status = await collectStatus(rt.ports, rt.loaded.group, Number(o.log) || 10, {
          groupFile: o.group,
          ...(origin ? { inventory: inventoryLine(origin) } : {}),
        });
        console.log(o.json ? JSON.stringify(status, null, 2) : renderStatus(status));
      } finally {
        await rt.close();
      }
    });

  cli
    .command('serve')
    .description(
      'the live page over every group of a store or repository: --store <dir>, -g <group file>…, --github <owner/repo>, --allow-operations (see --help)',
    )
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async (args: string[]) => {
      process.exitCode = await runPageShell(args);
    });

  cli
    .command('page')
    .description(
      'the page of `serve` as static files, read-only: --out <dir> (--store <dir> | -g <group file>…) (see --help)',
    )
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async (args: string[]) => {
      process.exitCode = await runPageShell(['page', ...args]);
    });

  registerBuild(cli, env, EXIT_HELP);
  registerScan(cli, env, EXIT_HELP);
  registerPack(cli, env, EXIT_HELP);

  return cli;
}

export async function main(
  argv: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const taken = takeDebugFlag(argv, env);
  const debug = taken.debug;
  // A bare `rollgate --version` answers rollgate's own version (-V); see program().
  const args = taken.argv.length === 1 && taken.argv[0] === '--version' ? ['-V'] : taken.argv;
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
