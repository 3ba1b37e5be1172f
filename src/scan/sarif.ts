import { createHash } from 'node:crypto';
import { RULES, type ComplianceFinding } from './compliance/policy';
import { severityRank, type Severity, type VulnerabilityFinding } from './parse';
import type { ScanOutcome } from './scan';

/**
 * SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer). One run, tool "rollgate":
 * a rule per vulnerability (with GitHub's `security-severity`) and per compliance rule; ignored
 * findings are kept as suppressed results with the ignore entry's reason.
 *
 * Code scanning needs a file location for each result: the Containerfile the image was built
 * from (`artifactUri`), line 1, and the image layer as a logical location.
 */

export interface SarifOptions {
  /** Path in the repository the results point at (default `Containerfile`). */
  artifactUri?: string;
  toolVersion?: string;
  informationUri?: string;
}

type Json = Record<string, unknown>;

/** GitHub's security-severity scale (CVSS-like, 0.0–10.0). */
const SECURITY_SEVERITY: Record<Severity, string> = {
  Critical: '9.5',
  High: '8.0',
  Medium: '5.5',
  Low: '3.0',
  Negligible: '1.0',
  Unknown: '0.0',
};

function fingerprint(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

function location(uri: string, layer: string | undefined): Json {
  const loc: Json = {
    physicalLocation: { artifactLocation: { uri }, region: { startLine: 1 } },
  };
  if (layer) loc.logicalLocations = [{ name: layer, kind: 'module' }];
  return loc;
}

/** Whether the whole scan ran; what did not is a notification (SARIF 2.1.0 §3.20). */
function invocation(outcome: ScanOutcome): Json {
  const notes: Json[] = [];
  if (outcome.clairError) {
    notes.push({
      level: 'error',
      message: { text: `Vulnerabilities NOT checked: Clair failed: ${outcome.clairError}` },
    });
  } else if (!outcome.vulnerabilities) {
    notes.push({
      level: 'warning',
      message: { text: 'Vulnerabilities NOT checked: no Clair was given (compliance rules only)' },
    });
  }
  if (outcome.complianceError) {
    notes.push({
      level: 'error',
      message: { text: `Compliance rules NOT checked: ${outcome.complianceError}` },
    });
  } else if (!outcome.compliance) {
    notes.push({ level: 'warning', message: { text: 'Compliance rules NOT checked' } });
  }
  return {
    executionSuccessful: outcome.clairError === undefined && outcome.complianceError === undefined,
    ...(notes.length ? { toolExecutionNotifications: notes } : {}),
  };
}

export function toSarif(outcome: ScanOutcome, options: SarifOptions = {}): Json {
  const uri = options.artifactUri ?? 'Containerfile';
  const rules: Json[] = [];
  const ruleIndex = new Map<string, number>();
  const results: Json[] = [];
  const addRule = (id: string, rule: Json) => {
    if (!ruleIndex.has(id)) {
      ruleIndex.set(id, rules.length);
      rules.push({ id, ...rule });
    }
    return ruleIndex.get(id)!;
  };

  const v = outcome.vulnerabilities;
  if (v) {
    const threshold = severityRank(v.outcome.threshold);
    const vulnResult = (f: VulnerabilityFinding, suppression?: Json): Json => {
      const index = addRule(f.vulnerability, {
        name: f.vulnerability.replace(/[^A-Za-z0-9]/g, ''),
        shortDescription: { text: `${f.vulnerability} in ${f.package}` },
        fullDescription: { text: f.description ?? `${f.vulnerability} (${f.severity})` },
        helpUri: f.links[0],
        help: {
          text: f.fixedIn
            ? `Upgrade ${f.package} to ${f.fixedIn} or later (rebuild on an updated base image).`
            : `No fixed version is known for ${f.package}; consider another base or an ignore entry with a reason and an expiry date.`,
        },
        properties: {
          'security-severity': SECURITY_SEVERITY[f.severity],
          tags: ['security', 'vulnerability', 'container', f.severity.toLowerCase()],
        },
      });
      const failing = severityRank(f.severity) >= threshold;
      const result: Json = {
        ruleId: f.vulnerability,
        ruleIndex: index,
        level: failing ? 'error' : 'note',
        message: {
          text: `${f.package} ${f.version} is affected by ${f.vulnerability} (${f.severity})${f.fixedIn ? `; fixed in ${f.fixedIn}` : ''}. Image ${outcome.reference}.`,
        },
        locations: [location(uri, f.layers[0])],
        partialFingerprints: {
          'rollgateVulnerability/v1': fingerprint(outcome.reference.split('@')[0]!, f.key),
        },
        properties: { package: f.package, version: f.version, layers: f.layers },
      };
      if (suppression) result.suppressions = [suppression];
      return result;
    };
    for (const f of [...v.outcome.failing, ...v.outcome.belowThreshold])
      results.push(vulnResult(f));
    for (const { finding, entry } of v.outcome.ignored) {
      results.push(
        vulnResult(finding, {
          kind: 'external',
          status: 'accepted',
          justification: `${entry.reason} (ignored until ${entry.expires})`,
        }),
      );
    }
  }

  const c = outcome.compliance;
  if (c) {
    for (const f of c.findings as ComplianceFinding[]) {
      const id = `compliance/${f.rule}`;
      const index = addRule(id, {
        name: f.rule.replace(/-(\w)/g, (_m, ch: string) => ch.toUpperCase()),
        shortDescription: { text: RULES[f.rule].title },
        fullDescription: { text: RULES[f.rule].help },
        help: { text: f.fix },
        properties: {
          'security-severity': f.level === 'fail' ? '8.0' : '4.0',
          tags: ['security', 'compliance', 'container'],
        },
      });
      results.push({
        ruleId: id,
        ruleIndex: index,
        level: f.level === 'fail' ? 'error' : 'warning',
        message: { text: `${f.message}. Where: ${f.layer}. Fix: ${f.fix}` },
        locations: [location(uri, f.layerDigest ?? f.layer)],
        partialFingerprints: {
          'rollgateCompliance/v1': fingerprint(
            outcome.reference.split('@')[0]!,
            f.rule,
            f.path ?? f.message,
          ),
        },
      });
    }
  }

  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'rollgate',
            informationUri: options.informationUri ?? 'https://github.com/rollgate/rollgate',
            version: options.toolVersion ?? '0.1.0',
            rules,
          },
        },
        automationDetails: { id: `rollgate/clair-scan/${outcome.reference.split('@')[0]}/` },
        invocations: [invocation(outcome)],
        results,
        properties: {
          image: outcome.image,
          digest: outcome.digest,
          scannedAt: outcome.scannedAt,
          passed: outcome.passed,
          vulnerabilitiesChecked: outcome.vulnerabilities !== undefined,
          complianceChecked: outcome.compliance !== undefined,
        },
      },
    ],
  };
}
