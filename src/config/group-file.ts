import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';
import schema from '../../schema/group.schema.json';
import { InputError } from '../model/errors';
import type { BatchSizing, DeploymentConfig, Group, ServiceSpec, Target } from '../model/types';
import { assertAbsolutePath, assertHost, assertTargetId, isHost } from '../model/validate';
import {
  readInventory,
  toInventoryHosts,
  type InventoryFormat,
  type InventoryHost,
} from './ansible-inventory';
import { parseDuration } from '../model/duration';
import { DEFAULT_MAX_UNAVAILABLE, parseBatchSizing } from './percent';
import { describeSchemaErrors } from './schema-errors';
import type { PackageSpec, StoreSpec, TrafficSpec, TransportSpec } from './specs';
import { assertImageRepository, assertPodmanArgs, assertRunArgs } from '../host/image';
import { fieldToPath, pathToField, YamlSource } from './yaml-source';
import { parseMonitorSpec, type MonitorSpec } from '../monitor/spec';
import {
  checkCommand,
  checkExecSize,
  containerProblem,
  findNul,
  lbNameProblem,
} from './value-checks';

/** The JSON Schema of group files (schema/group.schema.json). */
export const GROUP_FILE_SCHEMA = schema;

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
  /** The Ansible inventory file the targets came from, as the group file names it. */
  inventory?: string;
  /** O1–O3: what `rollgate monitor` and the monitor-30m action watch after a release. */
  monitor?: MonitorSpec;
}

export interface GroupFileIssue {
  /** Dotted path: `deployment.maxUnavailable`, `targets[2].address`. */
  field: string;
  line?: number;
  message: string;
}

/** Every problem found in a group file; `field` and the first line of the message are the first one's. */
export class GroupFileError extends InputError {
  constructor(
    readonly file: string,
    readonly issues: readonly [GroupFileIssue, ...GroupFileIssue[]],
  ) {
    const [first, ...rest] = issues;
    super(
      first.field,
      [withLine(first), ...rest.map((issue) => `  ${issue.field}: ${withLine(issue)}`)].join('\n'),
    );
  }
}

function withLine(issue: GroupFileIssue): string {
  return issue.line === undefined ? issue.message : `line ${issue.line}: ${issue.message}`;
}

export interface ParseOptions {
  /** The group file's path, for `LoadedGroup.file` and messages. */
  file?: string;
  /** For `~/` (HOME) and the default SSH user (USER). Default: process.env. */
  env?: Record<string, string | undefined>;
}

export async function loadGroupFile(
  path: string,
  env: Record<string, string | undefined> = process.env,
): Promise<LoadedGroup> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(path, `cannot read the group file (${errorCode(error)})`);
  }
  return parseGroupFile(text, dirname(file), { file, env });
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

type Duration = string | number;

interface RawTarget {
  host: string;
  address?: string;
  port?: number;
  docBase?: string;
  id?: string;
  pulledOut?: boolean;
  lbName?: string;
}

interface RawGroupFile {
  group: string;
  monitor?: unknown;
  site?: string;
  path?: string;
  docBase: string;
  port: number;
  healthCheckUrl?: string;
  keep?: number;
  service?: {
    start?: string;
    stop?: string;
    stopTimeout?: Duration;
    env?: Record<string, string | number | boolean>;
  };
  package?: {
    source?: string;
    image?: { repository: string; tlsVerify?: boolean; podmanArgs?: unknown; runArgs?: unknown };
  };
  deployment?: {
    maxUnavailable?: string | number;
    batchPattern?: string | Array<string | number>;
    bastion?: number | string[];
    waitBetweenBatches?: Duration;
    waitFromBatch3?: Duration;
    manual?: boolean;
    startTimeout?: Duration;
    verifyInterval?: Duration;
    warmup?: Duration;
    skipVerify?: boolean;
    prefetch?: boolean;
  };
  transport?:
    | { kind: 'local'; root?: string }
    | {
        kind: 'ssh';
        user?: string;
        port?: number;
        privateKeyFile?: string;
        privateKeyEnv?: string;
        agent?: boolean;
        knownHostsFile?: string;
        insecureIgnoreHostKey?: boolean;
        jumpHost?: { host: string; port?: number; user?: string };
        maxChannelsPerHost?: number;
        maxConnecting?: number;
        connectTimeout?: Duration;
      };
  traffic?: (
    | { kind: 'none' }
    | { kind: 'haproxy'; sockets: string[]; backend: string; drainTimeout?: Duration }
    | { kind: 'command'; markdown: string; markup: string; status?: string; timeout?: Duration }
  ) & { degraded?: boolean };
  store?: { kind?: 'file'; dir?: string };
  targets?: RawTarget[];
  inventory?: { file: string; format?: InventoryFormat; group?: string; pulledOutVar?: string };
}

interface BuildContext {
  yaml: YamlSource;
  dir: string;
  file: string;
  env: Record<string, string | undefined>;
}

const RESERVED_ENV = ['PORT', 'HOST', 'VERSION'];
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

/** Collects problems with their lines so that one run reports all of them. */
class Problems {
  readonly issues: GroupFileIssue[] = [];

  constructor(private readonly yaml: YamlSource) {}

  add(field: string, message: string, line = this.yaml.lineOf(fieldToPath(field))): void {
    this.issues.push(issue(field, message, line));
  }

  /** Runs `fn`; an InputError from it is recorded against its own field. */
  guard<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      this.add(error.field, bareMessage(error));
      return undefined;
    }
  }
}

/** A target before ids are given out: from `targets` or from the inventory. */
interface Draft {
  host: string;
  address: string;
  port: number;
  docBase: string;
  id?: string;
  pulledOut: boolean;
  lbName?: string;
  sshUser?: string;
  sshPort?: number;
  /** `targets[2]` or `hosts.ini:4 (web-01)`, for messages about other targets. */
  label: string;
  /** Where the address came from, for messages: `address` or `ansible_host`. */
  addressFrom: string;
  fromInventory: boolean;
  fail(key: keyof RawTarget | undefined, message: string): void;
}

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
  const sizing: BatchSizing = problems.guard(() =>
    parseBatchSizing(d.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE, d.batchPattern),
  ) ?? { kind: 'ratio', maxUnavailable: 0.25 };
  const config: DeploymentConfig = {
    sizing,
    bastionCount: 1,
    waitBetweenBatchesMs: ms('deployment.waitBetweenBatches', d.waitBetweenBatches, '0s'),
    manual: d.manual ?? false,
    startTimeoutMs: ms('deployment.startTimeout', d.startTimeout, '60s', true),
    verifyIntervalMs: ms('deployment.verifyInterval', d.verifyInterval, '200ms', true),
    warmupMs: ms('deployment.warmup', d.warmup, '0s'),
    skipVerify: d.skipVerify ?? false,
    prefetch: d.prefetch ?? true,
  };
  if (d.waitFromBatch3 !== undefined) {
    config.waitFromBatch3Ms = ms('deployment.waitFromBatch3', d.waitFromBatch3, '0s');
  }

  const transport = buildTransport(raw, ctx, problems, local, ms);
  // The opt-out goes into each release's record, so `status` shows it (not only the console).
  if (transport.kind === 'ssh' && transport.insecureIgnoreHostKey) {
    config.insecureIgnoreHostKey = true;
  }
  const traffic = buildTraffic(raw, problems, local, ms);
  const store: StoreSpec = { kind: 'file', dir: local(raw.store?.dir ?? './.rollgate') };
  const pkg: PackageSpec = {};
  if (raw.package?.source !== undefined) pkg.source = local(raw.package.source);
  const image = raw.package?.image;
  if (image !== undefined) {
    if (raw.package?.source !== undefined) {
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

  const drafts = [
    ...(raw.targets ?? []).map((t, i) => explicitDraft(t, i, raw, problems)),
    ...(await inventoryDrafts(raw, problems, local)),
  ];
  const finished = finishTargets(drafts);
  const targets = finished.map(({ target }) => target);
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
    config.bastionCount = bastion.length;
    config.bastionTargets = [...bastion];
  } else {
    config.bastionCount = bastion;
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

  const [first, ...rest] = sortIssues(problems.issues);
  if (first) throw new GroupFileError(ctx.file, [first, ...rest]);

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
    ...(raw.inventory ? { inventory: raw.inventory.file } : {}),
    ...(monitor ? { monitor } : {}),
  };
}

type Ms = (
  field: string,
  value: Duration | undefined,
  fallback: Duration,
  positive?: boolean,
) => number;

function buildTransport(
  raw: RawGroupFile,
  ctx: BuildContext,
  problems: Problems,
  local: (path: string) => string,
  ms: Ms,
): TransportSpec {
  const t = raw.transport ?? { kind: 'local' };
  if (t.kind === 'local') return { kind: 'local', root: local(t.root ?? './.fleet') };

  let user = t.user ?? ctx.env.USER ?? ctx.env.LOGNAME ?? '';
  if (user === '') {
    problems.add(
      'transport.user',
      'is required: there is no USER in the environment to default to',
    );
  } else if (!USER_NAME.test(user)) {
    problems.add(
      'transport.user',
      `"${user}" (from USER) is not a valid user name; set transport.user`,
    );
    user = '';
  }
  const spec: TransportSpec = {
    kind: 'ssh',
    user,
    port: t.port ?? 22,
    insecureIgnoreHostKey: t.insecureIgnoreHostKey ?? false,
    maxChannelsPerHost: t.maxChannelsPerHost ?? 8,
    maxConnecting: t.maxConnecting ?? 8,
    connectTimeoutMs: ms('transport.connectTimeout', t.connectTimeout, '10s', true),
  };
  if (t.privateKeyFile !== undefined) spec.privateKeyFile = local(t.privateKeyFile);
  if (t.privateKeyEnv !== undefined) spec.privateKeyEnv = t.privateKeyEnv;
  if (t.agent !== undefined) spec.agent = t.agent;
  if (t.knownHostsFile !== undefined) spec.knownHostsFile = local(t.knownHostsFile);
  if (t.jumpHost !== undefined) {
    const jump = t.jumpHost;
    problems.guard(() => assertHost(jump.host, 'transport.jumpHost.host'));
    spec.jumpHost = { host: jump.host, port: jump.port ?? 22, user: jump.user ?? user };
  }
  return spec;
}

function buildTraffic(
  raw: RawGroupFile,
  problems: Problems,
  local: (path: string) => string,
  ms: Ms,
): TrafficSpec {
  const t = raw.traffic ?? { kind: 'none' };
  const degraded = t.degraded ?? false;
  switch (t.kind) {
    case 'none':
      return { kind: 'none', degraded };
    case 'haproxy':
      return {
        kind: 'haproxy',
        sockets: t.sockets.map((socket, i) => {
          if (socket.startsWith('unix:')) return `unix:${local(socket.slice('unix:'.length))}`;
          const port = Number(socket.slice(socket.lastIndexOf(':') + 1));
          if (port < 1 || port > 65535) {
            problems.add(`traffic.sockets[${i}]`, `"${socket}": the port must be 1 to 65535`);
          }
          return socket;
        }),
        backend: t.backend,
        drainTimeoutMs: ms('traffic.drainTimeout', t.drainTimeout, '30s'),
        degraded,
      };
    case 'command': {
      for (const key of ['markdown', 'markup', 'status'] as const) {
        checkCommand(`traffic.${key}`, t[key], (f, m) => problems.add(f, m));
      }
      const spec: TrafficSpec = {
        kind: 'command',
        markdown: t.markdown,
        markup: t.markup,
        timeoutMs: ms('traffic.timeout', t.timeout, '30s', true),
        degraded,
      };
      if (t.status !== undefined) spec.status = t.status;
      return spec;
    }
  }
}

function explicitDraft(t: RawTarget, index: number, raw: RawGroupFile, problems: Problems): Draft {
  const draft: Draft = {
    host: t.host,
    address: t.address ?? t.host,
    port: t.port ?? raw.port,
    docBase: t.docBase ?? raw.docBase,
    pulledOut: t.pulledOut ?? false,
    label: `targets[${index}]`,
    addressFrom: 'address',
    fromInventory: false,
    fail: (key, message) =>
      problems.add(key === undefined ? `targets[${index}]` : `targets[${index}].${key}`, message),
  };
  if (t.id !== undefined) draft.id = t.id;
  if (t.lbName !== undefined) draft.lbName = t.lbName;
  return draft;
}

const INVENTORY_VAR: Partial<Record<keyof RawTarget, string>> = {
  host: 'host name',
  address: 'ansible_host',
  port: 'rollgate_port',
  docBase: 'rollgate_doc_base',
  lbName: 'rollgate_lb_name',
};

async function inventoryDrafts(
  raw: RawGroupFile,
  problems: Problems,
  local: (path: string) => string,
): Promise<Draft[]> {
  const inventory = raw.inventory;
  if (!inventory) return [];
  const file = local(inventory.file);
  const source = basename(file);
  const groupName = inventory.group ?? 'all';
  let entries;
  try {
    entries = (await readInventory(file, inventory.format)).hostsOf(groupName);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    problems.add(error.field, bareMessage(error));
    return [];
  }
  if (entries.length === 0) {
    problems.add('inventory.group', `group "${groupName}" in ${source} has no hosts`);
    return [];
  }
  return toInventoryHosts(entries, inventory.pulledOutVar).map((host) =>
    inventoryDraft(host, source, raw, problems),
  );
}

function inventoryDraft(
  host: InventoryHost,
  source: string,
  raw: RawGroupFile,
  problems: Problems,
): Draft {
  const label = `${source}${host.line === undefined ? '' : `:${host.line}`} (${host.host})`;
  const fail = (key: keyof RawTarget | undefined, message: string): void => {
    const what = key === undefined ? '' : `${INVENTORY_VAR[key] ?? key} `;
    problems.add('inventory.file', `${label}: ${what}${message}`);
  };
  const draft: Draft = {
    host: host.host,
    address: host.address,
    port: host.port ?? raw.port,
    docBase: host.docBase ?? raw.docBase,
    pulledOut: host.pulledOut,
    label,
    addressFrom: host.address === host.host ? 'the inventory name' : 'ansible_host',
    fromInventory: true,
    fail,
  };
  for (const problem of host.problems) problems.add('inventory.file', `${label}: ${problem}`);
  if (host.lbName !== undefined) draft.lbName = host.lbName;
  if (host.sshUser !== undefined) {
    if (USER_NAME.test(host.sshUser)) draft.sshUser = host.sshUser;
    else
      problems.add(
        'inventory.file',
        `${label}: ansible_user "${host.sshUser}" is not a valid user name`,
      );
  }
  if (host.sshPort !== undefined) draft.sshPort = host.sshPort;
  return draft;
}

/** Checks each draft, gives out ids (host, or host:port when a host has several) and finds clashes. */
function finishTargets(drafts: readonly Draft[]): Array<{ target: Target; draft: Draft }> {
  const check = (draft: Draft, key: keyof RawTarget, fn: (field: string) => void): boolean => {
    try {
      fn(key);
      return true;
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      draft.fail(key, bareMessage(error));
      return false;
    }
  };
  const perHost = new Map<string, number>();
  for (const draft of drafts) perHost.set(draft.host, (perHost.get(draft.host) ?? 0) + 1);

  const ids = new Map<string, Draft>();
  const places = new Map<string, Draft>();
  const endpoints = new Map<string, Draft>();
  const finished: Array<{ target: Target; draft: Draft }> = [];
  for (const draft of drafts) {
    const ok =
      check(draft, 'host', (f) => {
        if (draft.fromInventory && !isHost(draft.host)) {
          throw new InputError(
            f,
            `"${draft.host}" is not a valid host name or address: Ansible accepts any text as ` +
              'an inventory name, but rollgate names the target after it and records it; use ' +
              'letters, digits and . _ - (and put the address in ansible_host)',
          );
        }
        assertHost(draft.host, f);
      }) &&
      check(draft, 'address', (f) => assertHost(draft.address, f)) &&
      check(draft, 'docBase', (f) => {
        draft.docBase = notRoot(assertAbsolutePath(draft.docBase, f), f);
      }) &&
      (draft.id === undefined || check(draft, 'id', (f) => assertTargetId(draft.id!, f))) &&
      (draft.lbName === undefined ||
        check(draft, 'lbName', (f) => {
          const problem = lbNameProblem(draft.lbName!);
          if (problem) throw new InputError(f, problem);
        }));
    if (!ok) continue;

    const shared = (perHost.get(draft.host) ?? 0) > 1;
    const id = draft.id ?? (shared ? `${draft.host}:${draft.port}` : draft.host);
    const sameId = ids.get(id);
    if (sameId) {
      const hint =
        draft.id === undefined && shared
          ? `; give each instance on ${draft.host} its own port, or an id`
          : '';
      draft.fail(
        draft.id === undefined ? undefined : 'id',
        `id "${id}" is already used by ${sameId.label}${hint}`,
      );
      continue;
    }
    ids.set(id, draft);

    const place = `${draft.host}\0${draft.docBase}`;
    const samePlace = places.get(place);
    if (samePlace) {
      draft.fail(
        'docBase',
        `${draft.docBase} on ${draft.host} is already used by ${samePlace.label}; give each instance on one host its own docBase`,
      );
      continue;
    }
    places.set(place, draft);

    const endpoint = `${draft.address}:${draft.port}`;
    const sameEndpoint = endpoints.get(endpoint);
    if (sameEndpoint) {
      if (draft.fromInventory) {
        draft.fail(
          undefined,
          `${draft.host} and ${sameEndpoint.label} both reach ${draft.address} (${draft.addressFrom}) ` +
            `on app port ${draft.port}: two targets cannot share one address and port. Give each ` +
            'its own rollgate_port (and rollgate_doc_base), or list the machine once',
        );
      } else {
        draft.fail('port', `${endpoint} is already used by ${sameEndpoint.label}`);
      }
      continue;
    }
    endpoints.set(endpoint, draft);

    const target: Target = {
      id,
      host: draft.host,
      address: draft.address,
      port: draft.port,
      docBase: draft.docBase,
      pulledOut: draft.pulledOut,
    };
    if (draft.lbName !== undefined) target.lbName = draft.lbName;
    finished.push({ target, draft });
  }
  return finished;
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

function notRoot(path: string, field: string): string {
  if (path === '/')
    throw new InputError(field, 'must not be / itself: give the application its own directory');
  return path;
}

function expandHome(path: string, home: string): string {
  if (path === '~') return home;
  return path.startsWith('~/') ? join(home, path.slice(2)) : path;
}

function issue(field: string, message: string, line: number | undefined): GroupFileIssue {
  return line === undefined ? { field, message } : { field, line, message };
}

function sortIssues(issues: GroupFileIssue[]): [GroupFileIssue, ...GroupFileIssue[]] {
  const sorted = [...issues].sort(
    (a, b) =>
      (a.line ?? Infinity) - (b.line ?? Infinity) ||
      a.field.localeCompare(b.field) ||
      a.message.localeCompare(b.message, 'en', { numeric: true }),
  );
  return sorted as [GroupFileIssue, ...GroupFileIssue[]];
}

/** An InputError's message without the `field: ` prefix its constructor adds. */
function bareMessage(error: InputError): string {
  const prefix = `${error.field}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}
