import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
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
  it('lists complete releases oldest first and reads current', () => {
    const script = probeScript(DOC);
    syntaxOk(script);
    expect(script).toContain('readlink current');
    expect(script).toContain('ls -1tr releases/*/.rollgate-complete');
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
  const owner = { deploymentId: "d-1'x", who: 'alice "a"' };

  it('creates the lock atomically with ln and takes over only its own deployment', () => {
    const script = lockScript(DOC, owner, '2024-01-01T00:00:00.000Z', 'abc');
    syntaxOk(script);
    expect(script).toContain('ln -T "$tmp" "$state/lock"');
    expect(script).toContain(`grep -qF -- '{"deploymentId":"d-1'\\''x",'`);
    expect(script).not.toContain('rm -f "$state/lock"');
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

  it('unlock removes the lock only when the needle matches', () => {
    const script = unlockScript(DOC, 'd-1');
    syntaxOk(script);
    expect(script).toMatch(
      /grep -qF -- '\{"deploymentId":"d-1",' "\$lock"; then\n {2}rm -f "\$lock"/,
    );
  });
});

describe('download', () => {
  it('S6/F3: the check skips a complete release with the same checksum and refuses another', () => {
    const script = downloadCheckScript({ docBase: DOC, version: '1.0+b1', sha256: SHA });
    syntaxOk(script);
    expect(script).toContain(`marker="$doc/releases/"1.0+b1/.rollgate-complete`);
    expect(script).toContain(`if [ "$have" = ${SHA} ]; then echo complete`);
    expect(script).toContain('never replaced (F6)');
  });

  it('F6: verifies, judges the entries, unpacks into a temp dir, judges the tree, writes the marker, then renames into place', () => {
    const incoming = incomingPath(DOC, '1.0', 'abc123');
    expect(incoming).toBe('/srv/app/.rollgate/incoming/1.0.abc123.tgz');
    const script = downloadScript({
      docBase: DOC,
      version: '1.0',
      sha256: SHA,
      incoming,
      tag: 'abc123',
    });
    syntaxOk(script);
    const order = [
      `rm -rf -- "$tmp" "$lst" "$inc"' EXIT`,
      'sha256sum -- "$inc"',
      'checksum mismatch',
      'tar -tvzP',
      'tar -xzf "$inc" -C "$tmp"',
      'find "$tmp" -type l',
      `printf '%s\\n' "$want" >"$tmp/.rollgate-complete"`,
      'mv -T -- "$tmp" "$rel"',
    ].map((part) => script.indexOf(part));
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(script).toContain('tmp="$doc/releases/.tmp-$v-abc123"');
  });

  it('removeFileScript quotes its path', () => {
    expect(removeFileScript('/srv/app/.rollgate/incoming/1.x.tgz')).toBe(
      'rm -f -- /srv/app/.rollgate/incoming/1.x.tgz',
    );
  });
});

describe('install', () => {
  it('S1: stops, switches atomically, starts detached, prunes', () => {
    const script = install();
    syntaxOk(script);
    const order = [
      'is not on the host',
      'kill -TERM "-$pid"',
      'ln -s "releases/$v" ".current.$$.tmp" && mv -T ".current.$$.tmp" current',
      '$detach sh -c',
      '# prune',
    ].map((part) => script.indexOf(part));
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(script).toContain('command -v setsid');
    expect(script).toMatch(/<\/dev\/null >>"\$log" 2>&1 &\n/);
    expect(script).toContain('export PORT=18100 HOST=127.0.1.1');
    expect(script).toContain('excess=$((n - 3))');
    expect(script).toContain('if [ "$r" = "$v" ] || [ "$r" = "$prev" ]; then continue; fi');
  });

  it('waits stopTimeoutMs in 20 ms ticks before SIGKILL', () => {
    expect(install({ service: { ...SERVICE, stopTimeoutMs: 2000 } })).toContain(
      'while alive "$pid" && [ "$i" -lt 100 ]; do sleep 0.02',
    );
  });

  it('quotes service env values, the start command and the stop command', () => {
    const script = install({
      service: {
        start: "node server.js --name 'it'",
        stop: 'kill $(cat pid)',
        stopTimeoutMs: 1000,
        env: { GREETING: `it's "quoted" $HOME` },
      },
    });
    syntaxOk(script);
    expect(script).toContain(`export GREETING='it'\\''s "quoted" $HOME'`);
    expect(script).toContain(`start='exec node server.js --name '\\''it'\\'''`);
    expect(script).toContain('rollgate-app "$pidf" "$start"');
    expect(script).toContain(`sh -c 'kill $(cat pid)'`);
    expect(script).not.toContain('kill -TERM "-$pid"');
  });

  it('PORT, HOST and VERSION win over service env', () => {
    const script = install({ service: { ...SERVICE, env: { PORT: '1' } } });
    expect(script.indexOf('export PORT=1\n')).toBeLessThan(script.indexOf('export PORT=18100'));
    expect(script).toContain('VERSION="$v" $detach');
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
