import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';
import schema from '../../schema/group.schema.json';
import { InputError } from '../model/errors';
import type { DeploymentConfig, Group, ServiceSpec } from '../model/types';
import { assertAbsolutePath } from '../model/validate';
import { parseDuration } from '../model/duration';
import { DEFAULT_KEEP_WARM_MS } from '../model/slots';
import { GroupFileError, issue, Problems, sortIssues } from './group-file-issues';
import { inventoryDrafts } from './inventory-targets';
import { buildInventorySpec } from './inventory-source-spec';
import type { InventoryCache } from '../inventory/cache';
import {
  processInventorySources,
  type InventoryOrigin,
  type InventorySources,
} from '../inventory/sources';
import { describeSource } from '../inventory/source';
import { FileInventoryCache } from '../store/file/inventory-cache';
import { parseBatchSizing, parseRatio } from './percent';
import type { Duration, RawGroupFile } from './raw-group-file';
import { describeSchemaErrors } from './schema-errors';
import type { PackageSpec, StoreSpec, TrafficSpec, TransportSpec } from './specs';
import { explicitDraft, finishTargets, notRoot } from './target-drafts';
import { buildTraffic, buildTransport } from './transport-traffic-specs';
import { assertImageRepository, assertPodmanArgs, assertRunArgs } from '../host/image';
import { pathToField, YamlSource } from './yaml-source';
import { parseMonitorSpec, type MonitorSpec } from '../monitor/spec';
import { parseNotifySpec, type NotifySpec } from '../notify/spec';
import { checkCommand, checkExecSize, containerProblem, findNul } from './value-checks';
import { parsePackageStore, targetStoreProblem } from './package-store';

export { GroupFileError, type GroupFileIssue } from './group-file-issues';

/** The JSON Schema of group files (schema/group.schema.json). */
export const GROUP_FILE_SCHEMA = schema;

/** The schema documents the default; the loader takes it from there. */
const DEFAULT_MAX_UNAVAILABLE = schema.properties.deployment.properties.maxUnavailable.default;

export interface LoadedGroup {
  /** Absolute path of the group file. */
  file: string;
  /**
   * With the local transport, each target's docBase is already absolute under the fleet root:
   * `<root>/<host><docBase>`. `group.docBase` stays the path as written.
   */
  group: Group;
  config: DeploymentConfig;
  transport: TransportSpec;
  traffic: TrafficSpec;
  store: StoreSpec;
  package: PackageSpec;
  /** SSH logins an Ansible inventory gave per target id (`ansible_user`, `ansible_port`). */
  sshOverrides?: Record<string, { user?: string; port?: number }>;
  /** The Ansible inventory the targets came from: the file as the group file names it, the command or URL. */
  inventory?: string;
  /**
   * F5, F8: where a command's or URL's answer came from — the source, or the cached copy (and
   * why) when the source is down. status and plan show it; operations record it.
   */
  inventoryOrigin?: InventoryOrigin;
  /** O1–O3: what `rollgate monitor` and the monitor-30m action watch after a release. */
  monitor?: MonitorSpec;
  /** P4: where the events a person acts on are sent (issue 18). */
  notify?: NotifySpec;
}

export interface ParseOptions {
  /** The group file's path, for `LoadedGroup.file` and messages. */
  file?: string;
  /** For `~/` (HOME) and the default SSH user (USER). Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Inventory commands and URLs: breakers and calls in flight. Default: this process's. */
  inventorySources?: InventorySources;
  /** Where their answers are kept. Default: `<store.dir>/.inventory/`. */
  inventoryCache?: InventoryCache;
}

export async function loadGroupFile(
  path: string,
  env: Record<string, string | undefined> = process.env,
  options: Pick<ParseOptions, 'inventorySources' | 'inventoryCache'> = {},
): Promise<LoadedGroup> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(path, `cannot read the group file (${errorCode(error)})`);
  }
  return parseGroupFile(text, dirname(file), { ...options, file, env });
}

/** Parses a group file's text; relative paths in it are taken from `baseDir`. */
export async function parseGroupFile(
  text: string,
  baseDir: string,
  options: ParseOptions = {},
): Promise<LoadedGroup> {
  const dir = resolve(baseDir);
  const file = options.file === undefined ? join(dir, '<group file>') : resolve(options.file);
  const label = basename(file);
  const yaml = YamlSource.parse(text, label);
  const data = yaml.toJS();
  if (data === null || data === undefined) {
    throw new InputError(
      label,
      'line 1: the group file is empty; it needs at least group, docBase, port and service',
    );
  }
  const validate = schemaValidator();
  if (!validate(data)) {
    const issues = describeSchemaErrors(validate.errors ?? [], data).map((problem) =>
      issue(
        pathToField(problem.path) || label,
        problem.message,
        yaml.lineOf(problem.path, problem.atKey),
      ),
    );
    throw new GroupFileError(file, sortIssues(issues));
  }
  return build(data as RawGroupFile, {
    yaml,
    dir,
    file,
    env: options.env ?? process.env,
    sources: options.inventorySources ?? processInventorySources,
    ...(options.inventoryCache ? { cache: options.inventoryCache } : {}),
  });
}

let validator: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  validator ??= new Ajv2020({
    allErrors: true,
    allowUnionTypes: true,
    discriminator: true,
    verbose: true,
  }).compile(schema);
  return validator;
}

interface BuildContext {
  yaml: YamlSource;
  dir: string;
  file: string;
  env: Record<string, string | undefined>;
  sources: InventorySources;
  cache?: InventoryCache;
}

const RESERVED_ENV = ['PORT', 'HOST', 'VERSION'];

async function build(raw: RawGroupFile, ctx: BuildContext): Promise<LoadedGroup> {
  const problems = new Problems(ctx.yaml);
  findNul(raw, [], (path) =>
    problems.add(
      pathToField(path),
      'contains a NUL byte, which no command, file name or HAProxy request can carry: remove it',
      ctx.yaml.lineOf(path),
    ),
  );
  const home = ctx.env.HOME || homedir();
  const local = (path: string): string => resolve(ctx.dir, expandHome(path, home));
  const ms = (field: string, value: Duration | undefined, fallback: Duration, positive = false) => {
    const parsed = problems.guard(() => parseDuration(value ?? fallback, field)) ?? 0;
    if (positive && parsed === 0 && value !== undefined) {
      problems.add(field, 'must be longer than 0');
    }
    return parsed;
  };

  const docBase =
    problems.guard(() => notRoot(assertAbsolutePath(raw.docBase, 'docBase'), 'docBase')) ??
    raw.docBase;
  const healthCheckUrl = raw.healthCheckUrl ?? '/health';
  problems.guard(() => checkHealthUrl(healthCheckUrl));

  const rawService = raw.service ?? {};
  // Without start, only an image group passes the schema: its releases run their image.
  const service: ServiceSpec = {
    start: rawService.start ?? '',
    stopTimeoutMs: ms('service.stopTimeout', rawService.stopTimeout, '10s'),
    env: {},
  };
  if (rawService.stop !== undefined) service.stop = rawService.stop;
  checkCommand('service.start', rawService.start, (f, m) => problems.add(f, m));
  checkCommand('service.stop', rawService.stop, (f, m) => problems.add(f, m));
  for (const [name, value] of Object.entries(rawService.env ?? {})) {
    if (RESERVED_ENV.includes(name)) {
      problems.add(`service.env.${name}`, `${name} is set by rollgate for every target; remove it`);
    }
    service.env[name] = String(value);
  }

  const d = raw.deployment ?? {};
  const sizing = problems.guard(() =>
    parseBatchSizing(d.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE, d.batchPattern),
  );
  const settings: Omit<DeploymentConfig, 'sizing'> = {
    bastionCount: 1,
    waitBetweenBatchesMs: ms('deployment.waitBetweenBatches', d.waitBetweenBatches, '0s'),
    manual: d.manual ?? false,
    startTimeoutMs: ms('deployment.startTimeout', d.startTimeout, '60s', true),
    verifyIntervalMs: ms('deployment.verifyInterval', d.verifyInterval, '200ms', true),
    warmupMs: ms('deployment.warmup', d.warmup, '0s'),
    skipVerify: d.skipVerify ?? false,
    prefetch: d.prefetch ?? true,
  };
  const budget = d.failureBudget;
  if (budget?.perBatch !== undefined || budget?.maxFailures !== undefined) {
    settings.failureBudget = {};
    if (budget.perBatch !== undefined) {
      const perBatch = problems.guard(() =>
        parseRatio(budget.perBatch!, 'deployment.failureBudget.perBatch'),
      );
      if (perBatch !== undefined) settings.failureBudget.perBatch = perBatch;
    }
    if (budget.maxFailures !== undefined) settings.failureBudget.maxFailures = budget.maxFailures;
  }
  const strategy = d.strategy ?? 'in-place';
  if (strategy === 'side-by-side') {
    settings.strategy = strategy;
    settings.keepWarmMs = ms('deployment.keepWarm', d.keepWarm, `${DEFAULT_KEEP_WARM_MS}ms`);
  } else if (d.keepWarm !== undefined) {
    problems.add(
      'deployment.keepWarm',
      'only side-by-side keeps an old slot warm: set deployment.strategy: side-by-side, or remove keepWarm',
    );
  }
  if (d.waitFromBatch3 !== undefined) {
    settings.waitFromBatch3Ms = ms('deployment.waitFromBatch3', d.waitFromBatch3, '0s');
  }

  const transport = buildTransport(raw, ctx.env, problems, local, ms);
  // The opt-out goes into each release's record, so `status` shows it (not only the console).
  if (transport.kind === 'ssh' && transport.insecureIgnoreHostKey) {
    settings.insecureIgnoreHostKey = true;
  }
  const traffic = buildTraffic(raw, problems, local, ms);
  const store: StoreSpec = { kind: 'file', dir: local(raw.store?.dir ?? './.rollgate') };
  const pkg: PackageSpec = {};
  const pkgStore = raw.package ? problems.guard(() => parsePackageStore(raw.package!)) : undefined;
  if (pkgStore) pkg.store = pkgStore;
  else if (raw.package?.source !== undefined) pkg.source = local(raw.package.source);
  const image = raw.package?.image;
  if (image !== undefined) {
    if (raw.package?.source !== undefined || raw.package?.sources !== undefined) {
      problems.add(
        'package.image',
        'a group releases tarballs (package.source) or images (package.image), not both',
      );
    }
    pkg.image = {
      repository:
        problems.guard(() => assertImageRepository(image.repository, 'package.image.repository')) ??
        image.repository,
      tlsVerify: image.tlsVerify ?? true,
      podmanArgs:
        problems.guard(() =>
          assertPodmanArgs(image.podmanArgs ?? [], 'package.image.podmanArgs'),
        ) ?? [],
      runArgs:
        problems.guard(() => assertRunArgs(image.runArgs ?? [], 'package.image.runArgs')) ?? [],
    };
  }

  const inventorySpec = raw.inventory
    ? buildInventorySpec(raw.inventory, { problems, env: ctx.env, dir: ctx.dir, local, ms })
    : null;
  const fromInventory = await inventoryDrafts(raw, inventorySpec, problems, local, {
    sources: ctx.sources,
    cache: ctx.cache ?? new FileInventoryCache(store.dir),
  });
  const drafts = [
    ...(raw.targets ?? []).map((t, i) => explicitDraft(t, i, raw, problems)),
    ...fromInventory.drafts,
  ];
  const finished = finishTargets(drafts);
  const targets = finished.map(({ target }) => target);
  if (pkg.store) {
    for (const { target, draft } of finished) {
      const problem = targetStoreProblem(pkg.store, target);
      if (problem) draft.fail('site', problem);
    }
  }
  if (pkg.image) {
    for (const { target, draft } of finished) {
      const problem = containerProblem(raw.group, target);
      if (problem) draft.fail('address', problem);
    }
  }
  checkExecSize(
    {
      service,
      keep: raw.keep ?? 5,
      targets,
      ssh: transport.kind === 'ssh',
      ...(pkg.image
        ? {
            container: {
              group: raw.group,
              podmanArgs: pkg.image.podmanArgs,
              runArgs: pkg.image.runArgs,
            },
          }
        : {}),
    },
    (f, m) => problems.add(f, m),
  );
  for (const { target, draft } of finished) {
    if (strategy === 'side-by-side' && target.altPort === undefined) {
      draft.fail(
        'altPort',
        'side-by-side needs a second port per target: set altPort for the group (or this target)',
      );
    }
  }
  if (strategy === 'in-place') {
    const unused =
      'only side-by-side uses a second slot: set deployment.strategy: side-by-side, or remove it';
    if (raw.altPort !== undefined) problems.add('altPort', unused);
    (raw.targets ?? []).forEach((t, i) => {
      if (t.altPort !== undefined) problems.add(`targets[${i}].altPort`, unused);
      if (t.altLbName !== undefined) problems.add(`targets[${i}].altLbName`, unused);
    });
  }
  const sshOverrides: NonNullable<LoadedGroup['sshOverrides']> = {};
  for (const { target, draft } of finished) {
    if (draft.sshUser === undefined && draft.sshPort === undefined) continue;
    sshOverrides[target.id] = {
      ...(draft.sshUser !== undefined && { user: draft.sshUser }),
      ...(draft.sshPort !== undefined && { port: draft.sshPort }),
    };
  }

  if (targets.length === 0 && problems.issues.length === 0) {
    problems.add(
      raw.targets === undefined && raw.inventory ? 'inventory.group' : 'targets',
      'the group has no targets: list them under targets, or import them with inventory',
    );
  }

  const bastion = d.bastion ?? 1;
  if (Array.isArray(bastion)) {
    const byId = new Map(targets.map((t) => [t.id, t]));
    bastion.forEach((id, i) => {
      const target = byId.get(id);
      if (!target) {
        const known = targets.map((t) => t.id).join(', ');
        problems.add(
          `deployment.bastion[${i}]`,
          `"${id}" is not a target of this group (${known})`,
        );
      } else if (target.pulledOut) {
        problems.add(
          `deployment.bastion[${i}]`,
          `"${id}" is pulled out (M6) and cannot be the bastion`,
        );
      }
    });
    settings.bastionCount = bastion.length;
    settings.bastionTargets = [...bastion];
  } else {
    settings.bastionCount = bastion;
    if (targets.length > 0 && bastion > targets.length) {
      problems.add(
        'deployment.bastion',
        `${bastion} bastion hosts, but the group has only ${targets.length} targets`,
      );
    }
  }

  // Checked with the rest: an invalid monitor section is refused, never dropped.
  const monitor =
    raw.monitor === undefined ? undefined : problems.guard(() => parseMonitorSpec(raw.monitor));
  const notify =
    raw.notify === undefined ? undefined : problems.guard(() => parseNotifySpec(raw.notify));

  const [first, ...rest] = sortIssues(problems.issues);
  if (first) throw new GroupFileError(ctx.file, [first, ...rest]);
  // A guard that came back empty recorded a problem, thrown just above.
  const config: DeploymentConfig = { sizing: sizing!, ...settings };

  if (transport.kind === 'local') {
    for (const target of targets)
      target.docBase = join(transport.root, target.host, target.docBase);
  }
  const group: Group = {
    name: raw.group,
    path: raw.path ?? '/',
    docBase,
    port: raw.port,
    healthCheckUrl,
    keep: raw.keep ?? 5,
    service,
    targets,
  };
  if (raw.site !== undefined) group.site = raw.site;
  return {
    file: ctx.file,
    group,
    config,
    transport,
    traffic,
    store,
    package: pkg,
    sshOverrides,
    ...(inventorySpec
      ? {
          inventory:
            inventorySpec.kind === 'file'
              ? inventorySpec.file
              : describeSource(inventorySpec.source),
        }
      : {}),
    ...(fromInventory.origin ? { inventoryOrigin: fromInventory.origin } : {}),
    ...(monitor ? { monitor } : {}),
    ...(notify ? { notify } : {}),
  };
}

function checkHealthUrl(url: string): void {
  if (url.startsWith('/')) return;
  const field = 'healthCheckUrl';
  if (!url.includes('{address}')) {
    throw new InputError(
      field,
      `"${url}" must contain {address}, so that each target is checked on its own`,
    );
  }
  try {
    const parsed = new URL(url.replaceAll('{address}', '127.0.0.1').replaceAll('{port}', '1'));
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new InputError(field, `"${url}" is not an http(s) URL`);
  }
}

function expandHome(path: string, home: string): string {
  if (path === '~') return home;
  return path.startsWith('~/') ? join(home, path.slice(2)) : path;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}
