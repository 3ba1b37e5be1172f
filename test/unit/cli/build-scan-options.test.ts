import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  buildRequest,
  cleanSourceUrl,
  imageTags,
  renameInputError,
  resolveKind,
  resolveProvenance,
  type GitReader,
} from '../../../src/app/build/request';
import { isProgressLine } from '../../../src/app/build/run';
import { defaultCacheDir, type BuildOptions } from '../../../src/app/build/settings';
import { parseComplianceConfig } from '../../../src/app/scan/compliance-config';
import { pskConfig } from '../../../src/app/scan/run';
import { verdictLine } from '../../../src/app/scan/verdict-text';
import { BUILD_FLAGS, buildOptionsFromFlags } from '../../../src/cli/build/flags';
import { main } from '../../../src/cli/index';
import { recordDirOf, scanOptionsFromFlags } from '../../../src/cli/scan/flags';
import { renderScanText } from '../../../src/cli/scan/render';
import { InputError } from '../../../src/model/errors';
import { LABEL, ociLabels } from '../../../src/image/labels';
import type { ScanOutcome } from '../../../src/scan/scan';
import { verdictOf } from '../../../src/scan/verdict';

const D = `sha256:${'a'.repeat(64)}`;
const BASE = `127.0.13.1:15004/rollgate-base/busybox@${D}`;
const COMMIT = '0123456789abcdef0123456789abcdef01234567';

const options = (over: Partial<BuildOptions> = {}): BuildOptions => ({
  context: '/srv/app',
  image: '127.0.13.1:15004/acme/app',
  tags: [],
  platformOptions: [],
  cacheDir: null,
  push: true,
  tlsVerify: true,
  baseImage: BASE,
  ...over,
});

const provenance = { commit: COMMIT, source: 'https://github.com/acme/app', created: 0 };

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('no InputError');
}

describe('rollgate build: settings', () => {
  it('kind: the own Containerfile is custom, --binary means static, else node', () => {
    expect(resolveKind(options({ containerfile: 'Containerfile' }), BUILD_FLAGS)).toBe('custom');
    expect(resolveKind(options({ binary: 'bin/app' }), BUILD_FLAGS)).toBe('static');
    expect(resolveKind(options(), BUILD_FLAGS)).toBe('node');
    expect(inputError(() => resolveKind(options({ kind: 'java' }), BUILD_FLAGS)).message).toBe(
      '--kind: "java" is not one of node, static',
    );
    expect(
      inputError(() => resolveKind(options({ kind: 'node', containerfile: 'C' }), BUILD_FLAGS))
        .field,
    ).toBe('--kind');
  });

  it('tags: the tag in --image first, then --tag; the default is the commit; a digest is refused', () => {
    expect(
      imageTags(options({ image: 'r.io/a/b:1.0', tags: ['stable', '1.0'] }), COMMIT, BUILD_FLAGS),
    ).toEqual({
      image: 'r.io/a/b:1.0',
      extraTags: ['r.io/a/b:stable'],
      tags: ['1.0', 'stable'],
    });
    expect(imageTags(options({ image: 'r.io/a/b' }), COMMIT, BUILD_FLAGS).image).toBe(
      'r.io/a/b:0123456789ab',
    );
    expect(
      inputError(() => imageTags(options({ image: `r.io/a/b@${D}` }), COMMIT, BUILD_FLAGS)).field,
    ).toBe('--image');
    expect(
      inputError(() => imageTags(options({ tags: ['bad tag!'] }), COMMIT, BUILD_FLAGS)).field,
    ).toBe('--tag');
  });

  it('source URLs lose their credentials and .git; scp style becomes https', () => {
    expect(cleanSourceUrl('https://bot:tok3n@github.com/acme/app.git')).toBe(
      'https://github.com/acme/app',
    );
    expect(cleanSourceUrl('git@github.com:acme/app.git')).toBe('https://github.com/acme/app');
    expect(cleanSourceUrl('ssh://git@git.corp:2222/acme/app')).toBe('ssh://git.corp:2222/acme/app');
  });

  it('provenance: flags, then git, then GitHub Actions or Jenkins', async () => {
    const git = (answers: Record<string, string | null>): GitReader =>
      vi.fn(async (_dir: string, args: string[]) => answers[args.join(' ')] ?? null);
    const fromGit = await resolveProvenance(
      options(),
      {},
      git({ 'rev-parse HEAD': COMMIT, 'remote get-url origin': 'git@github.com:acme/app.git' }),
      BUILD_FLAGS,
      5,
    );
    expect(fromGit).toEqual({
      commit: COMMIT,
      source: 'https://github.com/acme/app',
      created: 5,
      createdFrom: 'now',
    });
    const github = await resolveProvenance(
      options(),
      {
        GITHUB_SHA: 'f'.repeat(40),
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_REPOSITORY: 'acme/shop',
        GITHUB_RUN_ID: '77',
        GITHUB_RUN_ATTEMPT: '2',
      },
      git({}),
      BUILD_FLAGS,
      5,
    );
    expect(github).toMatchObject({
      commit: 'f'.repeat(40),
      source: 'https://github.com/acme/shop',
      runUrl: 'https://github.com/acme/shop/actions/runs/77/attempts/2',
      runId: '77/2',
    });
    const jenkins = await resolveProvenance(
      options({ commit: 'abcdef1', source: 'https://git.corp/x', runId: 'mine' }),
      { BUILD_URL: 'https://jenkins/job/x/3/', BUILD_TAG: 'jenkins-x-3' },
      git({ 'rev-parse HEAD': COMMIT }),
      BUILD_FLAGS,
      5,
    );
    expect(jenkins).toMatchObject({
      commit: 'abcdef1',
      runUrl: 'https://jenkins/job/x/3/',
      runId: 'mine',
    });
    await expect(resolveProvenance(options(), {}, git({}), BUILD_FLAGS, 5)).rejects.toThrow(
      /^--commit: .* is not a git checkout/,
    );
  });

  // Issue 13 item 13: the same commit builds the same image; no remote is no source label.
  it('created: SOURCE_DATE_EPOCH, else the commit time, else now (said so)', async () => {
    const git = (answers: Record<string, string | null>): GitReader =>
      vi.fn(async (_dir: string, args: string[]) => answers[args.join(' ')] ?? null);
    const answers = {
      'rev-parse HEAD': COMMIT,
      [`show -s --format=%ct ${COMMIT}`]: '1700000000',
    };
    const fromCommit = await resolveProvenance(options(), {}, git(answers), BUILD_FLAGS, 5);
    expect(fromCommit).toMatchObject({ created: 1_700_000_000_000, createdFrom: 'commit' });
    const fromEpoch = await resolveProvenance(
      options(),
      { SOURCE_DATE_EPOCH: '1600000000' },
      git(answers),
      BUILD_FLAGS,
      5,
    );
    expect(fromEpoch).toMatchObject({
      created: 1_600_000_000_000,
      createdFrom: 'SOURCE_DATE_EPOCH',
    });
    await expect(
      resolveProvenance(options(), { SOURCE_DATE_EPOCH: 'today' }, git(answers), BUILD_FLAGS, 5),
    ).rejects.toThrow(/^SOURCE_DATE_EPOCH: "today" is not a number/);
  });

  it('a checkout without a remote (and no --source, no CI): no source, no error', async () => {
    const git: GitReader = vi.fn(async (_dir: string, args: string[]) =>
      args.join(' ') === 'rev-parse HEAD' ? COMMIT : null,
    );
    const p = await resolveProvenance(options(), {}, git, BUILD_FLAGS, 5);
    expect(p).toEqual({ commit: COMMIT, created: 5, createdFrom: 'now' });
    expect(ociLabels(p)).not.toHaveProperty(LABEL.source);
  });

  it('the request: pinned bases, kind settings and platform options checked, errors name the flag', () => {
    const req = buildRequest(
      options({
        binary: 'bin/app',
        tags: ['1.0'],
        platformOptions: ['tz-shanghai'],
        port: '8080',
        cacheDir: '/c',
      }),
      provenance,
      BUILD_FLAGS,
      '/tmp/w',
    );
    expect(req).toMatchObject({
      kind: 'static',
      image: '127.0.13.1:15004/acme/app:1.0',
      static: { binary: 'bin/app' },
      baseImage: BASE,
      options: ['tz-shanghai'],
      port: 8080,
      cache: { dependencyDir: '/c' },
      registry: { insecure: false },
      provenance: { commit: COMMIT, version: '1.0' },
    });
    const cases: [Partial<BuildOptions>, string][] = [
      [{ baseImage: 'r.io/base/node:20' }, '--base-image'],
      [{ baseImage: undefined }, '--base-image'],
      [{ kind: 'static' }, '--binary'],
      [{ platformOptions: ['nope'] }, '--platform-option'],
      [{ port: '70000' }, '--port'],
      [{ builder: 'kaniko' }, '--builder'],
      [{ network: 'bridge' }, '--network'],
      [{ buildCommand: 'make' }, '--build-command'],
      [{ containerfile: 'Containerfile' }, '--base-image'],
      [
        { containerfile: 'Containerfile', baseImage: undefined, platformOptions: ['tz-shanghai'] },
        '--platform-option',
      ],
    ];
    for (const [over, field] of cases) {
      expect(
        inputError(() => buildRequest(options(over), provenance, BUILD_FLAGS, '/w')).field,
      ).toBe(field);
    }
  });

  it("the image library's errors are renamed after the flag", () => {
    const renamed = renameInputError(new InputError('appDir', '/x does not exist'), BUILD_FLAGS);
    expect((renamed as InputError).message).toBe('--context: /x does not exist');
    const other = new InputError('something', 'else');
    expect(renameInputError(other, BUILD_FLAGS)).toBe(other);
  });

  it('flags: --image required, --no-cache, --tls-verify, the default cache dir', () => {
    const flags = {
      context: '.',
      cache: true,
      push: true,
      tlsVerify: 'false',
      registryPasswordEnv: 'PW',
    };
    expect(inputError(() => buildOptionsFromFlags(flags, {})).field).toBe('--image');
    const o = buildOptionsFromFlags({ ...flags, image: 'r.io/a/b' }, { HOME: '/home/u' });
    expect(o).toMatchObject({
      cacheDir: '/home/u/.cache/rollgate/build',
      tlsVerify: false,
      push: true,
    });
    expect(
      buildOptionsFromFlags({ ...flags, image: 'r.io/a/b', cache: false }, {}).cacheDir,
    ).toBeNull();
    expect(
      inputError(() => buildOptionsFromFlags({ ...flags, image: 'x', tlsVerify: 'no' }, {})).field,
    ).toBe('--tls-verify');
    expect(
      inputError(() => buildOptionsFromFlags({ ...flags, image: 'x', registryUser: 'bot' }, {}))
        .message,
    ).toMatch(/^--registry-password-env: \$PW .* is empty or unset/);
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/rollgate/build');
  });

  it('progress lines: one per build step and the push', () => {
    expect(isProgressLine('STEP 3/9: RUN npm ci')).toBe(true);
    expect(isProgressLine('#7 [build 2/5] COPY . .')).toBe(true);
    expect(isProgressLine('added 2 packages in 1s')).toBe(false);
  });
});

describe('rollgate scan: settings', () => {
  it('a compliance config: rules, bases, run spec; mistakes named by key', () => {
    const policy = parseComplianceConfig(
      [
        'rules: { non-root: fail, base-image: warn, no-privileged: off }',
        'allowedBases: [r.io/base/*]',
        'runSpec: { user: "10001", capAdd: [NET_ADMIN], privileged: false, args: [--pid=host] }',
        'maxFileBytes: 2048',
        'ignorePaths: ["^usr/share/doc/"]',
      ].join('\n'),
      '--compliance-config',
    );
    expect(policy).toEqual({
      rules: { 'non-root': 'fail', 'base-image': 'warn', 'no-privileged': 'off' },
      allowedBases: ['r.io/base/*'],
      runSpec: { user: '10001', capAdd: ['NET_ADMIN'], privileged: false, args: ['--pid=host'] },
      maxFileBytes: 2048,
      ignorePaths: ['^usr/share/doc/'],
    });
    const bad = (text: string) => inputError(() => parseComplianceConfig(text, 'c')).message;
    expect(bad('rules: { root: fail }')).toMatch(/^c: rules\.root: unknown rule/);
    expect(bad('rules: { non-root: maybe }')).toMatch(/"maybe" is not fail, warn or off/);
    expect(bad('allowed: []')).toMatch(/^c: allowed: unknown key/);
    expect(bad('runSpec: { capAdd: NET_ADMIN }')).toMatch(
      /runSpec\.capAdd: must be a list of strings/,
    );
    expect(bad('[1, 2')).toMatch(/^c: not YAML/);
    // Before the scan starts, not mid-scan inside a rule.
    expect(bad('ignorePaths: ["^ok/", "(unclosed"]')).toBe(
      'c: ignorePaths[1]: "(unclosed" is not a regular expression',
    );
    expect(parseComplianceConfig('', 'c')).toEqual({});
  });

  it("Clair's PSK comes from the variable --psk-env names", () => {
    const key = Buffer.from('k'.repeat(32)).toString('base64');
    const flags = {
      clair: 'http://clair:6060',
      pskIssuer: 'rollgate',
      severity: 'High',
      compliance: true,
      tlsVerify: 'true',
      registryPasswordEnv: 'PW',
    };
    expect(
      scanOptionsFromFlags('r.io/a/b:1', { ...flags, pskEnv: 'PSK' }, { PSK: key }).psk,
    ).toEqual({
      key,
      issuer: 'rollgate',
    });
    expect(inputError(() => scanOptionsFromFlags('i', { ...flags, pskEnv: 'PSK' }, {})).field).toBe(
      '--psk-env ($PSK)',
    );
    // Without --clair: the compliance rules only (issue 13 item 13).
    expect(scanOptionsFromFlags('i', { ...flags, clair: undefined }, {}).clairUrl).toBeUndefined();
    expect(inputError(() => pskConfig('not base64!', 'x', { key: 'k', issuer: 'i' })).field).toBe(
      'k',
    );
  });

  it('the record directory: --record-dir, or not with -g too, or ./.rollgate', async () => {
    expect(await recordDirOf({ recordDir: 'rec' }, {})).toBe(resolve('rec'));
    await expect(recordDirOf({ recordDir: 'a', group: 'g.yml' }, {})).rejects.toThrow(
      /^--record-dir: give either/,
    );
    expect(await recordDirOf({}, {})).toBe(resolve('.rollgate'));
  });

  it('the verdict in words, and the terminal table', () => {
    const outcome: ScanOutcome = {
      image: 'r.io/a/b:1',
      digest: D,
      reference: `r.io/a/b@${D}`,
      scannedAt: '2026-01-01T00:00:00.000Z',
      passed: false,
      timings: { totalMs: 1 },
      compliance: {
        image: `r.io/a/b@${D}`,
        digest: D,
        checked: ['non-root', 'no-secrets', 'base-image'],
        passed: false,
        findings: [
          {
            rule: 'non-root',
            level: 'fail',
            message: 'runs as root',
            layer: 'image config',
            fix: 'USER 10001',
          },
          {
            rule: 'base-image',
            level: 'warn',
            message: 'not pinned',
            layer: 'layer 1',
            fix: 'pin it',
          },
        ],
        stats: { layers: 2, files: 3, filesRead: 1, bytes: 10, ms: 1 },
      },
    };
    expect(verdictLine(verdictOf(outcome))).toBe(
      `r.io/a/b@${D} failed the scan: compliance rules failed: non-root; vulnerabilities NOT checked (no Clair)`,
    );
    const text = renderScanText(outcome);
    expect(text).toMatch(/^vulnerabilities +- +NOT checked \(no Clair: --clair <url>\)$/m);
    expect(text).toMatch(/^non-root +FAILED +1 finding\(s\)$/m);
    expect(text).toMatch(/^base-image +warning +1 finding\(s\)$/m);
    expect(text).toMatch(/^no-privileged +-$/m);
    expect(text).toContain('  FAIL non-root: runs as root (image config)');
  });
});

describe('rollgate build/scan through main(): bad input is exit 2, naming the flag', () => {
  let dir: string | undefined;
  afterEach(async () => {
    process.exitCode = undefined;
    vi.restoreAllMocks();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function run(args: string[]): Promise<{ code: number; stderr: string }> {
    const err: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const code = await main(args, { PATH: '/nonexistent' });
    return { code, stderr: err.join('\n') };
  }

  it('build', async () => {
    expect(await run(['build'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--image: is required/),
    });
    const noBuilder = await run([
      'build',
      '--context',
      '.',
      '--image',
      'r.io/a/b',
      '--commit',
      COMMIT,
      '--source',
      'https://x.io/a',
      '--binary',
      'b',
      '--base-image',
      BASE,
    ]);
    expect(noBuilder).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--builder: none of buildah, podman, docker is on PATH/),
    });
  });

  it('scan', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-scan-unit-'));
    await writeFile(join(dir, 'ignore.yml'), '- id: CVE-1\n  reason: x\n');
    const ignore = await run([
      'scan',
      'r.io/a/b:1',
      '--clair',
      'http://127.0.0.1:1',
      '--ignore-file',
      join(dir, 'ignore.yml'),
    ]);
    expect(ignore).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--ignore-file\[0\]\.reason: CVE-1: say why/),
    });
    const url = await run(['scan', 'r.io/a/b:1', '--clair', 'clair:6060']);
    expect(url).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--clair: "clair:6060" is not an http\(s\) URL/),
    });
    const image = await run(['scan', 'Not An Image', '--clair', 'http://c']);
    expect(image).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/<image>: "Not An Image" is not an image reference/),
    });
  });
});
