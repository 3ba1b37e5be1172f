import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage } from '../../../src/package/tarball';
import {
  APP_DIR,
  makeActionsFleet,
  runAction,
  type ActionRun,
  type ActionsFleet,
} from '../../support/actions-runner';
import { approveGate } from '../../support/github-double/approvals';
import {
  startGitHubDouble,
  type GitHubDouble,
  violationLines,
} from '../../support/github-double/github-double';

// How many GitHub REST calls one release costs (deploy-bastion, bake, roll-batches through the
// bundles), Twirp artifact calls excluded. Budget: ≤ 4 + 2 × batches, whatever the group size.
// Before the gate checks (issue 12): 5 + batches; after: 9 + batches (two environment reads in
// deploy-bastion, one review-history read in bake and in roll-batches).
//
// 10 targets: real sample apps (127.0.9.41-50:18930).
// 1,000 targets: every target's host-side chain really runs (lock, probe, package copied,
// checksum checked and unpacked into its own releases/, symlink switch, start command, unlock);
// only the app is a stand-in: `service.start` is `true`, and one HTTP server in the test process
// listens on all 1,000 endpoints (200 addresses 127.0.9.51-250 × ports 18950-18954) and answers
// /health with the version the target's `current` symlink points at — what is installed there.
//
// Prints the counts; bench/README.md ("GitHub REST calls per release") has them.

let double: GitHubDouble;

beforeAll(async () => {
  double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: '127.0.4.22' });
  await double.storage();
});

afterAll(async () => {
  await double?.stop();
});

afterEach(() => {
  expect(violationLines(double)).toEqual([]);
});

interface Measured {
  targets: number;
  batches: number;
  rest: number;
  perStep: Record<string, number>;
  byOperation: Record<string, number>;
  twirp: number;
  seconds: Record<string, number>;
}

const measured: Measured[] = [];

async function release(
  workspace: string,
  groupFile: string,
  runId: number,
  targets: number,
): Promise<Measured> {
  double.resetCalls();
  // G5: bake and roll-batches act on an approval of their gate in the run's review history.
  for (const environment of ['production-bake', 'production']) {
    approveGate(double.state, runId, environment);
  }
  const perStep: Record<string, number> = {};
  const seconds: Record<string, number> = {};
  let last: ActionRun | undefined;
  for (const step of ['deploy-bastion', 'bake', 'roll-batches']) {
    const before = double.restCallCount();
    last = await runAction(step, {
      double,
      ids: { runId, jobId: step },
      job: step,
      cwd: workspace,
      inputs: {
        'group-file': groupFile,
        environment: 'production',
        ...(step === 'deploy-bastion' ? { version: '1.0.0' } : {}),
      },
      timeoutMs: 900_000,
    });
    expect(last.code, `${step}\n${last.stdout.slice(-4000)}\n${last.stderr}`).toBe(0);
    perStep[step] = double.restCallCount() - before;
    seconds[step] = Math.round(last.ms / 100) / 10;
  }
  expect(last!.outputs.outcome).toBe('success');
  // GitHub refuses a step summary over 1 MiB; the one page must fit for a large group too.
  expect(Buffer.byteLength(last!.summary)).toBeLessThan(1024 * 1024);
  console.log(
    `job summary of roll-batches for ${targets} targets: ${Buffer.byteLength(last!.summary)} bytes`,
  );
  const d = double.state.deployments.at(-1)!;
  const batches = (d.payload as { batches: string[][] }).batches;
  expect(batches.flat()).toHaveLength(targets);
  const byOperation = Object.fromEntries(
    Object.entries(double.calls).filter(([k]) => !k.startsWith('ArtifactService/')),
  );
  const twirp = Object.entries(double.calls)
    .filter(([k]) => k.startsWith('ArtifactService/'))
    .reduce((n, [, v]) => n + v, 0);
  const m: Measured = {
    targets,
    batches: batches.length,
    rest: double.restCallCount(),
    perStep,
    byOperation,
    twirp,
    seconds,
  };
  measured.push(m);
  console.log(`REST calls per release: ${JSON.stringify(m)}`);
  return m;
}

function expectBudget(m: Measured): void {
  expect(m.rest).toBeLessThanOrEqual(4 + 2 * m.batches);
  // One list (where is the record?), one deployment; a status when the bastion is verified, when
  // it is baked, per rolled batch but the last (the outcome's status tells its end) and the
  // outcome; G5: deploy-bastion reads the environments once, bake and roll-batches the run's
  // review history once each: 6 + batches.
  expect(m.byOperation).toEqual({
    'repos/list-deployments': 1,
    'repos/create-deployment': 1,
    'repos/create-deployment-status': m.batches + 1,
    'repos/get-all-environments': 1,
    'actions/get-reviews-for-run': 2,
  });
  expect(m.rest).toBe(6 + m.batches);
}

describe('GitHub REST calls per release', () => {
  it('10 targets (real sample apps): ≤ 4 + 2 × batches', async () => {
    let fleet: ActionsFleet | undefined;
    try {
      fleet = await makeActionsFleet({
        group: 'ten',
        addresses: Array.from({ length: 10 }, (_, i) => `127.0.9.${41 + i}`),
        port: 18930,
        deployment: '  maxUnavailable: 25%\n  startTimeout: 10s\n  verifyInterval: 50ms',
      });
      await fleet.build('1.0.0', { startDelayMs: 50 });
      const m = await release(fleet.workspace, fleet.groupFile, 401, 10);
      expectBudget(m);
      for (const h of fleet.hosts) expect(await fleet.health(h.host)).toBe('1.0.0');
    } finally {
      await fleet?.cleanup();
    }
  });

  it('2 targets, the smallest group with a bastion (2 batches): ≤ 4 + 2 × batches', async () => {
    let fleet: ActionsFleet | undefined;
    try {
      fleet = await makeActionsFleet({
        group: 'two',
        addresses: ['127.0.9.61', '127.0.9.62'],
        port: 18931,
        deployment: '  maxUnavailable: 50%\n  startTimeout: 10s\n  verifyInterval: 50ms',
      });
      await fleet.build('1.0.0', { startDelayMs: 50 });
      const m = await release(fleet.workspace, fleet.groupFile, 403, 2);
      expect(m.batches).toBe(2);
      expectBudget(m);
      expect(m.rest).toBe(8);
    } finally {
      await fleet?.cleanup();
    }
  });

  it(
    '1,000 targets (host chains real, app a stand-in): ≤ 4 + 2 × batches',
    { timeout: 1_200_000 },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rollgate-1000-'));
      const servers: Server[] = [];
      try {
        const targets = Array.from({ length: 1000 }, (_, i) => ({
          host: `h${String(i + 1).padStart(4, '0')}`,
          address: `127.0.9.${51 + Math.floor(i / 5)}`,
          port: 18950 + (i % 5),
        }));
        await mkdir(join(dir, 'deploy'), { recursive: true });
        await buildPackage({
          appDir: APP_DIR,
          version: '1.0.0',
          outDir: join(dir, 'deploy/packages'),
        });
        await writeFile(
          join(dir, 'deploy/thousand.yml'),
          `group: thousand
docBase: /srv/shop
port: 18950
keep: 2
service:
  start: "true"
package:
  source: ./packages/app-{version}.tar.gz
deployment:
  maxUnavailable: 25%
  startTimeout: 30s
  verifyInterval: 100ms
transport: { kind: local, root: ./fleet }
traffic: { kind: none }
targets:
${targets.map((t) => `  - { host: ${t.host}, address: ${t.address}, port: ${t.port} }`).join('\n')}
`,
        );
        // The stand-in app: /health answers the version installed on that target.
        for (const t of targets) {
          const current = join(dir, 'deploy/fleet', t.host, 'srv/shop/current/VERSION');
          const s = createServer((req, res) => {
            let version: string;
            try {
              version = readFileSync(current, 'utf8').trim();
            } catch {
              res.writeHead(503).end('not installed\n');
              return;
            }
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ status: 'ok', version }));
          });
          await new Promise<void>((ok, fail) => {
            s.once('error', fail);
            s.listen(t.port, t.address, () => ok());
          });
          servers.push(s);
        }
        const m = await release(dir, 'deploy/thousand.yml', 402, 1000);
        expectBudget(m);
      } finally {
        await Promise.all(
          servers.map(
            (s) =>
              new Promise<void>((r) => {
                s.close(() => r());
                s.closeAllConnections();
              }),
          ),
        );
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  afterAll(() => {
    if (measured.length) {
      console.log(
        [
          '| targets | batches | REST calls | budget 4 + 2 × batches | deploy-bastion | bake | roll-batches | Twirp (artifacts) | wall s (deploy / bake / roll) |',
          ...measured.map(
            (m) =>
              `| ${m.targets.toLocaleString('en')} | ${m.batches} | ${m.rest} | ${4 + 2 * m.batches} | ${m.perStep['deploy-bastion']} | ${m.perStep.bake} | ${m.perStep['roll-batches']} | ${m.twirp} | ${m.seconds['deploy-bastion']} / ${m.seconds.bake} / ${m.seconds['roll-batches']} |`,
          ),
        ].join('\n'),
      );
    }
  });
});
