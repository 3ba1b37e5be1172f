/**
 * build-image with the real builders (buildah 1.28, podman 4.3 from Debian) into a real registry
 * (docker-registry 2.8 on 127.0.11.1:15001): the standard Containerfiles with both .paas hooks,
 * platform options, dependencies from a private npm mirror, the layer cache and the dependency
 * cache; the pushed digest checked against the registry; the image run with podman.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage,
  type BuildImageRequest,
  type BuildImageResult,
} from '../../../src/image/build';
import { spawnRunner } from '../../../src/image/command';
import { LABEL } from '../../../src/image/labels';
import { readImage } from '../../../src/registry/client';
import { captureLogger, wallClock } from '../../support/haproxy-fixture';
import { writeNodeApp, writeStaticApp } from '../../support/registry-apps';
import {
  containersFixture,
  ensureContainerTools,
  podmanRun,
  type ContainersFixture,
} from '../../support/registry-env';
import { startNpmMirror, type NpmMirror } from '../../support/registry-npm';

const missing = await ensureContainerTools();
const COMMIT = '0123456789abcdef0123456789abcdef01234567';

describe.skipIf(missing)('build-image with buildah and podman into a real registry (B1–B3)', () => {
  let fx: ContainersFixture;
  let mirror: NpmMirror;
  let app: string;
  let cache: string;
  const { logger } = captureLogger();

  beforeAll(async () => {
    const f = await containersFixture(15001);
    if (typeof f === 'string') throw new Error(f);
    fx = f;
    mirror = await startNpmMirror('127.0.11.1', 15009, path.join(fx.dir, 'npm-mirror'));
    app = fx.scratch('node-app');
    cache = fx.scratch('dep-cache');
    await writeNodeApp(app, {
      dependencies: { yaml: mirror.packages.yaml!, ms: mirror.packages.ms! },
      mirror: mirror.url,
      nonce: `${process.pid}-${Date.now()}`,
    });
    fs.writeFileSync(path.join(app, 'secrets.local'), 'excluded by the app’s .dockerignore\n');
  });

  afterAll(async () => {
    await mirror?.close();
    await fx?.stop();
  });

  const node = (version: string, over: Partial<BuildImageRequest> = {}): BuildImageRequest => ({
    builder: 'buildah',
    appDir: app,
    kind: 'node',
    baseImage: fx.bases.node,
    options: ['tz-shanghai', 'ca-certificates', `npm-mirror=${mirror.url}/`],
    image: `${fx.registry.addr}/acme/sample:${version}`,
    provenance: {
      commit: COMMIT,
      source: 'https://github.com/acme/sample',
      runUrl: 'https://github.com/acme/sample/actions/runs/77/attempts/1',
      runId: '77/1',
      version,
      created: Date.now(),
    },
    cache: { dependencyDir: cache },
    registry: { insecure: true },
    workDir: fx.scratch('work'),
    ...over,
  });
  const deps = () => ({ runner: spawnRunner(), env: fx.env, clock: wallClock, logger });

  let first: BuildImageResult;

  it('builds the node app, pushes it and returns the digest the registry holds', async () => {
    mirror.reset();
    first = await buildImage(node('1.0.0'), deps());
    expect(first.builder).toBe('buildah');
    expect(first.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(first.reference).toBe(`${fx.registry.addr}/acme/sample@${first.digest}`);
    expect(first.hooks).toEqual({ buildEnv: true, imageEnv: true });
    const remote = await fx.registry.client().resolveDigest('acme/sample', '1.0.0');
    expect(remote).toBe(first.digest);
    // the dependencies came from the private mirror
    expect(mirror.counts.tarballs).toBe(2);
  });

  it('the image carries the OCI labels: commit, run, source, base', async () => {
    const image = await readImage(fx.registry.client(), first.reference!);
    const labels = image.config.config?.Labels ?? {};
    expect(labels[LABEL.revision]).toBe(COMMIT);
    expect(labels[LABEL.source]).toBe('https://github.com/acme/sample');
    expect(labels[LABEL.runUrl]).toBe('https://github.com/acme/sample/actions/runs/77/attempts/1');
    expect(labels[LABEL.version]).toBe('1.0.0');
    expect(`${labels[LABEL.baseName]}@${labels[LABEL.baseDigest]}`).toBe(fx.bases.node);
    expect(image.config.config?.User).toBe('10001:10001');
    expect(image.config.config?.Env).toContain('TZ=Asia/Shanghai');
  });

  it('runs as 10001 with both hooks applied, the options in place and its dependencies', async () => {
    const out = await podmanRun(fx.env, first.reference!, [
      'sh',
      '-c',
      [
        'id -u',
        'cat /etc/app-image-env',
        'cat BUILD_INFO; echo',
        'node -e "console.log(new Date(0).toString())"',
        "node -e \"console.log(require('yaml').stringify({ok:require('ms')('1s')}).trim())\"",
        'test -s /etc/ssl/certs/ca-certificates.crt && echo ca-ok',
        'ls -a /app | tr "\\n" " "',
      ].join('; '),
    ]);
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('10001');
    expect(lines[1]).toBe('image-env was here'); // .paas/image-env.sh ran in the image
    expect(lines[2]).toBe('hooked'); // build-env.sh's $ROLLGATE_ENV reached the build
    expect(lines[3]).toMatch(/GMT\+0800 \(China Standard Time\)/); // tz-shanghai
    expect(lines[4]).toBe('ok: 1000');
    expect(lines[5]).toBe('ca-ok');
    const files = lines[6]!.split(' ');
    expect(files).toEqual(expect.arrayContaining(['server.js', 'node_modules', 'package.json']));
    expect(files).not.toContain('.paas');
    expect(files).not.toContain('secrets.local');
  });

  it('rebuilt unchanged, every step comes from the layer cache', async () => {
    const again = await buildImage(node('1.0.1'), deps());
    const steps = first.containerfile.split('\n').filter((l) => /^[A-Z]+ /.test(l)).length;
    // all but the final LABEL step (its created time is new) are cached
    expect(again.cacheHits).toBeGreaterThanOrEqual(steps - 3); // minus 2 FROMs and the LABEL step
  });

  it('a one-file change rebuilds from COPY . . on; the dependency layer stays cached', async () => {
    mirror.reset();
    fs.appendFileSync(path.join(app, 'lib', 'greeting.js'), '// changed\n');
    const changed = await buildImage(node('1.0.2'), deps());
    expect(mirror.counts).toEqual({ packuments: 0, tarballs: 0 });
    const before = changed.containerfile.split('\n').indexOf('COPY . .');
    const cachedSteps = changed.containerfile
      .split('\n')
      .slice(0, before)
      .filter((l) => /^(?!FROM)[A-Z]+ /.test(l)).length;
    expect(changed.cacheHits).toBeGreaterThanOrEqual(cachedSteps);
    expect(changed.digest).not.toBe(first.digest);
  });

  it('a new dependency: npm runs again, the dependency cache serves what it had (B1)', async () => {
    const pkgPath = path.join(app, 'package.json');
    const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8')) as {
      dependencies: Record<string, string>;
    };
    pkg.dependencies.semver = mirror.packages.semver!;
    fs.writeFileSync(pkgPath, JSON.stringify(pkg, null, 2));
    fs.rmSync(path.join(app, 'package-lock.json'));
    mirror.reset();
    await buildImage(node('1.1.0'), deps());
    // only the new package is downloaded; yaml and ms come from the cache directory
    expect(mirror.counts.tarballs).toBe(1);
    expect(fs.readdirSync(path.join(cache, 'npm')).length).toBeGreaterThan(0);
  });

  it('a changed build-env.sh re-runs its step although the hook is bind-mounted', async () => {
    fs.writeFileSync(
      path.join(app, '.paas', 'build-env.sh'),
      'echo BUILD_FLAVOR=rehooked >> "$ROLLGATE_ENV"\n',
    );
    const r = await buildImage(node('1.1.1'), deps());
    const out = await podmanRun(fx.env, r.reference!, ['cat', 'BUILD_INFO']);
    expect(out).toBe('rehooked');
  });

  it('static kind with podman: the binary alone on the base, non-root', async () => {
    const dir = fx.scratch('static-app');
    writeStaticApp(dir);
    const r = await buildImage(
      {
        builder: 'podman',
        appDir: dir,
        kind: 'static',
        static: { binary: 'bin/busybox' },
        baseImage: fx.bases.busybox,
        options: ['tz-shanghai'],
        image: `${fx.registry.addr}/acme/static:1.0.0`,
        provenance: {
          commit: COMMIT,
          source: 'https://github.com/acme/static',
          created: Date.now(),
        },
        registry: { insecure: true },
        workDir: fx.scratch('work'),
      },
      deps(),
    );
    expect(r.builder).toBe('podman');
    expect(r.containerfile).toContain('ENTRYPOINT ["/app/busybox"]');
    const out = await podmanRun(fx.env, r.reference!, [
      'sh',
      '-c',
      'id -u; cat /etc/app-image-env; date +%Z',
    ]);
    expect(out.trim().split('\n')).toEqual(['10001', 'static image-env', 'CST']);
  });

  it('an app may bring its own Containerfile (kind custom); the labels are still added', async () => {
    const dir = fx.scratch('custom-app');
    fs.writeFileSync(path.join(dir, 'hello.txt'), 'hi\n');
    fs.writeFileSync(
      path.join(dir, 'Containerfile'),
      `FROM ${fx.bases.busybox}\nCOPY hello.txt /hello.txt\nUSER 10001\nCMD ["cat", "/hello.txt"]\n`,
    );
    const r = await buildImage(
      {
        appDir: dir,
        kind: 'custom',
        containerfile: 'Containerfile',
        image: `${fx.registry.addr}/acme/custom:1.0.0`,
        provenance: {
          commit: COMMIT,
          source: 'https://github.com/acme/custom',
          created: Date.now(),
        },
        registry: { insecure: true },
        workDir: fx.scratch('work'),
      },
      deps(),
    );
    expect(r.builder).toBe('buildah'); // auto: the first found
    const image = await readImage(fx.registry.client(), r.reference!);
    expect(image.config.config?.Labels?.[LABEL.revision]).toBe(COMMIT);
    expect(await podmanRun(fx.env, r.reference!)).toBe('hi\n');
  });

  it('a failing build reports the builder’s own error', async () => {
    const dir = fx.scratch('broken-app');
    writeStaticApp(dir, false);
    await expect(
      buildImage(
        {
          builder: 'buildah',
          appDir: dir,
          kind: 'static',
          static: { binary: 'bin/busybox', buildCommand: 'echo compiling; exit 3' },
          baseImage: fx.bases.busybox,
          image: `${fx.registry.addr}/acme/broken:1.0.0`,
          provenance: {
            commit: COMMIT,
            source: 'https://github.com/acme/broken',
            created: Date.now(),
          },
          registry: { insecure: true },
          workDir: fx.scratch('work'),
        },
        deps(),
      ),
    ).rejects.toThrow(/buildah build of .* failed \(exit \d+\):[\s\S]*compiling/);
  });
});
