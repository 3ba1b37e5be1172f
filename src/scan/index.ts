/**
 * clair-scan (B4): the API the CLI (`rollgate scan`), the clair-scan action and the
 * deploy-bastion gate call.
 *
 *   const outcome = await scanImage({ image, registry, clair, policy, compliance, clock, logger });
 *   renderScanMarkdown(outcome); toSarif(outcome); scanJson(outcome); outcome.passed
 */
export { scanImage, scanJson } from './scan';
export type { ScanOutcome, ScanRequest, VulnerabilityResult } from './scan';
export { ClairClient, ClairError, clairManifest, clairMediaType } from './clair/client';
export type { ClairClientOptions } from './clair/client';
export { signPskToken, verifyPskToken } from './clair/jwt';
export type { PskConfig } from './clair/jwt';
export { parseIndexReport, parseVulnerabilityReport, SEVERITIES, severityRank } from './parse';
export type { ParsedVulnerabilityReport, Severity, VulnerabilityFinding } from './parse';
export { applyPolicy, parseIgnoreFile, parseIgnoreList, parseSeverity } from './policy';
export type { IgnoreEntry, PolicyOutcome, VulnerabilityPolicy } from './policy';
export { renderScanMarkdown } from './markdown';
export { toSarif } from './sarif';
export type { SarifOptions } from './sarif';
export { readImage, RegistryClient, RegistryError } from '../registry/client';
export type { RegistryAuth, RegistryClientOptions, RegistryImage } from '../registry/client';
export { checkCompliance } from './compliance/check';
export { RULE_IDS, RULES } from './compliance/policy';
export { checkRunSpec, parseRunArgs } from './compliance/rules/no-privileged';
export type {
  ComplianceFinding,
  CompliancePolicy,
  ComplianceResult,
  ContainerRunSpec,
  RuleId,
  RuleMode,
} from './compliance/policy';
export {
  isVerdictArtifact,
  parseVerdict,
  verdictArtifactName,
  verdictFileName,
  verdictOf,
} from './verdict';
export type { ScanVerdict } from './verdict';
