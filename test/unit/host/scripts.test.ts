import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/model/errors';
import type { ServiceSpec } from '../../../src/model/types';
import {
  downloadCheckScript,
  downloadScript,
  lockContent,
  lockNeedle,
  lockScript,
  parseLock,
  parseProbe,
  probeScript,
  removeFileScript,
  unlockScript,
} from '../../../src/host/scripts';
import { execWhenSimple, installScript } from '../../../src/host/install-script';
import { COMPLETE_MARKER } from '../../../src/host/marker';
import { incomingPath } from '../../../src/host/script-args';

const DOC = '/srv/app';
const SHA = 'a'.repeat(64);
const SERVICE: ServiceSpec = { start: 'node server.js', stopTimeoutMs: 2000, env: {} };
const EVIL_VERSIONS = ['1.0;rm -rf /', '../1.0', '1.0/..', 'a b', "1'0", '$(reboot)', '', '-rf'];

function syntaxOk(script: string): void {
  const result = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
}

/**
 * The scripts' behaviour on a real sh and a temp docBase (the fleet-level behaviour, over the
 * executors, is in test/integration/host/shell-host.test.ts). What the text says is not pinned.
 */
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDoc(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rollgate-scripts-'));
  dirs.push(dir);
  return dir;
}

function run(script: string) {
  const result = spawnSync('sh', [], { input: script, encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A complete release `version` in docBase, `age` seconds old. */
function release(doc: string, version: string, sha = SHA, age = 0): void {
  const dir = join(doc, 'releases', version);
  mkdirSync(dir, { recursive: true });
  const marker = join(dir, COMPLETE_MARKER);
  writeFileSync(marker, `${sha}\n`);
  const at = Date.now() / 1000 - age;
  utimesSync(marker, at, at);
}

async function waitForFile(path: string): Promise<string> {
  for (let i = 0; i < 250 && !existsSync(path); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return readFileSync(path, 'utf8');
}

const install = (over: Partial<Parameters<typeof installScript>[0]> = {}) =>
  installScript({
    docBase: DOC,
    version: '1.0.0',
    port: 18100,
    address: '127.0.1.1',
    service: SERVICE,
    keep: 3,
    ...over,
  });

const builders: Record<string, (version: string) => string> = {
  incomingPath: (v) => incomingPath(DOC, v, 'abc123'),
  downloadCheckScript: (v) => downloadCheckScript({ docBase: DOC, version: v, sha256: SHA }),
  downloadScript: (v) =>
    downloadScript({
      docBase: DOC,
      version: v,
      sha256: SHA,
      incoming: `${DOC}/.rollgate/incoming/x.tgz`,
      tag: 'abc123',
    }),
  installScript: (v) => install({ version: v }),
};

describe('script builders refuse unsafe input before building anything', () => {
  for (const [name, build] of Object.entries(builders)) {
    it.each(EVIL_VERSIONS)(`${name} refuses version %j`, (version) => {
      expect(() => build(version)).toThrow(InputError);
    });
  }

  it.each(['srv/app', '/srv/../etc', '/srv/app;reboot', '/srv/my app'])(
    'every builder refuses docBase %j',
    (docBase) => {
      expect(() => probeScript(docBase)).toThrow(InputError);
      expect(() => unlockScript(docBase, 'd-1')).toThrow(InputError);
      expect(() => lockScript(docBase, { deploymentId: 'd', who: 'w' }, 'now', 'abc')).toThrow(
        InputError,
      );
      expect(() => downloadCheckScript({ docBase, version: '1', sha256: SHA })).toThrow(InputError);
      expect(() => install({ docBase })).toThrow(InputError);
    },
  );

  it('refuses a sha256 that is not 64 hex digits', () => {
    expect(() => downloadCheckScript({ docBase: DOC, version: '1', sha256: "x'; reboot" })).toThrow(
      InputError,
    );
  });

  it('refuses an incoming path outside .rollgate/incoming and an unsafe tag', () => {
    const base = { docBase: DOC, version: '1', sha256: SHA, tag: 'abc' };
    expect(() => downloadScript({ ...base, incoming: '/etc/passwd' })).toThrow(InputError);
    expect(() =>
      downloadScript({ ...base, incoming: `${DOC}/.rollgate/incoming/../../x.tgz` }),
    ).toThrow(InputError);
    expect(() => incomingPath(DOC, '1', 'a;b')).toThrow(InputError);
  });

  it('refuses bad environment names, ports and keep', () => {
    expect(() => install({ service: { ...SERVICE, env: { 'A;B': 'x' } } })).toThrow(InputError);
    expect(() => install({ port: 0 })).toThrow(InputError);
    expect(() => install({ port: 1.5 })).toThrow(InputError);
    expect(() => install({ keep: 0 })).toThrow(InputError);
    expect(() => install({ service: { ...SERVICE, start: '  ' } })).toThrow(InputError);
  });
});

describe('probe', () => {
  it('reads current and lists complete releases oldest first', () => {
    const doc = tempDoc();
    release(doc, '2.0', SHA, 10);
    release(doc, '1.0', SHA, 20);
    mkdirSync(join(doc, 'releases', '3.0'));
    symlinkSync('releases/2.0', join(doc, 'current'));
    const script = probeScript(doc);
    syntaxOk(script);
    expect(parseProbe(run(script).stdout)).toEqual({
      current: '2.0',
      releases: ['1.0', '2.0'],
      lock: null,
    });
  });

  it('a docBase that does not exist yet is a fresh host', () => {
    const doc = join(tempDoc(), 'not-yet');
    const result = run(probeScript(doc));
    expect(result.code).toBe(0);
    expect(parseProbe(result.stdout)).toEqual({ current: null, releases: [], lock: null });
  });

  it('parses the answer, ignoring names that are not versions', () => {
    expect(
      parseProbe('current releases/2.0\nrelease 1.0\nrelease 2.0\nrelease bad name\n'),
    ).toEqual({
      current: '2.0',
      releases: ['1.0', '2.0'],
      lock: null,
    });
    expect(parseProbe('current \n')).toEqual({ current: null, releases: [], lock: null });
    expect(parseProbe('')).toEqual({ current: null, releases: [], lock: null });
  });

  it('reads the host lock: who holds the host (reconcile, status)', () => {
    const line = lockContent({ deploymentId: 'shop-20260101T000000-beef', who: 'ann' }, 'T0');
    expect(parseProbe(`current releases/1.0\nlock ${line}\n`).lock).toEqual({
      deploymentId: 'shop-20260101T000000-beef',
      who: 'ann',
      since: 'T0',
    });
    // An unreadable lock is still a lock: nothing is known about it.
    expect(parseProbe('lock {half\n').lock).toEqual({});
  });
});

describe('lock', () => {
  // Quotes in the id and the name must reach the lock file intact.
  const owner = { deploymentId: "d-1'x", who: 'alice "a"' };
  const other = { deploymentId: 'd-2', who: 'bob' };

  it('acquires a free lock, takes over its own deployment, refuses another', () => {
    const doc = tempDoc();
    const lock = (who: typeof owner, since: string) => {
      const script = lockScript(doc, who, since, 'abc');
      syntaxOk(script);
      return parseLock(run(script).stdout);
    };
    expect(lock(owner, 't1')).toEqual({ kind: 'acquired' });
    expect(lock(owner, 't2')).toEqual({ kind: 'taken over' });
    expect(lock(other, 't3')).toEqual({ kind: 'held', ...owner, since: 't2' });
    expect(JSON.parse(readFileSync(join(doc, '.rollgate', 'lock'), 'utf8'))).toEqual({
      ...owner,
      since: 't2',
    });
  });

  it("takes over a named ended deployment's lock, and only that one", () => {
    const doc = tempDoc();
    run(lockScript(doc, other, 't1', 'abc'));
    const named = (takeOver: string) =>
      parseLock(run(lockScript(doc, { ...owner, takeOver }, 't2', 'abc')).stdout);
    expect(named('d-3')).toMatchObject({ kind: 'held', deploymentId: 'd-2' });
    expect(named('d-2')).toEqual({ kind: 'taken over' });
  });

  it('writes JSON whose first key identifies the deployment', () => {
    const content = lockContent(owner, 'now');
    expect(content.startsWith(lockNeedle(owner.deploymentId))).toBe(true);
    expect(JSON.parse(content)).toEqual({ ...owner, since: 'now' });
  });

  it('parses acquired, taken over, held and unreadable answers', () => {
    expect(parseLock('acquired\n')).toEqual({ kind: 'acquired' });
    expect(parseLock('taken over\n')).toEqual({ kind: 'taken over' });
    expect(parseLock(`held\n${lockContent({ deploymentId: 'd-2', who: 'bob' }, 't')}\n`)).toEqual({
      kind: 'held',
      deploymentId: 'd-2',
      who: 'bob',
      since: 't',
    });
    expect(parseLock('held\n')).toEqual({ kind: 'held' });
    expect(() => parseLock('what\n')).toThrow();
  });

  it('with probe: a lock it holds is followed by the probe read under it; a held one by nothing more', () => {
    const doc = tempDoc();
    release(doc, '1.0.0', SHA, 60);
    release(doc, '2.0.0');
    symlinkSync('releases/2.0.0', join(doc, 'current'));
    const lock = (who: typeof owner | typeof other, tag: string) => {
      const script = lockScript(doc, who, 't1', tag, { probe: true });
      syntaxOk(script);
      return parseLock(run(script).stdout, { probe: true });
    };
    const seen = { current: '2.0.0', releases: ['1.0.0', '2.0.0'] };
    expect(lock(owner, 'abc')).toEqual({
      kind: 'acquired',
      probe: { ...seen, lock: { ...owner, since: 't1' } },
    });
    expect(lock(owner, 'abd')).toMatchObject({ kind: 'taken over', probe: seen });
    expect(lock(other, 'abe')).toEqual({ kind: 'held', ...owner, since: 't1' });
    // A fresh host (no docBase yet): the lock makes .rollgate, the probe finds nothing installed.
    const fresh = join(tempDoc(), 'srv');
    expect(
      parseLock(run(lockScript(fresh, owner, 't', 'abc', { probe: true })).stdout, {
        probe: true,
      }),
    ).toEqual({
      kind: 'acquired',
      probe: { current: null, releases: [], lock: { ...owner, since: 't' } },
    });
  });

  it('unlock removes the lock only when this deployment holds it', () => {
    const doc = tempDoc();
    run(lockScript(doc, owner, 't1', 'abc'));
    const lockFile = join(doc, '.rollgate', 'lock');
    const script = unlockScript(doc, other.deploymentId);
    syntaxOk(script);
    run(script);
    expect(existsSync(lockFile)).toBe(true);
    run(unlockScript(doc, owner.deploymentId));
    expect(existsSync(lockFile)).toBe(false);
  });
});

describe('download', () => {
  it('S6/F3/F6: the check prepares a new version, skips the same package, refuses another under its version', () => {
    const doc = tempDoc();
    const check = (sha: string) => {
      const script = downloadCheckScript({ docBase: doc, version: '1.0+b1', sha256: sha });
      syntaxOk(script);
      return run(script);
    };
    expect(check(SHA)).toMatchObject({ code: 0, stdout: 'ready\n' });
    expect(existsSync(join(doc, '.rollgate', 'incoming'))).toBe(true);
    release(doc, '1.0+b1');
    expect(check(SHA)).toMatchObject({ code: 0, stdout: 'complete\n' });
    const refused = check('b'.repeat(64));
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('F6');
  });

  it('the incoming path of an upload is inside .rollgate/incoming, named by version and tag', () => {
    expect(incomingPath(DOC, '1.0', 'abc123')).toBe('/srv/app/.rollgate/incoming/1.0.abc123.tgz');
  });

  it('the download script is valid sh (it runs in shell-host and package-check tests)', () => {
    syntaxOk(
      downloadScript({
        docBase: DOC,
        version: '1.0',
        sha256: SHA,
        incoming: incomingPath(DOC, '1.0', 'abc123'),
        tag: 'abc123',
      }),
    );
  });

  it('removeFileScript removes the file', () => {
    const doc = tempDoc();
    const file = join(doc, 'x.tgz');
    writeFileSync(file, 'x');
    expect(run(removeFileScript(file)).code).toBe(0);
    expect(existsSync(file)).toBe(false);
  });
});

describe('install (the steps run on real hosts in shell-host.test.ts)', () => {
  it('is valid sh with and without a stop command', () => {
    syntaxOk(install());
    syntaxOk(install({ service: { ...SERVICE, stop: 'kill $(cat pid)' } }));
  });

  it('the app gets its env values verbatim, and PORT, HOST and VERSION win over service env', async () => {
    const doc = tempDoc();
    release(doc, '1.0.0');
    const out = join(doc, 'env.out');
    const script = install({
      docBase: doc,
      service: {
        start: `printf '%s\\n' "$GREETING" "$PORT" "$HOST" "$VERSION" 'it'"'"'s' >"$OUT"`,
        stopTimeoutMs: 1000,
        env: { GREETING: `it's "quoted" $HOME`, OUT: out, PORT: '1', HOST: 'x', VERSION: '9' },
      },
    });
    const result = run(script);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((await waitForFile(out)).split('\n')).toEqual([
      `it's "quoted" $HOME`,
      '18100',
      '127.0.1.1',
      '1.0.0',
      "it's",
      '',
    ]);
  });

  it('a release not on the host exits NOT_ON_HOST without touching current', () => {
    const doc = tempDoc();
    const result = run(install({ docBase: doc }));
    expect(result.code).toBe(3);
    expect(existsSync(join(doc, 'current'))).toBe(false);
  });
});

describe('execWhenSimple', () => {
  it.each([
    ['node server.js', 'exec node server.js'],
    ["  /usr/bin/node 'server.js' --port=1 ", "exec /usr/bin/node 'server.js' --port=1"],
    ['./bin/start-app', 'exec ./bin/start-app'],
  ])("a plain program call %j is exec'd so the pid is the app", (start, expected) => {
    expect(execWhenSimple(start)).toBe(expected);
  });

  it.each([
    "trap '' TERM; sleep 60",
    'cd app && node server.js',
    'A=1 node server.js',
    'node server.js > out.log',
    'node $SCRIPT',
    'exec node server.js',
    'if true; then node a; fi',
  ])('%j runs under sh as given', (start) => {
    expect(execWhenSimple(start)).toBe(start);
  });
});
