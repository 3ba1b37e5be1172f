import type { Clock } from '../../model/clock';
import { ComplianceRuleError, InputError } from '../../model/errors';
import { scanLayers } from './layer-scan';
import { layerSteps } from './layers';
import {
  RULE_IDS,
  ruleModes,
  type ComplianceFinding,
  type CompliancePolicy,
  type ComplianceResult,
  type Issue,
  type RuleId,
} from './policy';
import { readImage, type RegistryClient } from '../../registry/client';
import { baseClaim, checkBaseClaim, checkBaseLayers, pinnedBase } from './rules/base-image';
import { checkRunSpec } from './rules/no-privileged';
import { checkEnvAndLabels } from './rules/no-secrets';
import { checkUser } from './rules/non-root';

/** Runs the compliance rules (policy.ts) on an image in the registry: one result, every finding. */

/** What to do when a rule cannot run (a `ComplianceRuleError`'s fix). */
const CANNOT_RUN_FIX: Record<RuleId, string> = {
  'non-root':
    "it reads the image's config and layers (/etc/passwd) from the registry: check the scan's access to it (registry-auth, tls-verify), or set rules.non-root: off in the compliance config",
  'no-secrets':
    "it reads every layer from the registry: check the scan's access to it (registry-auth, tls-verify), or set rules.no-secrets: off in the compliance config",
  'base-image':
    "it reads the base image the image's labels name from that base's registry: give the scan access to it (registry-auth), or set rules.base-image: off in the compliance config",
  'no-privileged':
    "check runSpec in the compliance config (or the group's package.image.runArgs), or set rules.no-privileged: off",
};

/** Runs one rule's part; whatever it throws becomes a `ComplianceRuleError` naming the rule. */
async function underRule<T>(rule: RuleId, part: () => Promise<T> | T): Promise<T> {
  try {
    return await part();
  } catch (err) {
    if (err instanceof ComplianceRuleError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new ComplianceRuleError(rule, `rules.${rule}`, reason, CANNOT_RUN_FIX[rule]);
  }
}

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
    ? await underRule(modes['no-secrets'] !== 'off' ? 'no-secrets' : 'non-root', () =>
        scanLayers(client, image.ref.repository, layers, descriptors, {
          maxFileBytes: policy.maxFileBytes ?? 1024 * 1024,
          ignorePaths,
          wantSecrets: modes['no-secrets'] !== 'off',
        }),
      )
    : { issues: [], files: 0, filesRead: 0, bytes: 0, passwd: undefined };

  if (modes['non-root'] !== 'off') {
    issues.push(...(await underRule('non-root', () => checkUser(image.config, scan.passwd))));
  }
  if (modes['no-secrets'] !== 'off') {
    issues.push(...(await underRule('no-secrets', () => checkEnvAndLabels(image.config))));
    issues.push(...scan.issues);
  }
  if (modes['base-image'] !== 'off') {
    issues.push(
      ...(await underRule('base-image', async () => {
        const claim = baseClaim(image);
        const found = checkBaseClaim(claim, policy.allowedBases ?? []);
        if (!claim || found.length > 0) return found;
        const { ref } = pinnedBase(claim);
        const baseClient =
          ref.registry === client.registry ? client : options.clientFor?.(ref.registry);
        if (!baseClient) return found;
        const base = await readImage(baseClient, `${ref.registry}/${ref.repository}@${ref.digest}`);
        return checkBaseLayers(image.config, base.config, claim.name);
      })),
    );
  }
  if (modes['no-privileged'] !== 'off' && policy.runSpec) {
    const runSpec = policy.runSpec;
    issues.push(...(await underRule('no-privileged', () => checkRunSpec(runSpec))));
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
