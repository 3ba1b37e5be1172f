import type { PskConfig } from '../../scan/clair/jwt';
import type { RegistryAuth } from '../../registry/client';
import { tlsVerifyOf } from '../registry-access';
import {
  copySettings,
  type CopiedOptions,
  type SettingNames,
  type SettingTable,
  type SettingValues,
} from '../settings';

/**
 * The scan settings (B4), keyed by clair-scan's action.yml input names, in the order
 * `rollgate scan --help` lists them. The image is the CLI's argument.
 */
export const SCAN_SETTINGS = {
  image: { shape: 'text', required: true, cliName: '<image>' },
  'clair-url': {
    shape: 'text',
    cli: [
      {
        flags: '--clair <url>',
        help: "Clair's indexer URL (or the only one in combo mode); without it the vulnerabilities are not checked",
      },
    ],
  },
  'clair-matcher-url': {
    shape: 'text',
    cli: [{ flags: '--clair-matcher <url>', help: "Clair's matcher URL (default: --clair)" }],
  },
  // The action takes the key; the CLI the variable that holds it.
  psk: {
    shape: 'text',
    cli: [{ flags: '--psk-env <NAME>', help: "variable holding Clair's pre-shared key (base64)" }],
  },
  'psk-issuer': {
    shape: 'text',
    default: 'rollgate',
    cli: [
      { flags: '--psk-issuer <iss>', help: 'issuer on the PSK token (on the server’s allow-list)' },
    ],
  },
  severity: {
    shape: 'text',
    default: 'High',
    cli: [
      {
        flags: '--severity <level>',
        help: 'findings at or above it fail: Critical, High, Medium, Low…',
      },
    ],
  },
  'ignore-file': {
    shape: 'text',
    cli: [
      {
        flags: '--ignore-file <file>',
        help: 'vulnerabilities to ignore (YAML: id, package, reason, expires)',
      },
    ],
  },
  'compliance-config': {
    shape: 'text',
    cli: [
      {
        flags: '--compliance-config <file>',
        help: 'compliance rules (YAML: rules, allowedBases, runSpec, …)',
      },
    ],
  },
  'allowed-bases': {
    shape: 'list',
    cli: [
      {
        flags: '--allowed-base <pattern...>',
        help: 'allowed base repositories: registry/repo, registry/ns/*',
      },
    ],
  },
  compliance: {
    shape: 'switch',
    cli: [{ flags: '--no-compliance', help: 'vulnerabilities only' }],
  },
  'sarif-file': {
    shape: 'text',
    cli: [{ flags: '--sarif <file>', help: 'write SARIF 2.1.0 (GitHub code scanning)' }],
  },
  'report-file': {
    shape: 'text',
    cli: [{ flags: '--json <file>', help: 'write the scan as JSON' }],
  },
  'group-file': {
    shape: 'text',
    cli: [
      {
        flags: '-g, --group <file>',
        help: "record the verdict beside the group's record (store.dir)",
      },
    ],
  },
  'tls-verify': {
    shape: 'text',
    default: 'true',
    cli: [{ flags: '--tls-verify <bool>', help: 'false for a plain-HTTP registry (loopback)' }],
  },
  'registry-username': {
    shape: 'text',
    cli: [
      {
        flags: '--registry-user <name>',
        help: 'registry user (for the image and for Clair to fetch layers)',
      },
    ],
  },
  'registry-password': {
    shape: 'text',
    cli: [
      {
        flags: '--registry-password-env <NAME>',
        help: 'variable holding the registry password',
        default: 'ROLLGATE_REGISTRY_PASSWORD',
      },
    ],
  },
  'layer-base-url': {
    shape: 'text',
    cli: [
      {
        flags: '--layer-base-url <url>',
        help: 'the registry as Clair reaches it (default: as rollgate does)',
      },
    ],
  },
  containerfile: { shape: 'text', default: 'Containerfile' },
  'fail-on-findings': { shape: 'switch' },
} as const satisfies SettingTable;

export type ScanSettings = typeof SCAN_SETTINGS;
export type ScanSettingValues = SettingValues<ScanSettings>;

/** Settings that make one option together, or that the caller reads itself: not copied. */
const READ_APART = [
  'psk',
  'psk-issuer',
  'sarif-file',
  'report-file',
  'group-file',
  'tls-verify',
  'registry-username',
  'registry-password',
  'containerfile',
  'fail-on-findings',
] as const;
type ReadApart = (typeof READ_APART)[number];

/** What a scan is asked for, from the flags or the inputs (see runScan). */
export type ScanOptions = CopiedOptions<ScanSettings, ReadApart> & {
  psk?: PskConfig;
  tlsVerify: boolean;
  registryAuth?: RegistryAuth;
  /** The group's `podman run` flags (package.image.runArgs): checked unless the config gives a runSpec. */
  runArgs?: readonly string[];
};

export type ScanNames = SettingNames<ScanSettings>;

/** The scan options from the settings (Clair's key and the registry credentials are the caller's). */
export function scanOptionsOf(v: ScanSettingValues, names: ScanNames): ScanOptions {
  const o = copySettings(SCAN_SETTINGS, v, READ_APART);
  o.tlsVerify = tlsVerifyOf(v['tls-verify'], names.tlsVerify);
  return o as ScanOptions;
}
