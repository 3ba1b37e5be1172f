/**
 * The deploy gate of image releases (B4) in the actions, bundles as the runner starts them
 * (dist/<name>/index.js) against the GitHub double on 127.0.14.40 (REST validated against
 * GitHub's OpenAPI, artifacts over Twirp, blobs in azurite): clair-scan (Clair double on
 * 127.0.14.21) uploads the verdict of a digest, deploy-bastion of the same run reads it back and
 * lets the image out, or refuses it unless `scan-override` gives a reason; the deployment payload
 * carries the image and the gate's decision (G2). Images of the sample app are built with
 * buildImage into a docker-registry on 127.0.14.20:15007 and run with real podman by three
 * "hosts" on 127.0.14.31–33:18143 (local transport, a storage of the hosts' own).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentPayload } from '../../../src/actions/lib/github-deployments';
import { verdictArtifactName } from '../../../src/scan/verdict';
import type { Ledger, ReleaseEvent } from '../../../src/engine/ledger';
import {
  ledgerArtifacts,
  readArtifactFile,
  runAction,
  runStep,
  type ActionRun,
} from '../../support/actions-runner';
import type { ClairDouble } from '../../support/clair-double';
import {
  startGitHubDouble,
  type GitHubDouble,
  violationLines,
} from '../../support/github-double/github-double';
import type { DeploymentRecord } from '../../support/github-double/state';
import {
  buildSampleImage,
  imageContainers,
  hostVersions,
  startCleanClair,
  startImageFleet,
  writeImageGroup,
  type HostPodman,
  type ImageFleet,
} from '../../support/image-hosts';
import { ensureContainerTools } from '../../support/registry-env';

const missing = await ensureContainerTools();

const REGISTRY = '127.0.14.20:15007';
const REPOSITORY = `${REGISTRY}/acme/gated-actions`;
const CLAIR_HOST = '127.0.14.21';
const GITHUB_HOST = '127.0.14.40';
const KEY = Buffer.from('rollgate-gate-act-psk-32-bytes!!').toString('base64');
const PORT = 18143;
const HOSTS = [
  { host: 'web-01', address: '127.0.14.31' },
  { host: 'web-02', address: '127.0.14.32' },
  { host: 'web-03', address: '127.0.14.33' },
];
const ENV = 'production';
const GROUP = 'gated-actions';
const { prefix: PREFIX, names: NAMES } = imageContainers(GROUP, HOSTS, PORT);
const TAGS = ['clean', 'rooted'] as const;
/** The workflow run of the build, the scans and the releases. */
const RUN = 401;
/** Later runs that deploy what run 401 scanned. */
const LATER_RUNS = [402, 403, 404] as const;
const WHO = `octocat (run ${RUN}, attempt 1)`;

describe.skipIf(missing)(
  'B4 + G2 scan gate in the actions: clair-scan verdict → deploy-bastion',
  () => {
    let fleet: ImageFleet | undefined;
    let workspace: string;
    let host: HostPodman;
    let clair: ClairDouble;
    let double: GitHubDouble;
    let clean: { reference: string; digest: string };
    let rooted: { reference: string; digest: string };
    const groupFile = `deploy/${GROUP}.yml`;
    const docBase = (h: string) => path.join(workspace, 'deploy/fleet', h, 'srv/gated');

    function step(
      name: string,
      inputs: Record<string, string> = {},
      runId = RUN,
      attempt = 1,
    ): Promise<ActionRun> {
      const cwd = workspace;
      return runStep(name, { double, runId, attempt, cwd, groupFile, environment: ENV, inputs });
    }

    function scan(image: string, inputs: Record<string, string> = {}): Promise<ActionRun> {
      return runAction('clair-scan', {
        double,
        ids: { runId: RUN, jobId: 'scan' },
        job: 'scan',
        cwd: workspace,
        inputs: {
          image,
          'clair-url': clair.url,
          psk: KEY,
          'allowed-bases': `${REGISTRY}/rollgate-base/*`,
          'tls-verify': 'false',
          ...inputs,
        },
      });
    }

    const ok = (r: ActionRun) => {
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      return r;
    };

    const deployments = (): DeploymentRecord[] =>
      double.state.deployments.filter((d) => d.environment === `${ENV}/${GROUP}`);

    const payloadOf = (d: DeploymentRecord) =>
      (typeof d.payload === 'string' ? JSON.parse(d.payload) : d.payload) as DeploymentPayload;

    const answers = () => hostVersions(HOSTS, PORT);

    beforeAll(async () => {
      fleet = await startImageFleet({
        registry: REGISTRY,
        workPrefix: 'scan-gate-actions-',
        hostPrefix: 'rg-gatea-',
      });
      ({ host } = fleet);
      const image = { repository: REPOSITORY, source: 'https://github.com/acme/shop' };
      const baseImage = fleet.bases.node;
      clean = await buildSampleImage(fleet, { ...image, tag: 'clean', baseImage });
      rooted = await buildSampleImage(fleet, { ...image, tag: 'rooted', baseImage, asRoot: true });
      clair = await startCleanClair(CLAIR_HOST, KEY);
      double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: GITHUB_HOST });
      await double.storage();
      workspace = path.join(fleet.work, 'ws');
      writeImageGroup(path.join(workspace, groupFile), {
        group: GROUP,
        docBase: '/srv/gated',
        port: PORT,
        repository: REPOSITORY,
        host,
        startTimeout: '6s',
        targets: HOSTS,
      });
    }, 240_000);

    afterAll(async () => {
      await clair?.close();
      await double?.stop();
      await fleet?.cleanup({
        docBases: HOSTS.map((h) => docBase(h.host)),
        containers: NAMES,
        tags: TAGS.map((t) => `${REPOSITORY}:${t}`),
      });
    }, 60_000);

    afterEach(() => {
      expect(violationLines(double)).toEqual([]);
      expect(clair.violations).toEqual([]);
    });

    it('clair-scan of a clean image uploads its verdict; deploy-bastion of the same run passes the gate, the payload says so', async () => {
      const s = ok(await scan(clean.reference));
      expect(s.outputs.passed).toBe('true');
      expect(s.outputs['verdict-artifact']).toBe(verdictArtifactName(clean.digest));

      const r = ok(await step('deploy-bastion', { version: '1.0.0', image: clean.reference }));
      expect(r.outputs).toMatchObject({ outcome: 'waiting', phase: 'SMOKE_SUCCESS' });
      expect(r.stdout).toContain(`scan gate: scan of ${clean.digest.slice(0, 19)} passed`);
      const [d, ...more] = deployments();
      expect(more).toEqual([]);
      expect(r.outputs['deployment-id']).toBe(String(d!.id));
      const payload = payloadOf(d!);
      expect(payload).toMatchObject({
        rollgate: 1,
        version: '1.0.0',
        runId: RUN,
        image: clean.reference,
        scan: { digest: clean.digest, passed: true },
      });
      expect(payload.scan!.override).toBeUndefined();
      expect(await answers()).toEqual(['1.0.0', 'down', 'down']);

      // finish the release: every host runs the scanned image
      const bake = ok(await step('bake'));
      expect(bake.outputs.phase).toBe('BAKE_SUCCESS');
      const rest = ok(await step('roll-batches'));
      expect(rest.outputs).toMatchObject({ outcome: 'success', phase: 'SUCCESS' });
      expect(await answers()).toEqual(['1.0.0', '1.0.0', '1.0.0']);
      const running = await host.running(PREFIX);
      expect(running.map((c) => c.name)).toEqual(NAMES);
      expect(running.map((c) => c.image)).toEqual(Array(3).fill(clean.reference));
    });

    it('an image that fails compliance: deploy-bastion refuses it (job fails, says why); with scan-override it goes out, the reason in the payload', async () => {
      const s = ok(await scan(rooted.reference, { 'fail-on-findings': 'false' }));
      expect(s.outputs.passed).toBe('false');
      expect(s.warnings.join('\n')).toMatch(/compliance rules failed: non-root/);

      const refused = await step('deploy-bastion', { version: '2.0.0', image: rooted.reference });
      expect(refused.code).toBe(1);
      expect(refused.errors.join('\n')).toContain(
        `scan of ${rooted.digest.slice(0, 19)} failed (compliance rules failed: non-root): the release is refused`,
      );
      expect(refused.errors.join('\n')).toContain('input scan-override');
      expect(refused.errors.join('\n')).toContain("looked in this run's artifacts");
      expect(deployments()).toHaveLength(1);
      expect(await answers()).toEqual(['1.0.0', '1.0.0', '1.0.0']);
      expect(fs.readdirSync(path.join(docBase('web-01'), 'releases'))).toEqual(['1.0.0']);

      const reason = 'hotfix for INC-4711; USER fixed in the next build';
      const r = ok(
        await step('deploy-bastion', {
          version: '2.0.0',
          image: rooted.reference,
          'scan-override': reason,
        }),
      );
      expect(r.outputs).toMatchObject({ outcome: 'waiting', phase: 'SMOKE_SUCCESS' });
      expect(r.warnings.join('\n')).toContain(`scan gate overridden by ${WHO}: "${reason}"`);
      const all = deployments();
      expect(all).toHaveLength(2);
      const d = all.find((x) => String(x.id) === r.outputs['deployment-id'])!;
      expect(payloadOf(d)).toMatchObject({
        version: '2.0.0',
        image: rooted.reference,
        scan: { digest: rooted.digest, passed: false, override: { reason, by: WHO } },
      });
      expect(payloadOf(d).scan!.summary).toContain('compliance rules failed: non-root');
      // the ledger the step kept as an artifact holds the same decision, and the log a gate event
      const kept = ledgerArtifacts(double, GROUP, RUN).at(-1)!;
      const ledger = JSON.parse(await readArtifactFile(double, kept, 'state.json')) as Ledger;
      expect(ledger.current).toMatchObject({
        version: '2.0.0',
        package: {
          image: rooted.reference,
          scan: { digest: rooted.digest, passed: false, override: { reason, by: WHO } },
        },
      });
      const gate = (await readArtifactFile(double, kept, 'events.ndjson'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ReleaseEvent)
        .filter((e) => e.deployment === ledger.current!.id && e.type === 'gate');
      expect(gate).toHaveLength(1);
      expect(gate[0]!.message).toMatch(
        new RegExp(
          `^scan gate overridden by octocat \\(run ${RUN}, attempt 1\\): "${reason}" \\(scan of `,
        ),
      );
      expect(await answers()).toEqual(['2.0.0', '1.0.0', '1.0.0']);

      ok(await step('bake'));
      const rest = ok(await step('roll-batches'));
      expect(rest.outputs.phase).toBe('SUCCESS');
      expect((await host.running(PREFIX)).map((c) => c.image)).toEqual(
        Array(3).fill(rooted.reference),
      );
    });

    it('a later run finds the verdict with scan-run-id pointing at the run that scanned', async () => {
      const unfound = await step(
        'deploy-bastion',
        { version: '1.0.1', image: clean.reference },
        LATER_RUNS[0],
      );
      expect(unfound.code).toBe(1);
      expect(unfound.errors.join('\n')).toContain(
        `no scan verdict for ${clean.digest.slice(0, 19)}: the release is refused`,
      );
      expect(
        double.state.artifacts.some(
          (a) => a.runId === LATER_RUNS[0] && a.name.startsWith('rollgate-scan-'),
        ),
      ).toBe(false);

      const r = ok(
        await step(
          'deploy-bastion',
          { version: '1.0.1', image: clean.reference, 'scan-run-id': String(RUN) },
          LATER_RUNS[1],
        ),
      );
      expect(r.outputs).toMatchObject({ outcome: 'waiting', phase: 'SMOKE_SUCCESS' });
      expect(r.stdout).toContain(`scan gate: scan of ${clean.digest.slice(0, 19)} passed`);
      const d = deployments().find((x) => String(x.id) === r.outputs['deployment-id'])!;
      expect(payloadOf(d)).toMatchObject({
        version: '1.0.1',
        runId: LATER_RUNS[1],
        image: clean.reference,
        scan: { digest: clean.digest, passed: true },
      });
      expect(await answers()).toEqual(['1.0.1', '2.0.0', '2.0.0']);
    });

    it('scan-run-id: a run without the verdict refuses naming that run; not a run id fails naming the input', async () => {
      const elsewhere = await step(
        'deploy-bastion',
        { version: '1.0.2', image: clean.reference, 'scan-run-id': String(LATER_RUNS[0]) },
        LATER_RUNS[2],
      );
      expect(elsewhere.code).toBe(1);
      expect(elsewhere.errors.join('\n')).toContain(
        `no scan verdict for ${clean.digest.slice(0, 19)}: the release is refused`,
      );
      expect(elsewhere.errors.join('\n')).toContain(
        `(looked in the artifacts of run ${LATER_RUNS[0]})`,
      );
      const r = await step(
        'deploy-bastion',
        { version: '1.0.2', image: clean.reference, 'scan-run-id': 'last' },
        LATER_RUNS[2],
      );
      expect(r.code).toBe(1);
      expect(r.errors.join('\n')).toContain('input scan-run-id: "last" is not a workflow run id');
    });

    it('"Re-run failed jobs": deploy-bastion of attempt 2 finds the verdict attempt 1\'s clair-scan uploaded', async () => {
      // Issue 12 item 5: the runner's artifact service of attempt 2 does not serve attempt 1's
      // artifacts; the step reads its own run by run id through REST.
      const run = LATER_RUNS[2] + 1;
      ok(await step('stop', {}, run));
      const s = await runAction('clair-scan', {
        double,
        ids: { runId: run, jobId: 'scan' },
        job: 'scan',
        cwd: workspace,
        inputs: {
          image: clean.reference,
          'clair-url': clair.url,
          psk: KEY,
          'allowed-bases': `${REGISTRY}/rollgate-base/*`,
          'tls-verify': 'false',
        },
      });
      ok(s);
      const r = ok(
        await step('deploy-bastion', { version: '1.0.3', image: clean.reference }, run, 2),
      );
      expect(r.outputs).toMatchObject({ outcome: 'waiting', phase: 'SMOKE_SUCCESS' });
      expect(r.stdout).toContain(`scan gate: scan of ${clean.digest.slice(0, 19)} passed`);
    });
  },
);
