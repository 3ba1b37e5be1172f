import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DefaultArtifactClient } from '@actions/artifact';
import type { VerdictSource } from '../../app/gate';
import {
  isVerdictArtifact,
  parseVerdict,
  verdictArtifactName,
  type ScanVerdict,
} from '../../scan/verdict';
import type { FindIn } from '../../github/ledger-artifacts';

/**
 * The verdicts the clair-scan step uploaded (artifact `rollgate-scan-<hex16>` holding
 * `verdict.json`): this run's, or another run's when the image was scanned there.
 */
export class ArtifactVerdicts implements VerdictSource {
  readonly where: string;

  constructor(
    private readonly dir: string,
    private readonly other?: FindIn,
  ) {
    this.where = other ? `the artifacts of run ${other.runId}` : "this run's artifacts";
  }

  async get(digest: string): Promise<ScanVerdict | null> {
    const client = new DefaultArtifactClient();
    const findBy = this.other
      ? {
          findBy: {
            token: this.other.token,
            workflowRunId: this.other.runId,
            repositoryOwner: this.other.owner,
            repositoryName: this.other.repo,
          },
        }
      : {};
    const name = verdictArtifactName(digest);
    const { artifacts } = await client.listArtifacts(findBy);
    const newest = artifacts
      .filter((a) => isVerdictArtifact(a.name, digest))
      .sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0) || a.id - b.id)
      .at(-1);
    if (!newest) return null;
    const path = join(this.dir, name);
    await client.downloadArtifact(newest.id, { path, ...findBy });
    const file = join(path, 'verdict.json');
    const verdict = parseVerdict(await readFile(file, 'utf8'), `artifact ${name}: verdict.json`);
    return verdict.digest === digest ? verdict : null;
  }
}
