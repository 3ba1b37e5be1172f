/**
 * The deploy gate of image releases (B4) through the rollgate command (`main()`), for real: the
 * sample app (examples/app/server.js) built with buildImage into a docker-registry on
 * 127.0.14.20:15006, scanned by `rollgate scan -g group.yml` against the Clair double on
 * 127.0.14.21 (PSK auth, every request validated against Clair's OpenAPI), and released over the
 * local transport to two "hosts" on 127.0.14.1–2:18141 that run it with real podman (host
 * network, a storage of the hosts' own).
 *
 * An unscanned digest is refused before any host is touched; a clean scan lets the release go
 * out (finished: bake, continue) with the verdict in the ledger and a `gate` event; an image
 * that runs as root is refused naming the rule, and goes out with --override-scan, the reason
 * and who recorded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ledger, ReleaseEvent } from '../../../src/engine/ledger';
import { FileVerdicts } from '../../../src/store/file/verdicts';
import type { ClairDouble } from '../../support/clair-double';
import {
  buildSampleImage,
  imageContainers,
  clairScanArgs,
  hostVersions,
  runCli,
  startCleanClair,
  startImageFleet,
  writeImageGroup,
  type HostPodman,
  type ImageFleet,
} from '../../support/image-hosts';
import { ensureContainerTools } from '../../support/registry-env';

const missing = await ensureContainerTools();

const REGISTRY = '127.0.14.20:15006';
const REPOSITORY = `${REGISTRY}/acme/gated`;
const CLAIR_HOST = '127.0.14.21';
const KEY = Buffer.from('rollgate-gate-cli-psk-32-bytes!!').toString('base64');
const PORT = 18141;
const HOSTS = [
  { host: 'web-01', address: '127.0.14.1' },
  { host: 'web-02', address: '127.0.14.2' },
];
const GROUP = 'gated';
const { prefix: PREFIX, names: NAMES } = imageContainers(GROUP, HOSTS, PORT);
const TAGS = ['clean', 'rooted'] as const;

describe.skipIf(missing)(
  'B4 deploy gate of image releases: rollgate scan, then deploy (CLI)',
  () => {
    let fleet: ImageFleet | undefined;
    let work: string;
    let groupFile: string;
    let host: HostPodman;
    let clair: ClairDouble;
    let clean: { reference: string; digest: string };
    let rooted: { reference: string; digest: string };
    const env = { ...process.env, ROLLGATE_WHO: 'gate-test', CLAIR_PSK: KEY };

    const store = () => path.join(work, 'state');
    const docBase = (h: string) => path.join(work, 'fleet', h, 'srv/gated');

    const cli = (...args: string[]) => runCli([...args, '-g', groupFile], env);

    const scan = (reference: string) => cli(...clairScanArgs(reference, clair.url, REGISTRY));

    const ledger = () =>
      JSON.parse(fs.readFileSync(path.join(store(), GROUP, 'state.json'), 'utf8')) as Ledger;

    function eventsOf(deployment: string): ReleaseEvent[] {
      const file = path.join(store(), GROUP, 'events.ndjson');
      return fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ReleaseEvent)
        .filter((e) => e.deployment === deployment);
    }

    const answers = () => hostVersions(HOSTS, PORT);

    beforeAll(async () => {
      fleet = await startImageFleet({
        registry: REGISTRY,
        workPrefix: 'scan-gate-cli-',
        hostPrefix: 'rg-gate-',
      });
      ({ work, host } = fleet);
      const image = { repository: REPOSITORY, source: 'https://github.com/acme/gated' };
      const baseImage = fleet.bases.node;
      clean = await buildSampleImage(fleet, { ...image, tag: 'clean', baseImage });
      rooted = await buildSampleImage(fleet, { ...image, tag: 'rooted', baseImage, asRoot: true });
      clair = await startCleanClair(CLAIR_HOST, KEY);
      groupFile = path.join(work, 'group.yml');
      writeImageGroup(groupFile, {
        group: GROUP,
        docBase: '/srv/gated',
        port: PORT,
        repository: REPOSITORY,
        host,
        startTimeout: '6s',
        store: './state',
        targets: HOSTS,
      });
    }, 240_000);

    afterAll(async () => {
      await clair?.close();
      await fleet?.cleanup({
        docBases: HOSTS.map((h) => docBase(h.host)),
        containers: NAMES,
        tags: TAGS.map((t) => `${REPOSITORY}:${t}`),
      });
    }, 60_000);

    it('an unscanned digest is refused (exit 1) before any host is touched, saying how to override', async () => {
      const r = await cli('deploy', '--version', '1.0.0', '--image', clean.reference);
      expect(r.code, r.out).toBe(1);
      expect(r.out).toContain(`no scan verdict for ${clean.digest.slice(0, 19)}`);
      expect(r.out).toContain('the release is refused');
      expect(r.out).toContain('--override-scan "<why>"');
      expect(r.out).toContain(`looked in ${path.join(store(), 'scans')}`);
      expect(fs.existsSync(path.join(work, 'fleet'))).toBe(false);
      expect(await host.running(PREFIX)).toEqual([]);
      // no release was started, so the record holds none
      const file = path.join(store(), GROUP, 'state.json');
      if (fs.existsSync(file)) expect(ledger().current).toBeNull();
    });

    it('after a clean `rollgate scan -g`, the release goes out; the verdict is in the ledger and a gate event', async () => {
      const s = await scan(clean.reference);
      expect(s.code, s.out).toBe(0);
      expect(s.out).toContain(
        `verdict recorded: ${new FileVerdicts(store()).fileFor(clean.digest)}`,
      );

      const deploy = await cli('deploy', '--version', '1.0.0', '--image', clean.reference);
      expect(deploy.code, deploy.out).toBe(3);
      expect(deploy.out).toContain(`scan gate: scan of ${clean.digest.slice(0, 19)} passed`);
      const d = ledger().current!;
      expect(d.package.image).toBe(clean.reference);
      expect(d.package.scan).toMatchObject({ digest: clean.digest, passed: true });
      expect(d.package.scan?.override).toBeUndefined();
      const gate = eventsOf(d.id).filter((e) => e.type === 'gate');
      expect(gate.map((e) => e.message)).toEqual([
        expect.stringMatching(/^scan gate: scan of sha256:[0-9a-f]{12} passed \(/),
      ]);

      const bake = await cli('bake');
      expect(bake.code, bake.out).toBe(3);
      const rest = await cli('continue');
      expect(rest.code, rest.out).toBe(0);
      expect(ledger().current).toMatchObject({ phase: 'SUCCESS', version: '1.0.0' });
      expect(await answers()).toEqual(['1.0.0', '1.0.0']);
      const running = await host.running(PREFIX);
      expect(running.map((c) => c.name)).toEqual(NAMES);
      expect(running.map((c) => c.image)).toEqual([clean.reference, clean.reference]);
      expect(clair.violations).toEqual([]);
    });

    it('an image that runs as root: refused naming the rule; --override-scan releases it, reason and who recorded', async () => {
      const s = await scan(rooted.reference);
      expect(s.code, s.out).toBe(1);
      expect(s.out).toContain('compliance rules failed: non-root');

      const refused = await cli('deploy', '--version', '2.0.0', '--image', rooted.reference);
      expect(refused.code, refused.out).toBe(1);
      expect(refused.out).toContain(
        `scan of ${rooted.digest.slice(0, 19)} failed (compliance rules failed: non-root): the release is refused`,
      );
      expect(refused.out).toContain('--override-scan');
      // nothing moved: 1.0.0 still runs everywhere, the record still ends at its SUCCESS
      expect(ledger().current).toMatchObject({ phase: 'SUCCESS', version: '1.0.0' });
      expect(await answers()).toEqual(['1.0.0', '1.0.0']);
      expect(fs.readdirSync(path.join(docBase('web-01'), 'releases'))).toEqual(['1.0.0']);

      const reason = 'CVE fix must ship tonight; USER fixed in the next build (INC-4711)';
      const overridden = await cli(
        'deploy',
        '--version',
        '2.0.0',
        '--image',
        rooted.reference,
        '--override-scan',
        reason,
        '--who',
        'alice',
      );
      expect(overridden.code, overridden.out).toBe(3);
      expect(overridden.out).toContain(`scan gate overridden by alice: "${reason}"`);
      const d = ledger().current!;
      expect(d).toMatchObject({ version: '2.0.0', phase: 'SMOKE_SUCCESS', by: 'alice' });
      expect(d.package.scan).toMatchObject({
        digest: rooted.digest,
        passed: false,
        override: { reason, by: 'alice' },
      });
      expect(d.package.scan?.summary).toContain('compliance rules failed: non-root');
      const gate = eventsOf(d.id).filter((e) => e.type === 'gate');
      expect(gate).toHaveLength(1);
      expect(gate[0]!.message).toMatch(
        /^scan gate overridden by alice: "CVE fix must ship tonight; .*" \(scan of sha256:[0-9a-f]{12} failed \(compliance rules failed: non-root\)\)$/,
      );
      // the bastion runs the overridden image; the other host is still on 1.0.0
      expect(await answers()).toEqual(['2.0.0', '1.0.0']);
      const running = await host.running(PREFIX);
      expect(running.map((c) => c.image)).toEqual([rooted.reference, clean.reference]);
      expect(clair.violations).toEqual([]);
    });
  },
);
