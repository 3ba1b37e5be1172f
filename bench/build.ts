/**
 * build-image and clair-scan benchmark (B1, B4): the sample node app (examples/app/server.js
 * with six npm dependencies from a private mirror) built with buildah into a real registry.
 *
 *   cold            fresh machine: no local images (the base is pulled), empty dependency cache
 *   cold + registry layer cache   fresh machine, `--cache-from` a registry repository
 *   warm            nothing changed
 *   one file        one source file changed: layer cache + dependency cache
 *   one file, no layer cache      --layers=false, dependency cache kept
 *   one file, no caches           --layers=false and an empty dependency cache
 *   new dependency  package.json gains a package: with the dependency cache / without
 *   scan            Clair (double) + compliance rules for the node image and a static image
 *
 * Each row runs `--runs` times (default 3) and shows the median. The mirror answers after
 * `--latency` ms (default 100: a mirror across a network; 0 = loopback).
 *
 *   npx tsx bench/build.ts [--runs 3] [--latency 100]
 *
 * Storage, registry data and the mirror's tarballs live in $TMPDIR/rollgate-bench-containers
 * (not the tests' directory); the registry runs on 127.0.11.1:15008, the mirror on :15007.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { realClock } from '../src/clock/real';
import type { Logger } from '../src/model/logger';
import { buildImage, type BuildImageRequest } from '../src/image/build';
import { spawnRunner } from '../src/image/command';
import { ClairClient } from '../src/scan/clair/client';
import { scanImage } from '../src/scan/scan';
import { startClairDouble } from '../test/support/clair-double';
import { writeNodeApp, writeStaticApp } from '../test/support/registry-apps';
import {
  containerEnv,
  ensureBaseImages,
  ensureContainerTools,
  startRegistry,
  writeContainerConf,
} from '../test/support/registry-env';
import { startNpmMirror } from '../test/support/registry-npm';

const exec = promisify(execFile);
const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const sec = (ms: number) => (ms / 1000).toFixed(1);

interface Row {
  name: string;
  build: number[];
  push: number[];
  cached: number[];
  tarballs: number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      latency: { type: 'string', default: '100' },
    },
  });
  const runs = Number(values.runs);
  const latency = Number(values.latency);
  const why = await ensureContainerTools();
  if (why) throw new Error(why);
  const dir = path.join(os.tmpdir(), 'rollgate-bench-containers');
  await writeContainerConf(dir);
  const env = containerEnv(dir);
  const registry = await startRegistry(15008, dir);
  const mirror = await startNpmMirror('127.0.11.1', 15007, path.join(dir, 'npm-mirror'), latency);
  const clair = await startClairDouble({ host: '127.0.11.2' });
  const work = fs.mkdtempSync(path.join(dir, 'tmp', 'bench-'));
  const tool = (...args: string[]) =>
    execFileSync('buildah', args, { env, stdio: ['ignore', 'ignore', 'ignore'] });
  const wipe = () => {
    tool('rm', '-a');
    tool('rmi', '-a', '-f');
  };
  try {
    const bases = await ensureBaseImages(registry.addr, dir);
    const app = path.join(work, 'app');
    const deps = { yaml: '', ms: '', commander: '', lodash: '', cockatiel: '' };
    for (const k of Object.keys(deps) as (keyof typeof deps)[]) deps[k] = mirror.packages[k]!;
    await writeNodeApp(app, { dependencies: deps, mirror: mirror.url });
    const lock = async (extra: Record<string, string>) => {
      const pkgPath = path.join(app, 'package.json');
      const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8')) as Record<string, unknown>;
      pkg.dependencies = { ...deps, ...extra };
      // a new package.json every run: the dependency step always runs again
      pkg.description = `bench ${Date.now()}`;
      fs.writeFileSync(pkgPath, JSON.stringify(pkg, null, 2));
      // Asynchronous: the mirror answers from this process.
      await exec(
        'npm',
        [
          'install',
          '--package-lock-only',
          '--no-audit',
          '--no-fund',
          `--registry=${mirror.url}`,
          `--cache=${path.join(work, 'lock-cache')}`,
        ],
        { cwd: app },
      );
    };
    let cacheDir = path.join(work, 'dep-cache');
    let n = 0;
    const request = (over: Partial<BuildImageRequest> = {}): BuildImageRequest => ({
      builder: 'buildah',
      appDir: app,
      kind: 'node',
      baseImage: bases.node,
      options: ['tz-shanghai', 'ca-certificates', `npm-mirror=${mirror.url}/`],
      image: `${registry.addr}/bench/sample:${++n}`,
      provenance: {
        commit: 'c'.repeat(40),
        source: 'https://github.com/acme/sample',
        created: Date.now(),
      },
      cache: { dependencyDir: cacheDir },
      registry: { insecure: true },
      workDir: path.join(work, `w${n}`),
      ...over,
    });
    const rows: Row[] = [];
    let lastNodeImage = '';
    const measure = async (
      name: string,
      before: (i: number) => void | Promise<void>,
      over: () => Partial<BuildImageRequest> = () => ({}),
    ) => {
      const row: Row = { name, build: [], push: [], cached: [], tarballs: [] };
      for (let i = 0; i < runs; i += 1) {
        await before(i);
        mirror.reset();
        const r = await buildImage(request(over()), {
          runner: spawnRunner(),
          env,
          clock: realClock,
          logger: silent,
        });
        lastNodeImage = r.image;
        row.build.push(r.timings.buildMs);
        row.push.push(r.timings.pushMs);
        row.cached.push(r.cacheHits);
        row.tarballs.push(mirror.counts.tarballs);
        process.stderr.write(
          `${name} #${i + 1}: build ${sec(r.timings.buildMs)} s, push ${sec(r.timings.pushMs)} s, ${r.cacheHits} cached, ${mirror.counts.tarballs} tarballs\n`,
        );
      }
      rows.push(row);
    };
    const touch = () =>
      fs.appendFileSync(path.join(app, 'lib', 'greeting.js'), `// change ${Date.now()}\n`);
    const freshCache = () => {
      cacheDir = path.join(work, `dep-cache-${Date.now()}`);
    };

    await measure('cold (no local images, empty dependency cache)', () => {
      wipe();
      freshCache();
      touch();
    });
    await measure('warm (nothing changed)', () => undefined);
    await measure('one file changed (layer + dependency cache)', touch);
    await measure('one file changed, no layer cache', touch, () => ({
      cache: { dependencyDir: cacheDir, layers: false },
    }));
    await measure(
      'one file changed, no caches',
      () => {
        touch();
        freshCache();
      },
      () => ({ cache: { dependencyDir: cacheDir, layers: false } }),
    );
    // A dependency cache as a long-lived CI runner has it: filled by an earlier build.
    const stableCache = path.join(work, 'dep-cache-stable');
    await lock({});
    await buildImage(request({ cache: { dependencyDir: stableCache } }), {
      runner: spawnRunner(),
      env,
      clock: realClock,
      logger: silent,
    });
    await measure('new dependency, dependency cache', async (i) => {
      cacheDir = stableCache;
      await lock(i % 2 === 0 ? { semver: mirror.packages.semver! } : {});
    });
    await measure('new dependency, no dependency cache', async (i) => {
      freshCache();
      await lock(i % 2 === 0 ? { semver: mirror.packages.semver! } : {});
    });
    const layerRepo = `${registry.addr}/bench/layer-cache`;
    await buildImage(request({ cache: { dependencyDir: cacheDir, layerCacheRepo: layerRepo } }), {
      runner: spawnRunner(),
      env,
      clock: realClock,
      logger: silent,
    });
    await measure(
      'cold + registry layer cache (--cache-from)',
      () => wipe(),
      () => ({
        cache: { dependencyDir: path.join(work, `empty-${Date.now()}`), layerCacheRepo: layerRepo },
      }),
    );

    // Scan + compliance per image.
    const staticDir = path.join(work, 'static');
    writeStaticApp(staticDir);
    const staticImage = await buildImage(
      {
        ...request(),
        appDir: staticDir,
        kind: 'static',
        static: { binary: 'bin/busybox' },
        baseImage: bases.busybox,
        options: [],
      },
      { runner: spawnRunner(), env, clock: realClock, logger: silent },
    );
    const nodeImage = lastNodeImage;
    const scans: {
      name: string;
      clair: number[];
      compliance: number[];
      total: number[];
      layers: number;
      files: number;
      mb: number;
    }[] = [];
    for (const [name, ref] of [
      ['node sample app', nodeImage],
      ['static (busybox) app', staticImage.image],
    ] as const) {
      const s = {
        name,
        clair: [] as number[],
        compliance: [] as number[],
        total: [] as number[],
        layers: 0,
        files: 0,
        mb: 0,
      };
      for (let i = 0; i < runs; i += 1) {
        const out = await scanImage({
          image: ref,
          registry: registry.client(),
          clair: new ClairClient({ indexerUrl: clair.url, clock: realClock, pollIntervalMs: 100 }),
          policy: { threshold: 'High', ignore: [] },
          compliance: { allowedBases: [`${registry.addr}/rollgate-base/*`] },
          clock: realClock,
          logger: silent,
        });
        s.clair.push(out.timings.clairMs!);
        s.compliance.push(out.timings.complianceMs!);
        s.total.push(out.timings.totalMs);
        s.layers = out.compliance!.stats.layers;
        s.files = out.compliance!.stats.files;
        s.mb = out.compliance!.stats.bytes / 1e6;
      }
      scans.push(s);
    }
    if (clair.violations.length > 0)
      throw new Error(`Clair double: ${JSON.stringify(clair.violations)}`);

    const base = median(rows[0]!.build);
    console.log(
      `\nbuildah ${execFileSync('buildah', ['--version']).toString().trim().split(' ')[2]}, ${runs} runs each (median), mirror latency ${latency} ms\n`,
    );
    console.log('| scenario | build s | push s | cached steps | mirror downloads | vs cold |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const b = median(r.build);
      console.log(
        `| ${r.name} | ${sec(b)} | ${sec(median(r.push))} | ${median(r.cached)} | ${median(r.tarballs)} | ${(b / base).toFixed(2)}× |`,
      );
    }
    console.log('\n| image | layers | files | read MB | Clair s | compliance s | total s |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const s of scans) {
      console.log(
        `| ${s.name} | ${s.layers} | ${s.files} | ${s.mb.toFixed(1)} | ${sec(median(s.clair))} | ${sec(median(s.compliance))} | ${sec(median(s.total))} |`,
      );
    }
  } finally {
    await clair.close();
    await mirror.close();
    await registry.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
