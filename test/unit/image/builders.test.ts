import { describe, expect, it } from 'vitest';
import {
  buildCommand,
  countCacheHits,
  dependencyCacheMode,
  parseDockerPushDigest,
  pushCommand,
  removeImageCommand,
  type BuildInvocation,
} from '../../../src/image/builders';
import { InputError } from '../../../src/model/errors';

const inv: BuildInvocation = {
  contextDir: '/src/app',
  containerfile: '/tmp/w/Containerfile',
  ignoreFile: '/tmp/w/Containerfile.dockerignore',
  tags: ['127.0.11.1:15000/acme/app:1.2.3'],
  labels: { 'org.opencontainers.image.revision': 'abc1234', 'a.b': 'x y' },
  platformContext: '/tmp/w/platform',
  dependencyCacheDir: '/var/cache/rollgate',
  iidFile: '/tmp/w/iid',
  tlsVerify: false,
  pull: 'missing',
};

describe('buildCommand (B1, B2): argv for the real builders', () => {
  it('buildah: layers, force-rm, chroot isolation, platform context, dependency cache volume', () => {
    const { command, args } = buildCommand('buildah', inv);
    expect(command).toBe('buildah');
    expect(args).toEqual([
      'build',
      '--file',
      '/tmp/w/Containerfile',
      '--tag',
      '127.0.11.1:15000/acme/app:1.2.3',
      '--label',
      'a.b=x y',
      '--label',
      'org.opencontainers.image.revision=abc1234',
      '--iidfile',
      '/tmp/w/iid',
      '--build-context',
      'rollgate-platform=/tmp/w/platform',
      '--layers=true',
      '--force-rm',
      '--isolation',
      'chroot',
      '--ignorefile',
      '/tmp/w/Containerfile.dockerignore',
      '--pull=missing',
      '--tls-verify=false',
      '--volume',
      '/var/cache/rollgate:/rollgate-cache:rw',
      '/src/app',
    ]);
  });

  it('podman takes the same flags; runtime and network are passed through', () => {
    const { command, args } = buildCommand('podman', {
      ...inv,
      isolation: 'oci',
      runtime: '/usr/sbin/runc',
      network: 'host',
      layers: false,
      tlsVerify: true,
    });
    expect(command).toBe('podman');
    expect(args).toContain('--layers=false');
    expect(args.join(' ')).toContain('--isolation oci --runtime /usr/sbin/runc');
    expect(args.join(' ')).toContain('--network host');
    expect(args).not.toContain('--tls-verify=false');
  });

  it('docker uses buildx (BuildKit): --load, plain progress, no volume or ignorefile flags', () => {
    const { command, args } = buildCommand('docker', {
      ...inv,
      layers: false,
      metadataFile: '/tmp/w/meta.json',
      layerCacheRepo: 'ghcr.io/acme/app-cache',
    });
    expect(command).toBe('docker');
    expect(args.slice(0, 2)).toEqual(['buildx', 'build']);
    expect(args).toContain('--load');
    expect(args).toContain('--no-cache');
    expect(args).not.toContain('--volume');
    expect(args).not.toContain('--ignorefile');
    expect(args.join(' ')).toContain('--cache-from type=registry,ref=ghcr.io/acme/app-cache');
    expect(args.join(' ')).toContain('--metadata-file /tmp/w/meta.json');
    expect(args.at(-1)).toBe('/src/app');
  });

  it('buildah layer cache in a registry (fresh CI machines)', () => {
    const { args } = buildCommand('buildah', { ...inv, layerCacheRepo: '127.0.11.1:15000/cache' });
    expect(args.join(' ')).toContain(
      '--cache-from 127.0.11.1:15000/cache --cache-to 127.0.11.1:15000/cache',
    );
  });

  it('labels and build args are sorted and one argv element each (no shell)', () => {
    const { args } = buildCommand('buildah', {
      ...inv,
      labels: { z: '1', a: '$(rm -rf /); "q"' },
      buildArgs: { B: '2', A: '1' },
    });
    const i = args.indexOf('--label');
    expect(args.slice(i, i + 4)).toEqual(['--label', 'a=$(rm -rf /); "q"', '--label', 'z=1']);
    const j = args.indexOf('--build-arg');
    expect(args.slice(j, j + 4)).toEqual(['--build-arg', 'A=1', '--build-arg', 'B=2']);
  });

  it('refuses relative paths, no tags and bad keys', () => {
    expect(() => buildCommand('buildah', { ...inv, contextDir: 'app' })).toThrow(InputError);
    expect(() => buildCommand('buildah', { ...inv, tags: [] })).toThrow(/tag/);
    expect(() => buildCommand('buildah', { ...inv, labels: { 'a=b': 'c' } })).toThrow(InputError);
  });
});

describe('pushCommand, removeImageCommand', () => {
  it('buildah/podman push the image id to docker://dest and write the digest file', () => {
    expect(
      pushCommand('buildah', {
        source: 'sha256:abc',
        destination: '127.0.11.1:15000/acme/app:1',
        digestFile: '/tmp/d',
        tlsVerify: false,
      }),
    ).toEqual({
      command: 'buildah',
      args: [
        'push',
        '--digestfile',
        '/tmp/d',
        '--tls-verify=false',
        'sha256:abc',
        'docker://127.0.11.1:15000/acme/app:1',
      ],
    });
    expect(pushCommand('podman', { source: 'x', destination: 'r/a:1' }).args).toEqual([
      'push',
      'x',
      'docker://r/a:1',
    ]);
  });

  it('docker pushes the tag it built', () => {
    expect(pushCommand('docker', { source: 'r/a:1', destination: 'r/a:1' })).toEqual({
      command: 'docker',
      args: ['push', 'r/a:1'],
    });
    expect(() => pushCommand('docker', { source: 'sha256:x', destination: 'r/a:1' })).toThrow();
  });

  it('removes images', () => {
    expect(removeImageCommand('buildah', 'x').args).toEqual(['rmi', 'x']);
    expect(removeImageCommand('docker', 'x').args).toEqual(['image', 'rm', 'x']);
  });
});

describe('output parsing', () => {
  it('reads the digest docker push prints', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseDockerPushDigest(`1.2.3: digest: ${d} size: 1570\n`)).toBe(d);
    expect(parseDockerPushDigest('denied')).toBeNull();
  });

  it('counts cache hits per builder', () => {
    const buildah = '--> Using cache 1c3e\nSTEP 3\n--> Using cache 64aa\n--> 5d1f';
    expect(countCacheHits('buildah', buildah)).toBe(2);
    expect(countCacheHits('docker', '#5 CACHED\n#6 [2/4] RUN x\n#7 CACHED\n')).toBe(2);
  });

  it('dependency caches: a volume for buildah/podman with a directory, BuildKit cache mounts for docker', () => {
    expect(dependencyCacheMode('buildah', '/c')).toBe('volume');
    expect(dependencyCacheMode('podman', undefined)).toBe('none');
    expect(dependencyCacheMode('docker', '/c')).toBe('cache-mount');
  });
});
