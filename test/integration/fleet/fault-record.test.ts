/**
 * Fault suite, the record (issue 11 items 4–7), on a real fleet: four sshd hosts behind HAProxy,
 * driven through the real command line. A damaged or deleted state.json, a partial last line of
 * the log, a store on a small tmpfs that fills mid-release or is full from the start, values a
 * host would refuse, and text that tries to forge the record. Each scenario ends with THE
 * INVARIANT (test/support/fleet-invariant.ts), and no output shows a stack frame unless --debug.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeTargets,
  expectFleetInvariant,
  lbStatus,
  readLedger,
  releaseOnFleet,
  stateDir,
} from '../../support/fleet-invariant';
import { startRealFleet, type RealFleet } from '../../support/real-fleet';
import {
  cli,
  expectNoStack,
  expectUntouched,
  fillDisk,
  freeDisk,
  groupVariant,
  leftoverTemps,
  mountTmpfs,
  snapshot,
  STACK_FRAME,
  unmountTmpfs,
  waitForEvent,
  withReadableLog,
  type CliResult,
} from '../../support/record-faults';
import { parseEventLog } from '../../../src/store/record-repair';
import type { Ledger } from '../../../src/engine/ledger';

describe('fault suite: the record (issue 11 items 4–7)', () => {
  let f: RealFleet;
  let valid = '';
  const statePath = () => join(stateDir(f), 'state.json');
  const logPath = () => join(stateDir(f), 'events.ndjson');
  const store = () => join(f.dir, 'state');
  /** A command on the fleet's group file; never a stack frame in its output. */
  const rg = async (args: string[], o: Parameters<typeof cli>[1] = {}): Promise<CliResult> => {
    const r = await cli([...args, '-g', f.groupFile], o);
    expectNoStack(r);
    return r;
  };
  /** THE INVARIANT, on the log as rollgate reads it (a line it skips is left out). */
  const invariant = () => withReadableLog(f, () => expectFleetInvariant(f));
  const show = (r: CliResult) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

  beforeAll(async () => {
    f = await startRealFleet({
      n: 4,
      first: 161,
      appPort: 18850,
      frontend: '127.0.7.61:18860',
      deployment: '  maxUnavailable: 50%\n  startTimeout: 5s\n  verifyInterval: 20ms',
    });
    for (const v of ['1.0.0', '2.0.0', '3.0.0', '4.0.0', '5.0.0', '6.0.0', '7.0.0']) {
      await f.build(v, { startDelayMs: 50 });
    }
    const r = await releaseOnFleet(f, '1.0.0');
    expect(r.phase, describeTargets(r.deployment)).toBe('SUCCESS');
    valid = await readFile(join(stateDir(f), 'state.json'), 'utf8');
  });

  afterAll(async () => {
    if (!f) return;
    await unmountTmpfs(store()).catch(() => undefined);
    await f.stop();
  });

  const damages: Array<[string, (text: string) => string, RegExp]> = [
    ['truncated', (t) => t.slice(0, Math.floor(t.length / 2)), /not JSON/],
    ['empty', () => '', /the file is empty/],
    ['null', () => 'null', /it holds null/],
    [
      'of wrong types',
      (t) => {
        const l = JSON.parse(t) as Ledger & { current: unknown };
        return JSON.stringify({ ...l, current: { ...(l.current as object), targets: 'web-01' } });
      },
      /current: targets/,
    ],
  ];

  it.each(damages)(
    'a %s state.json between releases: status rebuilds it from the log with a warning, the file kept',
    async (_name, damage, why) => {
      const bad = damage(valid);
      await writeFile(statePath(), bad);
      const r = await rg(['status']);
      expect(r.code, show(r)).toBe(0);
      expect(r.stderr).toContain(`the record ${statePath()} is damaged`);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).toContain(`rebuilt from ${logPath()}`);
      expect(r.stderr).toContain(`rollgate reconcile -g ${f.groupFile}`);
      expect(r.stdout).toMatch(/release fleet-shop-\S+: deploy ∅ → 1\.0\.0 by .* — SUCCESS/);
      expect(r.stdout).not.toContain('no release yet');
      const kept = (await readdir(stateDir(f))).filter((n) => n.startsWith('state.json.damaged-'));
      const contents = await Promise.all(kept.map((n) => readFile(join(stateDir(f), n), 'utf8')));
      expect(contents).toContain(bad);
      await invariant();
      for (const n of kept) await rm(join(stateDir(f), n));
    },
  );

  it('mid-release: a truncated state.json before bake, an empty one before continue — the release finishes', async () => {
    const deploy = await rg(['deploy', '--version', '2.0.0']);
    expect(deploy.code, show(deploy)).toBe(3);
    await writeFile(statePath(), (await readFile(statePath(), 'utf8')).slice(0, 200));

    const status = await rg(['status']);
    expect(status.code, show(status)).toBe(0);
    expect(status.stderr).toContain(`the record ${statePath()} is damaged (not JSON`);
    expect(status.stdout).toMatch(/→ 2\.0\.0 .* — SMOKE_SUCCESS/);
    expect(status.stdout).toMatch(/web-01 .* VERIFY_SUCCESS/);
    // The bastion is out of traffic: the rebuilt record says why.
    await invariant();

    const bake = await rg(['bake']);
    expect(bake.code, show(bake)).toBe(3);
    expect(bake.stdout).toMatch(/BAKE_SUCCESS/);
    await invariant();

    await writeFile(statePath(), '');
    const cont = await rg(['continue']);
    expect(cont.code, show(cont)).toBe(0);
    expect(cont.stderr).toContain('is damaged (the file is empty)');
    expect(cont.stdout).toMatch(/^SUCCESS — /m);
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('2.0.0');
    const end = await invariant();
    expect(end.hosts.every((h) => h.lb.startsWith('UP'))).toBe(true);
  });

  it('mid-release: a null state.json, a deleted one, one of wrong types — never "no release yet"', async () => {
    expect((await rg(['deploy', '--version', '3.0.0'])).code).toBe(3);
    await writeFile(statePath(), 'null');
    const bake = await rg(['bake']);
    expect(bake.code, show(bake)).toBe(3);
    expect(bake.stderr).toContain('is damaged (it holds null');
    await invariant();

    await rm(statePath());
    const status = await rg(['status']);
    expect(status.code, show(status)).toBe(0);
    expect(status.stderr).toContain(`the record ${statePath()} is missing; rebuilt from`);
    expect(status.stdout).toMatch(/→ 3\.0\.0 .* — BAKE_SUCCESS/);
    expect(status.stdout).not.toContain('no release yet');

    const l = JSON.parse(valid) as Record<string, unknown>;
    await writeFile(statePath(), JSON.stringify({ ...l, history: 'none' }));
    const cont = await rg(['continue']);
    expect(cont.code, show(cont)).toBe(0);
    expect(cont.stderr).toContain('is damaged (history is not a list)');
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('3.0.0');
    const ledger = (await readLedger(f))!;
    // Nothing the record held is lost: the history comes back from the log.
    expect(ledger.history.map((h) => h.version)).toEqual(['3.0.0', '2.0.0', '1.0.0']);
    await invariant();
  });

  it('a partial last line of the log mid-release is ignored with a warning; the release goes on', async () => {
    expect((await rg(['deploy', '--version', '4.0.0'])).code).toBe(3);
    const before = await readFile(logPath(), 'utf8');
    const line = before.trimEnd().split('\n').length + 1;
    await writeFile(logPath(), `${before}{"at":"2030-01-02T03:0`);
    const status = await rg(['status']);
    expect(status.code, show(status)).toBe(0);
    expect(status.stderr).toContain(
      `${logPath()}: line ${line} is a partial last line (a crash or a full disk): ignored`,
    );
    expect((await rg(['bake'])).code).toBe(3);
    const cont = await rg(['continue']);
    expect(cont.code, show(cont)).toBe(0);
    // The cut line stays alone; every event after it is whole.
    const parsed = parseEventLog(await readFile(logPath(), 'utf8'));
    expect(parsed.damaged).toEqual([expect.objectContaining({ line, partial: false })]);
    expect(parsed.events.at(-1)!.phase).toBe('SUCCESS');
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('4.0.0');
    await invariant();
  });

  it('a damaged state.json with no log to rebuild it from is refused naming the file, exit 1; --debug shows the stack', async () => {
    await rename(logPath(), `${logPath()}.aside`);
    const good = await readFile(statePath(), 'utf8');
    try {
      await writeFile(statePath(), good.slice(0, 100));
      const status = await rg(['status']);
      expect(status.code, show(status)).toBe(1);
      expect(status.stderr).toContain(`rollgate: the record ${statePath()} is damaged (not JSON`);
      expect(status.stderr).toContain(`holds no release to rebuild it from`);
      expect(status.stderr).toContain(`mv ${statePath()} ${statePath()}.bad`);
      const before = await snapshot(f);
      const deploy = await rg(['deploy', '--version', '5.0.0']);
      expect(deploy.code, show(deploy)).toBe(1);
      expect(deploy.stderr).toContain(`rollgate: the record ${statePath()} is damaged`);
      await expectUntouched(f, before);
      const debug = await cli(['status', '-g', f.groupFile, '--debug']);
      expect(debug.code).toBe(1);
      expect(debug.stderr).toMatch(STACK_FRAME);
      const env = await cli(['status', '-g', f.groupFile], { env: { ROLLGATE_DEBUG: '1' } });
      expect(env.stderr).toMatch(STACK_FRAME);
    } finally {
      await rename(`${logPath()}.aside`, logPath());
      await writeFile(statePath(), good);
    }
    await invariant();
  });

  const lateChecks: Array<[string, string, (text: string) => string, RegExp]> = [
    [
      'a NUL byte in service.env',
      'service.env.A',
      (t) => t.replace('  stopTimeout: 5s', '  stopTimeout: 5s\n  env: { A: "x\\0y" }'),
      /NUL byte/,
    ],
    [
      'a NUL byte in service.stop',
      'service.stop',
      (t) => t.replace('  stopTimeout: 5s', '  stopTimeout: 5s\n  stop: "kill\\0 -TERM 1"'),
      /NUL byte/,
    ],
    [
      'a carriage return in service.start',
      'service.start',
      (t) => t.replace('  start: node server.js', '  start: "node server.js\\r"'),
      /carriage return/,
    ],
    [
      'an env value too long for exec (E2BIG)',
      'service.env.BIG',
      (t) =>
        t.replace('  stopTimeout: 5s', `  stopTimeout: 5s\n  env: { BIG: ${'x'.repeat(140_000)} }`),
      /MAX_ARG_STRLEN/,
    ],
    [
      'an address too long for the podman container of an image release',
      'targets[1].address',
      (t) =>
        t
          .replace(
            'package:\n  source: ./packages/app-{version}.tar.gz',
            'package:\n  image:\n    repository: 127.0.0.1:5000/acme/app',
          )
          .replace(/address: 127\.0\.2\.162/, `address: ${'a'.repeat(230)}.example`),
      /255 characters podman takes/,
    ],
    [
      'an invalid monitor section',
      'monitor',
      (t) => `${t}monitor:\n  prometheus: http://127.0.0.1:9\n  checks: []\n`,
      /monitor/,
    ],
    [
      'store.dir /proc/self',
      'store.dir',
      (t) => t.replace('  dir: ./state', '  dir: /proc/self'),
      /not a writable directory/,
    ],
    [
      'store.dir that is a file',
      'store.dir',
      (t) => t.replace('  dir: ./state', '  dir: ./group.yml'),
      /is not a directory/,
    ],
  ];

  it.each(lateChecks)(
    '%s is refused by plan and by deploy with exit 2 naming %s; nothing touched',
    async (name, field, edit, why) => {
      const file = await groupVariant(f, name.replace(/\W+/g, '-'), edit);
      const before = await snapshot(f);
      for (const args of [
        ['plan', '--version', '5.0.0'],
        ['deploy', '--version', '5.0.0'],
      ]) {
        const r = await cli([...args, '-g', file]);
        expectNoStack(r);
        expect(r.code, `${args[0]}: ${show(r)}`).toBe(2);
        expect(r.stderr).toMatch(new RegExp(`^rollgate: ${field.replace(/[[\].]/g, '\\$&')}`, 'm'));
        expect(r.stderr).toMatch(why);
      }
      await expectUntouched(f, before);
    },
  );

  it("an inventory's rollgate_lb_name HAProxy would refuse is refused by plan and deploy; nothing touched", async () => {
    await writeFile(
      join(f.dir, 'hosts.ini'),
      `[web]\n${f.hosts
        .map(
          (h) =>
            `${h.id} ansible_host=${h.address} rollgate_doc_base=${h.docBase} rollgate_lb_name=${h.id}@lb`,
        )
        .join('\n')}\n`,
    );
    const file = await groupVariant(f, 'inventory-lb-name', (t) =>
      t.replace(/targets:\n[\s\S]*$/, 'inventory: { file: hosts.ini, group: web }\n'),
    );
    const before = await snapshot(f);
    for (const op of ['plan', 'deploy']) {
      const r = await cli([op, '--version', '5.0.0', '-g', file]);
      expectNoStack(r);
      expect(r.code, show(r)).toBe(2);
      expect(r.stderr).toMatch(
        /^rollgate: inventory\.file: line \d+: hosts\.ini:2 \(web-01\): rollgate_lb_name "web-01@lb" is not an HAProxy server name/m,
      );
    }
    await expectUntouched(f, before);
  });

  it('--who and ROLLGATE_WHO cannot forge the record; the insecure host-key opt-out is recorded and shown', async () => {
    const forged =
      'mallory\n  2030-01-01 00:00:00  deploy   9.9.9          success  by root\u001b[2J';
    const fake = /^\s*2030-01-01 00:00:00\s+deploy\s+9\.9\.9/m;
    const insecure = await groupVariant(f, 'insecure', (t) =>
      t.replace(/ {2}knownHostsFile: .*\n/, '  insecureIgnoreHostKey: true\n'),
    );
    const run = async (args: string[], env: Record<string, string> = {}) => {
      const r = await cli([...args, '-g', insecure], { env });
      expectNoStack(r);
      expect(`${r.stdout}${r.stderr}`).not.toContain('\u001b');
      expect(r.stdout).not.toMatch(fake);
      expect(r.stderr).not.toMatch(fake);
      return r;
    };
    expect((await run(['deploy', '--version', '5.0.0', '--who', forged])).code).toBe(3);
    expect((await run(['bake'], { ROLLGATE_WHO: forged })).code).toBe(3);
    const status = await run(['status']);
    expect(status.stdout).toContain('by mallory\\n  2030-01-01 00:00:00  deploy');
    expect(status.stdout).toContain('host keys NOT checked');
    const json = await run(['status', '--json']);
    const parsed = JSON.parse(json.stdout) as { release: { by: string; insecureHostKey: boolean } };
    expect(parsed.release.by).toBe(forged); // the record keeps what was given; printing escapes it
    expect(parsed.release.insecureHostKey).toBe(true);
    expect((await readLedger(f))!.current!.config.insecureIgnoreHostKey).toBe(true);
    expect((await run(['continue'])).code).toBe(0);
    const after = await run(['status']);
    expect(after.stdout).toMatch(/deploy\s+5\.0\.0\s+success\s+by mallory\\n/);
    await invariant();
  });

  it('the store on a small tmpfs fills mid-release: the operation fails naming the record and what runs where; free space, continue finishes', async () => {
    await mountTmpfs(store(), '16m');
    expect((await rg(['deploy', '--version', '6.0.0'])).code).toBe(3);
    expect((await rg(['bake'])).code).toBe(3);
    const from = (await readFile(logPath())).length;
    const running = rg(['continue']);
    expect(
      await waitForEvent(
        f,
        from,
        (l) => l.includes('"target":"web-02"') && l.includes('"INSTALL_RUNNING"'),
      ),
    ).toBe(true);
    await fillDisk(store());
    const r = await running;
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^rollgate: could not write the record ${stateDir(f)}/\\S+: no space left on device — free space, then run rollgate status -g ${f.groupFile}$`,
        'm',
      ),
    );
    // What runs where, although the record could not say it.
    expect(r.stderr).toMatch(/not saved — what rollgate knew/);
    for (const h of f.hosts)
      expect(r.stderr).toMatch(new RegExp(`^ {2}${h.id} +batch \\d+ +[A-Z_]+`, 'm'));
    expect(r.stdout).not.toMatch(/^SUCCESS/m);
    expect(await leftoverTemps(stateDir(f))).toEqual([]);
    const onDisk = JSON.parse(await readFile(statePath(), 'utf8')) as Ledger;
    expect(onDisk.current!.phase).not.toBe('SUCCESS');

    await freeDisk(store());
    const status = await rg(['status']);
    expect(status.code, show(status)).toBe(0);
    const cont = await rg(['continue']);
    expect(cont.code, show(cont)).toBe(0);
    for (const h of f.hosts) expect(await f.current(h.id)).toBe('6.0.0');
    const end = await invariant();
    expect(end.hosts.every((h) => h.lb.startsWith('UP'))).toBe(true);
  });

  it('a store already full: deploy refuses with the same message and touches nothing; plan and status still answer', async () => {
    expect(existsSync(`${store()}.before-tmpfs`)).toBe(true); // still the tmpfs of the last scenario
    await fillDisk(store());
    try {
      const before = await snapshot(f);
      const deploy = await rg(['deploy', '--version', '7.0.0']);
      expect(deploy.code, show(deploy)).toBe(1);
      expect(deploy.stderr).toMatch(
        new RegExp(
          `^rollgate: could not write the record ${stateDir(f)}/run\\.lock: no space left on device — free space, then run rollgate status -g ${f.groupFile}$`,
          'm',
        ),
      );
      await expectUntouched(f, before);
      expect(await leftoverTemps(stateDir(f))).toEqual([]);
      expect((await rg(['plan', '--version', '7.0.0'])).code).toBe(0);
      expect((await rg(['status'])).code).toBe(0);
    } finally {
      await freeDisk(store());
    }
    expect(Object.values(await lbStatus(f)).every((s) => s.startsWith('UP'))).toBe(true);
    await invariant();
  });
});
