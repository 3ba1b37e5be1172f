import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BuildError,
  buildImage,
  chooseBuilder,
  type BuildImageRequest,
} from '../../../src/image/build';
import type { Command } from '../../../src/image/builders';
import type { CommandRunner } from '../../../src/image/command';
import { InputError } from '../../../src/model/errors';
import { setsTitle } from '../../../src/image/labels';
import { captureLogger } from '../../support/haproxy-fixture';

/**
 * buildImage's orchestration with a fake runner (the real builders are exercised by
 * test/integration/image): which commands run in which order, what is staged, how the digest
 * is taken and checked against the registry. The docker path lives here, since no docker
 * daemon runs on this machine.
 */

const DIGEST = `sha256:${'d'.repeat(64)}`;
const BASE = `127.0.11.1:15000/rollgate-base/node@sha256:${'b'.repeat(64)}`;
let dir: string;
let bin: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollgate-build-unit-'));
  bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  for (const b of ['buildah', 'podman', 'docker']) {
    fs.writeFileSync(path.join(bin, b), '#!/bin/sh\n', { mode: 0o755 });
  }
  fs.mkdirSync(path.join(dir, 'app', '.paas'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'app', 'package.json'), '{}');
  fs.writeFileSync(path.join(dir, 'app', '.paas', 'image-env.sh'), 'echo hi\n');
  fs.mkdirSync(path.join(dir, 'zi', 'Asia'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'zi', 'Asia', 'Shanghai'), 'TZif');
  fs.writeFileSync(path.join(dir, 'ca.crt'), 'CERT');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function fakeRunner(opts: { failBuild?: boolean; pushDigest?: string } = {}) {
  const calls: Command[] = [];
  const seen: { containerfile?: string; ignore?: string; platform?: string[] } = {};
  const runner: CommandRunner = {
    async run(cmd) {
      calls.push(cmd);
      const arg = (flag: string) => cmd.args[cmd.args.indexOf(flag) + 1]!;
      if (cmd.args.includes('build')) {
        seen.containerfile = fs.readFileSync(arg('--file'), 'utf8');
        const ignore = path.join(path.dirname(arg('--file')), 'Containerfile.dockerignore');
        seen.ignore = fs.readFileSync(ignore, 'utf8');
        const ctx = cmd.args.find((a) => a.startsWith('rollgate-platform='));
        if (ctx) {
          const root = ctx.split('=')[1]!;
          seen.platform = (fs.readdirSync(root, { recursive: true }) as string[]).sort();
        }
        if (opts.failBuild) return { code: 1, stdout: 'STEP 1\n', stderr: 'boom', timedOut: false };
        fs.writeFileSync(arg('--iidfile'), `sha256:${'1'.repeat(64)}\n`);
        return {
          code: 0,
          stdout: '--> Using cache 1\n--> Using cache 2\n',
          stderr: '',
          timedOut: false,
        };
      }
      if (cmd.args[0] === 'push') {
        if (cmd.command === 'docker') {
          return {
            code: 0,
            stdout: `1.0: digest: ${opts.pushDigest ?? DIGEST} size: 1\n`,
            stderr: '',
            timedOut: false,
          };
        }
        fs.writeFileSync(arg('--digestfile'), opts.pushDigest ?? DIGEST);
        return { code: 0, stdout: '', stderr: '', timedOut: false };
      }
      return { code: 0, stdout: '', stderr: '', timedOut: false };
    },
  };
  return { runner, calls, seen };
}

function fakeRegistry(digest = DIGEST): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    expect(String(url)).toBe('http://127.0.11.1:15000/v2/acme/app/manifests/1.0');
    expect(init?.method).toBe('HEAD');
    return new Response(null, { status: 200, headers: { 'Docker-Content-Digest': digest } });
  }) as typeof fetch;
}

const clock = { now: () => 1_000, sleep: async () => {} };

function request(over: Partial<BuildImageRequest> = {}): BuildImageRequest {
  return {
    builder: 'buildah',
    appDir: path.join(dir, 'app'),
    kind: 'node',
    baseImage: BASE,
    options: ['tz-shanghai', 'ca-certificates'],
    image: '127.0.11.1:15000/acme/app:1.0',
    provenance: { commit: 'a'.repeat(40), source: 'https://github.com/acme/app', created: 0 },
    registry: { insecure: true },
    workDir: path.join(dir, 'work'),
    ...over,
  };
}

describe('chooseBuilder', () => {
  it('takes the requested builder when it is on PATH, else the first of buildah, podman, docker', () => {
    expect(chooseBuilder('podman', bin)).toBe('podman');
    expect(chooseBuilder('auto', bin)).toBe('buildah');
    fs.rmSync(path.join(bin, 'buildah'));
    expect(chooseBuilder(undefined, bin)).toBe('podman');
    expect(() => chooseBuilder('buildah', bin)).toThrow(/not on PATH/);
    expect(() => chooseBuilder('kaniko' as never, bin)).toThrow(InputError);
    expect(() => chooseBuilder('auto', '/nonexistent')).toThrow(/none of buildah, podman, docker/);
  });
});

describe('buildImage with a fake runner', () => {
  it('renders, stages the platform files, builds, pushes, checks the registry, returns the pinned reference', async () => {
    const { runner, calls, seen } = fakeRunner();
    const { logger, lines } = captureLogger();
    const result = await buildImage(request(), {
      runner,
      env: { PATH: bin },
      clock,
      logger,
      platformHost: { zoneinfoDir: path.join(dir, 'zi'), caBundle: path.join(dir, 'ca.crt') },
      fetch: fakeRegistry(),
    });
    expect(calls.map((c) => `${c.command} ${c.args[0]}`)).toEqual([
      'buildah build',
      'buildah push',
    ]);
    expect(result).toMatchObject({
      builder: 'buildah',
      digest: DIGEST,
      reference: `127.0.11.1:15000/acme/app@${DIGEST}`,
      hooks: { buildEnv: false, imageEnv: true },
      cacheHits: 2,
    });
    expect(seen.containerfile).toContain('source=.paas/image-env.sh');
    expect(seen.containerfile).toContain('org.opencontainers.image.revision=');
    expect(seen.ignore).toContain('node_modules');
    expect(seen.platform).toEqual(
      expect.arrayContaining([
        path.join('build', 'etc', 'ssl', 'certs', 'ca-certificates.crt'),
        path.join('final', 'etc', 'localtime'),
        path.join('final', 'usr', 'share', 'zoneinfo', 'Asia', 'Shanghai'),
      ]),
    );
    // labels are in the Containerfile, not one --label step each
    expect(calls[0]!.args).not.toContain('--label');
    expect(lines.info.some((l) => l.includes(`pushed 127.0.11.1:15000/acme/app@${DIGEST}`))).toBe(
      true,
    );
    expect(fs.existsSync(path.join(dir, 'work'))).toBe(false);
  });

  // Issue 13 item 13: reproducible (times from the created label), the title is the image's own.
  it('the image times are the created label’s; the title is the repository’s name', async () => {
    const { runner, calls } = fakeRunner();
    const created = Date.UTC(2024, 0, 2, 3, 4, 5);
    const result = await buildImage(request({ provenance: { ...request().provenance, created } }), {
      runner,
      env: { PATH: bin },
      clock,
      logger: captureLogger().logger,
      fetch: fakeRegistry(),
    });
    const args = calls[0]!.args;
    expect(args[args.indexOf('--timestamp') + 1]).toBe(String(created / 1000));
    expect(result.labels['org.opencontainers.image.created']).toBe('2024-01-02T03:04:05.000Z');
    expect(result.labels['org.opencontainers.image.title']).toBe('app');
    const docker = fakeRunner();
    await buildImage(
      request({ builder: 'docker', options: [], provenance: { ...request().provenance, created } }),
      {
        runner: docker.runner,
        env: { PATH: bin },
        clock,
        logger: captureLogger().logger,
        fetch: fakeRegistry(),
      },
    );
    expect(docker.calls[0]!.args).toEqual(
      expect.arrayContaining(['--build-arg', `SOURCE_DATE_EPOCH=${created / 1000}`]),
    );
  });

  it('an explicit title wins; an app Containerfile that sets its own keeps it', async () => {
    const titled = await buildImage(
      request({ provenance: { ...request().provenance, title: 'Shop web' } }),
      {
        runner: fakeRunner().runner,
        env: { PATH: bin },
        clock,
        logger: captureLogger().logger,
        fetch: fakeRegistry(),
      },
    );
    expect(titled.labels['org.opencontainers.image.title']).toBe('Shop web');
    // An app's own Containerfile that sets the title keeps it (labels.ts: setsTitle).
    expect(setsTitle(`FROM ${BASE}\nLABEL org.opencontainers.image.title="their own"\n`)).toBe(
      true,
    );
    expect(setsTitle(`FROM ${BASE}\nLABEL a=b \\\n  org.opencontainers.image.title=x\n`)).toBe(
      true,
    );
    expect(setsTitle(`FROM ${BASE}\n# org.opencontainers.image.title is set by rollgate\n`)).toBe(
      false,
    );
  });

  it('docker: buildx build, push by tag, digest from its output', async () => {
    const { runner, calls } = fakeRunner();
    const result = await buildImage(request({ builder: 'docker', options: [] }), {
      runner,
      env: { PATH: bin },
      clock,
      logger: captureLogger().logger,
      fetch: fakeRegistry(),
    });
    expect(calls.map((c) => c.args.slice(0, 2).join(' '))).toEqual([
      'buildx build',
      'push 127.0.11.1:15000/acme/app:1.0',
    ]);
    expect(result.digest).toBe(DIGEST);
  });

  it('fails when the registry does not hold what the builder says it pushed', async () => {
    const { runner } = fakeRunner();
    await expect(
      buildImage(request({ options: [] }), {
        runner,
        env: { PATH: bin },
        clock,
        logger: captureLogger().logger,
        fetch: fakeRegistry(`sha256:${'e'.repeat(64)}`),
      }),
    ).rejects.toThrow(/points at sha256:eee.* not at the pushed/);
  });

  it('a failed build is a BuildError with the tail of the output', async () => {
    const { runner, calls } = fakeRunner({ failBuild: true });
    const err = await buildImage(request({ options: [] }), {
      runner,
      env: { PATH: bin },
      clock,
      logger: captureLogger().logger,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as Error).message).toMatch(
      /buildah build of .* failed \(exit 1\):\nSTEP 1\n\nboom/,
    );
    expect(calls).toHaveLength(1);
  });

  it('push: false builds only', async () => {
    const { runner, calls } = fakeRunner();
    const result = await buildImage(request({ push: false, options: [] }), {
      runner,
      env: { PATH: bin },
      clock,
      logger: captureLogger().logger,
    });
    expect(calls).toHaveLength(1);
    expect(result.digest).toBeNull();
    expect(result.reference).toBeNull();
  });

  it.each([
    [{ image: '127.0.11.1:15000/acme/app' }, /needs a tag/],
    [{ kind: 'custom' as const }, /Containerfile/],
    [
      { kind: 'custom' as const, containerfile: 'Containerfile', options: ['tz-shanghai'] },
      /cannot read|platform options/,
    ],
    [{ baseImage: undefined }, /base image/],
    [{ appDir: '/nonexistent/app' }, /does not exist/],
    [{ options: ['tz-shanghai'], builder: 'buildah' as const }, /needs .*Asia\/Shanghai/],
  ])('refuses %j', async (over, message) => {
    const { runner } = fakeRunner();
    await expect(
      buildImage(request(over), {
        runner,
        env: { PATH: bin },
        clock,
        logger: captureLogger().logger,
        platformHost: { zoneinfoDir: '/nonexistent', caBundle: '/nonexistent' },
      }),
    ).rejects.toThrow(message);
  });
});
