/**
 * Clair v4 HTTP API types (httptransport/types/v1/*.schema.json, Clair v4.9). Only what rollgate
 * reads or sends; the schemas allow more.
 */

export interface ClairLayer {
  hash: string;
  uri: string;
  headers?: Record<string, string[]>;
  media_type?: string;
}

export interface ClairManifest {
  hash: string;
  layers: ClairLayer[];
}

export interface ClairPackage {
  id?: string;
  name: string;
  version: string;
  kind?: 'BINARY' | 'SOURCE';
  source?: ClairPackage;
  normalized_version?: string;
  module?: string;
  arch?: string;
  cpe?: string;
}

export interface ClairDistribution {
  id: string;
  did?: string;
  name?: string;
  version?: string;
  version_code_name?: string;
  version_id?: string;
  arch?: string;
  cpe?: string;
  pretty_name?: string;
}

export interface ClairRepository {
  id: string;
  name?: string;
  key?: string;
  uri?: string;
  cpe?: string;
}

export interface ClairEnvironment {
  package_db?: string;
  distribution_id?: string;
  introduced_in?: string;
  repository_ids?: string[];
}

export type NormalizedSeverity = 'Unknown' | 'Negligible' | 'Low' | 'Medium' | 'High' | 'Critical';

export interface ClairVulnerability {
  id: string;
  updater: string;
  name: string;
  description?: string;
  issued?: string;
  links?: string;
  severity?: string;
  normalized_severity: NormalizedSeverity;
  fixed_in_version?: string;
  range?: Record<string, string>;
  arch_op?: string;
  package?: ClairPackage;
  distribution?: ClairDistribution;
  repository?: ClairRepository;
}

export interface IndexReport {
  manifest_hash: string;
  state: string;
  success: boolean;
  err?: string;
  packages?: Record<string, ClairPackage>;
  distributions?: Record<string, ClairDistribution>;
  repository?: Record<string, ClairRepository>;
  environments?: Record<string, ClairEnvironment[]>;
}

export interface VulnerabilityReport {
  manifest_hash: string;
  packages: Record<string, ClairPackage>;
  distributions: Record<string, ClairDistribution>;
  repository?: Record<string, ClairRepository>;
  environments: Record<string, ClairEnvironment[]>;
  vulnerabilities: Record<string, ClairVulnerability>;
  package_vulnerabilities: Record<string, string[]>;
  enrichments?: Record<string, unknown[]>;
}

/** claircore's index states; IndexFinished and IndexError end an index. */
export const INDEX_FINISHED = 'IndexFinished';
export const INDEX_ERROR = 'IndexError';
