import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceSpec, Slot } from '../../../src/model/types';
import { containerName, keepRepository } from '../../../src/host/image';
import { installScript } from '../../../src/host/install-script';
import { COMPLETE_MARKER } from '../../../src/host/marker';
import { lockScript, parseProbe, probeScript, unlockScript } from '../../../src/host/scripts';
import { serveScript, slotInstallScript, slotStopScript } from '../../../src/host/slot-scripts';

/** Side-by-side's host scripts on a real sh and a temp docBase (S7). */
const SERVICE: ServiceSpec = {
  // Each app says which port and version it was started with, then runs until stopped.
  start: 'echo "$PORT $VERSION" >"$OUT/ran-$PORT" && exec sleep 60',
  stopTimeoutMs: 2000,
  env: {},
};
const PORTS: Record<Slot, number> = { a: 18100, b: 18101 };

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) {
    for (const file of ['app.pid', 'app-b.pid']) {
      const pid = Number(readIf(join(dir, '.rollgate', file)));
      if (pid > 0) spawnSync('sh', ['-c', `kill -KILL -${pid} ${pid} 2>/dev/null`]);
    }
    // A keep-warm timer still sleeping finds the directory gone and exits.
    rmSync(dir, { recursive: true, force: true });
  }
});

function readIf(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : '';
}

function tempDoc(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rollgate-slots-'));
  dirs.push(dir);
  for (const v of ['1.0.0', '2.0.0']) {
    mkdirSync(join(dir, 'releases', v), { recursive: true });
    writeFileSync(join(dir, 'releases', v, COMPLETE_MARKER), 'x\n');
  }
  return dir;
}

function run(script: string, doc: string) {
  const result = spawnSync('sh', [], {
    input: script,
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, OUT: doc },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const service = (doc: string): ServiceSpec => ({ ...SERVICE, env: { OUT: doc } });

function startIn(doc: string, slot: Slot, version: string) {
  return run(
    slotInstallScript({
      slot,
      docBase: doc,
      version,
      port: PORTS[slot],
      address: '127.0.0.1',
      service: service(doc),
      keep: 5,
    }),
    doc,
  );
}

function serve(doc: string, slot: Slot, version: string, keepWarmMs: number, unlock?: string) {
  return run(
    serveScript({
      docBase: doc,
      slot,
      version,
      keepWarmMs,
      otherStop: { service: service(doc), podmanArgs: [], containerName: 'rollgate-x' },
      ...(unlock ? { unlock: unlockScript(doc, unlock) } : {}),
    }),
    doc,
  );
}

const probe = (doc: string) => parseProbe(run(probeScript(doc), doc).stdout);

/** A zombie no init reaps (a container's PID 1) is not alive. */
function alive(pid: string): boolean {
  const stat = readIf(`/proc/${pid}/stat`);
  return stat !== '' && stat.split(') ')[1]?.[0] !== 'Z';
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

describe('side-by-side slots on a host', () => {
  it('an in-place host converts: 2.0.0 starts in slot b on its own port while slot a keeps running', async () => {
    const doc = tempDoc();
    const inPlace = run(
      installScript({
        docBase: doc,
        version: '1.0.0',
        port: PORTS.a,
        address: '127.0.0.1',
        service: service(doc),
        keep: 5,
      }),
      doc,
    );
    expect(inPlace.code, inPlace.stderr).toBe(0);
    expect(probe(doc)).toMatchObject({ current: '1.0.0' });
    expect(probe(doc).slots).toBeUndefined();
    const pidA = readIf(join(doc, '.rollgate', 'app.pid'));

    // The serving slot (a, the in-place app) is refused.
    const refused = startIn(doc, 'a', '2.0.0');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /slot a serves 1.0.0: a new version starts only in the idle slot \(b\)/,
    );

    const started = startIn(doc, 'b', '2.0.0');
    expect(started.code, started.stderr).toBe(0);
    expect(await until(() => readIf(join(doc, `ran-${PORTS.b}`)) !== '', 5000)).toBe(true);
    expect(readIf(join(doc, `ran-${PORTS.b}`))).toBe(`${PORTS.b} 2.0.0`);
    expect(alive(pidA)).toBe(true);
    // current still names what serves; the probe says what each slot holds.
    expect(probe(doc)).toMatchObject({
      current: '1.0.0',
      slots: { a: { version: '1.0.0', running: true }, b: { version: '2.0.0', running: true } },
    });
    expect(probe(doc).serving).toBeUndefined();

    // The flip's host half, keepWarm 0: current -> 2.0.0, b serves, a is stopped at once.
    const flipped = serve(doc, 'b', '2.0.0', 0);
    expect(flipped.code, flipped.stderr).toBe(0);
    expect(probe(doc)).toMatchObject({
      current: '2.0.0',
      serving: 'b',
      slots: { a: { version: '1.0.0', running: false }, b: { version: '2.0.0', running: true } },
    });
    expect(alive(pidA)).toBe(false);
  });

  it('keep warm: the old slot runs on out of traffic, a timer on the host stops it after the window', async () => {
    const doc = tempDoc();
    expect(startIn(doc, 'a', '1.0.0').code).toBe(0);
    expect(serve(doc, 'a', '1.0.0', 0).stdout).toMatch(/slot b runs nothing/);
    expect(startIn(doc, 'b', '2.0.0').code).toBe(0);
    const pidA = readIf(join(doc, '.rollgate', 'app.pid'));
    const flipped = serve(doc, 'b', '2.0.0', 1000);
    expect(flipped.code, flipped.stderr).toBe(0);
    expect(flipped.stdout).toMatch(/slot a \(pid \d+\) kept warm for 1 s/);
    // Still warm right after the flip (this is what a rollback in the window flips back to)...
    expect(alive(pidA)).toBe(true);
    expect(probe(doc).slots?.a).toEqual({ version: '1.0.0', running: true });
    // ...and stopped once the window is over, with nobody connected to the host.
    expect(await until(() => !alive(pidA), 6000)).toBe(true);
    expect(await until(() => probe(doc).slots?.a?.running === false, 2000)).toBe(true);
    const log = () => readIf(join(doc, '.rollgate', 'app.log'));
    expect(await until(() => /keep-warm window over/.test(log()), 2000), log()).toBe(true);
  });

  it('a flip back inside the window cancels the old timer: the slot serving again is left running', async () => {
    const doc = tempDoc();
    expect(startIn(doc, 'a', '1.0.0').code).toBe(0);
    expect(serve(doc, 'a', '1.0.0', 0).code).toBe(0);
    expect(startIn(doc, 'b', '2.0.0').code).toBe(0);
    const pidA = readIf(join(doc, '.rollgate', 'app.pid'));
    expect(serve(doc, 'b', '2.0.0', 1000).code).toBe(0);
    // Rollback in the window: a still runs 1.0.0, so the install finds nothing to do; flip back.
    expect(serve(doc, 'a', '1.0.0', 3000).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1800));
    expect(alive(pidA)).toBe(true);
    expect(probe(doc)).toMatchObject({ current: '1.0.0', serving: 'a' });
  });

  it('keep-warm race: a probe under the host lock waits for a stop already under way, so it never reports a slot warm that is being stopped', async () => {
    const doc = tempDoc();
    // A stop hook that takes a while: the timer is past its checks and stopping when the release comes.
    const slow: ServiceSpec = { ...service(doc), stop: 'sleep 1', stopTimeoutMs: 200 };
    expect(startIn(doc, 'a', '1.0.0').code).toBe(0);
    expect(serve(doc, 'a', '1.0.0', 0).code).toBe(0);
    expect(startIn(doc, 'b', '2.0.0').code).toBe(0);
    expect(serve(doc, 'b', '2.0.0', 60_000).code).toBe(0);
    const pidA = readIf(join(doc, '.rollgate', 'app.pid'));
    const stop = slotStopScript({
      docBase: doc,
      slot: 'a',
      service: slow,
      podmanArgs: [],
      containerName: 'rollgate-x',
    });
    // The keep-warm timer fires: no release holds the host, so it goes on to stop slot a.
    const timer = spawn('sh', ['-c', stop, 'rollgate-stop', pidA], { stdio: 'ignore' });
    const timerDone = new Promise((resolve) => timer.on('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A rollback takes the host lock and asks the host which slot runs what.
    writeFileSync(join(doc, '.rollgate', 'lock'), '{"deploymentId":"rollback"}\n');
    const seen = probe(doc).slots?.a;
    await timerDone;
    // What the release was told must still hold: a slot reported warm is not stopped under it.
    expect(seen).toEqual({ version: '1.0.0', running: alive(pidA) });
    expect(seen?.running).toBe(false);
    // Real shells, a 1 s stop hook and a 300 ms head start: ~2 s alone, more on a busy machine.
  }, 15_000);

  it('serve refuses a slot that does not hold the version', () => {
    const doc = tempDoc();
    expect(startIn(doc, 'a', '1.0.0').code).toBe(0);
    const refused = serve(doc, 'b', '2.0.0', 0);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/slot b holds nothing, not 2.0.0: start 2.0.0 in it first/);
    expect(probe(doc).current).toBeNull();
  });

  it('serve with unlock: the host lock is released in the same round trip once the slot serves, and only then', () => {
    const doc = tempDoc();
    const lockFile = join(doc, '.rollgate', 'lock');
    const owner = { deploymentId: 'd-1', who: 'alice' };
    expect(run(lockScript(doc, owner, 't', 'abc'), doc).stdout).toMatch(/^acquired/);
    expect(startIn(doc, 'a', '1.0.0').code).toBe(0);
    // A serve that fails (slot b holds nothing) leaves the lock: the chain unlocks on its own.
    expect(serve(doc, 'b', '2.0.0', 60_000, 'd-1').code).toBe(1);
    expect(existsSync(lockFile)).toBe(true);
    // Another deployment's id releases nothing.
    const foreign = serve(doc, 'a', '1.0.0', 60_000, 'd-9');
    expect(foreign.code, foreign.stderr).toBe(0);
    expect(foreign.stdout.trim().split('\n').at(-1)).toBe('unlock not ours');
    expect(existsSync(lockFile)).toBe(true);
    expect(startIn(doc, 'b', '2.0.0').code).toBe(0);
    const flipped = serve(doc, 'b', '2.0.0', 60_000, 'd-1');
    expect(flipped.code, flipped.stderr).toBe(0);
    expect(flipped.stdout).toMatch(/slot b serves 2.0.0/);
    expect(flipped.stdout.trim().split('\n').at(-1)).toBe('unlock released');
    expect(existsSync(lockFile)).toBe(false);
    expect(probe(doc)).toMatchObject({ current: '2.0.0', serving: 'b' });
  });

  it("keepWarm 0 under the release's own host lock: the old slot is stopped at once (the stop does not wait for that lock)", () => {
    const doc = tempDoc();
    const owner = { deploymentId: 'd-1', who: 'alice' };
    expect(startIn(doc, 'a', '1.0.0').code).toBe(0);
    expect(serve(doc, 'a', '1.0.0', 0).code).toBe(0);
    const pidA = readIf(join(doc, '.rollgate', 'app.pid'));
    expect(startIn(doc, 'b', '2.0.0').code).toBe(0);
    expect(run(lockScript(doc, owner, 't', 'abc'), doc).stdout).toMatch(/^acquired/);
    const started = Date.now();
    const flipped = serve(doc, 'b', '2.0.0', 0, 'd-1');
    expect(flipped.code, flipped.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(flipped.stdout).toMatch(/slot a \(1.0.0\) stopped/);
    expect(alive(pidA)).toBe(false);
    expect(flipped.stdout.trim().split('\n').at(-1)).toBe('unlock released');
  });

  it('the stop script leaves a slot that was restarted since alone', () => {
    const doc = tempDoc();
    expect(startIn(doc, 'a', '1.0.0').code).toBe(0);
    const pidA = readIf(join(doc, '.rollgate', 'app.pid'));
    const stop = slotStopScript({
      docBase: doc,
      slot: 'a',
      service: service(doc),
      podmanArgs: [],
      containerName: 'rollgate-x',
    });
    const result = spawnSync('sh', ['-c', stop, 'rollgate-stop', '999999'], { encoding: 'utf8' });
    expect(result.stdout).toMatch(/slot a was restarted since: left running/);
    expect(alive(pidA)).toBe(true);
  });

  it('a symlinked current from an in-place host is what slot a holds until the first flip', () => {
    const doc = tempDoc();
    symlinkSync('releases/1.0.0', join(doc, 'current'));
    mkdirSync(join(doc, '.rollgate'));
    writeFileSync(join(doc, '.rollgate', 'app-b.pid'), '');
    expect(probe(doc).slots?.a).toEqual({ version: '1.0.0', running: false });
  });

  it('image releases: each slot runs its own container; prune drops the keep tags the download wrote', () => {
    const script = slotInstallScript({
      slot: 'b',
      docBase: '/srv/app',
      version: '2.0.0',
      port: PORTS.b,
      address: '127.0.0.1',
      service: { start: '', stopTimeoutMs: 2000, env: {} },
      keep: 3,
      container: { name: containerName('shop', '127.0.0.1', PORTS.b), podmanArgs: [], runArgs: [] },
      pruneContainer: { name: containerName('shop', '127.0.0.1', PORTS.a), podmanArgs: [] },
    });
    expect(spawnSync('sh', ['-n'], { input: script }).status).toBe(0);
    expect(script).toContain(`rollgate-shop-127.0.0.1-${PORTS.b}`);
    expect(script).toContain(keepRepository(containerName('shop', '127.0.0.1', PORTS.a)));
    expect(script).not.toContain(keepRepository(containerName('shop', '127.0.0.1', PORTS.b)));
  });
});
