import { ScanGateError } from '../model/errors';
import type { PackageRef } from '../model/types';
import { judgeScanGate } from '../plan/scan-gate';
import type { ScanVerdict } from '../scan/verdict';
import { FileVerdicts } from '../store/file/verdicts';

/** Where the gate finds a digest's verdict: the record directory (CLI), the run's artifacts (actions). */
export interface VerdictSource {
  readonly where: string;
  get(digest: string): Promise<ScanVerdict | null>;
}

/** The verdicts `rollgate scan` recorded beside the group's record (store.dir). */
export function fileVerdictSource(storeDir: string): VerdictSource {
  const verdicts = new FileVerdicts(storeDir);
  return { where: verdicts.dir, get: (d: string) => verdicts.get(d) };
}

/**
 * The deploy-bastion gate (B4): an image package goes out only with a passed scan of its digest,
 * or with an override whose reason and author are recorded with the release. Tarballs pass
 * untouched (they have no digest to scan).
 */
export async function gatePackage(
  pkg: PackageRef,
  source: VerdictSource,
  override: { reason: string; by: string } | undefined,
): Promise<PackageRef> {
  if (!pkg.image) return pkg;
  const digest = pkg.image.slice(pkg.image.lastIndexOf('@') + 1);
  const verdict = await source.get(digest);
  const decision = judgeScanGate(digest, verdict, override);
  if (!decision.allowed) throw new ScanGateError(`${decision.reason} (looked in ${source.where})`);
  // The engine logs the decision as a `gate` event once the release has really started.
  return { ...pkg, scan: decision.record };
}
