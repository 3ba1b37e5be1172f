import { describe, expect, it } from 'vitest';
import { describeLayer, layerSteps } from '../../../src/scan/compliance/layers';
import { ruleModes } from '../../../src/scan/compliance/policy';
import {
  baseClaim,
  checkBaseClaim,
  checkBaseLayers,
} from '../../../src/scan/compliance/rules/base-image';
import { checkRunSpec, parseRunArgs } from '../../../src/scan/compliance/rules/no-privileged';
import { checkEnvAndLabels } from '../../../src/scan/compliance/rules/no-secrets';
import { checkUser, passwdUid } from '../../../src/scan/compliance/rules/non-root';
import type { ImageConfig, RegistryImage } from '../../../src/registry/client';
import { parseImageReference } from '../../../src/registry/reference';

/** The compliance rules on image configs and run specs (pure). Real images: integration tests. */

const D = (c: string) => `sha256:${c.repeat(64)}`;
const GH = 'ghp' + '_' + 'Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2';

const config = (
  over: ImageConfig['config'] = {},
  history: ImageConfig['history'] = [],
): ImageConfig => ({
  config: { User: '10001:10001', Env: ['PATH=/usr/bin'], Labels: {}, ...over },
  rootfs: { type: 'layers', diff_ids: [D('1'), D('2')] },
  history,
});

describe('non-root', () => {
  it.each([
    ['', /no USER is set/],
    ['root', /is root/],
    ['0', /uid 0/],
    ['0:0', /uid 0/],
  ])('USER %j fails', (user, message) => {
    const [issue] = checkUser(config({ User: user }));
    expect(issue).toMatchObject({ rule: 'non-root', message: expect.stringMatching(message) });
    expect(issue!.fix).toContain('USER 10001:10001');
  });

  it.each(['10001', '10001:10001', '1000:0'])('USER %j passes', (user) => {
    expect(checkUser(config({ User: user }))).toEqual([]);
  });

  it('names resolve through /etc/passwd from the layers', () => {
    const passwd =
      'root:x:0:0::/root:/bin/sh\napp:x:10001:10001::/home/app:/bin/sh\nsneaky:x:0:0::/:/bin/sh\n';
    expect(passwdUid(passwd, 'app')).toBe(10001);
    expect(checkUser(config({ User: 'app' }), passwd)).toEqual([]);
    expect(checkUser(config({ User: 'sneaky' }), passwd)[0]!.message).toMatch(
      /uid 0 in \/etc\/passwd/,
    );
    expect(checkUser(config({ User: 'ghost' }), passwd)[0]!.message).toMatch(
      /not in the image's \/etc\/passwd/,
    );
  });

  it('names the USER step in the history', () => {
    const c = config({ User: 'root' }, [
      { created_by: '/bin/sh' },
      { created_by: '/bin/sh -c #(nop) USER root', empty_layer: true },
    ]);
    expect(checkUser(c)[0]!.layer).toBe('image config, step 2 (USER root)');
  });
});

describe('no-secrets in env and labels', () => {
  it('finds them, redacted, and names the ENV/LABEL step', () => {
    const c = config(
      {
        Env: ['PATH=/bin', 'DB_PASSWORD=swordfish99', `GH=${GH}`],
        Labels: { 'ci.token': 'abcdef123456', ok: 'fine' },
      },
      [
        { created_by: '/bin/sh -c #(nop) ENV DB_PASSWORD=swordfish99', empty_layer: true },
        { created_by: '/bin/sh -c #(nop) LABEL "ci.token"="abcdef123456"', empty_layer: true },
      ],
    );
    const issues = checkEnvAndLabels(c);
    expect(issues.map((i) => i.message)).toEqual([
      'environment variable DB_PASSWORD holds a secret-named variable: DB_PASSWORD=s…(11 chars)',
      'environment variable GH holds a GitHub token: GH=ghp_…(40 chars)',
      'label ci.token holds a secret-named variable: ci.token=a…(12 chars)',
    ]);
    expect(issues[0]!.layer).toBe('image config, step 1 (ENV DB_PASSWORD=…)');
    expect(issues[2]!.layer).toMatch(/step 2 \(LABEL/);
    expect(JSON.stringify(issues)).not.toContain('swordfish');
    expect(JSON.stringify(issues)).not.toContain('abcdef123456');
  });
});

describe('base-image', () => {
  const image = (
    annotations?: Record<string, string>,
    labels?: Record<string, string>,
  ): RegistryImage => ({
    ref: parseImageReference('r.corp/app:1'),
    pinned: `r.corp/app@${D('9')}`,
    manifest: {
      digest: D('9'),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      manifest: {
        schemaVersion: 2,
        config: { mediaType: 'x', digest: D('8'), size: 1 },
        layers: [],
        annotations,
      },
    },
    config: config({ Labels: labels ?? {} }),
  });

  it('rollgate’s labels first, then the builder’s manifest annotations, then inherited labels', () => {
    const ann = { 'org.opencontainers.image.base.name': `r.corp/base/node@${D('a')}` };
    const rollgate = {
      'dev.rollgate.kind': 'node',
      'org.opencontainers.image.base.name': 'r.corp/base/node',
      'org.opencontainers.image.base.digest': D('b'),
    };
    expect(baseClaim(image(ann, rollgate))).toEqual({
      name: 'r.corp/base/node',
      digest: D('b'),
      source: 'labels',
    });
    expect(
      baseClaim(image(ann, { 'org.opencontainers.image.base.name': 'inherited/wrong' })),
    ).toEqual({
      name: `r.corp/base/node@${D('a')}`,
      source: 'manifest annotations',
    });
    expect(
      baseClaim(
        image(undefined, {
          'org.opencontainers.image.base.name': 'r.corp/base/node',
          'org.opencontainers.image.base.digest': D('a'),
        }),
      ),
    ).toEqual({ name: 'r.corp/base/node', digest: D('a'), source: 'labels' });
    expect(baseClaim(image())).toBeNull();
  });

  const allowed = ['r.corp/base/*'];
  it('pinned and allowed passes', () => {
    expect(
      checkBaseClaim(
        { name: `r.corp/base/node@${D('a')}`, source: 'manifest annotations' },
        allowed,
      ),
    ).toEqual([]);
    expect(
      checkBaseClaim({ name: 'r.corp/base/node', digest: D('a'), source: 'labels' }, allowed),
    ).toEqual([]);
  });

  it('a tag is not a pin (even with buildah’s resolved base.digest)', () => {
    const issues = checkBaseClaim(
      { name: 'r.corp/base/node:20', digest: D('a'), source: 'manifest annotations' },
      allowed,
    );
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      message: expect.stringMatching(/not pinned by digest/),
      fix: expect.stringContaining('FROM r.corp/base/node@sha256:<digest>'),
    });
  });

  it('a base off the list fails; an unknown base fails', () => {
    expect(
      checkBaseClaim(
        { name: `docker.io/library/node@${D('a')}`, source: 'manifest annotations' },
        allowed,
      )[0]!.message,
    ).toMatch(/not on the allowed list \(r\.corp\/base\/\*\)/);
    expect(checkBaseClaim(null, allowed)[0]!.message).toMatch(/does not say which base/);
    expect(checkBaseClaim({ name: 'NOT A REF', source: 'labels' }, allowed)[0]!.message).toMatch(
      /not an image reference/,
    );
  });

  it('the base’s layers must be the image’s first layers', () => {
    const base: ImageConfig = { rootfs: { type: 'layers', diff_ids: [D('1')] } };
    expect(checkBaseLayers(config(), base, 'b')).toEqual([]);
    const other: ImageConfig = { rootfs: { type: 'layers', diff_ids: [D('7')] } };
    expect(checkBaseLayers(config(), other, 'b')[0]!.message).toMatch(
      /first layers are not those of b/,
    );
  });
});

describe('no-privileged: the group’s container run options', () => {
  it('parses docker/podman run options', () => {
    expect(
      parseRunArgs([
        '--rm',
        '--privileged',
        '--cap-add=SYS_ADMIN',
        '--cap-add',
        'NET_BIND_SERVICE',
        '-v',
        '/var/run/docker.sock:/var/run/docker.sock',
        '--mount',
        'type=bind,source=/etc,target=/host-etc',
        '--security-opt',
        'seccomp=unconfined',
        '--pid=host',
        '--network',
        'host',
        '--device=/dev/kvm',
        '-u',
        '0',
        '-p',
        '8080:8080',
      ]),
    ).toEqual({
      privileged: true,
      capAdd: ['SYS_ADMIN', 'NET_BIND_SERVICE'],
      volumes: ['/var/run/docker.sock:/var/run/docker.sock', '/etc:'],
      securityOpt: ['seccomp=unconfined'],
      pid: 'host',
      network: 'host',
      devices: ['/dev/kvm'],
      user: '0',
    });
  });

  it('each privilege is a finding with its fix; harmless options are not', () => {
    const issues = checkRunSpec({
      args: [
        '--privileged',
        '--cap-add=SYS_ADMIN',
        '--cap-add=NET_BIND_SERVICE',
        '-v',
        '/srv/app/data:/data',
        '-v',
        '/:/host',
      ],
      securityOpt: ['apparmor=unconfined', 'no-new-privileges=true'],
      userns: 'host',
      user: 'root',
    });
    expect(issues.map((i) => i.message)).toEqual([
      'the container runs --privileged: all capabilities, all devices, no seccomp/AppArmor',
      '--cap-add SYS_ADMIN grants host-level power',
      '--security-opt apparmor=unconfined turns a protection off',
      "--userns=host shares the host's userns namespace",
      'volume /:/host mounts a sensitive host path',
      '--user root runs the app as root whatever the image says',
    ]);
    expect(
      issues.every(
        (i) => i.rule === 'no-privileged' && i.layer === 'group container spec (run options)',
      ),
    ).toBe(true);
    expect(
      checkRunSpec({ args: ['--rm', '-p', '80:8080', '--read-only', '--cap-drop=ALL'] }),
    ).toEqual([]);
    expect(checkRunSpec({ privileged: false, args: ['--privileged=false'] })).toEqual([]);
  });
});

describe('layers and modes', () => {
  it('pairs layers with the history steps that made them', () => {
    const layers = [
      { mediaType: 'm', digest: D('a'), size: 1 },
      { mediaType: 'm', digest: D('b'), size: 1 },
    ];
    const steps = layerSteps(
      config({}, [
        { created_by: '/bin/sh' },
        { created_by: '/bin/sh -c #(nop) ENV A=1', empty_layer: true },
        { created_by: '/bin/sh -c #(nop) COPY file:abc in /app/secret.env ' },
      ]),
      layers,
    );
    expect(steps.map((s) => describeLayer(s, 2))).toEqual([
      `layer 1/2 sha256:aaaaaaaaaaaa (/bin/sh)`,
      `layer 2/2 sha256:bbbbbbbbbbbb (COPY file:abc in /app/secret.env)`,
    ]);
    // history that does not line up with the layers is not guessed at
    expect(layerSteps(config({}, [{ created_by: 'x' }]), layers)[1]!.createdBy).toBeUndefined();
  });

  it('every rule defaults to fail; modes are checked', () => {
    expect(ruleModes({ rules: { 'no-privileged': 'warn' } })).toEqual({
      'non-root': 'fail',
      'no-secrets': 'fail',
      'base-image': 'fail',
      'no-privileged': 'warn',
    });
    expect(() => ruleModes({ rules: { 'no-root': 'fail' } as never })).toThrow(/unknown rule/);
    expect(() => ruleModes({ rules: { 'non-root': 'maybe' as never } })).toThrow(
      /fail, warn or off/,
    );
  });
});
