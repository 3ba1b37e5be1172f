import { InputError } from '../model/errors';
import type { ScanVerdict } from '../model/scan-verdict';
import type { ScanOutcome } from './scan';

// The verdict is the record the deploy gate (plan/scan-gate.ts) reads: it lives in model/.
export { uncheckedParts, type ScanVerdict } from '../model/scan-verdict';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function verdictOf(outcome: ScanOutcome): ScanVerdict {
  const v = outcome.vulnerabilities?.outcome;
  const c = outcome.compliance;
  const rules = (mode: 'fail' | 'warn') =>
    [...new Set((c?.findings ?? []).filter((f) => f.level === mode).map((f) => f.rule))].sort();
  return {
    rollgateScan: 1,
    digest: outcome.digest,
    reference: outcome.reference,
    passed: outcome.passed,
    scannedAt: outcome.scannedAt,
    vulnerabilities: {
      checked: v !== undefined,
      passed: outcome.clairError ? false : (v?.passed ?? true),
      ...(v ? { threshold: v.threshold } : {}),
      failing: (v?.failing ?? []).map((f) => f.key),
      ...(outcome.clairError ? { error: outcome.clairError } : {}),
    },
    compliance: {
      checked: c !== undefined,
      passed: outcome.complianceError ? false : (c?.passed ?? true),
      failed: rules('fail'),
      warned: rules('warn'),
      ...(outcome.complianceError ? { error: outcome.complianceError } : {}),
    },
  };
}

/** Reads a verdict back; `where` names the file or artifact in the error. */
export function parseVerdict(text: string, where: string): ScanVerdict {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InputError(where, `is not JSON: ${(error as Error).message}`);
  }
  const d = data as Partial<ScanVerdict> | null;
  if (!d || d.rollgateScan !== 1 || typeof d.digest !== 'string' || !DIGEST.test(d.digest)) {
    throw new InputError(
      where,
      'is not a rollgate scan verdict (rollgateScan: 1, digest sha256:…)',
    );
  }
  if (typeof d.passed !== 'boolean') throw new InputError(`${where}: passed`, 'is not true/false');
  return d as ScanVerdict;
}

/** `sha256-<hex>.json`: the verdict's file name in a record directory. */
export function verdictFileName(digest: string): string {
  if (!DIGEST.test(digest)) throw new InputError('digest', `"${digest}" is not sha256:<64 hex>`);
  return `${digest.replace(':', '-')}.json`;
}

/** The workflow artifact the clair-scan action uploads and deploy-bastion looks for. */
export function verdictArtifactName(digest: string, attempt = 1): string {
  const base = `rollgate-scan-${verdictFileName(digest).slice('sha256-'.length, 'sha256-'.length + 16)}`;
  // A re-run attempt cannot see (nor delete) attempt 1's artifacts through the runner: its own name.
  return attempt > 1 ? `${base}-a${attempt}` : base;
}

/** True for the verdict artifact of `digest` from any attempt of a run. */
export function isVerdictArtifact(name: string, digest: string): boolean {
  const base = verdictArtifactName(digest);
  return name === base || new RegExp(`^${base}-a\\d+$`).test(name);
}
