import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ArtifactNotFoundError, DefaultArtifactClient } from '@actions/artifact';
import * as core from '@actions/core';
import { writeScanFiles } from '../../app/scan/files';
import { groupRunArgs, pskConfig, runScan } from '../../app/scan/run';
import {
  SCAN_SETTINGS,
  scanOptionsOf,
  type ScanNames,
  type ScanOptions,
  type ScanSettingValues,
} from '../../app/scan/settings';
import { verdictLine } from '../../app/scan/verdict-text';
import { settingNames } from '../../app/settings';
import { realClock } from '../../clock/real';
import { coreLogger } from './core-logger';
import { renderScanMarkdown } from '../../scan/markdown';
import {
  uncheckedParts,
  verdictArtifactName,
  verdictOf,
  type ScanVerdict,
} from '../../scan/verdict';
import { inputSource, readInputs, registryAuthInput } from './inputs';

/** Each setting by the input that gives it, for errors. */
export const SCAN_INPUTS: ScanNames = settingNames(SCAN_SETTINGS, inputSource);

export function scanInputs(inputs: ScanSettingValues = readInputs(SCAN_SETTINGS)): ScanOptions {
  const o = scanOptionsOf(inputs, SCAN_INPUTS);
  if (inputs.psk) {
    core.setSecret(inputs.psk);
    o.psk = pskConfig(inputs.psk, inputs['psk-issuer'], {
      key: SCAN_INPUTS.psk,
      issuer: SCAN_INPUTS.pskIssuer,
    });
  }
  const auth = registryAuthInput();
  if (auth) o.registryAuth = auth;
  return o;
}

/**
 * Uploads the verdict as `verdictArtifactName(digest, attempt)` holding `verdict.json`. A name is
 * taken once per run; within an attempt a second scan of the digest replaces the first, and a
 * re-run attempt (which cannot see attempt 1's artifacts through the runner) uploads its own:
 * readers take the newest.
 */
export async function uploadVerdict(verdict: ScanVerdict, dir: string): Promise<string> {
  const client = new DefaultArtifactClient();
  const name = verdictArtifactName(verdict.digest, Number(process.env.GITHUB_RUN_ATTEMPT ?? 1));
  const file = join(dir, 'verdict.json');
  await writeFile(file, JSON.stringify(verdict, null, 2) + '\n');
  const earlier = await client.getArtifact(name).catch((err: unknown) => {
    if (err instanceof ArtifactNotFoundError) return null;
    throw err;
  });
  if (earlier) await client.deleteArtifact(name);
  await client.uploadArtifact(name, [file], dir, { retentionDays: 90 });
  return name;
}

/** The clair-scan step: scan, report files, summary, the verdict as an artifact, pass or fail. */
export async function scanStep(): Promise<void> {
  const env = process.env;
  try {
    const inputs = readInputs(SCAN_SETTINGS);
    const o = scanInputs(inputs);
    const groupFile = inputs['group-file'];
    if (groupFile) {
      // The group's own `podman run` flags are what the no-privileged rule checks.
      const runArgs = await groupRunArgs(groupFile, env);
      if (runArgs) o.runArgs = runArgs;
    }
    const failOnFindings = inputs['fail-on-findings'];
    const outcome = await runScan(o, SCAN_INPUTS, { clock: realClock, logger: coreLogger });
    const workspace = env.GITHUB_WORKSPACE ?? process.cwd();
    const at = (path: string | undefined) =>
      path === undefined ? undefined : resolve(workspace, path);
    const files = await writeScanFiles(outcome, {
      sarif: at(inputs['sarif-file']),
      json: at(inputs['report-file']),
      sarifArtifactUri: inputs.containerfile,
    });
    const verdict = verdictOf(outcome);
    const dir = await mkdtemp(join(env.RUNNER_TEMP ?? tmpdir(), 'rollgate-verdict-'));
    const artifact = await uploadVerdict(verdict, dir);
    core.info(`verdict uploaded as ${artifact}`);
    core.setOutput('passed', String(verdict.passed));
    core.setOutput('vulnerabilities-checked', String(verdict.vulnerabilities.checked));
    core.setOutput('verdict', JSON.stringify(verdict));
    core.setOutput('verdict-artifact', artifact);
    core.setOutput('digest', verdict.digest);
    core.setOutput('reference', verdict.reference);
    core.setOutput('sarif-file', files.sarif ?? '');
    core.setOutput('report-file', files.json ?? '');
    await core.summary.addRaw(renderScanMarkdown(outcome)).write();
    const line = verdictLine(verdict);
    // A rule that could not run is a setting to fix, not a finding: fail-on-findings does not apply.
    if (outcome.complianceError) core.setFailed(`clair-scan: ${line}`);
    else if (verdict.passed && uncheckedParts(verdict).length > 0)
      core.warning(`clair-scan: ${line}`);
    else if (verdict.passed) core.info(line);
    else if (failOnFindings) core.setFailed(`clair-scan: ${line}`);
    else core.warning(`clair-scan: ${line} (fail-on-findings: false)`);
  } catch (err) {
    core.setFailed(err instanceof Error ? err.message : String(err));
  }
}
