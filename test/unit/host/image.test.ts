import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/model/errors';
import type { ServiceSpec } from '../../../src/model/types';
import {
  assertImageRepository,
  assertPinnedImage,
  assertPodmanArgs,
  assertRunArgs,
  containerName,
  imageDownloadScript,
  imageStartCommand,
  keepRepository,
  keepTag,
  parseImageDownload,
} from '../../../src/host/image';
import { installScript } from '../../../src/host/install-script';
import { COMPLETE_MARKER } from '../../../src/host/marker';

const HEX = 'ab'.repeat(32);
const OTHER = 'cd'.repeat(32);
const REF = `127.0.0.1:5000/acme/app@sha256:${HEX}`;
const SERVICE: ServiceSpec = { start: '', stopTimeoutMs: 2000, env: {} };
const NAME = 'rollgate-shop-127.0.1.1-8080';

function syntaxOk(script: string): void {
  const result = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
}

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as InputError).field;
  }
  throw new Error('expected an InputError');
}

describe('assertPinnedImage: an image release is pinned by digest', () => {
  it.each([
    [REF, REF],
    [`127.0.0.1:5000/acme/app:1.2.0@sha256:${HEX}`, REF],
    [`ghcr.io/acme/shop-web@sha256:${HEX}`, `ghcr.io/acme/shop-web@sha256:${HEX}`],
    [`nginx@sha256:${HEX}`, `docker.io/library/nginx@sha256:${HEX}`],
  ])('%s → %s', (input, normal) => {
    expect(assertPinnedImage(input)).toBe(normal);
  });

  it.each([
    ['127.0.0.1:5000/acme/app:1.2.0', /pin it by digest/],
    ['127.0.0.1:5000/acme/app', /pin it by digest/],
    ['127.0.0.1:5000/acme/app@sha256:abc', /not sha256:<64 hex>/],
    [`127.0.0.1:5000/acme/app@sha256:${HEX};reboot`, /not an image reference/],
    [`127.0.0.1:5000/acme/$(reboot)@sha256:${HEX}`, /not an image reference/],
    [`127.0.0.1:5000/acme/my app@sha256:${HEX}`, /not an image reference/],
    [`127.0.0.1:5000/Acme/App@sha256:${HEX}`, /lower-case/],
    [`-rf@sha256:${HEX}`, /not an image reference/],
    ['', /not an image reference/],
  ])('refuses %j', (input, why) => {
    expect(() => assertPinnedImage(input, '--image')).toThrow(why);
    expect(fieldOf(() => assertPinnedImage(input, '--image'))).toBe('--image');
  });

  it('repositories carry neither tag nor digest', () => {
    expect(assertImageRepository('127.0.0.1:5000/acme/app')).toBe('127.0.0.1:5000/acme/app');
    expect(assertImageRepository('nginx')).toBe('docker.io/library/nginx');
    expect(() => assertImageRepository('127.0.0.1:5000/acme/app:1')).toThrow(/without tag/);
    expect(() => assertImageRepository(`127.0.0.1:5000/acme/app@sha256:${HEX}`)).toThrow(
      /without tag or digest/,
    );
  });
});

describe('podmanArgs and runArgs: flags with their values, nothing else', () => {
  it.each([
    [[]],
    [['--runtime', '/usr/sbin/runc']],
    [['--runtime=/usr/sbin/runc', '--log-level', 'warn']],
    [['--root', '/var/lib/x', '--storage-opt', 'overlay.mount_program=/usr/bin/fuse-overlayfs']],
  ])('podmanArgs %j', (args) => {
    expect(assertPodmanArgs(args)).toEqual(args);
  });

  it.each([
    [['system', 'reset'], 'podmanArgs[0]', /neither a flag nor the value/],
    [['--root', '/x', 'rm'], 'podmanArgs[2]', /neither a flag nor the value/],
    [['--runtime=/x', 'y'], 'podmanArgs[1]', /neither a flag nor the value/],
    [['--'], 'podmanArgs[0]', /not a flag/],
    [['-'], 'podmanArgs[0]', /not a flag/],
    [[''], 'podmanArgs[0]', /one line/],
    [['--log-level\ndebug'], 'podmanArgs[0]', /one line/],
    [[3], 'podmanArgs[0]', /must be a string/],
    ['--root', 'podmanArgs', /a list of strings/],
  ])('podmanArgs %j: %s', (args, field, why) => {
    expect(() => assertPodmanArgs(args)).toThrow(why);
    expect(fieldOf(() => assertPodmanArgs(args))).toBe(field);
  });

  it.each([
    [['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768']],
    [['--memory', '512m', '-e', 'TZ=UTC', '--label=team=shop']],
    [['--read-only', '--tmpfs', '/tmp']],
  ])('runArgs %j', (args) => {
    expect(assertRunArgs(args)).toEqual(args);
  });

  it.each([
    [['--name', 'x'], /rollgate names the container/],
    [['--rm'], /removes the container/],
    [['--replace'], /replaces the container/],
    [['-d'], /foreground/],
    [['-dit'], /foreground/],
    [['--detach=true'], /foreground/],
    [['--network', 'bridge'], /host network/],
    [['--net=host'], /host network/],
    [['--pull', 'always'], /download step/],
    [['--memory', '1g', 'alpine'], /neither a flag nor the value/],
  ])('runArgs %j are refused', (args, why) => {
    expect(() => assertRunArgs(args, 'package.image.runArgs')).toThrow(why);
    expect(fieldOf(() => assertRunArgs(args, 'package.image.runArgs'))).toMatch(
      /^package\.image\.runArgs\[\d\]$/,
    );
  });
});

describe('container names and keep tags', () => {
  it.each([
    [
      'shop',
      '127.0.1.1',
      8080,
      'rollgate-shop-127.0.1.1-8080',
      'localhost/rollgate/shop-127.0.1.1-8080',
    ],
    [
      'Shop_Web',
      'web-01.example.com',
      80,
      'rollgate-Shop_Web-web-01.example.com-80',
      'localhost/rollgate/shop_web-web-01.example.com-80',
    ],
    ['a.-b', 'h', 1, 'rollgate-a.-b-h-1', 'localhost/rollgate/a-b-h-1'],
  ])('%s on %s:%d → %s, %s', (group, address, port, name, repository) => {
    expect(containerName(group, address, port)).toBe(name);
    expect(keepRepository(name)).toBe(repository);
    expect(keepTag(name, REF)).toBe(`${repository}:sha256-${HEX}`);
  });

  it('refuses a name podman would refuse', () => {
    expect(() => containerName('shop', 'a b', 80)).toThrow(InputError);
    expect(() => containerName('sh;op', '127.0.0.1', 80)).toThrow(InputError);
  });
});

describe('imageStartCommand', () => {
  const run = {
    name: NAME,
    podmanArgs: ['--runtime', '/usr/sbin/runc'],
    runArgs: ['--ulimit', 'nofile=20000:20000', '--label', "x'; reboot"],
    env: ['GREETING'],
    stopTimeoutMs: 2500,
  };

  it('runs podman in the foreground, on the host network, with the image from $ROLLGATE_IMAGE', () => {
    const command = imageStartCommand(run);
    expect(command).toBe(
      `exec podman --runtime /usr/sbin/runc run --rm --replace --name ${NAME} --network host --pull=never --stop-timeout 3 -e PORT -e HOST -e VERSION -e GREETING --ulimit nofile=20000:20000 --label 'x'\\''; reboot' "$ROLLGATE_IMAGE"`,
    );
    syntaxOk(command);
  });

  it('an argument reaches podman as one word, whatever it holds', () => {
    const out = spawnSync(
      'sh',
      ['-c', `podman() { printf '<%s>' "$@"; }; ${imageStartCommand(run).replace(/^exec /, '')}`],
      { encoding: 'utf8', env: { PATH: process.env.PATH, ROLLGATE_IMAGE: REF } },
    );
    expect(out.stdout).toContain("<--label><x'; reboot>");
    expect(out.stdout.endsWith(`<${REF}>`)).toBe(true);
  });

  it.each([
    [{ ...run, name: 'a b' }, 'container'],
    [{ ...run, env: ['A-B'] }, 'service.env.A-B'],
    [{ ...run, runArgs: ['--name', 'x'] }, 'runArgs[0]'],
    [{ ...run, podmanArgs: ['rm'] }, 'podmanArgs[0]'],
  ])('refuses %j', (bad, field) => {
    expect(fieldOf(() => imageStartCommand(bad))).toBe(field);
  });
});

describe('parseImageDownload', () => {
  it.each([
    ['complete\n', { skipped: true }],
    ['pulled\n', { skipped: false }],
    ['kept something\npulled', { skipped: false }],
  ])('%j → %j', (stdout, parsed) => {
    expect(parseImageDownload(stdout)).toEqual(parsed);
  });

  it('anything else is an error', () => {
    expect(() => parseImageDownload('')).toThrow(/unexpected answer/);
  });
});

describe('install with an image release', () => {
  const install = (over: Partial<Parameters<typeof installScript>[0]> = {}) =>
    installScript({
      docBase: '/srv/app',
      version: '1.0.0',
      port: 8080,
      address: '127.0.1.1',
      service: SERVICE,
      keep: 3,
      container: { name: NAME, podmanArgs: ['--root', '/var/lib/x y'], runArgs: [] },
      ...over,
    });

  it('checks IMAGE and that the image is on the host before it stops anything', () => {
    const script = install();
    syntaxOk(script);
    const order = [
      'is not on the host (no complete',
      'img=$(cat "releases/$v/IMAGE")',
      `podman --root '/var/lib/x y' image exists "$img"`,
      'a rollback uses only what the host keeps',
      '# stop',
      'ROLLGATE_IMAGE="$img" VERSION="$v" $detach sh -c',
      'rollgate-app "$pidf" "$start"',
      '# prune',
      'pimg=$(cat "releases/$r/IMAGE"',
      `names_locked podman --root '/var/lib/x y' rmi localhost/rollgate/shop-127.0.1.1-8080:"sha256-\${pimg##*@sha256:}"`,
      `elif names_locked podman --root '/var/lib/x y' rmi "$pimg"`,
    ].map((part) => script.indexOf(part));
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('without a start command, a tarball release fails before anything stops', () => {
    const script = install();
    expect(script).toContain('is no image release (no IMAGE) and the group has no service.start');
    expect(() => install({ container: undefined })).toThrow(InputError);
  });

  it('after a KILL, a container left by podman is removed by name', () => {
    expect(install()).toContain(`rm -f --ignore -t 0 ${NAME}`);
  });
});

/**
 * The download script on this machine, with a stand-in `podman` that keeps its images as files
 * and logs its calls: the skip, F6, the digest check and the cleanup after failures.
 */
describe('imageDownloadScript run against a stand-in podman', () => {
  let root: string;
  let doc: string;
  let fake: string;
  const env = () => ({ PATH: `${fake}/bin:${process.env.PATH}`, FAKE: fake });
  const fakePodman = `#!/bin/sh
echo "$*" >>"$FAKE/calls"
while [ $# -gt 0 ]; do case $1 in --root) shift 2 ;; --*) shift ;; *) break ;; esac; done
key() { printf '%s' "$1" | tr '/:@' '___'; }
case $1 in
pull)
  [ -e "$FAKE/down" ] && { echo "Error: initializing source: connection refused" >&2; exit 125; }
  for ref; do :; done
  touch "$FAKE/images/$(key "$ref")"
  ;;
image)
  case $2 in
  exists) [ -e "$FAKE/images/$(key "$3")" ] ;;
  inspect) for ref; do :; done; if [ -f "$FAKE/digest" ]; then cat "$FAKE/digest"; else echo "sha256:\${ref##*@sha256:} $ref"; fi ;;
  esac
  ;;
tag) touch "$FAKE/images/$(key "$3")" ;;
*) exit 1 ;;
esac
`;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rollgate-image-unit-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  beforeEach(() => {
    fake = fs.mkdtempSync(path.join(root, 'fake-'));
    doc = path.join(fake, 'srv/app');
    fs.mkdirSync(path.join(fake, 'bin'));
    fs.mkdirSync(path.join(fake, 'images'));
    fs.writeFileSync(path.join(fake, 'bin/podman'), fakePodman, { mode: 0o755 });
  });

  const download = (image = REF, tlsVerify = false) => {
    const script = imageDownloadScript(
      {
        docBase: doc,
        version: '1.0.0',
        image,
        container: NAME,
        podmanArgs: ['--root', '/var/lib/x'],
        tlsVerify,
        tag: 'abc123',
      },
      COMPLETE_MARKER,
    );
    return spawnSync('sh', ['-c', script], { encoding: 'utf8', env: env() });
  };
  const calls = () =>
    fs.existsSync(path.join(fake, 'calls'))
      ? fs.readFileSync(path.join(fake, 'calls'), 'utf8').trim().split('\n')
      : [];
  const rel = () => path.join(doc, 'releases/1.0.0');
  const leftovers = () =>
    fs.existsSync(path.join(doc, 'releases'))
      ? fs.readdirSync(path.join(doc, 'releases')).filter((n) => n.startsWith('.'))
      : [];

  it('pulls by digest, tags it for this instance and writes IMAGE and the marker', () => {
    const r = download();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(parseImageDownload(r.stdout)).toEqual({ skipped: false });
    expect(fs.readFileSync(path.join(rel(), 'IMAGE'), 'utf8')).toBe(`${REF}\n`);
    expect(fs.readFileSync(path.join(rel(), COMPLETE_MARKER), 'utf8')).toBe(`sha256:${HEX}\n`);
    expect(calls()).toContain(`--root /var/lib/x pull -q --tls-verify=false ${REF}`);
    expect(calls()).toContain(`--root /var/lib/x tag ${REF} ${keepTag(NAME, REF)}`);
    expect(leftovers()).toEqual([]);
  });

  it('verifies TLS unless the group says otherwise', () => {
    download(REF, true);
    expect(calls()).toContain(`--root /var/lib/x pull -q ${REF}`);
  });

  it('skips a complete release naming the same image while the image is on the host', () => {
    download();
    const r = download();
    expect(parseImageDownload(r.stdout)).toEqual({ skipped: true });
    expect(calls().filter((c) => c.includes(' pull '))).toHaveLength(1);
  });

  it('pulls again when the image is gone, leaving the release directory as it was', () => {
    download();
    for (const f of fs.readdirSync(path.join(fake, 'images'))) {
      fs.rmSync(path.join(fake, 'images', f));
    }
    const before = fs.statSync(rel()).ino;
    const r = download();
    expect(parseImageDownload(r.stdout)).toEqual({ skipped: false });
    expect(calls().filter((c) => c.includes(' pull '))).toHaveLength(2);
    expect(fs.statSync(rel()).ino).toBe(before);
  });

  it.each([
    [
      'another image',
      () => download(),
      `127.0.0.1:5000/acme/app@sha256:${OTHER}`,
      /with the image/,
    ],
    [
      'a tarball',
      () => {
        fs.mkdirSync(rel(), { recursive: true });
        fs.writeFileSync(path.join(rel(), COMPLETE_MARKER), `${HEX}\n`);
      },
      REF,
      /as a tarball/,
    ],
  ])(
    'F6: a version already on the host as %s is never replaced (exit 3)',
    (_what, setup, image, why) => {
      setup();
      const r = download(image);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).toContain('never replaced (F6)');
    },
  );

  it('a pulled image with another digest is refused (exit 4) and nothing is left', () => {
    fs.writeFileSync(
      path.join(fake, 'digest'),
      `sha256:${OTHER} 127.0.0.1:5000/acme/app@sha256:${OTHER}\n`,
    );
    const r = download();
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/digest mismatch/);
    expect(fs.existsSync(rel())).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('a pull that fails says what podman said and leaves nothing', () => {
    fs.writeFileSync(path.join(fake, 'down'), '');
    const r = download();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('connection refused');
    expect(r.stderr).toContain(`podman pull ${REF} failed`);
    expect(fs.existsSync(rel())).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('instances on one host tagging the same image at once keep every tag (the names lock)', async () => {
    // A stand-in for podman 4.3's read-modify-write of an image's names, slow enough to race.
    fs.writeFileSync(
      path.join(fake, 'bin/podman'),
      `#!/bin/sh
while [ $# -gt 0 ]; do case $1 in --root) shift 2 ;; --*) shift ;; *) break ;; esac; done
names="$FAKE/names"
case $1 in
pull) ;;
image)
  case $2 in
  exists) grep -qxF -- "$3" "$names" 2>/dev/null ;;
  inspect) for ref; do :; done; echo "sha256:\${ref##*@sha256:} $ref" ;;
  esac ;;
tag) old=$(cat "$names" 2>/dev/null); sleep 0.3; printf '%s\\n%s\\n' "$old" "$3" | sed '/^$/d' >"$names" ;;
*) exit 1 ;;
esac
`,
      { mode: 0o755 },
    );
    const names = ['shop-127.0.1.1-8080', 'shop-127.0.1.2-8080', 'shop-127.0.1.3-8080'];
    const runs = names.map((container, i) => {
      const script = imageDownloadScript(
        {
          docBase: path.join(fake, `srv/app-${i}`),
          version: '1.0.0',
          image: REF,
          container,
          podmanArgs: [],
          tlsVerify: true,
          tag: `t${i}`,
        },
        COMPLETE_MARKER,
      );
      const child = spawn('sh', ['-c', script], { env: { ...env(), TMPDIR: fake } });
      return new Promise<number | null>((resolve) => child.on('exit', resolve));
    });
    expect(await Promise.all(runs)).toEqual([0, 0, 0]);
    const tags = fs.readFileSync(path.join(fake, 'names'), 'utf8').trim().split('\n').sort();
    expect(tags).toEqual(names.map((n) => keepTag(n, REF)).sort());
  });

  it.each(['1.0;rm -rf /', '../1', '-rf'])('refuses version %j before building anything', (v) => {
    expect(() =>
      imageDownloadScript(
        {
          docBase: doc,
          version: v,
          image: REF,
          container: NAME,
          podmanArgs: [],
          tlsVerify: true,
          tag: 'a',
        },
        COMPLETE_MARKER,
      ),
    ).toThrow(InputError);
  });
});
