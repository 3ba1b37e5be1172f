import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { realClock } from '../clock/real';
import { loadGroupFile } from '../config/group-file';
import type { Clock } from '../model/clock';
import type { Logger } from '../model/logger';
import { parseImageReference } from '../registry/reference';
import { EXIT, InputError } from '../model/errors';
import { ClairClient } from '../scan/clair/client';
import type { PskConfig } from '../scan/clair/jwt';
import { RegistryClient, type RegistryAuth } from '../registry/client';
import {
  RULE_IDS,
  type CompliancePolicy,
  type ContainerRunSpec,
  type RuleId,
  type RuleMode,
} from '../scan/compliance/policy';
import { parseRunArgs } from '../scan/compliance/rules/no-privileged';
import { renderScanMarkdown } from '../scan/markdown';
import { parseIgnoreFile, parseSeverity } from '../scan/policy';
import { toSarif } from '../scan/sarif';
import { scanImage, scanJson, type ScanOutcome } from '../scan/scan';
import { uncheckedParts, verdictOf, type ScanVerdict } from '../scan/verdict';
import { FileVerdicts } from '../store/file/verdicts';
import { registryAuthFrom, tlsVerifyOf } from './build';

/**
 * `rollgate scan` (B4), and what the clair-scan action shares with it: the settings → a
 * ScanRequest, the output files, and the verdict in words.
 */

export interface ScanOptions {
  image: string;
  /** Clair's indexer (or combo) URL; absent: compliance only. */
  clairUrl?: string;
  matcherUrl?: string;
  psk?: PskConfig;
  severity: string;
  ignoreFile?: string;
  complianceConfig?: string;
  allowedBases: string[];
  compliance: boolean;
  tlsVerify: boolean;
  registryAuth?: RegistryAuth;
  /** The registry's URL as Clair reaches it (default: the one rollgate uses). */
  layerBaseUrl?: string;
  /** The group's `podman run` flags (package.image.runArgs): checked unless the config gives a runSpec. */
  runArgs?: readonly string[];
}

export type ScanField =
  | 'image'
  | 'clairUrl'
  | 'matcherUrl'
  | 'severity'
  | 'ignoreFile'
  | 'complianceConfig'
  | 'allowedBases'
  | 'layerBaseUrl';

export type ScanNames = Record<ScanField, string>;

export const SCAN_FLAGS: ScanNames = {
  image: '<image>',
  clairUrl: '--clair',
  matcherUrl: '--clair-matcher',
  severity: '--severity',
  ignoreFile: '--ignore-file',
  complianceConfig: '--compliance-config',
  allowedBases: '--allowed-base',
  layerBaseUrl: '--layer-base-url',
};

const RUN_SPEC_BOOLEANS = ['privileged'] as const;
const RUN_SPEC_STRINGS = ['user', 'network', 'pid', 'ipc', 'userns'] as const;
const RUN_SPEC_LISTS = ['capAdd', 'securityOpt', 'devices', 'volumes', 'args'] as const;
const POLICY_KEYS = ['rules', 'allowedBases', 'runSpec', 'maxFileBytes', 'ignorePaths'];

function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new InputError(where, 'must be a list of strings');
  }
  return value as string[];
}

/**
 * A compliance config file (YAML or JSON):
 *
 *     rules: { non-root: fail, no-secrets: fail, base-image: warn, no-privileged: off }
 *     allowedBases: [registry.corp/base/*]
 *     runSpec: { user: "10001", capAdd: [] }      # or args: [--cap-add, NET_ADMIN]
 *     maxFileBytes: 1048576
 *     ignorePaths: ["^usr/share/doc/"]
 */
export function parseComplianceConfig(text: string, field: string): CompliancePolicy {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InputError(field, `not YAML: ${(err as Error).message}`);
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new InputError(field, 'must be a mapping');
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!POLICY_KEYS.includes(key)) {
      throw new InputError(`${field}: ${key}`, `unknown key (${POLICY_KEYS.join(', ')})`);
    }
  }
  const policy: CompliancePolicy = {};
  if (r.rules !== undefined) {
    if (typeof r.rules !== 'object' || r.rules === null || Array.isArray(r.rules)) {
      throw new InputError(`${field}: rules`, 'must be a mapping of rule → fail, warn or off');
    }
    const rules: Partial<Record<RuleId, RuleMode>> = {};
    for (const [id, mode] of Object.entries(r.rules as Record<string, unknown>)) {
      if (!RULE_IDS.includes(id as RuleId)) {
        throw new InputError(
          `${field}: rules.${id}`,
          `unknown rule; known: ${RULE_IDS.join(', ')}`,
        );
      }
      if (mode !== 'fail' && mode !== 'warn' && mode !== 'off') {
        throw new InputError(`${field}: rules.${id}`, `"${String(mode)}" is not fail, warn or off`);
      }
      rules[id as RuleId] = mode;
    }
    policy.rules = rules;
  }
  if (r.allowedBases !== undefined) {
    policy.allowedBases = stringList(r.allowedBases, `${field}: allowedBases`);
  }
  if (r.ignorePaths !== undefined) {
    policy.ignorePaths = stringList(r.ignorePaths, `${field}: ignorePaths`);
  }
  if (r.maxFileBytes !== undefined) {
    if (typeof r.maxFileBytes !== 'number' || !(r.maxFileBytes > 0)) {
      throw new InputError(`${field}: maxFileBytes`, 'must be a positive number of bytes');
    }
    policy.maxFileBytes = r.maxFileBytes;
  }
  if (r.runSpec !== undefined) policy.runSpec = parseRunSpec(r.runSpec, `${field}: runSpec`);
  return policy;
}

function parseRunSpec(value: unknown, where: string): ContainerRunSpec {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputError(where, 'must be a mapping');
  }
  const v = value as Record<string, unknown>;
  const spec: ContainerRunSpec = {};
  for (const [key, item] of Object.entries(v)) {
    if ((RUN_SPEC_BOOLEANS as readonly string[]).includes(key)) {
      if (typeof item !== 'boolean')
        throw new InputError(`${where}.${key}`, 'must be true or false');
      spec.privileged = item;
    } else if ((RUN_SPEC_STRINGS as readonly string[]).includes(key)) {
      if (typeof item !== 'string') throw new InputError(`${where}.${key}`, 'must be a string');
      spec[key as (typeof RUN_SPEC_STRINGS)[number]] = item;
    } else if ((RUN_SPEC_LISTS as readonly string[]).includes(key)) {
      spec[key as (typeof RUN_SPEC_LISTS)[number]] = stringList(item, `${where}.${key}`);
    } else {
      const known = [...RUN_SPEC_BOOLEANS, ...RUN_SPEC_STRINGS, ...RUN_SPEC_LISTS].join(', ');
      throw new InputError(`${where}.${key}`, `unknown key (${known})`);
    }
  }
  return spec;
}

async function readNamed(path: string, field: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(
      field,
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

function httpUrl(value: string, field: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InputError(field, `"${value}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new InputError(field, `"${value}" is not an http(s) URL`);
  }
  return value.replace(/\/+$/, '');
}

export interface ScanContext {
  clock: Clock;
  logger: Logger;
  fetch?: typeof fetch;
  /** Poll interval for Clair (default 1 s). */
  pollIntervalMs?: number;
}

/** Checks every setting up front (errors name the flag or input), then scans. */
export async function runScan(
  o: ScanOptions,
  names: ScanNames,
  ctx: ScanContext,
): Promise<ScanOutcome> {
  const ref = parseImageReference(o.image, names.image);
  const threshold = parseSeverity(o.severity, names.severity);
  const ignore = o.ignoreFile
    ? parseIgnoreFile(await readNamed(o.ignoreFile, names.ignoreFile), names.ignoreFile)
    : [];
  let compliance: CompliancePolicy | undefined;
  if (o.compliance) {
    compliance = o.complianceConfig
      ? parseComplianceConfig(
          await readNamed(o.complianceConfig, names.complianceConfig),
          names.complianceConfig,
        )
      : {};
    const allowed = [...(compliance.allowedBases ?? []), ...o.allowedBases.filter(Boolean)];
    for (const p of allowed) {
      if (!/^[^\s/]+\/\S+$/.test(p)) {
        throw new InputError(
          names.allowedBases,
          `"${p}" is not registry/repo, registry/ns/* or registry/ns/**`,
        );
      }
    }
    compliance.allowedBases = allowed;
    if (compliance.runSpec === undefined && o.runArgs?.length) {
      compliance.runSpec = parseRunArgs(o.runArgs);
    }
  } else if (o.complianceConfig || o.allowedBases.length > 0) {
    const given = o.complianceConfig ? names.complianceConfig : names.allowedBases;
    throw new InputError(given, 'is given, but compliance is turned off');
  }
  const registryOptions = {
    insecure: !o.tlsVerify,
    ...(o.registryAuth ? { auth: o.registryAuth } : {}),
    ...(ctx.fetch ? { fetch: ctx.fetch } : {}),
  };
  const clair = o.clairUrl
    ? new ClairClient({
        indexerUrl: httpUrl(o.clairUrl, names.clairUrl),
        ...(o.matcherUrl ? { matcherUrl: httpUrl(o.matcherUrl, names.matcherUrl) } : {}),
        ...(o.psk ? { psk: o.psk } : {}),
        clock: ctx.clock,
        logger: ctx.logger,
        ...(ctx.fetch ? { fetch: ctx.fetch } : {}),
        ...(ctx.pollIntervalMs ? { pollIntervalMs: ctx.pollIntervalMs } : {}),
      })
    : undefined;
  if (!clair && !compliance) {
    throw new InputError(
      names.clairUrl,
      "is required when compliance is turned off: nothing to check (give Clair's URL, or leave the compliance rules on)",
    );
  }
  if (!clair) {
    for (const [given, name] of [
      [o.matcherUrl, names.matcherUrl],
      [o.ignoreFile, names.ignoreFile],
      [o.layerBaseUrl, names.layerBaseUrl],
    ] as const) {
      if (given) throw new InputError(name, `is for Clair, but no ${names.clairUrl} is given`);
    }
  }
  return scanImage({
    image: o.image,
    registry: new RegistryClient(ref.registry, registryOptions),
    ...(clair ? { clair } : {}),
    policy: { threshold, ignore },
    ...(compliance ? { compliance } : {}),
    ...(o.layerBaseUrl ? { layerBaseUrl: httpUrl(o.layerBaseUrl, names.layerBaseUrl) } : {}),
    clientFor: (registry) => new RegistryClient(registry, registryOptions),
    clock: ctx.clock,
    logger: ctx.logger,
  });
}

export interface ScanFiles {
  sarif?: string;
  json?: string;
  markdown?: string;
  /** Repository path SARIF results point at (default Containerfile). */
  sarifArtifactUri?: string;
}

/** Writes the requested report files; returns them resolved. */
export async function writeScanFiles(outcome: ScanOutcome, files: ScanFiles): Promise<ScanFiles> {
  const written: ScanFiles = {};
  const put = async (path: string, text: string) => {
    const abs = resolve(path);
    await mkdir(dirname(abs), { recursive: true });
    await writeFile(abs, text);
    return abs;
  };
  if (files.sarif) {
    const sarif = toSarif(
      outcome,
      files.sarifArtifactUri ? { artifactUri: files.sarifArtifactUri } : {},
    );
    written.sarif = await put(files.sarif, JSON.stringify(sarif, null, 2) + '\n');
  }
  if (files.json) {
    written.json = await put(files.json, JSON.stringify(scanJson(outcome), null, 2) + '\n');
  }
  if (files.markdown) written.markdown = await put(files.markdown, renderScanMarkdown(outcome));
  return written;
}

/** One line: what passed or what failed, and what was not checked. */
export function verdictLine(v: ScanVerdict): string {
  const unchecked = uncheckedParts(v);
  if (v.passed) {
    if (unchecked.length === 0) {
      return `${v.reference} passed the scan (vulnerabilities and compliance)`;
    }
    const checked = v.vulnerabilities.checked ? 'vulnerabilities' : 'compliance rules';
    return `${v.reference}: ${checked} passed; ${unchecked.join('; ')}`;
  }
  const why: string[] = [];
  if (v.vulnerabilities.checked && !v.vulnerabilities.passed) {
    why.push(
      `${v.vulnerabilities.failing.length} vulnerabilities at or above ${v.vulnerabilities.threshold ?? 'the threshold'}`,
    );
  }
  if (!v.compliance.passed) why.push(`compliance rules failed: ${v.compliance.failed.join(', ')}`);
  why.push(...unchecked);
  return `${v.reference} failed the scan: ${why.join('; ')}`;
}

/** The closing word: PASSED only when everything was checked. */
export function verdictWord(v: ScanVerdict): string {
  if (!v.passed) return 'FAILED';
  return uncheckedParts(v).length === 0 ? 'PASSED' : 'PASSED (NOT ALL CHECKED)';
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}

/** The scan for a terminal: the checks, then what fails. */
export function renderScanText(outcome: ScanOutcome, maxRows = 30): string {
  const out = [`image   ${outcome.image}`, `digest  ${outcome.digest}`, ''];
  const v = outcome.vulnerabilities;
  const c = outcome.compliance;
  const rows = [['check', 'result', 'details']];
  if (v) {
    const o = v.outcome;
    rows.push([
      'vulnerabilities',
      o.passed ? 'passed' : 'FAILED',
      `${o.failing.length} at or above ${o.threshold}, ${o.belowThreshold.length} below, ${o.ignored.length} ignored (${v.report.packageCount} packages)`,
    ]);
  } else if (outcome.clairError) {
    rows.push(['vulnerabilities', 'ERROR', `NOT checked: Clair failed: ${outcome.clairError}`]);
  } else {
    rows.push(['vulnerabilities', '-', 'NOT checked (no Clair: --clair <url>)']);
  }
  if (c) {
    for (const id of RULE_IDS) {
      const mine = c.findings.filter((f) => f.rule === id);
      const fails = mine.filter((f) => f.level === 'fail').length;
      const result = !c.checked.includes(id)
        ? '-'
        : fails > 0
          ? 'FAILED'
          : mine.length > 0
            ? 'warning'
            : 'passed';
      rows.push([id, result, mine.length ? `${mine.length} finding(s)` : '']);
    }
  } else {
    rows.push(['compliance', '-', 'not checked']);
  }
  out.push(...table(rows));
  if (v && v.outcome.failing.length > 0) {
    out.push('', `vulnerabilities at or above ${v.outcome.threshold}:`);
    const list = [['severity', 'vulnerability', 'package', 'installed', 'fixed in']];
    for (const f of v.outcome.failing.slice(0, maxRows)) {
      list.push([f.severity, f.vulnerability, f.package, f.version, f.fixedIn ?? '-']);
    }
    out.push(...table(list).map((l) => `  ${l}`));
    if (v.outcome.failing.length > maxRows)
      out.push(`  … and ${v.outcome.failing.length - maxRows} more`);
  }
  if (c && c.findings.length > 0) {
    out.push('', 'compliance findings:');
    for (const f of c.findings.slice(0, maxRows)) {
      out.push(
        `  ${f.level === 'fail' ? 'FAIL' : 'warn'} ${f.rule}: ${f.message} (${f.layer})`,
        `       fix: ${f.fix}`,
      );
    }
  }
  return out.join('\n');
}

interface ScanFlags {
  clair?: string;
  clairMatcher?: string;
  pskEnv?: string;
  pskIssuer: string;
  severity: string;
  ignoreFile?: string;
  complianceConfig?: string;
  allowedBase?: string[];
  compliance: boolean;
  sarif?: string;
  json?: string;
  markdown?: string;
  recordDir?: string;
  group?: string;
  tlsVerify: string;
  registryUser?: string;
  registryPasswordEnv: string;
  layerBaseUrl?: string;
}

/** Clair's pre-shared key (base64, as in Clair's config) and the issuer the token names. */
export function pskConfig(
  key: string | undefined,
  issuer: string,
  fields: { key: string; issuer: string },
): PskConfig {
  const k = key?.trim();
  if (!k) throw new InputError(fields.key, "Clair's PSK (base64) is empty or unset");
  if (!/^[A-Za-z0-9+/=_-]+$/.test(k) || Buffer.from(k, 'base64').length === 0) {
    throw new InputError(fields.key, "Clair's PSK is not base64");
  }
  if (!issuer.trim()) throw new InputError(fields.issuer, 'is empty');
  return { key: k, issuer: issuer.trim() };
}

export function scanOptionsFromFlags(
  image: string,
  f: ScanFlags,
  env: Record<string, string | undefined>,
): ScanOptions {
  const o: ScanOptions = {
    image,
    ...(f.clair ? { clairUrl: f.clair } : {}),
    severity: f.severity,
    allowedBases: f.allowedBase ?? [],
    compliance: f.compliance,
    tlsVerify: tlsVerifyOf(f.tlsVerify, '--tls-verify'),
  };
  if (f.clairMatcher) o.matcherUrl = f.clairMatcher;
  if (f.pskEnv !== undefined) {
    o.psk = pskConfig(env[f.pskEnv], f.pskIssuer, {
      key: `--psk-env ($${f.pskEnv})`,
      issuer: '--psk-issuer',
    });
  }
  if (f.ignoreFile) o.ignoreFile = f.ignoreFile;
  if (f.complianceConfig) o.complianceConfig = f.complianceConfig;
  if (f.layerBaseUrl) o.layerBaseUrl = f.layerBaseUrl;
  const auth = registryAuthFrom(
    f.registryUser,
    f.registryPasswordEnv,
    env,
    '--registry-password-env',
  );
  if (auth) o.registryAuth = auth;
  return o;
}

/** Where the verdict is recorded: --record-dir, the group file's store.dir, or ./.rollgate. */
export async function recordDirOf(
  f: { recordDir?: string; group?: string },
  env: Record<string, string | undefined>,
): Promise<string> {
  if (f.recordDir && f.group) {
    throw new InputError('--record-dir', 'give either --record-dir or -g, not both');
  }
  if (f.recordDir) return resolve(f.recordDir);
  if (f.group) return (await loadGroupFile(f.group, env)).store.dir;
  return resolve('.rollgate');
}

export function registerScan(
  cli: Command,
  env: Record<string, string | undefined>,
  exitHelp: string,
): void {
  cli
    .command('scan <image>')
    .description(
      "scan a pushed image: Clair's vulnerabilities and the compliance rules (without --clair: the compliance rules only, vulnerabilities NOT checked); records the verdict for the deploy gate; exit 0 passed, 1 failed",
    )
    .option(
      '--clair <url>',
      "Clair's indexer URL (or the only one in combo mode); without it the vulnerabilities are not checked",
    )
    .option('--clair-matcher <url>', "Clair's matcher URL (default: --clair)")
    .option('--psk-env <NAME>', "variable holding Clair's pre-shared key (base64)")
    .option(
      '--psk-issuer <iss>',
      'issuer on the PSK token (on the server’s allow-list)',
      'rollgate',
    )
    .option(
      '--severity <level>',
      'findings at or above it fail: Critical, High, Medium, Low…',
      'High',
    )
    .option(
      '--ignore-file <file>',
      'vulnerabilities to ignore (YAML: id, package, reason, expires)',
    )
    .option(
      '--compliance-config <file>',
      'compliance rules (YAML: rules, allowedBases, runSpec, …)',
    )
    .option(
      '--allowed-base <pattern...>',
      'allowed base repositories: registry/repo, registry/ns/*',
    )
    .option('--no-compliance', 'vulnerabilities only')
    .option('--sarif <file>', 'write SARIF 2.1.0 (GitHub code scanning)')
    .option('--json <file>', 'write the scan as JSON')
    .option('--markdown <file>', 'write the Markdown report')
    .option('--record-dir <dir>', 'record the verdict in <dir>/scans/ (default: ./.rollgate)')
    .option('-g, --group <file>', "record the verdict beside the group's record (store.dir)")
    .option('--tls-verify <bool>', 'false for a plain-HTTP registry (loopback)', 'true')
    .option('--registry-user <name>', 'registry user (for the image and for Clair to fetch layers)')
    .option(
      '--registry-password-env <NAME>',
      'variable holding the registry password',
      'ROLLGATE_REGISTRY_PASSWORD',
    )
    .option(
      '--layer-base-url <url>',
      'the registry as Clair reaches it (default: as rollgate does)',
    )
    .addHelpText('after', exitHelp)
    .action(async (image: string, f: ScanFlags) => {
      const o = scanOptionsFromFlags(image, f, env);
      const recordDir = await recordDirOf(f, env);
      if (f.group) {
        const runArgs = (await loadGroupFile(f.group, env)).package.image?.runArgs;
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
