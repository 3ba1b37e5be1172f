/**
 * clair-scan end to end: a real image in a real registry (127.0.11.1:15003), the Clair v4
 * double on 127.0.11.2 (every request and response validated against Clair's OpenAPI 3.1
 * description; it fetches and verifies each layer blob from the registry as Clair's indexer
 * does), PSK auth, the matcher's 202 warm-up, an index that takes several polls, the policy,
 * and the three outputs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../../src/image/build';
import { spawnRunner } from '../../../src/image/command';
import { ClairClient, clairManifest } from '../../../src/scan/clair/client';
import { renderScanMarkdown } from '../../../src/scan/markdown';
import { toSarif } from '../../../src/scan/sarif';
import { scanImage, scanJson } from '../../../src/scan/scan';
import { startClairDouble, type ClairDouble } from '../../support/clair-double';
import { captureLogger, wallClock } from '../../support/haproxy-fixture';
import { writeStaticApp } from '../../support/registry-apps';
import {
  containersFixture,
  ensureContainerTools,
  type ContainersFixture,
} from '../../support/registry-env';

const missing = await ensureContainerTools();
const KEY = Buffer.from('rollgate-test-psk-32-bytes-long!').toString('base64');

describe.skipIf(missing)('clair-scan against the Clair double and a real registry (B4)', () => {
  let fx: ContainersFixture;
  let image: string;
  const doubles: ClairDouble[] = [];
  const { logger, lines } = captureLogger();

  beforeAll(async () => {
    const f = await containersFixture(15003);
    if (typeof f === 'string') throw new Error(f);
    fx = f;
    const dir = fx.scratch('app');
    writeStaticApp(dir);
    const built = await buildImage(
      {
        appDir: dir,
        kind: 'static',
        static: { binary: 'bin/busybox' },
        baseImage: fx.bases.busybox,
        image: `${fx.registry.addr}/acme/scanned:2.0.0`,
        provenance: {
          commit: 'b'.repeat(40),
          source: 'https://github.com/acme/scanned',
          created: Date.now(),
        },
        registry: { insecure: true },
        workDir: fx.scratch('work'),
      },
      { runner: spawnRunner(), env: fx.env, clock: wallClock, logger },
    );
    image = built.image;
  });

  afterAll(async () => {
    for (const d of doubles) await d.close();
    await fx?.stop();
  });

  async function clair(options: Parameters<typeof startClairDouble>[0] = {}) {
    const d = await startClairDouble({ psk: { key: KEY, issuers: ['rollgate'] }, ...options });
    doubles.push(d);
    return d;
  }

  const client = (d: ClairDouble, key = KEY) =>
    new ClairClient({
      indexerUrl: d.url,
      psk: { key, issuer: 'rollgate' },
      clock: wallClock,
      pollIntervalMs: 50,
      logger,
    });

  it('indexes (layers fetched from the registry), waits out the warm-up, judges and renders', async () => {
    const d = await clair({ matcherWarmup: 2, indexSteps: 2 });
    const outcome = await scanImage({
      image,
      registry: fx.registry.client(),
      clair: client(d),
      policy: {
        threshold: 'High',
        ignore: [{ id: 'CVE-2023-45853', reason: 'minizip is not shipped', expires: '2099-12-31' }],
      },
      compliance: { allowedBases: [`${fx.registry.addr}/rollgate-base/*`] },
      clock: wallClock,
      logger,
    });

    // The double saw a spec-valid conversation, with only the deviations the real server makes.
    expect(d.violations).toEqual([]);
    expect(d.requests.map((r) => `${r.operationId} ${r.status}`)).toEqual([
      'Index 201',
      'GetIndexReport 200',
      'GetIndexReport 200',
      'GetIndexReport 200',
      'GetVulnerabilityReport 202',
      'GetVulnerabilityReport 202',
      'GetVulnerabilityReport 200',
    ]);
    expect(d.deviations.map((x) => x.deviation)).toEqual([
      'matcherWarmup',
      'matcherWarmup',
      'vulnReport200',
    ]);
    expect(d.requests.every((r) => r.authorization?.startsWith('Bearer '))).toBe(true);
    // Clair fetched and verified every layer of the pushed manifest.
    const m = await fx.registry.client().manifest('acme/scanned', '2.0.0');
    expect(d.fetchedLayers).toEqual(m.manifest.layers.map((l) => l.digest));
    expect(outcome.digest).toBe(m.digest);

    const v = outcome.vulnerabilities!;
    expect(v.index).toMatchObject({ state: 'IndexFinished', success: true, packageCount: 8 });
    expect(v.outcome.failing.map((f) => f.vulnerability)).toEqual([
      'CVE-2023-38545',
      'CVE-2023-4911',
      'CVE-2024-2961',
    ]);
    expect(v.outcome.ignored.map((i) => i.finding.vulnerability)).toEqual(['CVE-2023-45853']);
    // the fixture's placeholder layers became this image's first and last layers
    expect(v.report.findings.find((f) => f.package === 'libcurl4')!.layers).toEqual([
      m.manifest.layers.at(-1)!.digest,
    ]);
    expect(outcome.compliance!.passed).toBe(true);
    expect(outcome.passed).toBe(false);
    expect(lines.info.some((l) => l.includes('matcher is starting (202)'))).toBe(true);

    // The three outputs, written where an action would upload them.
    const out = fx.scratch('out');
    fs.writeFileSync(path.join(out, 'scan.md'), renderScanMarkdown(outcome));
    fs.writeFileSync(path.join(out, 'scan.sarif'), JSON.stringify(toSarif(outcome)));
    fs.writeFileSync(path.join(out, 'scan.json'), JSON.stringify(scanJson(outcome)));
    expect(fs.readFileSync(path.join(out, 'scan.md'), 'utf8')).toContain('## Image scan ❌ failed');
    const sarif = JSON.parse(fs.readFileSync(path.join(out, 'scan.sarif'), 'utf8')) as {
      runs: { results: unknown[] }[];
    };
    expect(sarif.runs[0]!.results).toHaveLength(9);
  });

  it('passes with threshold Critical and the Critical findings ignored; 201 (as the spec says) is accepted too', async () => {
    const d = await clair({ vulnReportStatus: 201 });
    const outcome = await scanImage({
      image,
      registry: fx.registry.client(),
      clair: client(d),
      policy: {
        threshold: 'Critical',
        ignore: [
          { id: 'CVE-2023-45853', reason: 'minizip is not shipped', expires: '2099-12-31' },
          { id: 'CVE-2023-38545', reason: 'no SOCKS5 proxies here', expires: '2099-12-31' },
        ],
      },
      clock: wallClock,
      logger,
    });
    expect(d.violations).toEqual([]);
    expect(d.deviations).toEqual([]);
    expect(outcome.passed).toBe(true);
    expect(outcome.compliance).toBeUndefined();
  });

  it('a wrong PSK gets 401 with an empty body, and the error says what to check', async () => {
    const d = await clair();
    const wrong = Buffer.from('not the key the server has at all').toString('base64');
    await expect(
      scanImage({
        image,
        registry: fx.registry.client(),
        clair: client(d, wrong),
        policy: { threshold: 'High', ignore: [] },
        clock: wallClock,
        logger,
      }),
    ).rejects.toThrow(/HTTP 401: unauthorized: check the PSK/);
    expect(d.requests.map((r) => r.status)).toEqual([401]);
    expect(d.violations).toEqual([]);
  });

  it('layers Clair cannot fetch end the index with IndexError, reported as such', async () => {
    const d = await clair();
    const m = await fx.registry.client().manifest('acme/scanned', '2.0.0');
    const manifest = clairManifest(
      m.digest,
      m.manifest.layers,
      (digest) => `${fx.registry.url}/v2/acme/other/blobs/${digest}`,
    );
    await expect(client(d).index(manifest)).rejects.toThrow(
      /could not index .*fetching layer sha256:[a-f0-9]+: HTTP 404/,
    );
    expect(d.violations).toEqual([]);
  });

  it('the double refuses requests that break the spec and records them', async () => {
    const d = await startClairDouble();
    doubles.push(d);
    const bad = await fetch(`${d.url}/indexer/api/v1/index_report`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        hash: 'sha256:nothex',
        layers: [{ hash: `sha256:${'1'.repeat(64)}`, uri: 'x', media_type: 'application/x-tar' }],
      }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/^body: \/hash/);
    const wrongType = await fetch(`${d.url}/indexer/api/v1/index_report`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: '{}',
    });
    expect(wrongType.status).toBe(400);
    const badDigest = await fetch(`${d.url}/matcher/api/v1/vulnerability_report/latest`);
    expect(badDigest.status).toBe(400);
    const noRoute = await fetch(`${d.url}/indexer/api/v2/index_report`);
    expect(noRoute.status).toBe(404);
    expect(d.violations.map((v) => `${v.direction} ${v.part}`)).toEqual([
      'request body',
      'request content-type',
      'request path',
      'request route',
    ]);
  });
});
