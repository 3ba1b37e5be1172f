/**
 * A compliance rule that cannot run (here base-image: the base's registry is down) does not lose
 * Clair's results: they are kept and written, the rule's error names the rule, the setting and
 * the fix, and the scan does not pass.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { verdictLine } from '../../../src/app/scan/verdict-text';
import { renderScanText } from '../../../src/cli/scan/render';
import type { ClairClient } from '../../../src/scan/clair/client';
import { RegistryClient, type ImageConfig } from '../../../src/registry/client';
import { renderScanMarkdown } from '../../../src/scan/markdown';
import { toSarif } from '../../../src/scan/sarif';
import { scanImage, scanJson } from '../../../src/scan/scan';
import { verdictOf } from '../../../src/scan/verdict';
import { makeLogger } from '../../support/fakes';

const D = `sha256:${'f'.repeat(64)}`;
const BASE_D = `sha256:${'b'.repeat(64)}`;
const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../fixtures/clair/${name}`, import.meta.url), 'utf8'));

/** The image's registry: one manifest, a config that names its base in another registry. */
function registry(): RegistryClient {
  const config: ImageConfig = {
    config: {
      User: '10001',
      Labels: {
        'dev.rollgate.kind': 'static',
        // Nothing listens here: reading the base fails.
        'org.opencontainers.image.base.name': '127.0.54.2:54002/base/busybox',
        'org.opencontainers.image.base.digest': BASE_D,
      },
    },
    rootfs: { type: 'layers', diff_ids: [] },
  };
  const fake = {
    registry: 'r.io',
    baseUrl: 'http://r.io',
    authHeaders: () => Promise.resolve({}),
    manifest: () =>
      Promise.resolve({
        digest: D,
        manifest: {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D, size: 1 },
          layers: [],
        },
      }),
    config: () => Promise.resolve(config),
  };
  return fake as unknown as RegistryClient;
}

const clair = {
  scan: () =>
    Promise.resolve({
      index: fixture('index-report.json'),
      report: fixture('vulnerability-report.json'),
    }),
} as unknown as ClairClient;

const scan = (withClair: boolean) =>
  scanImage({
    image: 'r.io/acme/app:2.0.0',
    registry: registry(),
    ...(withClair ? { clair } : {}),
    policy: { threshold: 'High', ignore: [] },
    compliance: {
      rules: { 'non-root': 'off', 'no-secrets': 'off', 'no-privileged': 'off' },
      allowedBases: ['127.0.54.2:54002/base/*'],
    },
    clientFor: (r) => new RegistryClient(r, { insecure: true }),
    clock: { now: () => Date.parse('2026-02-03T04:05:06Z'), sleep: () => Promise.resolve() },
    logger: makeLogger(),
  });

const RULE_ERROR =
  /^compliance rule base-image could not run: .*fetch failed.* — it reads the base image the image's labels name from that base's registry: give the scan access to it \(registry-auth\), or set rules\.base-image: off in the compliance config \(rules\.base-image\)$/;

describe('a compliance rule that throws', () => {
  it("keeps Clair's findings, names the rule, the setting and the fix; the scan does not pass", async () => {
    const o = await scan(true);
    expect(o.vulnerabilities?.report.findings.length).toBeGreaterThan(0);
    expect(o.vulnerabilities?.outcome.failing.length).toBeGreaterThan(0);
    expect(o.compliance).toBeUndefined();
    expect(o.complianceError).toMatch(RULE_ERROR);
    expect(o.passed).toBe(false);

    const v = verdictOf(o);
    expect(v.vulnerabilities.checked).toBe(true);
    expect(v.compliance).toMatchObject({ checked: false, passed: false, failed: [] });
    expect(v.compliance.error).toMatch(RULE_ERROR);
    const line = verdictLine(v);
    expect(line).toMatch(
      /failed the scan: \d+ vulnerabilities at or above High; compliance rules NOT checked \(compliance rule base-image could not run: /,
    );
    expect(line).not.toContain('compliance rules failed:');

    expect(renderScanText(o)).toMatch(
      /^compliance +ERROR +NOT checked: compliance rule base-image could not run: /m,
    );
    expect(renderScanMarkdown(o)).toContain(
      '| compliance | ❌ **NOT checked**: compliance rule base-image could not run: ',
    );
    expect(scanJson(o)).toMatchObject({ complianceError: expect.stringMatching(RULE_ERROR) });
    const run = (toSarif(o) as { runs: { invocations: { executionSuccessful: boolean }[] }[] })
      .runs[0]!.invocations[0]!;
    expect(run.executionSuccessful).toBe(false);
  });

  it("without Clair, the rule's error is the answer (named, no stack)", async () => {
    await expect(scan(false)).rejects.toThrow(RULE_ERROR);
  });
});
