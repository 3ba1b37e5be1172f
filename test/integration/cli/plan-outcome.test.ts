/**
 * The rollgate command on a local fleet (real app processes on 127.0.2.91–95, ports 19100+):
 * - issue 13 item 7: `plan` runs the checks `deploy` runs before touching a host — the package
 *   (present, its sha256), the image's scan gate, a quarantined version — fails the same way,
 *   and says which checks it could not run;
 * - item 11: the outcome line on stdout carries the reason (stderr thrown away), no rollback is
 *   offered after the first release, `traffic: none` reads "no LB";
 * - item 3: who pressed what, on the status page.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCliFleet, type CliFleet, type CliRun } from '../../support/cli-fleet';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = join(ROOT, 'src/cli/bin.ts');

describe('plan checks what deploy checks; the outcome says why (issue 13 items 3, 7, 11)', () => {
  let f: CliFleet;
  const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
  const pkgPath = (v: string) => join(f.dir, 'packages', `app-${v}.tar.gz`);

  beforeAll(async () => {
    f = await makeCliFleet({
      addresses: ['127.0.2.91', '127.0.2.92', '127.0.2.93'],
      port: 19100,
    });
    await f.build('1.0.0');
    await f.build('2.0.0', { broken: { onHosts: ['127.0.2.93'] } });
  });
  afterAll(async () => f?.cleanup());

  it('plan of a version whose package is missing fails like deploy: exit 2, the field', async () => {
    const plan = await f.run(['plan', '--version', '9.9.9']);
    const deploy = await f.run(['deploy', '--version', '9.9.9']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toBe('');
    const line = `rollgate: package.source: package file ${f.dir}/packages/app-9.9.9.tar.gz does not exist`;
    expect(plan.stderr).toContain(line);
    expect(deploy.code).toBe(2);
    expect(deploy.stderr).toContain(line);
    const dir = await f.run(['plan', '--version', '1.0.0', '--package', f.dir]);
    expect(dir.code).toBe(2);
    expect(dir.stderr).toMatch(/rollgate: --package: .* is a directory, not a package/);
    expect(existsSync(join(f.dir, 'fleet'))).toBe(false);
  });

  it('plan shows the package checksum and which checks it ran and could not run', async () => {
    const r = await f.run(['plan', '--version', '1.0.0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`package: ${pkgPath('1.0.0')} (sha256 ${sha(pkgPath('1.0.0'))})`);
    expect(r.stdout).toMatch(
      /^checked: the group file \(targets, addresses, values a host would refuse\), the package \(present, sha256\), store\.dir writable, version 1\.0\.0 not quarantined, no release in progress$/m,
    );
    expect(r.stdout).toMatch(
      /^not checked \(plan connects to nothing\): host reachability — deploy checks it before the first markdown$/m,
    );
    const json = JSON.parse((await f.run(['plan', '--version', '1.0.0', '--json'])).stdout);
    expect(json.package).toEqual({ path: pkgPath('1.0.0'), sha256: sha(pkgPath('1.0.0')) });
    expect(json.checks.notChecked).toEqual(['host reachability']);
    expect(existsSync(join(f.dir, 'fleet'))).toBe(false);
  });

  it('the first release: bake by another person; the outcome offers no rollback; no LB', async () => {
    expect((await f.run(['deploy', '--version', '1.0.0', '--who', 'alice'])).code).toBe(3);
    expect((await f.run(['bake', '--who', 'bob'])).code).toBe(3);
    const r = await f.run(['continue', '--who', 'carol']);
    expect(r.code, r.stderr).toBe(0);
    const last = r.stdout.trim().split('\n').at(-1)!;
    expect(last).toMatch(
      /^SUCCESS — released 1\.0\.0 on every target: a new release \(no earlier version to roll back to\) \(/,
    );
    expect(r.stdout).not.toContain('rollback at any time');
    expect(r.stdout).toContain('no load balancer (traffic: none)');

    const st = await f.run(['status']);
    expect(st.stdout).toMatch(
      /^operations: deploy by alice \d\d:\d\d · bake by bob \d\d:\d\d · continue by carol \d\d:\d\d$/m,
    );
    expect(st.stdout).toMatch(/^web-02 +127\.0\.2\.92 +1\.0\.0 +ok +no LB +MARKUP_SUCCESS /m);
    expect(st.stdout).toContain('now possible: a new release (no earlier version to roll back to)');
    const json = JSON.parse((await f.run(['status', '--json'])).stdout);
    expect(json.release.ops.map((o: { op: string; by: string }) => `${o.op} ${o.by}`)).toEqual([
      'deploy alice',
      'bake bob',
      'continue carol',
    ]);
    expect(json.targets[1].traffic).toBe('none');
  });

  it('a failure: the reason is on stdout with the outcome, stderr thrown away', async () => {
    expect((await f.run(['deploy', '--version', '2.0.0'])).code).toBe(3);
    expect((await f.run(['bake'])).code).toBe(3);
    const r = await runNoStderr(f, ['continue']);
    expect(r.code).toBe(1);
    const last = r.stdout.trim().split('\n').at(-1)!;
    expect(last).toMatch(
      /^FAILURE — 1 of 3 targets failed: web-03 verify: not healthy within 5s: HTTP 500.*: retry or rollback \(/,
    );
  });

  it('plan refuses a version a rollback quarantined, like deploy, unless --force', async () => {
    expect((await f.run(['rollback'])).code).toBe(0);
    const plan = await f.run(['plan', '--version', '2.0.0']);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toMatch(
      /^rollgate: version 2\.0\.0 was quarantined by a rollback \(rolled back to 1\.0\.0 by cli-test\); pass --force to release it anyway/m,
    );
    const forced = await f.run(['plan', '--version', '2.0.0', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^checked: .*version 2\.0\.0 quarantined: --force releases it/m);
  });

  it('plan of an image group runs the scan gate lookup, like deploy', async () => {
    const dir = join(f.dir, 'image');
    await mkdir(dir, { recursive: true });
    const groupFile = join(dir, 'group.yml');
    await writeFile(
      groupFile,
      `group: img-shop
docBase: /srv/img
port: 19110
package:
  image: { repository: 127.0.0.1:5000/acme/app }
transport: { kind: local, root: ./fleet }
store: { dir: ./state }
targets:
  - { host: web-01, address: 127.0.2.94 }
  - { host: web-02, address: 127.0.2.95 }
`,
    );
    const image = `127.0.0.1:5000/acme/app@sha256:${'ab'.repeat(32)}`;
    const refused = await runCli(['plan', '-g', groupFile, '--version', '1.0.0', '--image', image]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^rollgate: .*no scan verdict.*\(looked in .*state/m);
    const over = await runCli([
      'plan',
      '-g',
      groupFile,
      '--version',
      '1.0.0',
      '--image',
      image,
      '--override-scan',
      'CVE triaged',
    ]);
    expect(over.code, over.stderr).toBe(0);
    expect(over.stdout).toContain(`image: ${image}`);
    expect(over.stdout).toMatch(/scan gate: .*overridden by cli-test: "CVE triaged"/);
    expect(over.stdout).toMatch(/^checked: .*the image \(pinned, the scan gate\)/m);
    expect(existsSync(join(dir, 'fleet'))).toBe(false);
  });
});

/** The command with its stderr thrown away, as `… 2>/dev/null` does. */
function runNoStderr(f: CliFleet, args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args, '-g', f.groupFile], {
      env: { ...process.env, ROLLGATE_WHO: 'cli-test' },
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: out, stderr: '' }));
  });
}

function runCli(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, ROLLGATE_WHO: 'cli-test' },
      cwd: ROOT,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: out, stderr: err }));
  });
}
