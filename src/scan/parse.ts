import { RollgateError } from '../model/errors';
import type {
  ClairEnvironment,
  ClairPackage,
  ClairVulnerability,
  IndexReport,
  NormalizedSeverity,
  VulnerabilityReport,
} from './clair/types';

/**
 * Clair reports → findings (pure). One finding per vulnerability name × package × version: the
 * same CVE reported by several updaters or environments is one row, with the highest severity.
 */

export type Severity = NormalizedSeverity;
export const SEVERITIES: readonly Severity[] = [
  'Unknown',
  'Negligible',
  'Low',
  'Medium',
  'High',
  'Critical',
];

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export interface VulnerabilityFinding {
  /** Stable identity: `<vulnerability>|<package>|<version>`. */
  key: string;
  /** `CVE-2024-1234`, `GHSA-…`, `RHSA-…` */
  vulnerability: string;
  /** Clair's document-local ids. */
  clairIds: string[];
  severity: Severity;
  /** Severity as the vendor wrote it. */
  vendorSeverity?: string;
  package: string;
  version: string;
  fixedIn?: string;
  /** Layers the package was introduced in. */
  layers: string[];
  distribution?: string;
  links: string[];
  description?: string;
  updater?: string;
}

export interface ParsedVulnerabilityReport {
  manifest: string;
  packageCount: number;
  distributions: string[];
  findings: VulnerabilityFinding[];
}

export class ReportError extends RollgateError {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function need(cond: boolean, where: string, what: string): asserts cond {
  if (!cond) throw new ReportError(`vulnerability report ${where}: ${what}`);
}

function asSeverity(v: unknown): Severity {
  return SEVERITIES.includes(v as Severity) ? (v as Severity) : 'Unknown';
}

export function parseVulnerabilityReport(input: unknown): ParsedVulnerabilityReport {
  need(isObject(input), '', 'is not an object');
  const r = input as Partial<VulnerabilityReport>;
  need(typeof r.manifest_hash === 'string', '/manifest_hash', 'missing');
  for (const key of [
    'packages',
    'distributions',
    'environments',
    'vulnerabilities',
    'package_vulnerabilities',
  ] as const) {
    need(isObject(r[key]), `/${key}`, 'missing or not an object');
  }
  const packages = r.packages as Record<string, ClairPackage>;
  const vulns = r.vulnerabilities as Record<string, ClairVulnerability>;
  const envs = r.environments as Record<string, ClairEnvironment[]>;
  const dists = r.distributions!;
  const byKey = new Map<string, VulnerabilityFinding>();

  for (const [pkgId, vulnIds] of Object.entries(r.package_vulnerabilities!)) {
    need(Array.isArray(vulnIds), `/package_vulnerabilities/${pkgId}`, 'is not a list');
    const pkg = packages[pkgId];
    need(isObject(pkg), `/package_vulnerabilities/${pkgId}`, 'names an unknown package');
    const pkgEnvs = Array.isArray(envs[pkgId]) ? envs[pkgId]! : [];
    const layers = [
      ...new Set(pkgEnvs.map((e) => e.introduced_in).filter((d): d is string => !!d)),
    ];
    const distId = pkgEnvs.find((e) => e.distribution_id)?.distribution_id;
    const dist = distId ? dists[distId] : undefined;
    for (const vulnId of vulnIds) {
      const v = vulns[vulnId];
      need(
        isObject(v),
        `/package_vulnerabilities/${pkgId}`,
        `names unknown vulnerability ${vulnId}`,
      );
      need(typeof v.name === 'string', `/vulnerabilities/${vulnId}/name`, 'missing');
      const key = `${v.name}|${pkg.name}|${pkg.version}`;
      const severity = asSeverity(v.normalized_severity);
      const seen = byKey.get(key);
      if (seen) {
        if (!seen.clairIds.includes(vulnId)) seen.clairIds.push(vulnId);
        if (severityRank(severity) > severityRank(seen.severity)) {
          seen.severity = severity;
          seen.vendorSeverity = v.severity || undefined;
        }
        if (!seen.fixedIn && v.fixed_in_version) seen.fixedIn = v.fixed_in_version;
        for (const l of layers) if (!seen.layers.includes(l)) seen.layers.push(l);
        continue;
      }
      const finding: VulnerabilityFinding = {
        key,
        vulnerability: v.name,
        clairIds: [vulnId],
        severity,
        package: pkg.name,
        version: pkg.version,
        layers: [...layers],
        links: (v.links ?? '').split(/\s+/).filter((l) => /^https?:\/\//.test(l)),
      };
      if (v.severity) finding.vendorSeverity = v.severity;
      if (v.fixed_in_version) finding.fixedIn = v.fixed_in_version;
      const distName = dist?.pretty_name ?? v.distribution?.pretty_name;
      if (distName) finding.distribution = distName;
      if (v.description) finding.description = v.description;
      if (v.updater) finding.updater = v.updater;
      byKey.set(key, finding);
    }
  }
  const findings = [...byKey.values()].sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      a.vulnerability.localeCompare(b.vulnerability) ||
      a.package.localeCompare(b.package),
  );
  return {
    manifest: r.manifest_hash!,
    packageCount: Object.keys(packages).length,
    distributions: Object.values(dists)
      .map((d) => d.pretty_name ?? d.name ?? d.id)
      .filter((d): d is string => !!d),
    findings,
  };
}

export interface IndexSummary {
  manifest: string;
  state: string;
  success: boolean;
  error?: string;
  packageCount: number;
}

export function parseIndexReport(input: unknown): IndexSummary {
  if (!isObject(input) || typeof input.manifest_hash !== 'string') {
    throw new ReportError('index report: missing manifest_hash');
  }
  const r = input as unknown as IndexReport;
  const out: IndexSummary = {
    manifest: r.manifest_hash,
    state: String(r.state),
    success: r.success === true,
    packageCount: isObject(r.packages) ? Object.keys(r.packages).length : 0,
  };
  if (r.err) out.error = r.err;
  return out;
}
