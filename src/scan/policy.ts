import { parse as parseYaml } from 'yaml';
import { InputError } from '../model/errors';
import { SEVERITIES, severityRank, type Severity, type VulnerabilityFinding } from './parse';

/**
 * The vulnerability gate (pure): a severity threshold and an ignore list in which every entry
 * carries a reason and an expiry date. An expired entry ignores nothing — its findings count
 * again and the outcome names it, so an exception cannot outlive its review date quietly.
 */

export interface IgnoreEntry {
  /** Vulnerability name (`CVE-2023-1234`) or Clair id. */
  id: string;
  /** Only for this package (default: any package). */
  package?: string;
  reason: string;
  /** Last day the entry applies, `YYYY-MM-DD` (UTC, inclusive). */
  expires: string;
}

export interface VulnerabilityPolicy {
  /** Findings at or above this severity fail the scan. */
  threshold: Severity;
  ignore: IgnoreEntry[];
}

export interface IgnoredFinding {
  finding: VulnerabilityFinding;
  entry: IgnoreEntry;
}

export interface PolicyOutcome {
  threshold: Severity;
  /** At or above the threshold and not ignored. */
  failing: VulnerabilityFinding[];
  /** Below the threshold (reported, not failing). */
  belowThreshold: VulnerabilityFinding[];
  ignored: IgnoredFinding[];
  /** Expired entries and the findings they no longer cover. */
  expired: { entry: IgnoreEntry; findings: VulnerabilityFinding[] }[];
  /** Entries that matched nothing (candidates for removal). */
  unused: IgnoreEntry[];
  passed: boolean;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function parseSeverity(value: string, field = 'severity'): Severity {
  const found = SEVERITIES.find((s) => s.toLowerCase() === value.trim().toLowerCase());
  if (!found) throw new InputError(field, `"${value}" is not one of ${SEVERITIES.join(', ')}`);
  return found;
}

/** End of the expiry day (exclusive), epoch ms. */
export function expiryEnd(expires: string): number {
  const m = DATE.exec(expires);
  if (!m) return NaN;
  const [y, mo, d] = [Number(m[1]), Number(m[2]) - 1, Number(m[3])];
  const day = new Date(Date.UTC(y, mo, d));
  // Reject 2024-02-30, month 13 and the like: the date must survive the round trip.
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo || day.getUTCDate() !== d) return NaN;
  return Date.UTC(y, mo, d + 1);
}

/** Validates an ignore list read from YAML or JSON: every entry needs id, reason and expires. */
export function parseIgnoreList(value: unknown, field = 'ignore'): IgnoreEntry[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new InputError(field, 'must be a list');
  return value.map((raw, i) => {
    const where = `${field}[${i}]`;
    if (typeof raw !== 'object' || raw === null) throw new InputError(where, 'must be a mapping');
    const e = raw as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      if (!['id', 'package', 'reason', 'expires'].includes(key)) {
        throw new InputError(`${where}.${key}`, 'unknown key (id, package, reason, expires)');
      }
    }
    if (typeof e.id !== 'string' || e.id.trim() === '') {
      throw new InputError(`${where}.id`, 'the vulnerability id is required');
    }
    if (typeof e.reason !== 'string' || e.reason.trim().length < 3) {
      throw new InputError(`${where}.reason`, `${e.id}: say why it is ignored`);
    }
    const expires = e.expires instanceof Date ? e.expires.toISOString().slice(0, 10) : e.expires;
    if (typeof expires !== 'string' || Number.isNaN(expiryEnd(expires))) {
      throw new InputError(`${where}.expires`, `${e.id}: needs a date, YYYY-MM-DD`);
    }
    const entry: IgnoreEntry = { id: e.id.trim(), reason: e.reason.trim(), expires };
    if (e.package !== undefined) {
      if (typeof e.package !== 'string' || e.package.trim() === '') {
        throw new InputError(`${where}.package`, 'must be a package name');
      }
      entry.package = e.package.trim();
    }
    return entry;
  });
}

function matches(entry: IgnoreEntry, f: VulnerabilityFinding): boolean {
  const id = entry.id.toLowerCase();
  const idMatch = f.vulnerability.toLowerCase() === id || f.clairIds.some((c) => c === entry.id);
  return idMatch && (entry.package === undefined || entry.package === f.package);
}

export function applyPolicy(
  findings: readonly VulnerabilityFinding[],
  policy: VulnerabilityPolicy,
  nowMs: number,
): PolicyOutcome {
  const threshold = severityRank(policy.threshold);
  const live = policy.ignore.filter((e) => nowMs < expiryEnd(e.expires));
  const dead = policy.ignore.filter((e) => !(nowMs < expiryEnd(e.expires)));
  const used = new Set<IgnoreEntry>();
  const out: PolicyOutcome = {
    threshold: policy.threshold,
    failing: [],
    belowThreshold: [],
    ignored: [],
    expired: [],
    unused: [],
    passed: true,
  };
  const expiredHits = new Map<IgnoreEntry, VulnerabilityFinding[]>();
  for (const f of findings) {
    for (const e of dead) {
      if (matches(e, f)) {
        used.add(e);
        expiredHits.set(e, [...(expiredHits.get(e) ?? []), f]);
      }
    }
    const entry = live.find((e) => matches(e, f));
    if (entry) {
      used.add(entry);
      out.ignored.push({ finding: f, entry });
    } else if (severityRank(f.severity) >= threshold) {
      out.failing.push(f);
    } else {
      out.belowThreshold.push(f);
    }
  }
  out.expired = [...expiredHits].map(([entry, fs]) => ({ entry, findings: fs }));
  out.unused = policy.ignore.filter((e) => !used.has(e));
  out.passed = out.failing.length === 0;
  return out;
}

/**
 * An ignore file (YAML or JSON): a list of entries, or `{ ignore: [...] }`.
 *
 *     - id: CVE-2023-45853
 *       package: zlib1g
 *       reason: minizip is not shipped
 *       expires: 2026-12-31
 */
export function parseIgnoreFile(text: string, field = 'ignore-file'): IgnoreEntry[] {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new InputError(field, `not YAML: ${(err as Error).message}`);
  }
  if (value && typeof value === 'object' && !Array.isArray(value) && 'ignore' in value) {
    value = (value as { ignore: unknown }).ignore;
  }
  return parseIgnoreList(value, field);
}
