/**
 * Compliance rules (B4) on real images, read back from a real registry (127.0.11.1:15002):
 * each image here is built with buildah to break one rule, and the finding must name the rule,
 * the layer and the fix. The secrets are assembled at run time so that no file in the
 * repository holds one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../../src/image/build';
import { spawnRunner } from '../../../src/image/command';
import { checkCompliance } from '../../../src/scan/compliance/check';
import type { CompliancePolicy, ComplianceResult } from '../../../src/scan/compliance/policy';
import { captureLogger, wallClock } from '../../support/haproxy-fixture';
import { writeStaticApp } from '../../support/registry-apps';
import {
  containersFixture,
  ensureContainerTools,
  type ContainersFixture,
} from '../../support/registry-env';

const missing = await ensureContainerTools();
const PEM = ['-----BEGIN', 'OPENSSH PRIVATE KEY-----'].join(' ');
const PASSWORD = ['sword', 'fish', '99'].join('');

describe.skipIf(missing)('compliance rules on real images from a registry', () => {
  let fx: ContainersFixture;
  let allowed: string[];
  const { logger } = captureLogger();

  beforeAll(async () => {
    const f = await containersFixture(15002);
    if (typeof f === 'string') throw new Error(f);
    fx = f;
    allowed = [`${fx.registry.addr}/rollgate-base/*`];
  });
  afterAll(async () => {
    await fx?.stop();
  });

  /** Builds `containerfile` (with `files` in its context) and pushes it; returns the pinned ref. */
  async function image(name: string, containerfile: string, files: Record<string, string> = {}) {
    const dir = fx.scratch(name);
    fs.writeFileSync(path.join(dir, 'Containerfile'), containerfile);
    for (const [file, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    }
    if (files['bin/busybox'] !== undefined)
      fs.copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
    const r = await buildImage(
      {
        builder: 'buildah',
        appDir: dir,
        kind: 'custom',
        containerfile: 'Containerfile',
        image: `${fx.registry.addr}/compliance/${name}:1`,
        provenance: {
          commit: 'a'.repeat(40),
          source: 'https://github.com/acme/c',
          created: Date.now(),
        },
        registry: { insecure: true },
        workDir: fx.scratch('work'),
      },
      { runner: spawnRunner(), env: fx.env, clock: wallClock, logger },
    );
    return r.reference!;
  }

  const check = (ref: string, policy: Partial<CompliancePolicy> = {}): Promise<ComplianceResult> =>
    checkCompliance(
      fx.registry.client(),
      ref,
      { allowedBases: allowed, ...policy },
      { clock: wallClock },
    );

  const by = (r: ComplianceResult, rule: string) => r.findings.filter((f) => f.rule === rule);

  it('a clean image passes every rule (the standard static Containerfile)', async () => {
    const dir = fx.scratch('clean');
    writeStaticApp(dir);
    const r = await buildImage(
      {
        appDir: dir,
        kind: 'static',
        static: { binary: 'bin/busybox' },
        baseImage: fx.bases.busybox,
        options: ['ca-certificates'],
        image: `${fx.registry.addr}/compliance/clean:1`,
        provenance: {
          commit: 'a'.repeat(40),
          source: 'https://github.com/acme/c',
          created: Date.now(),
        },
        registry: { insecure: true },
        workDir: fx.scratch('work'),
      },
      { runner: spawnRunner(), env: fx.env, clock: wallClock, logger },
    );
    const result = await check(r.reference!, {
      runSpec: { args: ['--rm', '-p', '8080:8080', '--cap-drop=ALL'] },
    });
    expect(result.findings).toEqual([]);
    expect(result.passed).toBe(true);
    expect(result.checked).toEqual(['non-root', 'no-secrets', 'base-image', 'no-privileged']);
    expect(result.stats.layers).toBeGreaterThanOrEqual(3);
    expect(result.stats.files).toBeGreaterThan(250); // busybox applet links and all
  });

  it('non-root: an image without USER runs as root', async () => {
    const ref = await image('root', `FROM ${fx.bases.busybox}\nCMD ["sh"]\n`);
    const result = await check(ref);
    expect(by(result, 'non-root')).toEqual([
      expect.objectContaining({
        level: 'fail',
        message: 'no USER is set: the process runs as root',
        layer: 'image config (no USER step)',
        fix: expect.stringContaining('USER 10001:10001'),
      }),
    ]);
    expect(result.passed).toBe(false);
  });

  it('non-root: a named user with uid 0 is found through the image’s /etc/passwd', async () => {
    const ref = await image(
      'uid0',
      `FROM ${fx.bases.busybox}\nRUN echo 'svc:x:0:0:svc:/:/bin/sh' >> /etc/passwd\nUSER svc\n`,
    );
    const [finding] = by(await check(ref), 'non-root');
    expect(finding).toMatchObject({ message: 'USER svc has uid 0 in /etc/passwd' });
    expect(finding!.layer).toMatch(/image config, step \d+ \(USER svc\)/);
  });

  it('non-root as warn: reported, but the image passes', async () => {
    const ref = await image('root-warn', `FROM ${fx.bases.busybox}\nCMD ["sh"]\n`);
    const result = await check(ref, { rules: { 'non-root': 'warn' } });
    expect(by(result, 'non-root')[0]!.level).toBe('warn');
    expect(result.passed).toBe(true);
  });

  it('no-secrets: environment and labels', async () => {
    const ref = await image(
      'env-secret',
      `FROM ${fx.bases.busybox}\nENV DB_PASSWORD=${PASSWORD} NODE_ENV=production\nLABEL ci.token="${PASSWORD}xyz"\nUSER 10001\n`,
    );
    const findings = by(await check(ref), 'no-secrets');
    expect(findings.map((f) => f.message)).toEqual([
      'environment variable DB_PASSWORD holds a secret-named variable: DB_PASSWORD=s…(11 chars)',
      'label ci.token holds a secret-named variable: ci.token=s…(14 chars)',
    ]);
    expect(findings[0]!.layer).toMatch(
      /^image config, step \d+ \(ENV DB_PASSWORD=… NODE_ENV=production\)$/,
    );
    expect(JSON.stringify(findings)).not.toContain(PASSWORD);
  });

  it('no-secrets: a key deleted in a later layer is still in the image — the finding names that layer', async () => {
    const ref = await image(
      'file-secret',
      [
        `FROM ${fx.bases.busybox}`,
        'COPY id_ed25519 /root/.ssh/id_ed25519',
        'COPY app/ /app/',
        'RUN rm -f /root/.ssh/id_ed25519',
        'USER 10001',
        '',
      ].join('\n'),
      {
        id_ed25519: `${PEM}\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n`,
        'app/.env': `NODE_ENV=production\nDB_PASSWORD=${PASSWORD}\n`,
        'app/server.js': 'console.log("no secrets here")\n',
      },
    );
    const result = await check(ref);
    const findings = by(result, 'no-secrets');
    const key = findings.find((f) => f.path === '/root/.ssh/id_ed25519')!;
    expect(key.message).toMatch(
      /^\/root\/\.ssh\/id_ed25519 is a SSH private key file — deleted in layer (\d+), but still readable in layer (\d+)$/,
    );
    expect(key.layer).toMatch(
      /^layer \d+\/\d+ sha256:[a-f0-9]{12} \(COPY file:[a-f0-9]+ in \/root\/\.ssh\/id_ed25519\)$/,
    );
    expect(key.layerDigest).toMatch(/^sha256:/);
    expect(key.fix).toMatch(/Deleting a file in a later step does not remove it/);
    const env = findings.find((f) => f.path === '/app/.env')!;
    expect(env.message).toBe(
      '/app/.env holds a secret-named variable at line 2: DB_PASSWORD=s…(11 chars)',
    );
    expect(env.layer).toMatch(/COPY dir:[a-f0-9]+ in \/app\//);
    expect(findings.find((f) => f.path === '/app/server.js')).toBeUndefined();
  });

  it('base-image: a tag is not a pin', async () => {
    const tagged = fx.bases.busybox.replace(/@sha256:.*$/, ':1');
    const ref = await image('unpinned', `FROM ${tagged}\nUSER 10001\n`);
    const [finding] = by(await check(ref), 'base-image');
    expect(finding).toMatchObject({
      level: 'fail',
      message: `the base ${tagged} is not pinned by digest: a tag can move under the same name`,
      fix: expect.stringContaining('@sha256:<digest>'),
    });
  });

  it('base-image: a base off the allowed list', async () => {
    const ref = await image('off-list', `FROM ${fx.bases.busybox}\nUSER 10001\n`);
    const [finding] = by(
      await check(ref, { allowedBases: [`${fx.registry.addr}/trusted/*`] }),
      'base-image',
    );
    expect(finding!.message).toMatch(
      /is not on the allowed list \(127\.0\.11\.1:15002\/trusted\/\*\)/,
    );
  });

  it('base-image: a base claimed by hand-written labels must match the image’s layers', async () => {
    const [repo, digest] = fx.bases.node.split('@') as [string, string];
    const ref = await image(
      'lying-label',
      [
        'FROM scratch',
        'COPY bin/busybox /bin/busybox',
        `LABEL org.opencontainers.image.base.name="${repo}" org.opencontainers.image.base.digest="${digest}"`,
        'USER 10001',
        '',
      ].join('\n'),
      { 'bin/busybox': '' },
    );
    const [finding] = by(await check(ref), 'base-image');
    expect(finding!.message).toMatch(/first layers are not those of .*rollgate-base\/node/);
  });

  it('no-privileged: the group’s run options', async () => {
    const ref = await image('runspec', `FROM ${fx.bases.busybox}\nUSER 10001\n`);
    const result = await check(ref, {
      runSpec: {
        privileged: true,
        args: ['--cap-add=SYS_ADMIN', '-v', '/var/run/docker.sock:/var/run/docker.sock'],
      },
      rules: { 'no-secrets': 'off' },
    });
    expect(by(result, 'no-privileged').map((f) => f.message)).toEqual([
      'the container runs --privileged: all capabilities, all devices, no seccomp/AppArmor',
      '--cap-add SYS_ADMIN grants host-level power',
      'volume /var/run/docker.sock:/var/run/docker.sock mounts a sensitive host path',
    ]);
    expect(result.checked).not.toContain('no-secrets');
    expect(result.stats.filesRead).toBeGreaterThanOrEqual(1); // /etc/passwd only
  });
});
