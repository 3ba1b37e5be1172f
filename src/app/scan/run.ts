import { readFile } from 'node:fs/promises';
import type { Clock } from '../../model/clock';
import type { Logger } from '../../model/logger';
import { loadGroupFile } from '../../config/group-file';
import { parseImageReference } from '../../registry/reference';
import { InputError } from '../../model/errors';
import { ClairClient } from '../../scan/clair/client';
import type { PskConfig } from '../../scan/clair/jwt';
import { RegistryClient } from '../../registry/client';
import type { CompliancePolicy } from '../../scan/compliance/policy';
import { parseRunArgs } from '../../scan/compliance/rules/no-privileged';
import { parseIgnoreFile, parseSeverity } from '../../scan/policy';
import { scanImage, type ScanOutcome } from '../../scan/scan';
import { parseComplianceConfig } from './compliance-config';
import type { ScanNames, ScanOptions } from './settings';

/** `rollgate scan` and the clair-scan step (B4): the settings checked, then the scan. */

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
        ...(o.clairMatcherUrl
          ? { matcherUrl: httpUrl(o.clairMatcherUrl, names.clairMatcherUrl) }
          : {}),
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
      [o.clairMatcherUrl, names.clairMatcherUrl],
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

/** The group's own `podman run` flags (package.image.runArgs): what the no-privileged rule checks. */
export async function groupRunArgs(
  groupFile: string,
  env: Record<string, string | undefined>,
): Promise<readonly string[] | undefined> {
  return (await loadGroupFile(groupFile, env)).package.image?.runArgs;
}
