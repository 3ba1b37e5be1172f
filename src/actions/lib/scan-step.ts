import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ArtifactNotFoundError, DefaultArtifactClient } from '@actions/artifact';
import * as core from '@actions/core';
import { tlsVerifyOf } from '../../cli/build';
import {
  pskConfig,
  runScan,
  verdictLine,
  writeScanFiles,
  type ScanNames,
  type ScanOptions,
} from '../../cli/scan';
import { realClock } from '../../clock/real';
import { loadGroupFile } from '../../config/group-file';
import { coreLogger } from './core-logger';
import { renderScanMarkdown } from '../../scan/markdown';
import {
  uncheckedParts,
  verdictArtifactName,
  verdictOf,
  type ScanVerdict,
} from '../../scan/verdict';
import { flag, list, optional, registryAuthInput, required } from './inputs';

export const SCAN_INPUTS: ScanNames = {
  image: 'input image',
  clairUrl: 'input clair-url',
  matcherUrl: 'input clair-matcher-url',
  severity: 'input severity',
  ignoreFile: 'input ignore-file',
  complianceConfig: 'input compliance-config',
  allowedBases: 'input allowed-bases',
  layerBaseUrl: 'input layer-base-url',
};

export function scanInputs(): ScanOptions {
  const o: ScanOptions = {
    image: required('image'),
    severity: optional('severity') ?? 'High',
    allowedBases: list('allowed-bases'),
    compliance: flag('compliance'),
    tlsVerify: tlsVerifyOf(optional('tls-verify') ?? 'true', 'input tls-verify'),
  };
  const copy = {
    clairUrl: 'clair-url',
    matcherUrl: 'clair-matcher-url',
    ignoreFile: 'ignore-file',
    complianceConfig: 'compliance-config',
    layerBaseUrl: 'layer-base-url',
  } as const;
  for (const [key, input] of Object.entries(copy) as [keyof typeof copy, string][]) {
    const v = optional(input);
    if (v !== undefined) o[key] = v;
  }
  const psk = optional('psk');
  if (psk) {
    core.setSecret(psk);
    o.psk = pskConfig(psk, optional('psk-issuer') ?? 'rollgate', {
      key: 'input psk',
      issuer: 'input psk-issuer',
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
    const o = scanInputs();
    const groupFile = optional('group-file');
    if (groupFile) {
      // The group's own `podman run` flags are what the no-privileged rule checks.
      const runArgs = (await loadGroupFile(groupFile, env)).package.image?.runArgs;
      if (runArgs) o.runArgs = runArgs;
    }
    const failOnFindings = flag('fail-on-findings');
    const outcome = await runScan(o, SCAN_INPUTS, { clock: realClock, logger: coreLogger });
    const workspace = env.GITHUB_WORKSPACE ?? process.cwd();
    const at = (input: string) => {
      const v = optional(input);
      return v === undefined ? undefined : resolve(workspace, v);
    };
    const files = await writeScanFiles(outcome, {
      sarif: at('sarif-file'),
      json: at('report-file'),
      sarifArtifactUri: optional('containerfile') ?? 'Containerfile',
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
    if (verdict.passed && uncheckedParts(verdict).length > 0) core.warning(`clair-scan: ${line}`);
    else if (verdict.passed) core.info(line);
    else if (failOnFindings) core.setFailed(`clair-scan: ${line}`);
    else core.warning(`clair-scan: ${line} (fail-on-findings: false)`);
  } catch (err) {
    core.setFailed(err instanceof Error ? err.message : String(err));
  }
}
