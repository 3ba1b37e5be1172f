/**
 * `rollgate build` and `rollgate scan` through the CLI's main(), for real: buildah builds and
 * pushes into a docker-registry on 127.0.13.1:15004, and the scan talks to the Clair double on
 * 127.0.13.2 (every request and answer validated against Clair's OpenAPI) with PSK auth. A clean
 * image passes and its verdict is recorded; an image that runs as root fails (exit 1) and its
 * verdict says so, beside the group's record.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../../src/image/labels';
import { readImage } from '../../../src/registry/client';
import { FileVerdicts } from '../../../src/store/file/verdicts';
import type { ClairDouble } from '../../support/clair-double';
import { CLAIR_HOST, imageFixture, type ImageFixture } from '../../support/image-fixture';
import { clairScanArgs, runCli, startCleanClair } from '../../support/image-hosts';
import { writeRootApp, writeStaticApp } from '../../support/registry-apps';
import { ensureContainerTools } from '../../support/registry-env';
import { cappedImageGroup } from '../../support/group-yaml';

const missing = await ensureContainerTools();
const KEY = Buffer.from('rollgate-cli-psk-32-bytes-long!!').toString('base64');
/** A first build on a fresh machine pulls and builds the bases. */
const BUILD_TIMEOUT = 240_000;

describe.skipIf(missing)(
  'rollgate build and rollgate scan (CLI, real buildah, Clair double)',
  () => {
    let fx: ImageFixture;
    let clair: ClairDouble;
    let env: Record<string, string>;
    let cleanApp: string;
    let rootApp: string;
    let head: string;
    let clean: { reference: string; digest: string; labels: Record<string, string> };
    let rooted: { reference: string; digest: string };

    beforeAll(async () => {
      const f = await imageFixture(15004);
      if (typeof f === 'string') throw new Error(f);
      fx = f;
      clair = await startCleanClair(CLAIR_HOST, KEY);
      env = { ...fx.env, CLAIR_PSK: KEY };
      delete env.GITHUB_SHA;
      delete env.GITHUB_REPOSITORY;
      delete env.GITHUB_RUN_ID;

      // The clean app is a git checkout: the labels come from it.
      cleanApp = fx.scratch('clean');
      writeStaticApp(cleanApp);
      const git = (...args: string[]) =>
        execFileSync('git', ['-C', cleanApp, ...args], { encoding: 'utf8' }).trim();
      git('init', '-q');
      git('remote', 'add', 'origin', 'https://ci-bot:s3cret-token@git.example.com/acme/clean.git');
      git('add', '.');
      git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'app');
      head = git('rev-parse', 'HEAD');

      // An image built to break a rule: its own Containerfile, no USER, so it runs as root.
      rootApp = fx.scratch('root');
      writeRootApp(rootApp, fx.bases.busybox);
    }, BUILD_TIMEOUT);

    afterAll(async () => {
      await clair?.close();
      await fx?.stop();
    });

    afterEach(() => {
      process.exitCode = undefined;
    });

    const cli = (args: string[]) => runCli(args, env);

    const image = (name: string) => `${fx.registry.addr}/acme/${name}`;

    /** `rollgate scan` of `reference` against the Clair double, bases from our registry. */
    const scanArgs = (reference: string) => clairScanArgs(reference, clair.url, fx.registry.addr);

    it(
      'build --json: pushes, prints the pinned reference and digest; labels from git (no credentials)',
      async () => {
        const r = await cli([
          'build',
          '--context',
          cleanApp,
          '--image',
          image('clean'),
          '--tag',
          '1.0.0',
          'stable',
          '--binary',
          'bin/busybox',
          '--base-image',
          fx.bases.busybox,
          '--tls-verify=false',
          '--cache-dir',
          fx.scratch('deps'),
          '--json',
        ]);
        expect(r.code, r.stderr).toBe(0);
        const out = JSON.parse(r.stdout) as typeof clean & { tags: string[]; builder: string };
        expect(out.builder).toBe('buildah');
        expect(out.tags).toEqual(['1.0.0', 'stable']);
        expect(out.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
        expect(out.reference).toBe(`${image('clean')}@${out.digest}`);
        // progress went to stderr, so stdout is JSON only
        expect(r.stderr).toMatch(/build-image: buildah building/);
        expect(await fx.registry.client().resolveDigest('acme/clean', 'stable')).toBe(out.digest);
        const config = (await readImage(fx.registry.client(), out.reference)).config.config;
        expect(config?.Labels?.[LABEL.revision]).toBe(head);
        expect(config?.Labels?.[LABEL.source]).toBe('https://git.example.com/acme/clean');
        expect(config?.Labels?.[LABEL.version]).toBe('1.0.0');
        expect(config?.User).toBe('10001:10001');
        clean = out;
      },
      BUILD_TIMEOUT,
    );

    it(
      'build (text): progress, then the reference and digest; commit and source from the flags',
      async () => {
        const r = await cli([
          'build',
          '--context',
          rootApp,
          '--image',
          `${image('rooted')}:2.0.0`,
          '--containerfile',
          'Containerfile',
          '--commit',
          'c'.repeat(40),
          '--source',
          'https://github.com/acme/rooted',
          '--run-url',
          'https://jenkins.example.com/job/rooted/7/',
          '--tls-verify=false',
          '--no-cache',
        ]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/^build-image: buildah building .*rooted:2\.0\.0 \(custom\)$/m);
        expect(r.stdout).toMatch(/^ {2}STEP 1\/\d+: FROM /m);
        const lines = r.stdout.split('\n');
        const digest = /^digest: (sha256:[a-f0-9]{64})$/.exec(lines.at(-1)!)?.[1];
        expect(digest).toBeDefined();
        expect(lines.at(-2)).toBe(`reference: ${image('rooted')}@${digest}`);
        rooted = { reference: `${image('rooted')}@${digest}`, digest: digest! };
        const labels = (await readImage(fx.registry.client(), rooted.reference)).config.config
          ?.Labels;
        expect(labels?.[LABEL.revision]).toBe('c'.repeat(40));
        expect(labels?.[LABEL.runUrl]).toBe('https://jenkins.example.com/job/rooted/7/');
      },
      BUILD_TIMEOUT,
    );

    it('scan of the clean image: passes (exit 0), writes SARIF/JSON/Markdown, records the verdict', async () => {
      const out = fx.scratch('out');
      const record = path.join(out, 'record');
      const r = await cli([
        ...scanArgs(clean.reference),
        '--record-dir',
        record,
        '--sarif',
        path.join(out, 'scan.sarif'),
        '--json',
        path.join(out, 'scan.json'),
        '--markdown',
        path.join(out, 'scan.md'),
      ]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^check +result +details$/m);
      expect(r.stdout).toMatch(/^vulnerabilities +passed +0 at or above High/m);
      expect(r.stdout).toMatch(/^non-root +passed/m);
      expect(r.stdout).toContain(
        `PASSED — ${clean.reference} passed the scan (vulnerabilities and compliance)`,
      );
      const verdict = await new FileVerdicts(record).get(clean.digest);
      expect(verdict).toMatchObject({
        rollgateScan: 1,
        digest: clean.digest,
        reference: clean.reference,
        passed: true,
        vulnerabilities: { checked: true, passed: true, threshold: 'High', failing: [] },
        compliance: { checked: true, passed: true, failed: [] },
      });
      expect(r.stdout).toContain(
        `verdict recorded: ${path.join(record, 'scans', `sha256-${clean.digest.slice(7)}.json`)}`,
      );
      expect(JSON.parse(fs.readFileSync(path.join(out, 'scan.json'), 'utf8')).passed).toBe(true);
      expect(JSON.parse(fs.readFileSync(path.join(out, 'scan.sarif'), 'utf8')).version).toBe(
        '2.1.0',
      );
      expect(fs.readFileSync(path.join(out, 'scan.md'), 'utf8')).toContain(
        '## Image scan ✅ passed',
      );
      expect(clair.violations).toEqual([]);
      expect(clair.requests.every((q) => q.authorization?.startsWith('Bearer '))).toBe(true);
    });

    it('scan of the root image with -g: fails (exit 1), the verdict beside the group record says why', async () => {
      const dir = fx.scratch('group');
      fs.writeFileSync(
        path.join(dir, 'group.yml'),
        [
          'group: rooted',
          'docBase: /srv/rooted',
          'port: 18080',
          'service: { start: node server.js }',
          'package: { source: "./pkg-{version}.tar.gz" }',
          'transport: { kind: local, root: ./fleet }',
          'traffic: { kind: none }',
          'store: { dir: ./record }',
          'targets:',
          '  - { host: web-01, address: 127.0.13.10 }',
          '',
        ].join('\n'),
      );
      const r = await cli([
        ...scanArgs(`${image('rooted')}:2.0.0`),
        '-g',
        path.join(dir, 'group.yml'),
      ]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(/^non-root +FAILED +1 finding/m);
      expect(r.stdout).toMatch(/FAIL non-root: /);
      expect(r.stdout).toContain(
        `FAILED — ${rooted.reference} failed the scan: compliance rules failed: non-root`,
      );
      const verdict = await new FileVerdicts(path.join(dir, 'record')).get(rooted.digest);
      expect(verdict).toMatchObject({
        digest: rooted.digest,
        passed: false,
        compliance: { checked: true, passed: false, failed: ['non-root'] },
        vulnerabilities: { passed: true },
      });
      expect(clair.violations).toEqual([]);
    });

    it("scan with -g of an image group: the group's podman run flags are checked (no-privileged)", async () => {
      const dir = fx.scratch('capped');
      const repository = clean.reference.slice(0, clean.reference.lastIndexOf('@'));
      fs.writeFileSync(
        path.join(dir, 'group.yml'),
        cappedImageGroup(repository, '127.0.13.11', [
          'traffic: { kind: none }',
          'store: { dir: ./record }',
        ]),
      );
      const r = await cli([...scanArgs(clean.reference), '-g', path.join(dir, 'group.yml')]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(/FAIL no-privileged: --cap-add SYS_ADMIN/);
      const verdict = await new FileVerdicts(path.join(dir, 'record')).get(clean.digest);
      expect(verdict?.compliance.failed).toEqual(['no-privileged']);
    });

    it('bad input: exit 2 and the error names the flag', async () => {
      const severity = await cli([
        'scan',
        clean.reference,
        '--clair',
        clair.url,
        '--severity',
        'extreme',
      ]);
      expect(severity.code).toBe(2);
      expect(severity.stderr).toMatch(/--severity: "extreme" is not one of/);
      const psk = await cli([
        'scan',
        clean.reference,
        '--clair',
        clair.url,
        '--psk-env',
        'NO_SUCH_VAR',
      ]);
      expect(psk.code).toBe(2);
      expect(psk.stderr).toMatch(
        /--psk-env \(\$NO_SUCH_VAR\): Clair's PSK \(base64\) is empty or unset/,
      );
      const unpinned = await cli([
        'build',
        '--context',
        cleanApp,
        '--image',
        image('clean'),
        '--binary',
        'bin/busybox',
        '--base-image',
        `${fx.registry.addr}/rollgate-base/busybox:1`,
      ]);
      expect(unpinned.code).toBe(2);
      expect(unpinned.stderr).toMatch(/--base-image: ".*busybox:1" must be pinned/);
      const noImage = await cli(['build', '--context', cleanApp]);
      expect(noImage.code).toBe(2);
      expect(noImage.stderr).toMatch(/--image: is required/);
    });
  },
);
