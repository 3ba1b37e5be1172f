/**
 * The scan verdict recorded against an image digest (B4): what `rollgate scan` writes next to
 * the group's record and the clair-scan action uploads as an artifact, and what the
 * deploy-bastion gate reads back. Small on purpose: the full report is a separate file.
 */
export interface ScanVerdict {
  rollgateScan: 1;
  /** `sha256:<64 hex>`: the manifest that was scanned. */
  digest: string;
  /** `registry/repo@sha256:…` */
  reference: string;
  passed: boolean;
  scannedAt: string;
  /**
   * `checked: false, passed: true`: no Clair was asked (a compliance-only scan);
   * `checked: false, passed: false` with `error`: Clair was asked and failed.
   */
  vulnerabilities: {
    checked: boolean;
    passed: boolean;
    threshold?: string;
    failing: string[];
    error?: string;
  };
  /** `checked: false, passed: false` with `error`: a rule could not run (names the rule and the fix). */
  compliance: {
    checked: boolean;
    passed: boolean;
    failed: string[];
    warned: string[];
    error?: string;
  };
}

/** What a verdict did not look at, in words: `vulnerabilities NOT checked (no Clair)`. */
export function uncheckedParts(v: ScanVerdict): string[] {
  const parts: string[] = [];
  if (!v.vulnerabilities.checked) {
    parts.push(
      v.vulnerabilities.error
        ? `vulnerabilities NOT checked (Clair failed: ${v.vulnerabilities.error})`
        : 'vulnerabilities NOT checked (no Clair)',
    );
  }
  if (!v.compliance.checked) {
    parts.push(
      v.compliance.error
        ? `compliance rules NOT checked (${v.compliance.error})`
        : 'compliance rules NOT checked',
    );
  }
  return parts;
}
