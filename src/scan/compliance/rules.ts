import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import type { Clock } from '../../model/clock';
import { InputError } from '../../model/errors';
import {
  matchesRepositoryPattern,
  parseImageReference,
  type ImageReference,
} from '../../registry/reference';
import {
  readImage,
  RegistryClient,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type RegistryImage,
} from '../../registry/client';
import {
  looksText,
  redactText,
  secretFileKind,
  secretInAssignment,
  secretsInText,
  skipPath,
} from './secrets';
import { readTar } from './tar';

/**
 * Image compliance (B4), read from the registry — the image as it will run, not the build's
 * intentions: the manifest, the config and every layer.
 *
 *  - non-root: the process does not run as root;
 *  - no-secrets: no passwords, tokens or keys in the environment, the labels or any layer's
 *    files (a file deleted in a later layer is still in the image);
 *  - base-image: the base image is on the allowed list and pinned by digest;
 *  - no-privileged: the group's container run options ask for no privileges.
 *
 * Each rule is `fail`, `warn` or `off`; each finding names the rule, the layer and the fix.
 */

export type RuleId = 'non-root' | 'no-secrets' | 'base-image' | 'no-privileged';
export type RuleMode = 'fail' | 'warn' | 'off';

export const RULES: Record<RuleId, { title: string; help: string }> = {
  'non-root': {
    title: 'The process does not run as root',
    help: 'A process that breaks out of a container as uid 0 is root on the host (without user namespaces).',
  },
  'no-secrets': {
    title: 'No passwords, tokens or keys in the image',
    help: 'Anyone who can pull the image can read its environment, labels and every layer.',
  },
  'base-image': {
    title: 'Base image allowed and pinned by digest',
    help: 'Bases come from trusted sources; a digest pins exactly what was reviewed.',
  },
  'no-privileged': {
    title: 'No privileged run options',
    help: 'Privileged containers, added capabilities and host namespaces hand the host to the app.',
  },
};

export const RULE_IDS = Object.keys(RULES) as RuleId[];

/** How the group runs the container (from its group file), checked by no-privileged. */
export interface ContainerRunSpec {
  privileged?: boolean;
  capAdd?: string[];
  securityOpt?: string[];
  user?: string;
  network?: string;
  pid?: string;
  ipc?: string;
  userns?: string;
  devices?: string[];
  /** `host:container[:opts]` */
  volumes?: string[];
  /** Raw `docker run` / `podman run` options, checked for the same things. */
  args?: string[];
}

export interface CompliancePolicy {
  /** Mode per rule (default fail for every rule). */
  rules?: Partial<Record<RuleId, RuleMode>>;
  /** Allowed base repositories: `registry/repo`, `registry/ns/*`, `registry/ns/**`. */
  allowedBases?: string[];
  runSpec?: ContainerRunSpec;
  /** Files larger than this are listed by name only (default 1 MiB). */
  maxFileBytes?: number;
  /** Paths (regular expressions) not to read, e.g. test fixtures with fake keys. */
  ignorePaths?: string[];
}

export interface ComplianceFinding {
  rule: RuleId;
  level: 'fail' | 'warn';
  message: string;
  /** Where: `layer 3/7 sha256:… (COPY … in /app)`, `image config (ENV …)`, `run spec`. */
  layer: string;
  layerDigest?: string;
  path?: string;
  fix: string;
}

export interface ComplianceResult {
  image: string;
  digest: string;
  findings: ComplianceFinding[];
  /** Rules that ran (not off). */
  checked: RuleId[];
  passed: boolean;
  stats: { layers: number; files: number; filesRead: number; bytes: number; ms: number };
}

export function ruleModes(policy: CompliancePolicy): Record<RuleId, RuleMode> {
  const out = {} as Record<RuleId, RuleMode>;
  for (const id of RULE_IDS) {
    const mode = policy.rules?.[id] ?? 'fail';
    if (!['fail', 'warn', 'off'].includes(mode)) {
      throw new InputError(`rules.${id}`, `"${String(mode)}" is not fail, warn or off`);
    }
    out[id] = mode;
  }
  for (const id of Object.keys(policy.rules ?? {})) {
    if (!RULE_IDS.includes(id as RuleId)) {
      throw new InputError(`rules.${id}`, `unknown rule; known: ${RULE_IDS.join(', ')}`);
    }
  }
  return out;
}

/** A finding before the rule's mode gives it a level. */
export type Issue = Omit<ComplianceFinding, 'level'>;

// ---- layers and history -------------------------------------------------------------------

export interface LayerInfo {
  index: number;
  digest?: string;
  createdBy?: string;
}

/** Pairs each layer with the history step that made it (steps with empty_layer make none). */
export function layerSteps(config: ImageConfig, layers: readonly Descriptor[]): LayerInfo[] {
  const steps = (config.history ?? []).filter((h) => !h.empty_layer);
  return layers.map((d, index) => ({
    index,
    digest: d.digest,
    createdBy: steps.length === layers.length ? steps[index]?.created_by : undefined,
  }));
}

function shortStep(createdBy: string | undefined): string {
  if (!createdBy) return '';
  const text = redactText(createdBy)
    .replace(/\b(file|dir):([a-f0-9]{12})[a-f0-9]{52}\b/g, '$1:$2')
    .replace(/^\/bin\/sh -c #\(nop\)\s*/, '')
    .replace(/^\/bin\/sh -c /, 'RUN ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 100 ? `${text.slice(0, 97)}…` : text;
}

export function describeLayer(info: LayerInfo, total: number): string {
  const step = shortStep(info.createdBy);
  const digest = info.digest ? ` ${info.digest.slice(0, 19)}` : '';
  return `layer ${info.index + 1}/${total}${digest}${step ? ` (${step})` : ''}`;
}

/** The last history step whose instruction matches, for config-level findings. */
function configStep(history: readonly HistoryEntry[] | undefined, re: RegExp): string {
  const steps = history ?? [];
  for (let i = steps.length - 1; i >= 0; i -= 1) {
    const by = steps[i]!.created_by ?? '';
    if (re.test(by)) return `image config, step ${i + 1} (${shortStep(by)})`;
  }
  return 'image config';
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- non-root -----------------------------------------------------------------------------

/** uid for a user name from an /etc/passwd text. */
export function passwdUid(passwd: string, name: string): number | undefined {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  return undefined;
}

export function checkUser(config: ImageConfig, passwd?: string): Issue[] {
  const user = (config.config?.User ?? '').trim();
  const where = configStep(config.history, /\bUSER\b/);
  const fix =
    'End the final stage with `USER 10001:10001` (numeric), after the steps that need root; rollgate’s standard Containerfiles do.';
  if (user === '') {
    return [
      {
        rule: 'non-root',
        message: 'no USER is set: the process runs as root',
        layer: 'image config (no USER step)',
        fix,
      },
    ];
  }
  const name = user.split(':')[0]!;
  if (/^\d+$/.test(name)) {
    return Number(name) === 0
      ? [{ rule: 'non-root', message: `USER ${user} is root (uid 0)`, layer: where, fix }]
      : [];
  }
  if (name === 'root')
    return [{ rule: 'non-root', message: `USER ${user} is root`, layer: where, fix }];
  const uid = passwd === undefined ? undefined : passwdUid(passwd, name);
  if (uid === 0) {
    return [
      { rule: 'non-root', message: `USER ${user} has uid 0 in /etc/passwd`, layer: where, fix },
    ];
  }
  if (uid === undefined) {
    return [
      {
        rule: 'non-root',
        message: `USER ${user} is not in the image's /etc/passwd: its uid cannot be checked`,
        layer: where,
        fix: 'Use a numeric uid:gid (e.g. `USER 10001:10001`), which needs no /etc/passwd entry.',
      },
    ];
  }
  return [];
}

// ---- no-secrets: env and labels ------------------------------------------------------------

export function checkEnvAndLabels(config: ImageConfig): Issue[] {
  const issues: Issue[] = [];
  for (const pair of config.config?.Env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq);
    const hit = secretInAssignment(name, pair.slice(eq + 1));
    if (hit) {
      issues.push({
        rule: 'no-secrets',
        message: `environment variable ${name} holds a ${hit.kind}: ${hit.evidence}`,
        layer: configStep(config.history, new RegExp(`\\bENV\\b.*\\b${escapeRe(name)}\\b`)),
        fix: `Remove ${name} from the image (ENV/ARG) and give it to the container at run time from a secret store (group env, mounted file).`,
      });
    }
  }
  for (const [key, value] of Object.entries(config.config?.Labels ?? {})) {
    const hit = secretInAssignment(key, value);
    if (hit) {
      issues.push({
        rule: 'no-secrets',
        message: `label ${key} holds a ${hit.kind}: ${hit.evidence}`,
        layer: configStep(config.history, new RegExp(`\\bLABEL\\b.*${escapeRe(key)}`)),
        fix: `Remove the label ${key}; labels are public metadata.`,
      });
    }
  }
  return issues;
}

// ---- base-image -------------------------------------------------------------------------------

export interface BaseClaim {
  /** The reference as the build named it (may include @digest). */
  name: string;
  digest?: string;
  /** Where the claim came from. */
  source: 'manifest annotations' | 'labels';
}

/**
 * What the image says its base is. rollgate's own labels first (written in the build's last
 * step from the FROM it used), then the builder's manifest annotations, then inherited labels.
 * buildah 1.28's annotations are not reliable on their own: with the layer cache, a build can
 * reuse an image made by another build from the same base under another name (a tag instead of
 * the digest, another registry address), annotations included.
 */
export function baseClaim(image: RegistryImage): BaseClaim | null {
  const labels = image.config.config?.Labels ?? {};
  const fromLabels = (): BaseClaim | null => {
    const name = labels['org.opencontainers.image.base.name'];
    if (!name) return null;
    const claim: BaseClaim = { name, source: 'labels' };
    const d = labels['org.opencontainers.image.base.digest'];
    if (d) claim.digest = d;
    return claim;
  };
  if (labels['dev.rollgate.kind'] && labels['org.opencontainers.image.base.name']) {
    return fromLabels();
  }
  const ann = image.manifest.manifest.annotations ?? {};
  const annName = ann['org.opencontainers.image.base.name'];
  if (annName) {
    const claim: BaseClaim = { name: annName, source: 'manifest annotations' };
    const d = ann['org.opencontainers.image.base.digest'];
    if (d) claim.digest = d;
    return claim;
  }
  return fromLabels();
}

/**
 * The pinned reference of the base, or why it is not pinned. A name with `@sha256:` is pinned;
 * a name without tag plus base.digest (rollgate's labels) is too; a tag is not.
 */
export function pinnedBase(claim: BaseClaim): { ref: ImageReference; pinned: boolean } {
  const ref = parseImageReference(claim.name, 'base image');
  if (ref.digest) return { ref, pinned: true };
  if (!ref.tag && claim.digest && claim.source === 'labels') {
    return { ref: { ...ref, digest: claim.digest }, pinned: true };
  }
  return { ref, pinned: false };
}

export function checkBaseClaim(claim: BaseClaim | null, allowed: readonly string[]): Issue[] {
  if (!claim) {
    return [
      {
        rule: 'base-image',
        message: 'the image does not say which base it was built from',
        layer: 'image manifest and config',
        fix: 'Build with rollgate (standard Containerfile or buildah/podman, which record org.opencontainers.image.base.name), or set the base.name/base.digest labels.',
      },
    ];
  }
  const issues: Issue[] = [];
  let parsed: { ref: ImageReference; pinned: boolean };
  try {
    parsed = pinnedBase(claim);
  } catch {
    return [
      {
        rule: 'base-image',
        message: `the base "${claim.name}" is not an image reference`,
        layer: claim.source,
        fix: 'Use FROM registry/repository@sha256:<digest>.',
      },
    ];
  }
  if (!parsed.pinned) {
    issues.push({
      rule: 'base-image',
      message: `the base ${claim.name} is not pinned by digest: a tag can move under the same name`,
      layer: `layer 1 (FROM ${claim.name})`,
      fix: `Use FROM ${claim.name.replace(/:[^/:@]+$/, '')}@sha256:<digest> (skopeo inspect or the registry shows the digest).`,
    });
  }
  if (!allowed.some((p) => matchesRepositoryPattern(parsed.ref, p))) {
    issues.push({
      rule: 'base-image',
      message: `the base ${claim.name} is not on the allowed list (${allowed.join(', ') || 'empty'})`,
      layer: `layer 1 (FROM ${claim.name})`,
      fix: 'Build from an allowed base image, or have the platform team review and add this one.',
    });
  }
  return issues;
}

/** The base's layers (uncompressed diff_ids) must be the first layers of the image. */
export function checkBaseLayers(image: ImageConfig, base: ImageConfig, baseName: string): Issue[] {
  const mine = image.rootfs?.diff_ids ?? [];
  const theirs = base.rootfs?.diff_ids ?? [];
  const prefix = theirs.length <= mine.length && theirs.every((d, i) => mine[i] === d);
  return prefix
    ? []
    : [
        {
          rule: 'base-image',
          message: `the image's first layers are not those of ${baseName}: it was not built from that base, or the claim is wrong`,
          layer: 'layer 1',
          fix: 'Rebuild from the allowed base; do not copy base.name labels by hand.',
        },
      ];
}

// ---- no-privileged --------------------------------------------------------------------------

const DANGEROUS_CAPS = new Set([
  'ALL',
  'SYS_ADMIN',
  'SYS_MODULE',
  'SYS_PTRACE',
  'SYS_RAWIO',
  'SYS_BOOT',
  'SYS_TIME',
  'NET_ADMIN',
  'NET_RAW',
  'DAC_READ_SEARCH',
  'DAC_OVERRIDE',
  'BPF',
  'PERFMON',
  'MKNOD',
  'SETFCAP',
  'LINUX_IMMUTABLE',
  'MAC_ADMIN',
  'MAC_OVERRIDE',
]);
const HOST_PATHS =
  /^(?:\/|\/var\/run\/docker\.sock|\/run\/docker\.sock|\/var\/run\/podman|\/run\/podman|\/proc|\/sys|\/dev|\/etc|\/root|\/boot|\/var\/lib\/(?:docker|containers))(?:\/.*)?$/;

/** Reads `docker run`-style options into a spec (unknown options are ignored). */
export function parseRunArgs(args: readonly string[]): ContainerRunSpec {
  const spec: ContainerRunSpec = {};
  const push = (k: 'capAdd' | 'securityOpt' | 'devices' | 'volumes', v: string) => {
    (spec[k] ??= []).push(v);
  };
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = () => inline ?? args[++i] ?? '';
    switch (flag) {
      case '--privileged':
        spec.privileged = inline === undefined ? true : inline !== 'false';
        break;
      case '--cap-add':
        push('capAdd', value());
        break;
      case '--security-opt':
        push('securityOpt', value());
        break;
      case '--device':
        push('devices', value());
        break;
      case '-v':
      case '--volume':
        push('volumes', value());
        break;
      case '--mount': {
        const m = /(?:^|,)(?:source|src)=([^,]+)/.exec(value());
        if (m) push('volumes', `${m[1]}:`);
        break;
      }
      case '-u':
      case '--user':
        spec.user = value();
        break;
      case '--net':
      case '--network':
        spec.network = value();
        break;
      case '--pid':
        spec.pid = value();
        break;
      case '--ipc':
        spec.ipc = value();
        break;
      case '--userns':
        spec.userns = value();
        break;
      default:
        break;
    }
  }
  return spec;
}

export function checkRunSpec(input: ContainerRunSpec): Issue[] {
  const fromArgs = input.args ? parseRunArgs(input.args) : {};
  const spec: ContainerRunSpec = {
    ...fromArgs,
    ...input,
    capAdd: [...(input.capAdd ?? []), ...(fromArgs.capAdd ?? [])],
    securityOpt: [...(input.securityOpt ?? []), ...(fromArgs.securityOpt ?? [])],
    devices: [...(input.devices ?? []), ...(fromArgs.devices ?? [])],
    volumes: [...(input.volumes ?? []), ...(fromArgs.volumes ?? [])],
    privileged: input.privileged || fromArgs.privileged,
  };
  const issues: Issue[] = [];
  const add = (message: string, fix: string) =>
    issues.push({
      rule: 'no-privileged',
      message,
      layer: 'group container spec (run options)',
      fix,
    });
  if (spec.privileged) {
    add(
      'the container runs --privileged: all capabilities, all devices, no seccomp/AppArmor',
      'Remove privileged; add only the one capability the app needs, if any.',
    );
  }
  for (const cap of spec.capAdd ?? []) {
    const c = cap.toUpperCase().replace(/^CAP_/, '');
    if (DANGEROUS_CAPS.has(c))
      add(`--cap-add ${cap} grants host-level power`, `Remove --cap-add ${cap}.`);
  }
  for (const opt of spec.securityOpt ?? []) {
    if (
      /^(?:seccomp|apparmor)[=:]unconfined$|^label[=:]disable$|^no-new-privileges[=:]false$|^systempaths[=:]unconfined$/i.test(
        opt,
      )
    ) {
      add(`--security-opt ${opt} turns a protection off`, `Remove --security-opt ${opt}.`);
    }
  }
  for (const [k, v] of [
    ['pid', spec.pid],
    ['ipc', spec.ipc],
    ['userns', spec.userns],
    ['network', spec.network],
  ] as const) {
    if (v === 'host') add(`--${k}=host shares the host's ${k} namespace`, `Remove --${k}=host.`);
  }
  for (const d of spec.devices ?? [])
    add(`--device ${d} exposes a host device`, `Remove --device ${d}.`);
  for (const v of spec.volumes ?? []) {
    const host = v.split(':')[0] ?? '';
    if (HOST_PATHS.test(host.replace(/\/+$/, '') || '/')) {
      add(
        `volume ${v} mounts a sensitive host path`,
        `Mount an app-owned directory instead of ${host}.`,
      );
    }
  }
  if (spec.user !== undefined && /^(?:0|root)(?::|$)/.test(spec.user)) {
    add(
      `--user ${spec.user} runs the app as root whatever the image says`,
      'Remove --user or use the image’s non-root uid.',
    );
  }
  return issues;
}

// ---- layers: files ----------------------------------------------------------------------------

export interface LayerScan {
  issues: Issue[];
  /** The effective /etc/passwd (last layer that has one), if any. */
  passwd?: string;
  files: number;
  filesRead: number;
  bytes: number;
}

interface FileHit {
  path: string;
  layer: LayerInfo;
  message: string;
}

/**
 * Walks every layer's files: credentials files by name, secrets in text files, /etc/passwd.
 * Records whiteouts, so that a secret "deleted" in a later layer is reported as still present.
 */
export async function scanLayers(
  client: RegistryClient,
  repository: string,
  layers: readonly LayerInfo[],
  descriptors: readonly Descriptor[],
  options: { maxFileBytes: number; ignorePaths: RegExp[]; wantSecrets: boolean },
): Promise<LayerScan> {
  const hits: FileHit[] = [];
  const deletedIn = new Map<string, number>();
  let passwd: string | undefined;
  let files = 0;
  let filesRead = 0;
  let bytes = 0;
  for (const layer of layers) {
    const d = descriptors[layer.index]!;
    const chunks = client.blobChunks(repository, d.digest);
    const compressed = /gzip/.test(d.mediaType);
    if (/zstd/.test(d.mediaType)) {
      throw new InputError(
        'layers',
        `${d.digest} is zstd-compressed, which this reader cannot open`,
      );
    }
    const source = compressed
      ? (Readable.from(chunks).pipe(createGunzip()) as AsyncIterable<Buffer>)
      : chunks;
    const ignored = (p: string) => options.ignorePaths.some((re) => re.test(p));
    const want = (e: { path: string; size: number }) =>
      e.path === 'etc/passwd' ||
      (options.wantSecrets &&
        e.size <= options.maxFileBytes &&
        !skipPath(e.path) &&
        !ignored(e.path));
    for await (const { entry, content } of readTar(source, want)) {
      files += 1;
      const base = entry.path.split('/').pop() ?? '';
      if (base.startsWith('.wh.')) {
        const dir = entry.path.slice(0, entry.path.length - base.length);
        const target = base === '.wh..wh..opq' ? dir : dir + base.slice(4);
        deletedIn.set(target.replace(/\/$/, ''), layer.index);
        continue;
      }
      if (entry.type !== 'file') continue;
      if (content) {
        filesRead += 1;
        bytes += content.length;
        if (entry.path === 'etc/passwd') passwd = content.toString('utf8');
      }
      if (!options.wantSecrets || ignored(entry.path)) continue;
      const kind = secretFileKind(entry.path);
      if (kind) {
        hits.push({ path: entry.path, layer, message: `/${entry.path} is a ${kind}` });
        continue;
      }
      if (content && looksText(content)) {
        const found = secretsInText(entry.path, content.toString('utf8'), 3);
        if (found.length > 0) {
          const what = found.map((h) => `${h.kind} at line ${h.line}: ${h.evidence}`).join('; ');
          hits.push({ path: entry.path, layer, message: `/${entry.path} holds a ${what}` });
        }
      }
    }
  }
  const total = layers.length;
  const issues: Issue[] = hits.map((h) => {
    const deleted = [...deletedIn].find(
      ([p, at]) => at > h.layer.index && (h.path === p || h.path.startsWith(`${p}/`)),
    );
    const note = deleted
      ? ` — deleted in layer ${deleted[1] + 1}, but still readable in layer ${h.layer.index + 1}`
      : '';
    const issue: Issue = {
      rule: 'no-secrets',
      message: h.message + note,
      layer: describeLayer(h.layer, total),
      path: `/${h.path}`,
      fix: deleted
        ? 'Deleting a file in a later step does not remove it from the image: keep it out of the build context (.containerignore) or use a build secret (RUN --mount=type=secret), then rebuild.'
        : 'Keep secrets out of the image: exclude the file from the build context (.containerignore), mount it at run time, or use a build secret (RUN --mount=type=secret).',
    };
    if (h.layer.digest) issue.layerDigest = h.layer.digest;
    return issue;
  });
  return { issues, passwd, files, filesRead, bytes };
}

// ---- all rules --------------------------------------------------------------------------------

export interface CheckComplianceOptions {
  /** Registry client for another registry (the base image's), by registry host. */
  clientFor?: (registry: string) => RegistryClient;
  clock: Clock;
}

export async function checkCompliance(
  client: RegistryClient,
  imageRef: string,
  policy: CompliancePolicy,
  options: CheckComplianceOptions,
): Promise<ComplianceResult> {
  const started = options.clock.now();
  const modes = ruleModes(policy);
  const ignorePaths = (policy.ignorePaths ?? []).map((p, i) => {
    try {
      return new RegExp(p);
    } catch {
      throw new InputError(`ignorePaths[${i}]`, `"${p}" is not a regular expression`);
    }
  });
  const image = await readImage(client, imageRef);
  const issues: Issue[] = [];
  const descriptors = image.manifest.manifest.layers;
  const layers = layerSteps(image.config, descriptors);

  const needLayers = modes['no-secrets'] !== 'off' || modes['non-root'] !== 'off';
  const scan = needLayers
    ? await scanLayers(client, image.ref.repository, layers, descriptors, {
        maxFileBytes: policy.maxFileBytes ?? 1024 * 1024,
        ignorePaths,
        wantSecrets: modes['no-secrets'] !== 'off',
      })
    : { issues: [], files: 0, filesRead: 0, bytes: 0, passwd: undefined };

  if (modes['non-root'] !== 'off') issues.push(...checkUser(image.config, scan.passwd));
  if (modes['no-secrets'] !== 'off') {
    issues.push(...checkEnvAndLabels(image.config), ...scan.issues);
  }
  if (modes['base-image'] !== 'off') {
    const claim = baseClaim(image);
    const claimIssues = checkBaseClaim(claim, policy.allowedBases ?? []);
    issues.push(...claimIssues);
    if (claim && claimIssues.length === 0) {
      const { ref } = pinnedBase(claim);
      const baseClient =
        ref.registry === client.registry ? client : options.clientFor?.(ref.registry);
      if (baseClient) {
        const base = await readImage(baseClient, `${ref.registry}/${ref.repository}@${ref.digest}`);
        issues.push(...checkBaseLayers(image.config, base.config, claim.name));
      }
    }
  }
  if (modes['no-privileged'] !== 'off' && policy.runSpec) {
    issues.push(...checkRunSpec(policy.runSpec));
  }

  const findings: ComplianceFinding[] = issues
    .map((i) => ({ ...i, level: modes[i.rule] as 'fail' | 'warn' }))
    .sort((a, b) => RULE_IDS.indexOf(a.rule) - RULE_IDS.indexOf(b.rule));
  return {
    image: imageRef,
    digest: image.manifest.digest,
    findings,
    checked: RULE_IDS.filter(
      (id) => modes[id] !== 'off' && (id !== 'no-privileged' || policy.runSpec !== undefined),
    ),
    passed: !findings.some((f) => f.level === 'fail'),
    stats: {
      layers: descriptors.length,
      files: scan.files,
      filesRead: scan.filesRead,
      bytes: scan.bytes,
      ms: options.clock.now() - started,
    },
  };
}
