import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildPackage } from '../../../src/package/tarball';
import {
  APP_DIR,
  hostPath,
  killApp,
  ledgerArtifacts,
  makeActionsFleet,
  readArtifactFile,
  ROOT,
  runAction,
  runStep,
  type ActionRun,
  type ActionsFleet,
} from '../../support/actions-runner';
import { approveGate } from '../../support/github-double/approvals';
import {
  startGitHubDouble,
  type GitHubDouble,
  violationLines,
} from '../../support/github-double/github-double';
import { closeServer, squat } from '../../support/port-squatter';
import type { DeploymentRecord } from '../../support/github-double/state';

// Issue 5: each action (dist/<name>/index.js, which runs the shared bundle dist/actions) runs as
// a child process the way the runner starts it, against the GitHub double (REST validated against
// GitHub's OpenAPI, Twirp artifact service, blobs in azurite) and a local fleet of four
// sample-app hosts on 127.0.9.1-4:18900.
// Requirements: G1 (steps), G2 (deployments + artifacts), G3 (buttons), G4 (job summary).

const execFileP = promisify(execFile);
const ENV = 'production';
const GROUP = 'shop';

let double: GitHubDouble;
let fleet: ActionsFleet;

function step(
  name: string,
  runId: number,
  inputs: Record<string, string> = {},
  attempt = 1,
): Promise<ActionRun> {
  const { workspace: cwd, groupFile } = fleet;
  return runStep(name, { double, runId, attempt, cwd, groupFile, environment: ENV, inputs });
}

/** Shows the action's log when an expectation on it fails. */
function ok(r: ActionRun): ActionRun {
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
}

function deploymentsOf(env = `${ENV}/${GROUP}`): DeploymentRecord[] {
  return double.state.deployments.filter((d) => d.environment === env);
}

const states = (d: DeploymentRecord) => d.statuses.map((s) => s.state);
const hosts = () => fleet.hosts.map((h) => h.host);

beforeAll(async () => {
  double = await startGitHubDouble({ owner: 'acme', repo: 'shop', host: '127.0.4.20' });
  await double.storage();
  fleet = await makeActionsFleet({
    group: GROUP,
    addresses: ['127.0.9.1', '127.0.9.2', '127.0.9.3', '127.0.9.4'],
    port: 18900,
  });
  await fleet.build('1.0.0', { startDelayMs: 50 });
  await fleet.build('2.0.0', { startDelayMs: 50 });
});

afterAll(async () => {
  await fleet?.cleanup();
  await double?.stop();
});

beforeEach(() => double.resetCalls());

afterEach(() => {
  expect(violationLines(double)).toEqual([]);
});

describe('action bundles as child processes', () => {
  it('a missing required input fails the step with an error naming the input', async () => {
    const noVersion = await step('deploy-bastion', 100);
    expect(noVersion.code).toBe(1);
    expect(noVersion.errors.join('\n')).toMatch(/input version.*is required/);
    const noGroup = await runAction('bake', {
      double,
      ids: { runId: 100, jobId: 'bake' },
      cwd: fleet.workspace,
      inputs: { environment: ENV },
    });
    expect(noGroup.code).toBe(1);
    expect(noGroup.errors.join('\n')).toMatch(/input group-file.*is required/);
    const badPage = await step('deploy-bastion', 100, {
      version: '1.0.0',
      'page-url': 'acme.github.io/shop',
    });
    expect(badPage.code).toBe(1);
    expect(badPage.errors.join('\n')).toContain(
      'input page-url: "acme.github.io/shop" is not an absolute http(s) URL',
    );
    expect(deploymentsOf()).toHaveLength(0);
    expect(hosts().map((h) => fleet.current(h))).toEqual([null, null, null, null]);
  });

  it('deploy-bastion: waiting at SMOKE_SUCCESS, one deployment in <env>/<group>, bastion out of traffic', async () => {
    const r = ok(
      await step('deploy-bastion', 101, {
        version: '1.0.0',
        'page-url': 'https://acme.github.io/shop/',
      }),
    );
    expect(r.outputs).toMatchObject({
      outcome: 'waiting',
      phase: 'SMOKE_SUCCESS',
      version: '1.0.0',
      'failed-targets': '',
    });
    const [d, ...more] = deploymentsOf();
    expect(more).toHaveLength(0);
    expect(r.outputs['deployment-id']).toBe(String(d!.id));
    expect(d!.task).toBe('deploy');
    expect(d!.payload).toMatchObject({ rollgate: 1, group: GROUP, version: '1.0.0', runId: 101 });
    // No status while the bastion's chain runs (seconds): the first says it is verified.
    expect(d!.statuses.map((s) => [s.state, s.description.split(' ')[0]])).toEqual([
      ['in_progress', 'bastion'],
    ]);
    expect(d!.statuses[0]!.description).toContain('waiting for bake');
    // Input page-url: the status links the group's page of the published export; the log, the run.
    expect(d!.statuses[0]!.environmentUrl).toBe('https://acme.github.io/shop/g/shop.html');
    expect(d!.statuses[0]!.logUrl).toMatch(/\/acme\/shop\/actions\/runs\/101$/);
    expect(fleet.current('web-01')).toBe('1.0.0');
    expect(await fleet.health('web-01')).toBe('1.0.0');
    expect(fleet.traffic('web-01')).toBe('down');
    expect(['web-02', 'web-03', 'web-04'].map((h) => fleet.current(h))).toEqual([null, null, null]);
    expect(r.summary).toContain('bake: approve the `production-bake` gate');
    const arts = ledgerArtifacts(double, GROUP, 101);
    expect(arts.map((a) => a.name)).toEqual([
      expect.stringMatching(/^rollgate-shop-a1-deploy-bastion-\d+$/),
    ]);
    const ledger = JSON.parse(await readArtifactFile(double, arts[0]!, 'state.json'));
    expect(ledger.current).toMatchObject({ version: '1.0.0', phase: 'SMOKE_SUCCESS' });
    expect(JSON.parse(await readArtifactFile(double, arts[0]!, 'github.json'))).toEqual({
      [ledger.current.id]: d!.id,
    });
  });

  it('roll-batches before the bake refuses ("not baked") and touches nothing', async () => {
    const r = await step('roll-batches', 101);
    expect(r.code).toBe(1);
    expect(r.errors.join('\n')).toMatch(/bastion of 1\.0\.0 is not baked \(phase SMOKE_SUCCESS\)/);
    expect(r.outputs.phase).toBe('SMOKE_SUCCESS');
    expect(states(deploymentsOf()[0]!)).toEqual(['in_progress']);
    expect(['web-02', 'web-03', 'web-04'].map((h) => fleet.current(h))).toEqual([null, null, null]);
    expect(fleet.traffic('web-01')).toBe('down');
  });

  it('bake puts the bastion in traffic; roll-batches rolls the rest: success, summary is the one page', async () => {
    const bake = ok(await step('bake', 101));
    expect(bake.outputs).toMatchObject({ outcome: 'waiting', phase: 'BAKE_SUCCESS' });
    expect(fleet.traffic('web-01')).toBe('up');
    expect(bake.summary).toContain('continue: approve the `production` gate');

    const roll = ok(await step('roll-batches', 101));
    expect(roll.outputs).toMatchObject({ outcome: 'success', phase: 'SUCCESS', version: '1.0.0' });
    for (const h of hosts()) {
      expect(fleet.current(h)).toBe('1.0.0');
      expect(fleet.traffic(h)).toBe('up');
      expect(await fleet.health(h)).toBe('1.0.0');
    }
    // One deployment for the release; a status per phase a person cares about and per batch.
    const [d, ...more] = deploymentsOf();
    expect(more).toHaveLength(0);
    expect(roll.outputs['deployment-id']).toBe(String(d!.id));
    expect(d!.payload).toMatchObject({ batches: [['web-01'], ['web-02'], ['web-03'], ['web-04']] });
    expect(
      d!.statuses.map((s) => `${s.state}: ${s.description.replace(/ in (\d+m)?[\d.]+m?s/, '')}`),
    ).toEqual([
      'in_progress: bastion web-01 verified on 1.0.0 — waiting for bake',
      'in_progress: alice approved production-bake ("LGTM") · bastion baked: continue rolls out the other batches',
      'in_progress: alice approved production ("LGTM") · batch 2/4 done: 1 ok, 0 failed',
      'in_progress: batch 3/4 done: 1 ok, 0 failed',
      // the last batch's end is told by the outcome
      'success: released 1.0.0 on every target: a new release (no earlier version to roll back to)',
    ]);
    expect(d!.statuses.at(-1)!.description).toBe(
      'released 1.0.0 on every target: a new release (no earlier version to roll back to)',
    );
    expect(d!.statuses.every((s) => s.logUrl.endsWith('/acme/shop/actions/runs/101'))).toBe(true);
    // G4: the job summary is the one page: release, buttons, batches, instances, log, history.
    const page = roll.summary;
    expect(page).toContain('## rollgate · shop');
    expect(page).toContain('### Now');
    // A first release: nothing to roll back to, so no rollback button (issue 13 item 11).
    expect(page).toContain(
      '- **a new release: run the release workflow (no earlier version to roll back to)**',
    );
    // Who pressed what, with the run and its attempt (issue 13 item 3).
    expect(page).toMatch(
      /^deploy by octocat \(run 101, attempt 1\) \d\d:\d\d · bake by alice \(approved production-bake: "LGTM"\) \(run 101, attempt 1\) /m,
    );
    expect(page).toContain('### Batches');
    // Each batch's start (UTC) and duration, from the real run.
    expect(page).toMatch(/^\| 1 \(bastion\) \| 1 \| \d\d:\d\d:\d\d \| [\d.]+m?s \| 1 \| 0 \|$/m);
    // The version map: every host a cell, by the version the host runs.
    expect(page).toMatch(/^\| 1 \(bastion\) \| 🟩 \|$/mu);
    expect(page).toContain('🟩 1.0.0 (the release) (4)');
    expect(page).toContain('### Instances');
    expect(page).toContain('| target | address | running | health | traffic | state | steps |');
    for (const h of fleet.hosts) {
      expect(page).toMatch(
        new RegExp(
          `\\| ${h.host} \\| ${h.address.replace(/\./g, '\\.')} \\| 1\\.0\\.0 \\| ok \\| up \\| \`(MARKUP|BAKE)_SUCCESS\``,
        ),
      );
    }
    expect(page).toContain('### Release log');
    expect(page).toContain('### History');
    // Every step kept the ledger as its own artifact of the run.
    expect(
      ledgerArtifacts(double, GROUP, 101).map((a) => a.name.split('-').slice(2, 4).join('-')),
    ).toEqual(['a1-deploy', 'a1-roll', 'a1-bake', 'a1-roll']);
  });

  it('a release in a new run finds the record through the newest deployment (2.0.0, run 102)', async () => {
    const deploy = ok(await step('deploy-bastion', 102, { version: '2.0.0' }));
    expect(deploy.stdout).toMatch(/record: rollgate-shop-a1-roll-batches-\d+/);
    expect(double.calls['actions/list-workflow-run-artifacts']).toBe(1);
    expect(double.calls['actions/download-artifact']).toBe(1);
    ok(await step('bake', 102));
    const roll = ok(await step('roll-batches', 102));
    expect(roll.outputs).toMatchObject({ outcome: 'success', version: '2.0.0' });
    expect(hosts().map((h) => fleet.current(h))).toEqual(Array(4).fill('2.0.0'));
    const [first, second] = deploymentsOf();
    expect(states(first!).at(-1)).toBe('inactive');
    expect(states(second!).at(-1)).toBe('success');
    expect(second!.payload).toMatchObject({ version: '2.0.0', runId: 102, kind: 'deploy' });
  });

  it('rollback in a later run finds the ledger via the deployment payload and the REST artifact API', async () => {
    const r = ok(await step('rollback', 103));
    expect(r.outputs).toMatchObject({ outcome: 'success', phase: 'SUCCESS', version: '1.0.0' });
    // The record came from run 102: newest deployment → its run → REST list + download.
    expect(r.stdout).toMatch(/record: rollgate-shop-a1-roll-batches-\d+/);
    expect(double.calls['repos/list-deployments']).toBe(1);
    expect(double.calls['actions/list-workflow-run-artifacts']).toBe(1);
    expect(double.calls['actions/download-artifact']).toBe(1);
    for (const h of hosts()) {
      expect(fleet.current(h)).toBe('1.0.0');
      expect(await fleet.health(h)).toBe('1.0.0');
      expect(fleet.traffic(h)).toBe('up');
      // F4: no download: the 2.0.0 and 1.0.0 releases both stay on the host.
      expect(fleet.releases(h)).toEqual(['1.0.0', '2.0.0']);
    }
    const all = deploymentsOf();
    expect(all).toHaveLength(3);
    const rb = all[2]!;
    expect(rb.task).toBe('rollback');
    expect(rb.payload).toMatchObject({ kind: 'rollback', version: '1.0.0', runId: 103 });
    expect(states(rb)).toEqual(['in_progress', 'success']);
    expect(states(all[1]!).at(-1)).toBe('inactive');
    expect(r.summary).toContain('rollback 2.0.0 → 1.0.0');
    const ledger = JSON.parse(
      await readArtifactFile(double, ledgerArtifacts(double, GROUP, 103).at(-1)!, 'state.json'),
    );
    expect(ledger.quarantined['2.0.0']).toBeDefined();
    expect(
      ledger.history.map((h: { version: string; kind: string }) => `${h.kind} ${h.version}`),
    ).toEqual(['rollback 1.0.0', 'deploy 2.0.0', 'deploy 1.0.0']);
  });

  it('"Re-run failed jobs" after a failed bastion (deploy-bastion) and a failed bake retries the bastion', async () => {
    // Run 104, attempt 1: web-01's app died and another process holds its port.
    await fleet.build('3.0.0', { startDelayMs: 50 });
    killApp(hostPath(fleet, 'web-01', '.rollgate/app.pid'));
    const squatter = await squat('127.0.9.1', 18900);
    let failed: ActionRun;
    try {
      failed = await step('deploy-bastion', 104, { version: '3.0.0' }, 1);
    } finally {
      await closeServer(squatter);
    }
    expect(failed.code).toBe(1);
    expect(failed.outputs).toMatchObject({
      outcome: 'failure',
      phase: 'SMOKE_FAILURE',
      'failed-targets': 'web-01',
    });
    expect(failed.summary).toContain('retry: Re-run failed jobs');
    const [, , , d] = deploymentsOf();
    expect(states(d!)).toEqual(['failure']);

    // Attempt 2 re-runs deploy-bastion: the same release, the bastion retried.
    const retried = ok(await step('deploy-bastion', 104, { version: '3.0.0' }, 2));
    expect(retried.outputs).toMatchObject({ outcome: 'waiting', phase: 'SMOKE_SUCCESS' });
    expect(retried.outputs['deployment-id']).toBe(String(d!.id));
    expect(deploymentsOf()).toHaveLength(4);
    expect(await fleet.health('web-01')).toBe('3.0.0');

    // The bastion's app dies while it waits for the bake: the bake job fails ...
    killApp(hostPath(fleet, 'web-01', '.rollgate/app.pid'));
    const bake = await step('bake', 104, {}, 2);
    expect(bake.code).toBe(1);
    expect(bake.outputs).toMatchObject({ outcome: 'failure', phase: 'SMOKE_FAILURE' });
    expect(bake.summary).toContain('retry: Re-run failed jobs');
    // ... and its re-run (attempt 3) retries the bastion chain, then bakes.
    const baked = ok(await step('bake', 104, {}, 3));
    expect(baked.outputs).toMatchObject({ outcome: 'waiting', phase: 'BAKE_SUCCESS' });
    expect(fleet.traffic('web-01')).toBe('up');
    expect(await fleet.health('web-01')).toBe('3.0.0');
    const roll = ok(await step('roll-batches', 104, {}, 3));
    expect(roll.outputs).toMatchObject({ outcome: 'success', version: '3.0.0' });
    expect(hosts().map((h) => fleet.current(h))).toEqual(Array(4).fill('3.0.0'));
    expect(deploymentsOf()).toHaveLength(4);
    expect(states(deploymentsOf()[3]!).at(-1)).toBe('success');
  });
});

// Platform notes §8: ssh2 has two optional native addons (its crypto binding, cpu-features).
// scripts/build.mjs leaves them out of the bundles, so a runner with another Node ABI loads none
// and ssh2 falls back to pure JavaScript. Checked two ways: the bundles carry no .node file, and
// a copy of the bundle WITH the addons beside it, on a Node whose dlopen refuses them (as an ABI
// mismatch does), still releases over real SSH (an sshd of our own on 127.0.9.241-242:18990).
describe('bundles without ssh2 native addons', () => {
  const SSH_PORT = 18990;
  const APP_PORT = 18991;
  const addresses = ['127.0.9.241', '127.0.9.242'];
  let dir: string;
  let sshd: ChildProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-native-'));
    await chmod(dir, 0o755);
    const sh = (cmd: string, args: string[]) => execFileP(cmd, args, { cwd: dir });
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'hostkey')]);
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')]);
    await copyFile(join(dir, 'client_key.pub'), join(dir, 'authorized_keys'));
    await chmod(join(dir, 'authorized_keys'), 0o644);
    await writeFile(
      join(dir, 'sshd.conf'),
      [
        ...addresses.map((a) => `ListenAddress ${a}:${SSH_PORT}`),
        `HostKey ${join(dir, 'hostkey')}`,
        'PidFile none',
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'StrictModes no',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'PermitRootLogin no',
        'AllowUsers deploy',
        'Subsystem sftp internal-sftp',
        'UseDNS no',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    await mkdir('/run/sshd', { recursive: true });
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    for (const a of addresses) await waitForPort(a, SSH_PORT);
    // The "hosts": directories the deploy user owns.
    const hostKey = (await readFile(join(dir, 'hostkey.pub'), 'utf8')).split(' ').slice(0, 2);
    await mkdir(join(dir, 'home/.ssh'), { recursive: true });
    await writeFile(
      join(dir, 'home/.ssh/known_hosts'),
      `${addresses.map((a) => `[${a}]:${SSH_PORT}`).join(',')} ${hostKey.join(' ')}\n`,
    );
    for (const h of ['h1', 'h2']) {
      await mkdir(join(dir, 'hosts', h), { recursive: true });
      await execFileP('chown', ['-R', 'deploy:', join(dir, 'hosts', h)]);
    }
    await chmod(join(dir, 'hosts'), 0o755);
    await mkdir(join(dir, 'ws/deploy'), { recursive: true });
    await buildPackage({
      appDir: APP_DIR,
      version: '1.0.0',
      outDir: join(dir, 'ws/deploy/packages'),
      startDelayMs: 50,
    });
    await writeFile(
      join(dir, 'ws/deploy/shop-ssh.yml'),
      `group: shop-ssh
docBase: /srv/shop
port: ${APP_PORT}
service: { start: node server.js, stopTimeout: 3s }
package:
  source: ./packages/app-{version}.tar.gz
deployment: { maxUnavailable: 50%, startTimeout: 5s, verifyInterval: 50ms }
transport: { kind: ssh, user: deploy, port: ${SSH_PORT}, privateKeyEnv: ROLLGATE_SSH_KEY }
traffic: { kind: none }
targets:
${['h1', 'h2'].map((h, i) => `  - { host: ${h}, address: ${addresses[i]}, docBase: ${join(dir, 'hosts', h, 'srv/shop')} }`).join('\n')}
`,
    );
    // A copy of the actions' bundle with the native addons where ncc would have put them, and
    // of deploy-bastion's entry that requires it.
    const bundle = join(dir, 'dist/actions');
    await mkdir(join(bundle, 'build/Release'), { recursive: true });
    await mkdir(join(bundle, 'lib/protocol/crypto/build/Release'), { recursive: true });
    await mkdir(join(dir, 'dist/deploy-bastion'), { recursive: true });
    await copyFile(join(ROOT, 'dist/actions/index.js'), join(bundle, 'index.js'));
    await copyFile(
      join(ROOT, 'dist/deploy-bastion/index.js'),
      join(dir, 'dist/deploy-bastion/index.js'),
    );
    await copyFile(
      join(ROOT, 'node_modules/cpu-features/build/Release/cpufeatures.node'),
      join(bundle, 'build/Release/cpufeatures.node'),
    );
    await copyFile(
      join(ROOT, 'node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node'),
      join(bundle, 'lib/protocol/crypto/build/Release/sshcrypto.node'),
    );
    await writeFile(
      join(dir, 'no-native.cjs'),
      `const fs = require('node:fs');
process.dlopen = function (_module, filename) {
  fs.appendFileSync(process.env.DLOPEN_LOG, filename + '\\n');
  const err = new Error("The module '" + filename + "' was compiled against a different Node.js version using NODE_MODULE_VERSION 137. This version of Node.js requires NODE_MODULE_VERSION " + process.versions.modules + '.');
  err.code = 'ERR_DLOPEN_FAILED';
  throw err;
};
`,
    );
  });

  afterAll(async () => {
    for (const h of ['h1', 'h2']) killApp(join(dir, 'hosts', h, 'srv/shop/.rollgate/app.pid'));
    if (sshd && sshd.exitCode === null) {
      const gone = new Promise((r) => sshd!.once('exit', r));
      sshd.kill('SIGTERM');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('no bundle carries a native addon', () => {
    for (const name of ['actions', 'cli']) {
      expect(readdirSync(join(ROOT, 'dist', name)).sort()).toEqual(['index.js', 'licenses.txt']);
    }
    for (const name of ['deploy-bastion', 'bake', 'roll-batches', 'rollback', 'stop', 'main']) {
      expect(readdirSync(join(ROOT, 'dist', name))).toEqual(['index.js']);
    }
  });

  /**
   * Step `name` of run 200 on the SSH group, its key and known_hosts as the workflow passes them
   * (known_hosts is written under RUNNER_TEMP for the job; the runner's ~/.ssh/known_hosts is not
   * used); every addon the bundle (`main`) tries to load is logged into `log`.
   */
  async function overSsh(
    name: string,
    log: string,
    inputs: Record<string, string> = {},
    main?: string,
  ): Promise<ActionRun> {
    return runAction(name, {
      double,
      ids: { runId: 200, jobId: name },
      cwd: join(dir, 'ws'),
      ...(main ? { main } : {}),
      inputs: {
        'group-file': 'deploy/shop-ssh.yml',
        environment: ENV,
        ...inputs,
        'known-hosts': await readFile(join(dir, 'home/.ssh/known_hosts'), 'utf8'),
      },
      env: {
        HOME: join(dir, 'home'),
        ROLLGATE_SSH_KEY: await readFile(join(dir, 'client_key'), 'utf8'),
        NODE_OPTIONS: `--require ${join(dir, 'no-native.cjs')}`,
        DLOPEN_LOG: log,
      },
    });
  }

  it('deploy-bastion over SSH works when the addons are present but cannot load (other ABI)', async () => {
    const log = join(dir, 'dlopen.log');
    const r = await overSsh(
      'deploy-bastion',
      log,
      { version: '1.0.0' },
      join(dir, 'dist/deploy-bastion/index.js'),
    );
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.outputs).toMatchObject({ outcome: 'waiting', phase: 'SMOKE_SUCCESS' });
    // Both addons were tried and refused; ssh2 went on in pure JavaScript.
    const tried = (await readFile(log, 'utf8')).trim().split('\n').sort();
    expect(tried).toEqual([
      join(dir, 'dist/actions/build/Release/cpufeatures.node'),
      join(dir, 'dist/actions/lib/protocol/crypto/build/Release/sshcrypto.node'),
    ]);
    const res = await fetch(`http://${addresses[0]}:${APP_PORT}/health`);
    expect(await res.json()).toMatchObject({ status: 'ok', version: '1.0.0' });
  });

  it('the bundle as built never tries to load an addon', async () => {
    const log = join(dir, 'dlopen-plain.log');
    await writeFile(log, '');
    approveGate(double.state, 200, `${ENV}-bake`);
    const r = await overSsh('bake', log);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.outputs).toMatchObject({ outcome: 'waiting', phase: 'BAKE_SUCCESS' });
    expect(await readFile(log, 'utf8')).toBe('');
  });
});

async function waitForPort(host: string, port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${host}:${port} is not listening`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
