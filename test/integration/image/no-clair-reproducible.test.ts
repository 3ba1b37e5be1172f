/**
 * Issue 13 item 13, for real: buildah builds and pushes into a docker-registry on
 * 127.0.13.1:15006; no Clair at all, or a Clair nobody answers at (127.0.7.129:19049).
 *
 * - A checkout with no git remote builds (no source label, a warning), stamped with the commit's
 *   time; building it again gives the same digest, and so does a build in empty storage.
 * - The title label is the image's own, not the base image's ("busybox").
 * - `rollgate scan` without --clair: the compliance rules only; the verdict, its words and the
 *   deploy gate's line say the vulnerabilities were NOT checked.
 * - A Clair that does not answer: the compliance findings are still printed and written (JSON,
 *   SARIF, the verdict), with the failure stated; the scan does not pass.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gatePackage } from '../../../src/app/gate';
import { LABEL } from '../../../src/image/labels';
import { readImage } from '../../../src/registry/client';
import { FileVerdicts } from '../../../src/store/file/verdicts';
import { imageFixture, type ImageFixture } from '../../support/image-fixture';
import { runCli } from '../../support/image-hosts';
import { writeRootApp, writeStaticApp } from '../../support/registry-apps';
import {
  builderVars,
  containerEnv,
  ensureContainerTools,
  tool,
  writeContainerConf,
} from '../../support/registry-env';

const missing = await ensureContainerTools();
const BUILD_TIMEOUT = 240_000;
/** Nothing listens here (an address and port of this suite's own). */
const DEAD_CLAIR = 'http://127.0.7.129:19049';
const COMMIT_DATE = '2024-05-06T07:08:09Z';

describe.skipIf(missing)('the image path without Clair; reproducible builds (real buildah)', () => {
  let fx: ImageFixture;
  let env: Record<string, string>;
  let app: string;
  let rootApp: string;
  let head: string;
  let deps: string;
  let first: {
    reference: string;
    digest: string;
    labels: Record<string, string>;
    cacheHits: number;
  };

  beforeAll(async () => {
    const f = await imageFixture(15006);
    if (typeof f === 'string') throw new Error(f);
    fx = f;
    env = { ...fx.env };
    for (const k of ['GITHUB_SHA', 'GITHUB_REPOSITORY', 'GITHUB_RUN_ID', 'BUILD_URL', 'GIT_URL']) {
      delete env[k];
    }
    delete env.SOURCE_DATE_EPOCH;
    // A checkout with no remote: `git init` and one commit, as a new project starts.
    app = fx.scratch('app');
    writeStaticApp(app);
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', app, ...args], {
        encoding: 'utf8',
        env: { ...process.env, GIT_AUTHOR_DATE: COMMIT_DATE, GIT_COMMITTER_DATE: COMMIT_DATE },
      }).trim();
    git('init', '-q');
    git('add', '.');
    git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'app');
    head = git('rev-parse', 'HEAD');
    deps = fx.scratch('deps');

    rootApp = fx.scratch('root');
    writeRootApp(rootApp, fx.bases.busybox);
  }, BUILD_TIMEOUT);

  afterAll(async () => {
    await fx?.stop();
  });
  afterEach(() => {
    process.exitCode = undefined;
  });

  const repo = () => `${fx.registry.addr}/acme/repro`;
  const flags = () => [
    '--context',
    app,
    '--image',
    repo(),
    '--tag',
    '1.0.0',
    '--binary',
    'bin/busybox',
    '--base-image',
    fx.bases.busybox,
    '--tls-verify=false',
    '--cache-dir',
    deps,
  ];
  const build = async (extraEnv: Record<string, string> = {}) => {
    const r = await runCli(['build', ...flags(), '--json'], { ...env, ...extraEnv });
    expect(r.code, r.stderr).toBe(0);
    return { ...(JSON.parse(r.stdout) as typeof first), stderr: r.stderr };
  };

  it(
    'a checkout with no git remote builds: no source label (a warning), created = the commit time, its own title',
    async () => {
      const b = await build();
      console.log(`build 1: ${b.digest}`);
      expect(b.stderr).toContain(`${app} has no git remote origin and no --source was given`);
      const labels = (await readImage(fx.registry.client(), b.reference)).config.config?.Labels;
      expect(labels?.[LABEL.revision]).toBe(head);
      expect(labels).not.toHaveProperty([LABEL.source]);
      expect(labels?.[LABEL.created]).toBe('2024-05-06T07:08:09.000Z');
      // The base image says title=busybox; this image is not busybox.
      expect(labels?.[LABEL.title]).toBe('repro');
      first = b;
    },
    BUILD_TIMEOUT,
  );

  it(
    'the same commit built again gives the same digest — on this machine and on a fresh one',
    async () => {
      const again = await build();
      console.log(`build 2: ${again.digest}`);
      expect(again.digest).toBe(first.digest);

      // A fresh machine: empty container storage, nothing cached, the base pulled anew.
      const fresh = fs.mkdtempSync('/tmp/rg-fresh-'); // podman/buildah want a short runroot
      try {
        await writeContainerConf(fresh);
        const clean = await build(builderVars(containerEnv(fresh)));
        console.log(`build 3 (fresh storage): ${clean.digest}, ${clean.cacheHits} cached steps`);
        expect(clean.cacheHits).toBe(0);
        expect(clean.digest).toBe(first.digest);
      } finally {
        await tool(containerEnv(fresh), 'buildah', ['rmi', '--all', '--force']).catch(() => '');
        fs.rmSync(fresh, { recursive: true, force: true });
      }

      // SOURCE_DATE_EPOCH wins over the commit time: another time, another image.
      const epoch = await build({ SOURCE_DATE_EPOCH: '1700000000' });
      expect(epoch.digest).not.toBe(first.digest);
      const labels = (await readImage(fx.registry.client(), epoch.reference)).config.config?.Labels;
      expect(labels?.[LABEL.created]).toBe('2023-11-14T22:13:20.000Z');
    },
    BUILD_TIMEOUT * 2,
  );

  it('scan without --clair: the compliance rules only; verdict, words and gate line say the vulnerabilities were NOT checked', async () => {
    const out = fx.scratch('scan-only');
    const record = path.join(out, 'record');
    const r = await runCli(
      [
        'scan',
        first.reference,
        '--allowed-base',
        `${fx.registry.addr}/rollgate-base/*`,
        '--tls-verify=false',
        '--record-dir',
        record,
        '--json',
        path.join(out, 'scan.json'),
      ],
      env,
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^vulnerabilities +- +NOT checked \(no Clair: --clair <url>\)$/m);
    expect(r.stdout).toMatch(/^non-root +passed/m);
    expect(r.stdout).toContain(
      `PASSED (NOT ALL CHECKED) — ${first.reference}: compliance rules passed; vulnerabilities NOT checked (no Clair)`,
    );
    const verdicts = new FileVerdicts(record);
    expect(await verdicts.get(first.digest)).toMatchObject({
      passed: true,
      vulnerabilities: { checked: false, passed: true },
      compliance: { checked: true, passed: true },
    });
    expect(JSON.parse(fs.readFileSync(path.join(out, 'scan.json'), 'utf8'))).toMatchObject({
      passed: true,
      checked: { vulnerabilities: false, compliance: true },
    });
    // The deploy gate lets it through, and its line (release log, status) says what it is.
    const gated = await gatePackage(
      { version: '1.0.0', image: first.reference },
      { where: record, get: (d) => verdicts.get(d) },
      undefined,
    );
    expect(gated.scan?.passed).toBe(true);
    expect(gated.scan?.summary).toMatch(
      /^scan of sha256:[0-9a-f]{12}: compliance rules passed, vulnerabilities NOT checked \(no Clair\) \(/,
    );
  });

  it(
    'Clair does not answer: the compliance findings are printed and written with the failure stated; no pass',
    async () => {
      const built = await runCli(
        [
          'build',
          '--context',
          rootApp,
          '--image',
          `${fx.registry.addr}/acme/rooted:1.0.0`,
          '--containerfile',
          'Containerfile',
          '--commit',
          head,
          '--tls-verify=false',
          '--no-cache',
          '--json',
        ],
        env,
      );
      expect(built.code, built.stderr).toBe(0);
      const rooted = JSON.parse(built.stdout) as { reference: string; digest: string };
      const out = fx.scratch('dead-clair');
      const record = path.join(out, 'record');
      const r = await runCli(
        [
          'scan',
          rooted.reference,
          '--clair',
          DEAD_CLAIR,
          '--allowed-base',
          `${fx.registry.addr}/rollgate-base/*`,
          '--tls-verify=false',
          '--record-dir',
          record,
          '--json',
          path.join(out, 'scan.json'),
          '--sarif',
          path.join(out, 'scan.sarif'),
        ],
        env,
      );
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        /Clair failed: .*; vulnerabilities not checked \(the compliance results are kept\)/,
      );
      expect(r.stdout).toMatch(/^vulnerabilities +ERROR +NOT checked: Clair failed: /m);
      expect(r.stdout).toMatch(/^non-root +FAILED +1 finding\(s\)$/m);
      expect(r.stdout).toMatch(
        /^FAILED — .* failed the scan: compliance rules failed: non-root; vulnerabilities NOT checked \(Clair failed: /m,
      );
      const json = JSON.parse(fs.readFileSync(path.join(out, 'scan.json'), 'utf8'));
      expect(json.clairError).toMatch(new RegExp(DEAD_CLAIR.replace(/[.:/]/g, '\\$&')));
      expect(json.compliance.findings.map((f: { rule: string }) => f.rule)).toContain('non-root');
      const sarif = JSON.parse(fs.readFileSync(path.join(out, 'scan.sarif'), 'utf8'));
      expect(sarif.runs[0].results.map((x: { ruleId: string }) => x.ruleId)).toContain(
        'compliance/non-root',
      );
      expect(sarif.runs[0].invocations[0].executionSuccessful).toBe(false);
      expect(await new FileVerdicts(record).get(rooted.digest)).toMatchObject({
        passed: false,
        vulnerabilities: {
          checked: false,
          passed: false,
          error: expect.stringContaining('failed'),
        },
        compliance: { checked: true, passed: false, failed: ['non-root'] },
      });
    },
    BUILD_TIMEOUT,
  );
});
