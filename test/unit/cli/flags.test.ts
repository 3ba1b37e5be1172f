import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/index';

/** Bad flags name the flag and the fix (issue 13 item 12). */
describe('rollgate flags: a typo or a wrong value is named, with the fix', () => {
  let dir: string;
  let group: string;
  let out: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-flags-'));
    group = join(dir, 'web.yml');
    await writeFile(
      group,
      [
        'group: web',
        `docBase: ${join(dir, 'srv')}`,
        'port: 18099',
        'service: { start: node server.js }',
        `store: { dir: ${join(dir, 'state')} }`,
        'targets:',
        '  - { host: web-01, address: 127.0.0.1 }',
        '',
      ].join('\n'),
    );
    out = [];
    const grab = (chunk: unknown) => void out.push(String(chunk));
    vi.spyOn(process.stderr, 'write').mockImplementation((c) => (grab(c), true));
    vi.spyOn(process.stdout, 'write').mockImplementation((c) => (grab(c), true));
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => grab(a.join(' ')));
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => grab(a.join(' ')));
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('--versoin is called an unknown option with "did you mean --version", not a missing --version', async () => {
    const code = await main(['deploy', '-g', group, '--versoin', '1.0.0'], {});
    expect(code).toBe(2);
    const text = out.join('');
    expect(text).toContain("unknown option '--versoin'");
    expect(text).toContain('Did you mean --version?');
    expect(text).not.toContain('not specified');
  });

  it('a missing required option is still reported when nothing is mistyped', async () => {
    expect(await main(['deploy', '-g', group], {})).toBe(2);
    expect(out.join('')).toContain("required option '--version <version>' not specified");
  });

  it('--package . says it is a directory and how to build a package', async () => {
    const code = await main(['deploy', '-g', group, '--version', '1.0.0', '--package', dir], {});
    expect(code).toBe(2);
    const text = out.join('');
    expect(text).toContain(`--package: ${dir} is a directory, not a package`);
    expect(text).toContain('rollgate pack <dir> --version 1.0.0');
    expect(text).not.toMatch(/EISDIR/);
  });

  it('status and plan offer no --who (they record nothing); operations do', async () => {
    expect(await main(['status', '--help'], {})).toBe(0);
    expect(out.join('')).not.toContain('--who');
    out.length = 0;
    expect(await main(['plan', '--help'], {})).toBe(0);
    expect(out.join('')).not.toContain('--who');
    out.length = 0;
    expect(await main(['bake', '--help'], {})).toBe(0);
    expect(out.join('')).toContain('--who <name>');
  });

  it("rollgate's own version is -V / --rollgate-version; a bare --version still answers it", async () => {
    expect(await main(['--help'], {})).toBe(0);
    const help = out.join('');
    expect(help).toContain('-V, --rollgate-version');
    expect(help).not.toMatch(/-V, --version/);
    out.length = 0;
    expect(await main(['--version'], {})).toBe(0);
    expect(out.join('').trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
