/**
 * Image releases end to end with real podman and a real registry: the sample app
 * (examples/app/server.js) built into images with the project's buildImage and pushed to a
 * docker-registry on 127.0.12.20:15000, then released with the rollgate command (`main()`) over
 * the local transport to three "hosts" on 127.0.12.1–3:18120, each running its release as a
 * podman container (host network, a storage of the hosts' own, passed as podmanArgs).
 *
 * deploy v1 → deploy v2 → registry stopped, rollback to v1 (no pull possible) → registry back, a
 * v3 whose app exits at start fails on the bastion, retry touches only it, rollback → v4 prunes
 * the old releases and their images.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildSampleImage,
  hostVersions,
  imageContainers,
  runCli,
  startImageFleet,
  writeImageGroup,
  type AddressedRegistry,
  type HostPodman,
  type ImageFleet,
} from '../../support/image-hosts';
import { ensureContainerTools } from '../../support/registry-env';

const missing = await ensureContainerTools();

const REGISTRY = '127.0.12.20:15000';
const REPOSITORY = `${REGISTRY}/acme/image-release`;
const PORT = 18120;
const HOSTS = [
  { host: 'web-01', address: '127.0.12.1' },
  { host: 'web-02', address: '127.0.12.2' },
  { host: 'web-03', address: '127.0.12.3' },
];
const GROUP = 'img-shop';
const { prefix: PREFIX, names: NAMES } = imageContainers(GROUP, HOSTS, PORT);
const VERSIONS = ['1.0.0', '2.0.0', '3.0.0', '4.0.0'] as const;
type Version = (typeof VERSIONS)[number];

describe.skipIf(missing)('image releases with podman on the hosts (issue 6)', () => {
  let fleet: ImageFleet | undefined;
  let work: string;
  let groupFile: string;
  let registry: AddressedRegistry;
  let host: HostPodman;
  const refs = {} as Record<Version, string>;
  const env = { ...process.env, ROLLGATE_WHO: 'image-test' };

  const cli = (...args: string[]) => runCli([...args, '-g', groupFile], env);

  // The host side is what this file tests: the scan gate (tested in scan-gate-cli.test.ts) is
  // passed the documented way, an override with its reason.
  const UNSCANNED = ['--override-scan', 'host-side test: the images are not scanned here'];

  async function release(version: Version): Promise<void> {
    const deploy = await cli(
      'deploy',
      '--version',
      version,
      '--image',
      refs[version],
      ...UNSCANNED,
    );
    expect(deploy.code, deploy.out).toBe(3);
    const bake = await cli('bake');
    expect(bake.code, bake.out).toBe(3);
    const rest = await cli('continue');
    expect(rest.code, rest.out).toBe(0);
  }

  const keepTagOf = (h: string, v: Version) => {
    const address = HOSTS.find((x) => x.host === h)!.address;
    return `localhost/rollgate/${GROUP}-${address}-${PORT}:${refs[v].split('@')[1]!.replace(':', '-')}`;
  };
  const docBase = (h: string) => path.join(work, 'fleet', h, 'srv/shop');
  const releases = (h: string) =>
    fs
      .readdirSync(path.join(docBase(h), 'releases'))
      .filter((r) => !r.startsWith('.'))
      .sort();

  const answers = () => hostVersions(HOSTS, PORT);

  function latestEvents(): Array<{ deployment: string; target?: string; state?: string }> {
    const file = path.join(work, 'state', GROUP, 'events.ndjson');
    const all = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { deployment: string; target?: string; state?: string });
    const last = all.at(-1)?.deployment;
    return all.filter((e) => e.deployment === last);
  }

  beforeAll(async () => {
    fleet = await startImageFleet({
      registry: REGISTRY,
      workPrefix: 'image-release-',
      hostPrefix: 'rg-hosts-',
    });
    ({ work, host, registry } = fleet);
    for (const version of VERSIONS) {
      const built = await buildSampleImage(fleet, {
        tag: version,
        repository: REPOSITORY,
        source: 'https://github.com/acme/image-release',
        baseImage: fleet.bases.node,
        files: {
          RELEASE: `${version}\n`,
          // server.js exits at start when its working directory holds a BROKEN file saying "exit"
          ...(version === '3.0.0' ? { BROKEN: 'exit\n' } : {}),
        },
      });
      refs[version] = built.reference;
    }
    groupFile = path.join(work, 'group.yml');
    writeImageGroup(groupFile, {
      group: GROUP,
      docBase: '/srv/shop',
      port: PORT,
      keep: 2,
      repository: REPOSITORY,
      host,
      startTimeout: '6s',
      store: './state',
      targets: HOSTS,
    });
  }, 300_000);

  afterAll(async () => {
    await fleet?.cleanup({
      docBases: HOSTS.map((h) => docBase(h.host)),
      containers: NAMES,
      tags: VERSIONS.map((v) => `${REPOSITORY}:${v}`),
    });
  }, 60_000);

  it('refuses a tag-only image and a missing --image before anything runs (exit 2)', async () => {
    const tagOnly = await cli('deploy', '--version', '1.0.0', '--image', `${REPOSITORY}:1.0.0`);
    expect(tagOnly.code).toBe(2);
    expect(tagOnly.out).toContain('--image:');
    expect(tagOnly.out).toContain('pin it by digest');
    const none = await cli('deploy', '--version', '1.0.0');
    expect(none.code).toBe(2);
    expect(none.out).toMatch(/--image: the group releases images \(package\.image\)/);
    expect(fs.existsSync(path.join(work, 'fleet'))).toBe(false);
  });

  it('deploy 1.0.0: every host pulls by digest and answers from its own container', async () => {
    await release('1.0.0');
    expect(await answers()).toEqual(['1.0.0', '1.0.0', '1.0.0']);
    const running = await host.running(PREFIX);
    expect(running.map((c) => c.name)).toEqual(NAMES);
    expect(running.map((c) => c.image)).toEqual(Array(3).fill(refs['1.0.0']));
    for (const h of HOSTS) {
      const rel = path.join(docBase(h.host), 'releases/1.0.0');
      expect(fs.readFileSync(path.join(rel, 'IMAGE'), 'utf8').trim()).toBe(refs['1.0.0']);
      expect(fs.readlinkSync(path.join(docBase(h.host), 'current'))).toBe('releases/1.0.0');
    }
  });

  it('deploy 2.0.0: one container per host, the old ones gone', async () => {
    await release('2.0.0');
    expect(await answers()).toEqual(['2.0.0', '2.0.0', '2.0.0']);
    const running = await host.running(PREFIX);
    expect(running.map((c) => c.image)).toEqual(Array(3).fill(refs['2.0.0']));
    const all = await host.run(['ps', '-a', '--format', '{{.Names}}']);
    expect(all.split('\n').filter((n) => n.startsWith(PREFIX))).toHaveLength(3);
  });

  let v1Ids: string[] = [];

  it('with the registry stopped, rollback starts the image kept on each host: no pull', async () => {
    await registry.stop();
    expect(await registry.up()).toBe(false);
    const r = await cli('rollback');
    expect(r.code, r.out).toBe(0);
    expect(await answers()).toEqual(['1.0.0', '1.0.0', '1.0.0']);
    const running = await host.running(PREFIX);
    expect(running.map((c) => c.image)).toEqual(Array(3).fill(refs['1.0.0']));
    v1Ids = running.map((c) => c.id);
    expect(latestEvents().some((e) => e.state?.startsWith('DOWNLOAD'))).toBe(false);
    // 2.0.0 stays on every host for the next rollback
    expect(await host.exists(refs['2.0.0'])).toBe(true);
  });

  it('an image whose app exits at start fails the bastion; retry touches only the failure', async () => {
    await registry.start();
    const deploy = await cli(
      'deploy',
      '--version',
      '3.0.0',
      '--image',
      refs['3.0.0'],
      ...UNSCANNED,
    );
    expect(deploy.code, deploy.out).toBe(1);
    expect(await answers()).toEqual(['down', '1.0.0', '1.0.0']);

    const retry = await cli('retry');
    expect(retry.code, retry.out).toBe(1);
    const touched = new Set(latestEvents().flatMap((e) => (e.target ? [e.target] : [])));
    expect([...touched]).toEqual(['web-01']);
    // web-02 and web-03 still run the very containers the rollback started
    const running = await host.running(PREFIX);
    expect(running.map((c) => c.name)).toEqual(NAMES.slice(1));
    expect(running.map((c) => c.id)).toEqual(v1Ids.slice(1));

    // keep 2: web-01 pruned 2.0.0, but its image stays while web-02 and web-03 keep 2.0.0
    expect(releases('web-01')).toEqual(['1.0.0', '3.0.0']);
    expect(await host.exists(refs['2.0.0'])).toBe(true);
    expect((await cli('stop')).code).toBe(4);
  });

  it('the fix, 4.0.0, prunes beyond keep: releases, and the images no release keeps', async () => {
    await release('4.0.0');
    expect(await answers()).toEqual(['4.0.0', '4.0.0', '4.0.0']);
    const running = await host.running(PREFIX);
    expect(running.map((c) => c.image)).toEqual(Array(3).fill(refs['4.0.0']));
    // web-01 keeps 1.0.0 beyond keep: 2 — a rollback of 4.0.0 returns to it (F4)
    expect(HOSTS.map((h) => releases(h.host))).toEqual([
      ['1.0.0', '3.0.0', '4.0.0'],
      ['1.0.0', '4.0.0'],
      ['1.0.0', '4.0.0'],
    ]);
    // 2.0.0: pruned everywhere, its image removed
    expect(await host.exists(refs['2.0.0'])).toBe(false);
    expect(await host.exists(refs['1.0.0'])).toBe(true);
    expect(await host.exists(refs['3.0.0'])).toBe(true);
    const tags = await host.run(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(
      tags
        .split('\n')
        .filter((t) => t.startsWith('localhost/rollgate/'))
        .sort(),
    ).toEqual(
      [
        ['web-01', '1.0.0'],
        ['web-01', '3.0.0'],
        ['web-01', '4.0.0'],
        ['web-02', '1.0.0'],
        ['web-02', '4.0.0'],
        ['web-03', '1.0.0'],
        ['web-03', '4.0.0'],
      ]
        .map(([h, v]) => keepTagOf(h!, v as Version))
        .sort(),
    );
  });
});
