import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../../support/actions-runner';

// Issue 12 item 5: a job re-run with "Re-run failed jobs" gets attempt 2's runtime token, and the
// runner's artifact service resolves artifacts against that attempt: what attempt 1 uploaded
// (the package) is not served (GetSignedArtifactURL … 404 … workflow run not found). With
// `github-token` and `run-id`, download-artifact reads by run id through the public REST API,
// which is run-scoped. Every download-artifact step of the workflows must do so.

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
}

/** download-artifact steps without github-token and run-id, as `file: job #n`. */
export function attemptScopedDownloads(file: string, text = readFileSync(file, 'utf8')): string[] {
  const wf = parse(text) as { jobs?: Record<string, { steps?: Step[] }> };
  const out: string[] = [];
  for (const [job, def] of Object.entries(wf.jobs ?? {})) {
    for (const [i, step] of (def.steps ?? []).entries()) {
      if (!/^actions\/download-artifact@/.test(step.uses ?? '')) continue;
      const missing = ['github-token', 'run-id'].filter((k) => !step.with?.[k]);
      if (missing.length) out.push(`${job} step ${i + 1}: no ${missing.join(', ')}`);
    }
  }
  return out;
}

const yml = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => join(ROOT, dir, f));

describe('download-artifact reads by run id through REST', () => {
  it.each(
    [...yml('.github/workflows'), ...yml('examples/workflows')].map((f) => [
      f.slice(ROOT.length),
      f,
    ]),
  )('%s', (_name, file) => {
    expect(attemptScopedDownloads(file)).toEqual([]);
  });

  it('finds a step that reads through the attempt-scoped service', () => {
    const wf = `jobs:
  deploy:
    steps:
      - uses: actions/download-artifact@v4
        with: { name: package, path: package }
      - uses: actions/download-artifact@v5
        with: { name: package, github-token: x }
`;
    expect(attemptScopedDownloads('wf.yml', wf)).toEqual([
      'deploy step 1: no github-token, run-id',
      'deploy step 2: no run-id',
    ]);
  });
});
