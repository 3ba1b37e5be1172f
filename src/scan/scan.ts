import type { Clock } from '../model/clock';
import type { Logger } from '../model/logger';
import {
  formatImageReference,
  manifestReference,
  parseImageReference,
} from '../registry/reference';
import { clairManifest, type ClairClient } from './clair/client';
import { checkCompliance } from './compliance/check';
import type { CompliancePolicy, ComplianceResult } from './compliance/policy';
import type { RegistryClient } from '../registry/client';
import {
  parseIndexReport,
  parseVulnerabilityReport,
  type IndexSummary,
  type ParsedVulnerabilityReport,
} from './parse';
import { applyPolicy, type PolicyOutcome, type VulnerabilityPolicy } from './policy';

/**
 * clair-scan: vulnerabilities from Clair (layer by layer, B4) and the compliance rules, for
 * one pushed image, judged by the policy. Clair and the compliance rules run side by side.
 */

export interface ScanRequest {
  /** `registry/repo:tag` or `registry/repo@sha256:…` */
  image: string;
  /** Client for the image's registry. */
  registry: RegistryClient;
  /** Omit to skip the vulnerability scan (compliance only). */
  clair?: ClairClient;
  policy: VulnerabilityPolicy;
  /** Omit to skip the compliance rules. */
  compliance?: CompliancePolicy;
  /** Registry base URL as Clair reaches it (default: the client's). */
  layerBaseUrl?: string;
  /** Clients for other registries (a base image elsewhere). */
  clientFor?: (registry: string) => RegistryClient;
  clock: Clock;
  logger: Logger;
  timeoutMs?: number;
}

export interface VulnerabilityResult {
  index: IndexSummary;
  report: ParsedVulnerabilityReport;
  outcome: PolicyOutcome;
}

export interface ScanOutcome {
  image: string;
  /** The manifest digest that was scanned. */
  digest: string;
  /** `registry/repo@sha256:…` */
  reference: string;
  /** ISO time of the scan. */
  scannedAt: string;
  vulnerabilities?: VulnerabilityResult;
  /**
   * Clair was asked and failed (unreachable, an error, a timeout): the vulnerabilities are not
   * known, so the scan does not pass, but the compliance results are kept.
   */
  clairError?: string;
  compliance?: ComplianceResult;
  /**
   * A compliance rule could not run (a `ComplianceRuleError`: the rule, the setting, the fix):
   * the rules are not known, so the scan does not pass, but Clair's results are kept.
   */
  complianceError?: string;
  passed: boolean;
  timings: { clairMs?: number; complianceMs?: number; totalMs: number };
}

export async function scanImage(req: ScanRequest): Promise<ScanOutcome> {
  const { clock, logger } = req;
  const started = clock.now();
  const ref = parseImageReference(req.image, 'image');
  // Pin the digest first: Clair and the rules must look at the same manifest.
  const manifest = await req.registry.manifest(ref.repository, manifestReference(ref));
  const reference = formatImageReference({
    registry: ref.registry,
    repository: ref.repository,
    digest: manifest.digest,
  });
  logger.info(`clair-scan: ${req.image} is ${manifest.digest}`);

  const vulnerabilities = req.clair
    ? (async () => {
        const t0 = clock.now();
        const base = (req.layerBaseUrl ?? req.registry.baseUrl).replace(/\/+$/, '');
        const headers = await req.registry.authHeaders(ref.repository);
        const m = clairManifest(
          manifest.digest,
          manifest.manifest.layers,
          (digest) => `${base}/v2/${ref.repository}/blobs/${digest}`,
          headers,
        );
        const { index, report } = await req.clair!.scan(m, req.timeoutMs);
        const parsed = parseVulnerabilityReport(report);
        const result: VulnerabilityResult = {
          index: parseIndexReport(index),
          report: parsed,
          outcome: applyPolicy(parsed.findings, req.policy, clock.now()),
        };
        const o = result.outcome;
        logger.info(
          `clair-scan: ${parsed.findings.length} vulnerabilities in ${parsed.packageCount} packages; ` +
            `${o.failing.length} at or above ${o.threshold}, ${o.ignored.length} ignored`,
        );
        return { result, ms: clock.now() - t0 };
      })().catch((err: unknown) => {
        // With nothing else to report, the failure is the answer.
        if (!req.compliance) throw err;
        const error = err instanceof Error ? err.message : String(err);
        logger.warn(
          `clair-scan: Clair failed: ${error}; vulnerabilities not checked (the compliance results are kept)`,
        );
        return { error };
      })
    : Promise.resolve(undefined);

  const compliance = req.compliance
    ? (async () => {
        const t0 = clock.now();
        const result = await checkCompliance(req.registry, reference, req.compliance!, {
          clock,
          clientFor: req.clientFor,
        });
        logger.info(
          `clair-scan: compliance ${result.passed ? 'passed' : 'failed'}: ${result.findings.length} findings in ${result.stats.layers} layers`,
        );
        return { result, ms: clock.now() - t0 };
      })().catch((err: unknown) => {
        // With nothing else to report, the failure is the answer.
        if (!req.clair) throw err;
        const error = err instanceof Error ? err.message : String(err);
        logger.warn(
          `clair-scan: ${error}; compliance not checked (the vulnerability results are kept)`,
        );
        return { error };
      })
    : Promise.resolve(undefined);

  const [v, c] = await Promise.all([vulnerabilities, compliance]);
  const vulnerable = v && 'error' in v ? false : (v?.result.outcome.passed ?? true);
  const outcome: ScanOutcome = {
    image: req.image,
    digest: manifest.digest,
    reference,
    scannedAt: new Date(started).toISOString(),
    passed: vulnerable && (c && 'error' in c ? false : (c?.result.passed ?? true)),
    timings: { totalMs: clock.now() - started },
  };
  if (v && 'error' in v) {
    outcome.clairError = v.error;
  } else if (v) {
    outcome.vulnerabilities = v.result;
    outcome.timings.clairMs = v.ms;
  }
  if (c && 'error' in c) {
    outcome.complianceError = c.error;
  } else if (c) {
    outcome.compliance = c.result;
    outcome.timings.complianceMs = c.ms;
  }
  return outcome;
}

/** The JSON output (`--format json`, the action's `report` file): the outcome as data. */
export function scanJson(outcome: ScanOutcome): Record<string, unknown> {
  const v = outcome.vulnerabilities;
  return {
    image: outcome.image,
    digest: outcome.digest,
    reference: outcome.reference,
    scannedAt: outcome.scannedAt,
    passed: outcome.passed,
    checked: { vulnerabilities: v !== undefined, compliance: outcome.compliance !== undefined },
    ...(outcome.clairError ? { clairError: outcome.clairError } : {}),
    ...(outcome.complianceError ? { complianceError: outcome.complianceError } : {}),
    vulnerabilities: v
      ? {
          threshold: v.outcome.threshold,
          passed: v.outcome.passed,
          packages: v.report.packageCount,
          distributions: v.report.distributions,
          failing: v.outcome.failing,
          belowThreshold: v.outcome.belowThreshold,
          ignored: v.outcome.ignored.map((i) => ({ ...i.finding, ignoredBy: i.entry })),
          expiredIgnores: v.outcome.expired.map((e) => ({
            ...e.entry,
            findings: e.findings.map((f) => f.key),
          })),
          unusedIgnores: v.outcome.unused,
        }
      : null,
    compliance: outcome.compliance ?? null,
    timings: outcome.timings,
  };
}
