/**
 * The README's first command, `npm run demo`, from a clone in a private directory: a copy of
 * this repository under a 0700 directory (like root's home, or anything under `mktemp -d`),
 * run as the README says. The demo must release over SSH to its sshd hosts — not fall back to
 * the local transport — end `DEMO OK`, leave the private directory as private as it was, and
 * leave no fleet files behind. Hosts 127.0.2.241–246, HAProxy on 127.0.7.121:19021, apps on
 * port 19020.
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSshd, startSshFleet } from '../../support/ssh-fleet';
import { ensureHaproxy } from '../../support/haproxy-lb';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const why = (await ensureSshd()) ?? (await ensureHaproxy());

/** Copies the checkout's files (tracked and new, not ignored) and links node_modules. */
function copyCheckout(into: string): void {
  const files = execFileSync(
    'git',
    ['-C', REPO, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  )
    .split('\0')
    .filter(Boolean);
  for (const f of files) {
    const from = join(REPO, f);
    let s;
    try {
      s = statSync(from);
    } catch {
      continue; // deleted in the work tree
    }
    if (!s.isFile()) continue;
    mkdirSync(dirname(join(into, f)), { recursive: true });
    copyFileSync(from, join(into, f));
    chmodSync(join(into, f), s.mode & 0o777);
  }
  symlinkSync(join(REPO, 'node_modules'), join(into, 'node_modules'));
}

const fleetDirs = () =>
  new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('rollgate-demo-fleet-')));

describe.skipIf(why)('npm run demo from a clone in a private (0700) directory', () => {
  let home: string;
  let clone: string;

  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'rollgate-private-'));
    chmodSync(home, 0o700);
    clone = join(home, 'src', 'rollgate');
    mkdirSync(clone, { recursive: true });
    copyCheckout(clone);
  });

  afterAll(() => {
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('sshd.sh up refuses a fleet directory the deploy user cannot reach, naming it and the fix', async () => {
    const err = await startSshFleet({ n: 1, first: 247, dir: join(home, 'fleet') }).then(
      async (fleet) => {
        await fleet.stop(); // it should not have started: leave nothing running
        return null;
      },
      (e: unknown) => e as Error & { stderr?: string },
    );
    expect(err).not.toBeNull();
    expect(err!.stderr ?? err!.message).toContain(
      `user deploy cannot reach ${home}/fleet/authorized_keys (sshd reads it as deploy): it cannot enter ${home} (mode 700, owner root).`,
    );
    expect(err!.stderr ?? err!.message).toContain(`chmod o+x ${home}`);
  });

  it('releases over SSH to its sshd hosts and ends DEMO OK; the directory stays private', async () => {
    const before = fleetDirs();
    const started = Date.now();
    const r = await new Promise<{ code: number; out: string }>((done) => {
      execFile(
        'npm',
        ['run', '--silent', 'demo'],
        {
          cwd: clone,
          env: {
            ...process.env,
            ROLLGATE_DEMO_FIRST_HOST: '241',
            ROLLGATE_DEMO_FRONTEND: '127.0.7.121:19021',
            ROLLGATE_DEMO_PORT: '19020',
          },
          timeout: 300_000,
          maxBuffer: 16 * 1024 * 1024,
        },
        (err, stdout, stderr) =>
          done({
            code: err ? ((err as { code?: number }).code ?? 1) : 0,
            out: `${stdout}\n${stderr}`,
          }),
      );
    });
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`demo from ${clone} (parent mode 0700): exit ${r.code} in ${secs} s`);
    console.log(/^DEMO OK.*$/m.exec(r.out)?.[0] ?? r.out.slice(-2000));
    expect(r.out).toContain(`the deploy user cannot enter ${home} (a private directory)`);
    expect(r.out, r.out).toContain('demo fleet: SSH to 6 sshd hosts (127.0.2.241–246)');
    expect(r.out).not.toContain('falling back to the local transport');
    expect(r.out).toMatch(/DEMO OK — .* in [\d.]+ s; \d+ requests failed through HAProxy/);
    expect(r.code).toBe(0);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    // The fleet's host files lived outside the clone and are gone.
    expect([...fleetDirs()].filter((d) => !before.has(d))).toEqual([]);
  }, 320_000);
});
