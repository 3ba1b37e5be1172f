/**
 * The build-image and clair-scan bundles (dist/<name>/index.js) as the runner starts them,
 * against the GitHub double (artifact and cache services over Twirp, validated against the
 * protobuf types of @actions/artifact and @actions/cache; blobs in azurite) on 127.0.13.3,
 * buildah into a docker-registry on 127.0.13.1:15005, npm dependencies from a mirror on
 * 127.0.13.1:15009, and the Clair double on 127.0.13.2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../../src/image/labels';
import { readImage } from '../../../src/registry/client';
import {
  isVerdictArtifact,
  parseVerdict,
  verdictArtifactName,
  type ScanVerdict,
} from '../../../src/scan/verdict';
import { readArtifactFile, ROOT, runAction, type ActionRun } from '../../support/actions-runner';
import { startClairDouble, type ClairDouble } from '../../support/clair-double';
import {
  startGitHubDouble,
  type GitHubDouble,
  violationLines,
} from '../../support/github-double/github-double';
import {
  CLAIR_HOST,
  GITHUB_HOST,
  IMAGE_HOST,
  imageFixture,
  type ImageFixture,
} from '../../support/image-fixture';
import { startCleanClair } from '../../support/image-hosts';
import { writeNodeApp } from '../../support/registry-apps';
import { cappedImageGroup } from '../../support/group-yaml';
import { builderVars, ensureContainerTools } from '../../support/registry-env';
import { startNpmMirror, type NpmMirror } from '../../support/registry-npm';

const missing = await ensureContainerTools();
const KEY = Buffer.from('rollgate-actions-psk-32-bytes!!!').toString('base64');
const BUILD_TIMEOUT = 300_000;

describe.skipIf(missing)('build-image and clair-scan actions (bundles, GitHub double)', () => {
  let fx: ImageFixture;
  let mirror: NpmMirror;
  let double: GitHubDouble;
  let cleanClair: ClairDouble;
  let vulnerableClair: ClairDouble;
  let workspace: string;
  let cacheDir: string;
  let built: { digest: string; reference: string };

  beforeAll(async () => {
    const f = await imageFixture(15005);
    if (typeof f === 'string') throw new Error(f);
    fx = f;
    mirror = await startNpmMirror(IMAGE_HOST, 15009, fx.scratch('npm-mirror'));
    double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: GITHUB_HOST });
    await double.storage();
    cleanClair = await startCleanClair(CLAIR_HOST, KEY);
    vulnerableClair = await startClairDouble({
      host: CLAIR_HOST,
      psk: { key: KEY, issuers: ['rollgate'] },
    });
    workspace = fx.scratch('ws');
    cacheDir = path.join(fx.scratch('cache'), 'deps');
    await writeNodeApp(path.join(workspace, 'app'), {
      dependencies: { yaml: mirror.packages.yaml!, ms: mirror.packages.ms! },
      mirror: mirror.url,
      nonce: `${process.pid}-${Date.now()}`,
    });
  }, BUILD_TIMEOUT);

  afterAll(async () => {
    await cleanClair?.close();
    await vulnerableClair?.close();
    await double?.stop();
    await mirror?.close();
    await fx?.stop();
  });

  afterEach(() => {
    expect(violationLines(double)).toEqual([]);
    expect([...cleanClair.violations, ...vulnerableClair.violations]).toEqual([]);
    double.cache.outage = null;
    double.resetCalls();
  });

  function build(runId: number, inputs: Record<string, string> = {}): Promise<ActionRun> {
    return runAction('build-image', {
      double,
      ids: { runId, jobId: 'build' },
      job: 'build',
      cwd: workspace,
      timeoutMs: BUILD_TIMEOUT,
      // the builder's private storage, and the cache service v2 switch the runner sets
      env: { ...builderVars(fx.env), ACTIONS_CACHE_SERVICE_V2: 'true' },
      inputs: {
        image: `${fx.registry.addr}/acme/shop`,
        context: 'app',
        'base-image': fx.bases.node,
        'platform-options': `tz-shanghai npm-mirror=${mirror.url}/`,
        'tls-verify': 'false',
        'cache-dir': cacheDir,
        ...inputs,
      },
    });
  }

  function scan(
    clair: ClairDouble,
    runId: number,
    inputs: Record<string, string> = {},
    attempt = 1,
  ) {
    return runAction('clair-scan', {
      double,
      ids: { runId, jobId: 'scan', attempt },
      job: 'scan',
      cwd: workspace,
      inputs: {
        image: built.reference,
        'clair-url': clair.url,
        psk: KEY,
        'allowed-bases': `${fx.registry.addr}/rollgate-base/*`,
        'tls-verify': 'false',
        ...inputs,
      },
    });
  }

  const ok = (r: ActionRun) => {
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    return r;
  };

  const verdictArtifacts = (runId: number, digest: string) =>
    double.state.artifacts.filter(
      (a) => a.finalized && a.runId === runId && isVerdictArtifact(a.name, digest),
    );

  it(
    'build-image: pushes, outputs the digest; labels from the run; the dependency cache is saved on a miss',
    async () => {
      mirror.reset();
      const r = ok(await build(301, { tags: '1.0.0' }));
      expect(r.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect(r.outputs.image).toBe(`${fx.registry.addr}/acme/shop:1.0.0`);
      expect(r.outputs.reference).toBe(`${fx.registry.addr}/acme/shop@${r.outputs.digest}`);
      expect(await fx.registry.client().resolveDigest('acme/shop', '1.0.0')).toBe(r.outputs.digest);
      built = { digest: r.outputs.digest!, reference: r.outputs.reference! };
      const run = double.state.runs.get(301)!;
      const labels = (await readImage(fx.registry.client(), built.reference)).config.config?.Labels;
      expect(labels?.[LABEL.revision]).toBe(run.headSha);
      expect(labels?.[LABEL.source]).toBe('https://github.com/acme/shop');
      expect(labels?.[LABEL.runUrl]).toBe(
        'https://github.com/acme/shop/actions/runs/301/attempts/1',
      );
      expect(mirror.counts.tarballs).toBe(2);
      // A miss is not a failure: it says so and saves the cache after the build.
      expect(r.stdout).toMatch(
        /dependency cache: no entry for rollgate-build-node-linux-[0-9a-f]{32} yet/,
      );
      // The app here is no git checkout (the commit comes from GITHUB_SHA), so its time is
      // unknown: the image is stamped now, and the step says what that costs.
      expect(r.warnings).toEqual([
        `build-image: no commit time for ${run.headSha} (and no SOURCE_DATE_EPOCH): the image is stamped with the current time, so building it again gives a new digest`,
      ]);
      expect(labels?.[LABEL.title]).toBe('shop');
      const [entry, ...more] = double.cache.entries;
      expect(more).toEqual([]);
      expect(entry).toMatchObject({ finalized: true, runId: 301 });
      expect(entry!.key).toMatch(/^rollgate-build-node-linux-[0-9a-f]{32}$/);
      expect(entry!.sizeBytes).toBeGreaterThan(0);
      expect(double.calls).toMatchObject({
        'CacheService/GetCacheEntryDownloadURL': 1,
        'CacheService/CreateCacheEntry': 1,
        'CacheService/FinalizeCacheEntryUpload': 1,
      });
      expect(r.summary).toContain('## build-image ✅');
      expect(r.summary).toContain(`| reference | ${built.reference} |`);
    },
    BUILD_TIMEOUT,
  );

  it(
    'build-image in a later run on a fresh machine restores the dependency cache (exact key, no save)',
    async () => {
      fs.rmSync(cacheDir, { recursive: true, force: true });
      const r = ok(await build(302, { tags: '1.0.1' }));
      const key = double.cache.entries[0]!.key;
      expect(r.stdout).toContain(`dependency cache restored from ${key}`);
      expect(fs.readdirSync(path.join(cacheDir, 'npm'))).toContain('_cacache');
      expect(double.calls['CacheService/CreateCacheEntry']).toBeUndefined();
      expect(double.cache.entries).toHaveLength(1);
      expect(r.outputs.digest).toMatch(/^sha256:/);
      expect(r.summary).toContain(`restored from \`${key}\``);
    },
    BUILD_TIMEOUT,
  );

  it(
    'build-image: a cache service failure only warns; the image is still built and pushed',
    async () => {
      double.cache.outage = 501;
      const r = ok(await build(303, { tags: '1.0.2' }));
      expect(r.warnings.join('\n')).toMatch(/Failed to restore: .*\(501\)/);
      expect(r.outputs.digest).toMatch(/^sha256:/);
      expect(await fx.registry.client().resolveDigest('acme/shop', '1.0.2')).toBe(r.outputs.digest);
    },
    BUILD_TIMEOUT,
  );

  it(
    'build-image with cache false touches no cache service',
    async () => {
      const r = ok(await build(304, { tags: '1.0.3', cache: 'false' }));
      expect(Object.keys(double.calls).filter((k) => k.startsWith('CacheService/'))).toEqual([]);
      expect(r.summary).toContain('| dependency cache | off |');
    },
    BUILD_TIMEOUT,
  );

  it('clair-scan of a clean image: passes, writes SARIF/JSON and the summary, uploads the verdict', async () => {
    const r = ok(await scan(cleanClair, 310));
    expect(r.outputs.passed).toBe('true');
    const verdict = parseVerdict(r.outputs.verdict!, 'output verdict');
    expect(verdict).toMatchObject({
      digest: built.digest,
      reference: built.reference,
      passed: true,
    });
    expect(r.outputs['verdict-artifact']).toBe(verdictArtifactName(built.digest));
    const [artifact, ...more] = verdictArtifacts(310, built.digest);
    expect(more).toEqual([]);
    const uploaded = parseVerdict(
      await readArtifactFile(double, artifact!, 'verdict.json'),
      'artifact',
    );
    expect(uploaded).toEqual(verdict);
    expect(r.outputs['sarif-file']).toBe(path.join(workspace, 'rollgate-scan.sarif'));
    expect(r.outputs['report-file']).toBe(path.join(workspace, 'rollgate-scan.json'));
    expect(JSON.parse(fs.readFileSync(r.outputs['sarif-file']!, 'utf8')).version).toBe('2.1.0');
    expect(JSON.parse(fs.readFileSync(r.outputs['report-file']!, 'utf8')).passed).toBe(true);
    expect(r.summary).toContain('## Image scan ✅ passed');
    expect(r.summary).toContain('| non-root: The process does not run as root | ✅ |');
    expect(cleanClair.requests.every((q) => q.authorization?.startsWith('Bearer '))).toBe(true);
  });

  it('clair-scan with findings at or above High: the job fails, the verdict (passed: false) is still uploaded', async () => {
    const r = await scan(vulnerableClair, 311);
    expect(r.code).toBe(1);
    expect(r.errors.join('\n')).toMatch(
      /clair-scan: .* failed the scan: 4 vulnerabilities at or above High/,
    );
    expect(r.outputs.passed).toBe('false');
    const [artifact] = verdictArtifacts(311, built.digest);
    const uploaded: ScanVerdict = parseVerdict(
      await readArtifactFile(double, artifact!, 'verdict.json'),
      'artifact',
    );
    expect(uploaded).toMatchObject({
      digest: built.digest,
      passed: false,
      vulnerabilities: { checked: true, passed: false, threshold: 'High' },
    });
    expect(uploaded.vulnerabilities.failing).toHaveLength(4);
    expect(r.summary).toContain('## Image scan ❌ failed');
  });

  it('re-run with fail-on-findings false: the job passes with a warning; the attempt keeps its own verdict, the newest', async () => {
    const before = verdictArtifacts(311, built.digest)[0]!;
    // Attempt 2 cannot see attempt 1's artifacts through the runner (as GitHub reports): a name of its own.
    const r = ok(await scan(vulnerableClair, 311, { 'fail-on-findings': 'false' }, 2));
    expect(r.warnings.join('\n')).toMatch(/failed the scan: .*\(fail-on-findings: false\)/);
    const now = verdictArtifacts(311, built.digest);
    expect(now.map((a) => a.name)).toEqual([before.name, `${before.name}-a2`]);
    const newest = now.at(-1)!;
    const uploaded = parseVerdict(
      await readArtifactFile(double, newest, 'verdict.json'),
      'artifact',
    );
    expect(uploaded).toEqual(parseVerdict(r.outputs.verdict!, 'output'));
  });

  it("clair-scan with group-file: the group's podman run flags fail the no-privileged rule", async () => {
    const repository = built.reference.slice(0, built.reference.lastIndexOf('@'));
    fs.mkdirSync(path.join(workspace, 'deploy'), { recursive: true });
    fs.writeFileSync(
      path.join(workspace, 'deploy/capped.yml'),
      cappedImageGroup(repository, '127.0.13.12'),
    );
    const r = await scan(cleanClair, 314, { 'group-file': 'deploy/capped.yml' });
    expect(r.code).toBe(1);
    expect(r.errors.join('\n')).toMatch(/compliance rules failed: no-privileged/);
    expect(parseVerdict(r.outputs.verdict!, 'output verdict').compliance.failed).toEqual([
      'no-privileged',
    ]);
    expect(r.summary).toContain('--cap-add SYS_ADMIN');
  });

  it('bad inputs fail the step with an error naming the input', async () => {
    const severity = await scan(cleanClair, 320, { severity: 'extreme' });
    expect(severity.code).toBe(1);
    expect(severity.errors.join('\n')).toMatch(/input severity: "extreme" is not one of/);
    const kind = await build(321, { kind: 'java' });
    expect(kind.code).toBe(1);
    expect(kind.errors.join('\n')).toMatch(/input kind: "java" is not one of node, static/);
    const unpinned = await build(321, {
      'base-image': `${fx.registry.addr}/rollgate-base/busybox:1`,
    });
    expect(unpinned.errors.join('\n')).toMatch(/input base-image: .* must be pinned/);
    expect(double.state.artifacts.filter((a) => a.runId === 320)).toEqual([]);
  });

  it('neither action nor the bundle they share carries a native addon', () => {
    for (const name of ['build-image', 'clair-scan']) {
      expect(fs.readdirSync(path.join(ROOT, 'dist', name))).toEqual(['index.js']);
    }
    expect(fs.readdirSync(path.join(ROOT, 'dist/actions')).sort()).toEqual([
      'index.js',
      'licenses.txt',
    ]);
  });
});
