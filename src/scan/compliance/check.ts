import type { Clock } from '../../model/clock';
import { InputError } from '../../model/errors';
import { scanLayers } from './layer-scan';
import { layerSteps } from './layers';
import {
  RULE_IDS,
  ruleModes,
  type ComplianceFinding,
  type CompliancePolicy,
  type ComplianceResult,
  type Issue,
} from './policy';
import { readImage, type RegistryClient } from '../../registry/client';
import { baseClaim, checkBaseClaim, checkBaseLayers, pinnedBase } from './rules/base-image';
import { checkRunSpec } from './rules/no-privileged';
import { checkEnvAndLabels } from './rules/no-secrets';
import { checkUser } from './rules/non-root';

/** Runs the compliance rules (policy.ts) on an image in the registry: one result, every finding. */

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
