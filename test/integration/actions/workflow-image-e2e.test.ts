/**
 * Issue 6, end to end: an image release through the reusable workflow — .github/workflows/
 * rollout.yml driven job by job from its YAML (test/support/workflow-driver.ts) against the
 * GitHub double on 127.0.15.40, each `./.rollgate/actions/<x>` step running its dist bundle:
 * build-image (buildah, private storage) pushes the sample app to a docker-registry on
 * 127.0.15.20:15008, clair-scan scans it against the Clair double on 127.0.15.21 and uploads the
 * verdict, deploy-bastion's gate reads that verdict back, and three "hosts" on 127.0.15.1–3:18150
 * run the image with real podman (local transport, a storage of their own). The environments
 * `production-bake` and `production` have a required reviewer, alice; the test is alice at the
 * Review deployments button. A tarball release (hosts 127.0.15.4–6:18151) checks that the image
 * jobs are no-ops without the `image` input.
 *
 * The failing app leaks a password in a dotenv file (rule no-secrets): the workflow builds with
 * rollgate's standard Containerfile (it has no `containerfile` input), which always sets USER,
 * so a root image cannot come out of it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { DeploymentPayload } from '../../../src/actions/lib/github-deployments';
import { parseVerdict, verdictArtifactName } from '../../../src/scan/verdict';
import {
  ledgerArtifacts,
  makeActionsFleet,
  readArtifactFile,
  ROOT,
  type ActionsFleet,
} from '../../support/actions-runner';
import type { ClairDouble } from '../../support/clair-double';
import {
  startGitHubDouble,
  type GitHubDouble,
  violationLines,
} from '../../support/github-double/github-double';
import type { DeploymentRecord } from '../../support/github-double/state';
import {
  hostVersions,
  imageContainers,
  startCleanClair,
  startImageFleet,
  writeImageGroup,
  writeSampleApp,
  type HostPodman,
  type ImageFleet,
} from '../../support/image-hosts';
import { builderVars, ensureContainerTools, type BaseImages } from '../../support/registry-env';
import { jobResults, RELEASED, results, ROLLOUT_WORKFLOW } from '../../support/rollout-jobs';
import {
  checkNestedPermissions,
  loadWorkflow,
  startWorkflow,
  type GateRequest,
  type JobResult,
  type WorkflowRunOptions,
  type WorkflowRunResult,
} from '../../support/workflow-driver';

// With CI=true a missing tool throws here: the file fails, never skips.
const missing = await ensureContainerTools();

const ENV = 'production';
const REGISTRY = '127.0.15.20:15008';
const REPOSITORY = `${REGISTRY}/acme/shop`;
const CLAIR_HOST = '127.0.15.21';
const GITHUB_HOST = '127.0.15.40';
const KEY = Buffer.from('rollgate-wf-image-psk-32-bytes!!').toString('base64');
const PORT = 18150;
const HOSTS = [
  { host: 'web-01', address: '127.0.15.1' },
  { host: 'web-02', address: '127.0.15.2' },
  { host: 'web-03', address: '127.0.15.3' },
];
const GROUP = 'shop-image';
const { prefix: PREFIX, names: NAMES } = imageContainers(GROUP, HOSTS, PORT);
const VERSIONS = ['1.0.0', '2.0.0'];
const ALICE = 'ghp_alice_reviewer_token_wf_image';
const REASON = 'hotfix for INC-4711; the password moves to a secret in the next build';
const TIMEOUT = 150_000;

/** What an example caller grants the reusable workflow: its calling job's permissions, else its own. */
function callerPermissions(example: string): unknown {
  const wf = parseYaml(fs.readFileSync(path.join(ROOT, 'examples/workflows', example), 'utf8')) as {
    permissions?: unknown;
    jobs: Record<string, { uses?: string; permissions?: unknown }>;
  };
  const job = Object.values(wf.jobs).find((j) =>
    j.uses?.includes('/.github/workflows/rollout.yml@'),
  );
  if (!job) throw new Error(`${example} does not call rollout.yml`);
  return job.permissions ?? wf.permissions;
}

describe.skipIf(missing)(
  'B2 + B4 + G1–G4: rollout.yml runs build-image → clair-scan before deploy-bastion (workflow driver, bundles, podman hosts)',
  () => {
    let fleet: ImageFleet | undefined;
    let workspace: string;
    let host: HostPodman;
    let clair: ClairDouble;
    let double: GitHubDouble;
    let bases: BaseImages;
    let tarball: ActionsFleet;
    const groupFile = `deploy/${GROUP}.yml`;
    const docBase = (h: string) => path.join(workspace, 'deploy/fleet', h, 'srv/shop-image');
    /** The (a) release, for the later scenarios. */
    let released: { reference: string; digest: string; containers: string[] };

    /** The runner machine: its container tools use the private storage (like the runner's). */
    const runnerEnv = (): Record<string, string> => ({
      ...builderVars(fleet!.buildEnv),
      ACTIONS_CACHE_SERVICE_V2: 'true',
    });

    function writeApp(name: string, leak: boolean): void {
      writeSampleApp(path.join(workspace, 'apps', name), {
        name: 'shop',
        // A real-looking password in the image: compliance rule no-secrets fails the scan.
        files: leak ? { '.env': 'DB_USER=shop\nDB_PASSWORD=Pr0d-shop-4711-x\n' } : {},
      });
    }

    function imageInputs(version: string, app: string): WorkflowRunOptions['inputs'] {
      return {
        'group-file': groupFile,
        group: GROUP,
        version,
        environment: ENV,
        image: REPOSITORY,
        'build-context': `apps/${app}`,
        'base-image': bases.node,
        'clair-url': clair.url,
        'allowed-bases': `${REGISTRY}/rollgate-base/*`,
        'registry-tls-verify': 'false',
      };
    }

    interface Run {
      result: WorkflowRunResult;
      gates: GateRequest[];
      /** The hosts' answers after each job. */
      after: Record<string, string[]>;
    }

    async function run(
      runId: number,
      inputs: WorkflowRunOptions['inputs'],
      ws = workspace,
      caller: string | null = 'release-image.yml',
    ): Promise<Run> {
      const gates: GateRequest[] = [];
      const after: Record<string, string[]> = {};
      const result = await startWorkflow({
        file: ROLLOUT_WORKFLOW,
        double,
        runId,
        workspace: ws,
        runnerEnv: runnerEnv(),
        // GitHub refuses a caller granting less than a job of rollout.yml asks for
        ...(caller ? { callerPermissions: callerPermissions(caller) } : {}),
        reviewerToken: ALICE,
        inputs,
        secrets: { 'clair-psk': KEY },
        gate: (req) => {
          gates.push(req);
          return 'approve';
        },
        onJob: async (job: JobResult) => {
          if (ws === workspace) after[job.name] = await answers();
        },
      }).done;
      return { result, gates, after };
    }

    const steps = (r: WorkflowRunResult, job: string) =>
      r.jobs[job]!.steps.map((s) => `${s.how}:${s.outcome}`);

    const actionOf = (r: WorkflowRunResult, job: string) =>
      r.jobs[job]!.steps.find((s) => s.how === 'action')?.action;

    /** Every action log of the run, for failure messages. */
    const logs = (r: WorkflowRunResult) =>
      Object.values(r.jobs)
        .flatMap((j) =>
          j.steps.map((s) =>
            s.action
              ? `--- ${j.name} (${s.action.code})\n${s.action.stdout}\n${s.action.stderr}`
              : s.log
                ? `--- ${j.name} ${s.label}\n${s.log}`
                : '',
          ),
        )
        .filter(Boolean)
        .join('\n')
        .slice(-12_000);

    const deployments = (group = GROUP): DeploymentRecord[] =>
      double.state.deployments.filter((d) => d.environment === `${ENV}/${group}`);

    const payloadOf = (d: DeploymentRecord) =>
      (typeof d.payload === 'string' ? JSON.parse(d.payload) : d.payload) as DeploymentPayload;

    const verdictArtifacts = (runId: number, digest: string) =>
      double.state.artifacts.filter(
        (a) => a.finalized && a.runId === runId && a.name === verdictArtifactName(digest),
      );

    const ledgerSteps = (runId: number, group = GROUP) =>
      ledgerArtifacts(double, group, runId).map((a) =>
        a.name.replace(`rollgate-${group}-`, '').replace(/-\d+$/, ''),
      );

    const answers = () => hostVersions(HOSTS, PORT);

    beforeAll(async () => {
      fleet = await startImageFleet({
        registry: REGISTRY,
        workPrefix: 'wf-image-e2e-',
        hostPrefix: 'rg-wfimg-',
      });
      ({ host, bases } = fleet);
      clair = await startCleanClair(CLAIR_HOST, KEY);
      double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: GITHUB_HOST });
      await double.storage();
      double.state.addToken(ALICE, 'alice');
      for (const name of [`${ENV}-bake`, ENV]) {
        double.state.setEnvironment(name, {
          reviewers: [{ type: 'User', login: 'alice' }],
          preventSelfReview: true,
        });
      }
      workspace = path.join(fleet.work, 'ws');
      writeApp('clean', false);
      writeApp('leaky', true);
      writeImageGroup(path.join(workspace, groupFile), {
        group: GROUP,
        docBase: '/srv/shop-image',
        port: PORT,
        repository: REPOSITORY,
        host,
        startTimeout: '10s',
        targets: HOSTS,
      });
      tarball = await makeActionsFleet({
        group: 'shop-tarball',
        addresses: ['127.0.15.4', '127.0.15.5', '127.0.15.6'],
        port: 18151,
        deployment: '  maxUnavailable: 50%\n  startTimeout: 6s\n  verifyInterval: 50ms',
      });
      await tarball.build('1.0.0', { startDelayMs: 50 });
    }, 240_000);

    afterAll(async () => {
      await clair?.close();
      await double?.stop();
      await tarball?.cleanup();
      await fleet?.cleanup({
        docBases: HOSTS.map((h) => docBase(h.host)),
        containers: NAMES,
        tags: VERSIONS.map((v) => `${REPOSITORY}:${v}`),
      });
    }, 60_000);

    afterEach(() => {
      expect(violationLines(double)).toEqual([]);
      expect(clair.violations).toEqual([]);
    });

    it(
      '(a) clean app, both gates approved: build-image → clair-scan → deploy-bastion → bake → roll; every host runs the scanned image',
      async () => {
        const { result, gates, after } = await run(501, imageInputs('1.0.0', 'clean'));
        expect(results(result), logs(result)).toEqual(RELEASED);
        expect(gates.map((g) => `${g.job}@${g.environment}`)).toEqual([
          'bake@production-bake',
          'roll@production',
        ]);
        // checkouts stood in for, the registry login (no user: nothing to do), the bundle
        expect(steps(result, 'build-image')).toEqual([
          'driver:success',
          'driver:success',
          'bash:success',
          'action:success',
        ]);
        expect(steps(result, 'clair-scan')).toEqual([
          'driver:success',
          'driver:success',
          'action:success',
        ]);

        const build = result.jobs['build-image']!.outputs;
        expect(build.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect(build.reference).toBe(`${REPOSITORY}@${build.digest}`);
        expect(result.outputs).toEqual({ image: build.reference, outcome: 'success' });
        const built = actionOf(result, 'build-image')!;
        expect(built.outputs.tags).toBe('1.0.0');
        expect(built.summary).toContain(`| reference | ${build.reference} |`);

        // clair-scan scanned exactly what build-image pushed; its verdict is an artifact of the run
        const scan = actionOf(result, 'clair-scan')!;
        expect(scan.outputs).toMatchObject({
          passed: 'true',
          digest: build.digest,
          reference: build.reference,
          'verdict-artifact': verdictArtifactName(build.digest!),
        });
        expect(result.jobs['clair-scan']!.outputs).toEqual({ passed: 'true' });
        const [artifact, ...more] = verdictArtifacts(501, build.digest!);
        expect(more).toEqual([]);
        const verdict = parseVerdict(
          await readArtifactFile(double, artifact!, 'verdict.json'),
          'artifact',
        );
        expect(verdict).toMatchObject({
          digest: build.digest,
          reference: build.reference,
          passed: true,
        });
        // the job summary (G4) holds the report
        expect(scan.summary).toContain('## Image scan ✅ passed');
        expect(scan.summary).toContain(`\`${build.reference}\``);
        expect(scan.summary).toContain('| non-root: The process does not run as root | ✅ |');
        expect(scan.summary).toContain(
          '| no-secrets: No passwords, tokens or keys in the image | ✅ |',
        );
        expect(scan.summary).toMatch(
          /\| vulnerabilities \(Clair, \d+ packages\) \| ✅ 0 at or above High/,
        );

        // deploy-bastion's gate found the verdict; the deployment says what went out (G2)
        const bastion = actionOf(result, 'deploy-bastion')!;
        expect(bastion.stdout).toContain(`scan gate: scan of ${build.digest!.slice(0, 19)} passed`);
        const [d, ...others] = deployments();
        expect(others).toEqual([]);
        expect(result.jobs['deploy-bastion']!.outputs['deployment-id']).toBe(String(d!.id));
        const payload = payloadOf(d!);
        expect(payload).toMatchObject({
          rollgate: 1,
          group: GROUP,
          version: '1.0.0',
          runId: 501,
          image: build.reference,
          scan: { digest: build.digest, passed: true },
        });
        expect(payload.scan!.override).toBeUndefined();
        expect(d!.statuses.at(-1)!.state).toBe('success');

        // the bastion first, out of the others' way until the bake; then every host
        expect(after['build-image']).toEqual(['down', 'down', 'down']);
        expect(after['clair-scan']).toEqual(['down', 'down', 'down']);
        expect(after['deploy-bastion']).toEqual(['1.0.0', 'down', 'down']);
        expect(after.roll).toEqual(['1.0.0', '1.0.0', '1.0.0']);
        expect(await answers()).toEqual(['1.0.0', '1.0.0', '1.0.0']);
        const running = await host.running(PREFIX);
        expect(running.map((c) => c.name)).toEqual(NAMES);
        expect(running.map((c) => c.image)).toEqual(Array(3).fill(build.reference));
        expect(ledgerSteps(501)).toEqual(['a1-deploy-bastion', 'a1-bake', 'a1-roll', 'a1-monitor']);
        released = {
          reference: build.reference!,
          digest: build.digest!,
          containers: running.map((c) => c.id),
        };
      },
      TIMEOUT,
    );

    it(
      '(b) an app that leaks a password: clair-scan fails, deploy-bastion and everything after it is skipped; no deployment, hosts untouched',
      async () => {
        expect(released, 'needs (a)').toBeDefined();
        const deploymentsBefore = double.state.deployments.length;
        const { result, gates } = await run(502, imageInputs('2.0.0', 'leaky'));
        expect(results(result), logs(result)).toEqual(
          jobResults({ 'build-image': 'success', 'clair-scan': 'failure' }),
        );
        expect(gates).toEqual([]);
        expect(result.jobs['deploy-bastion']!.steps).toEqual([]);
        const build = result.jobs['build-image']!.outputs;
        expect(build.reference).toMatch(new RegExp(`^${REPOSITORY}@sha256:`));
        expect(build.digest).not.toBe(released.digest);
        // the release never started: the image output is set, the outcome is failure (the scan)
        expect(result.outputs).toEqual({ image: build.reference, outcome: 'failure' });

        const scan = actionOf(result, 'clair-scan')!;
        expect(scan.code).toBe(1);
        expect(scan.outputs.passed).toBe('false');
        expect(scan.errors.join('\n')).toMatch(
          /^clair-scan: .* failed the scan: .*compliance rules failed: no-secrets/m,
        );
        expect(scan.summary).toContain('## Image scan ❌ failed');
        expect(scan.summary).toContain(
          '| no-secrets: No passwords, tokens or keys in the image | ❌ 1 finding |',
        );
        expect(scan.summary).not.toContain('Pr0d-shop-4711-x');
        // the failed verdict is still recorded for the run (a later override reads it)
        const [artifact] = verdictArtifacts(502, build.digest!);
        const verdict = parseVerdict(
          await readArtifactFile(double, artifact!, 'verdict.json'),
          'artifact',
        );
        expect(verdict).toMatchObject({ digest: build.digest, passed: false });

        expect(double.state.deployments).toHaveLength(deploymentsBefore);
        expect(ledgerSteps(502)).toEqual([]);
        expect(await answers()).toEqual(['1.0.0', '1.0.0', '1.0.0']);
        const running = await host.running(PREFIX);
        expect(running.map((c) => c.id)).toEqual(released.containers);
        expect(running.map((c) => c.image)).toEqual(Array(3).fill(released.reference));
      },
      TIMEOUT,
    );

    it(
      '(c) the same app with scan-override: clair-scan passes with a warning, deploy-bastion records the override, the release goes through the gates',
      async () => {
        expect(released, 'needs (a)').toBeDefined();
        const { result, gates, after } = await run(503, {
          ...imageInputs('2.0.0', 'leaky'),
          'scan-override': REASON,
        });
        expect(results(result), logs(result)).toEqual(RELEASED);
        expect(gates.map((g) => `${g.job}@${g.environment}`)).toEqual([
          'bake@production-bake',
          'roll@production',
        ]);
        const build = result.jobs['build-image']!.outputs;
        expect(result.outputs).toEqual({ image: build.reference, outcome: 'success' });

        const scan = actionOf(result, 'clair-scan')!;
        expect(scan.code).toBe(0);
        expect(scan.outputs.passed).toBe('false');
        expect(result.jobs['clair-scan']!.outputs).toEqual({ passed: 'false' });
        expect(scan.errors).toEqual([]);
        expect(scan.warnings.join('\n')).toMatch(
          /clair-scan: .* failed the scan: .*no-secrets.*\(fail-on-findings: false\)/,
        );
        expect(verdictArtifacts(503, build.digest!)).toHaveLength(1);

        const bastion = actionOf(result, 'deploy-bastion')!;
        const who = 'octocat (run 503, attempt 1)';
        // the engine logs the gate's decision with the release (a log line, not an annotation)
        expect(bastion.stdout).toContain(`scan gate overridden by ${who}: "${REASON}"`);
        const d = deployments().find(
          (x) => String(x.id) === result.jobs['deploy-bastion']!.outputs['deployment-id'],
        )!;
        const payload = payloadOf(d);
        expect(payload).toMatchObject({
          version: '2.0.0',
          runId: 503,
          image: build.reference,
          scan: { digest: build.digest, passed: false, override: { reason: REASON, by: who } },
        });
        expect(payload.scan!.summary).toContain('no-secrets');
        expect(d.statuses.at(-1)!.state).toBe('success');

        expect(after['clair-scan']).toEqual(['1.0.0', '1.0.0', '1.0.0']);
        expect(after['deploy-bastion']).toEqual(['2.0.0', '1.0.0', '1.0.0']);
        expect(await answers()).toEqual(['2.0.0', '2.0.0', '2.0.0']);
        expect((await host.running(PREFIX)).map((c) => c.image)).toEqual(
          Array(3).fill(build.reference),
        );
        expect(ledgerSteps(503)).toEqual(['a1-deploy-bastion', 'a1-bake', 'a1-roll', 'a1-monitor']);
      },
      TIMEOUT,
    );

    it(
      '(d) a tarball release (no image input) through the same workflow: build-image and clair-scan run no step, the release goes through',
      async () => {
        const artifactsBefore = double.state.artifacts.length;
        const { result, gates } = await run(
          504,
          {
            'group-file': tarball.groupFile,
            group: 'shop-tarball',
            version: '1.0.0',
            environment: ENV,
          },
          tarball.workspace,
          'release.yml',
        );
        expect(results(result), logs(result)).toEqual(RELEASED);
        // every step of the image jobs skipped: the jobs pass without doing anything
        expect(steps(result, 'build-image')).toEqual(Array(4).fill('not-run:skipped'));
        expect(steps(result, 'clair-scan')).toEqual(Array(3).fill('not-run:skipped'));
        expect(result.jobs['build-image']!.outputs).toEqual({});
        expect(result.jobs['clair-scan']!.outputs).toEqual({});
        expect(gates.map((g) => `${g.job}@${g.environment}`)).toEqual([
          'bake@production-bake',
          'roll@production',
        ]);
        expect(result.outputs).toEqual({ image: '', outcome: 'success' });
        expect(
          double.state.artifacts
            .slice(artifactsBefore)
            .filter((a) => a.name.startsWith('rollgate-scan-')),
        ).toEqual([]);
        const [d, ...more] = deployments('shop-tarball');
        expect(more).toEqual([]);
        const payload = payloadOf(d!);
        expect(payload).toMatchObject({ version: '1.0.0', runId: 504, kind: 'deploy' });
        expect(payload.image).toBeUndefined();
        expect(payload.scan).toBeUndefined();
        expect(d!.statuses.at(-1)!.state).toBe('success');
        for (const h of tarball.hosts) expect(await tarball.health(h.host)).toBe('1.0.0');
        expect(ledgerSteps(504, 'shop-tarball')).toEqual([
          'a1-deploy-bastion',
          'a1-bake',
          'a1-roll',
          'a1-monitor',
        ]);
      },
      TIMEOUT,
    );
    // GitHub checks every nested job's permissions against the caller before the run starts,
    // skipped jobs included (actions/runner#4151): the image jobs must not ask for more than a
    // tarball caller grants.
    it('(e) the tarball example caller (examples/workflows/release.yml) may call rollout.yml: no job asks for more than it grants', () => {
      const wf = loadWorkflow(ROLLOUT_WORKFLOW);
      expect(() => checkNestedPermissions(wf, callerPermissions('release.yml'))).not.toThrow();
    });
  },
);
