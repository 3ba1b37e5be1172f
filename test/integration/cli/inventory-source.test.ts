/**
 * F5, F8 through the real `rollgate` command: a group whose hosts come from a CMDB URL (a real
 * HTTP server on loopback, with a token from the environment). While the CMDB answers, releases
 * use its answer; when it fails, plan, status and deploy go on with the cached copy and say so
 * ("inventory from cache, …"), and the release records it. A group with no cached copy is
 * refused, naming the source and the fix, and nothing starts. The token never reaches a log.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCliFleet, type CliFleet } from '../../support/cli-fleet';
import { startCmdb, webInventory, type CmdbServer } from '../../support/inventory-server';

const TOKEN = 'cmdb-token-s3cret-25';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, ROLLGATE_WHO: 'inventory-test', CMDB_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('rollgate with an inventory URL that goes down', () => {
  let f: CliFleet;
  let cmdb: CmdbServer;
  const seen: string[] = [];
  const run = async (args: string[]) => {
    const r = await f.run(args);
    seen.push(r.stdout, r.stderr);
    return r;
  };

  beforeAll(async () => {
    cmdb = await startCmdb('127.0.25.2', 25002, {
      kind: 'answer',
      body: webInventory({ 'web-01': '127.0.25.11', 'web-02': '127.0.25.12' }),
    });
    cmdb.token = TOKEN;
    process.env.CMDB_TOKEN = TOKEN;
    f = await makeCliFleet({ addresses: ['127.0.25.11', '127.0.25.12'], port: 25080 });
    delete process.env.CMDB_TOKEN;
    const text = await readFile(f.groupFile, 'utf8');
    await writeFile(
      f.groupFile,
      text.slice(0, text.indexOf('\ntargets:')) +
        [
          '',
          'inventory:',
          `  url: ${cmdb.url}`,
          '  group: web',
          '  headers: { Authorization: "Bearer {env:CMDB_TOKEN}" }',
          '  timeout: 2s',
          '  cache: { fresh: 0s }',
          '',
        ].join('\n'),
    );
    await f.build('1.0.0', { startDelayMs: 50 });
    await f.build('1.0.1', { startDelayMs: 50 });
  });

  afterAll(async () => {
    await f?.cleanup();
    await cmdb?.stop();
  });

  it('while the CMDB answers: plan names it, the release goes to its hosts', async () => {
    const plan = await run(['plan', '--version', '1.0.0']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`inventory from ${cmdb.url}, fetched `);
    expect(plan.stdout).not.toContain('inventory from cache');
    const deploy = await run(['deploy', '--version', '1.0.0']);
    expect(deploy.code, deploy.stderr).toBe(3);
    const bake = await run(['bake']);
    expect(bake.code, bake.stderr).toBe(3);
    const cont = await run(['continue']);
    expect(cont.code, cont.stderr).toBe(0);
    expect([f.current('web-01'), f.current('web-02')]).toEqual(['1.0.0', '1.0.0']);
    expect(cmdb.requests.every((h) => h.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('CMDB down (500): status and plan say "inventory from cache", deploy goes on and records it', async () => {
    cmdb.mode = { kind: 'fail', status: 500, body: 'cmdb maintenance\n' };
    const cacheLine = new RegExp(
      `inventory from cache, \\d+s old: ${cmdb.url.replaceAll('.', '\\.')} is down \\(HTTP 500 Internal Server Error: cmdb maintenance\\)`,
    );
    const status = await run(['status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(cacheLine);
    expect(status.stdout).toMatch(/^web-01 /m);

    const plan = await run(['plan', '--version', '1.0.1']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(cacheLine);

    const deploy = await run(['deploy', '--version', '1.0.1']);
    expect(deploy.code, deploy.stderr).toBe(3);
    expect(deploy.stderr).toMatch(cacheLine);
    expect(f.current('web-01')).toBe('1.0.1');
    const warn = f.latest().filter((e) => e.type === 'warn');
    expect(warn.map((e) => e.message)).toEqual([expect.stringMatching(cacheLine)]);
    // The warning follows the release line of the new release.
    expect(f.latest()[0]!.type).toBe('release');
    expect(f.latest()[1]!.type).toBe('warn');

    const after = await run(['status', '--json']);
    const doc = JSON.parse(after.stdout) as { inventory: string; release: { degraded: string[] } };
    expect(doc.inventory).toMatch(cacheLine);
    expect(doc.release.degraded).toEqual([expect.stringMatching(cacheLine)]);
  });

  it('no cached copy and the CMDB down: refused naming inventory.url and the fix, nothing started', async () => {
    const text = await readFile(f.groupFile, 'utf8');
    const other = join(f.dir, 'other.yml');
    await writeFile(
      other,
      text.replace('store: { dir: ./state }', 'store: { dir: ./state-other }'),
    );
    const r = await cli(['deploy', '--version', '1.0.1', '-g', other]);
    seen.push(r.stdout, r.stderr);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('inventory.url');
    expect(r.stderr).toContain(`${cmdb.url} gave no inventory: HTTP 500 Internal Server Error`);
    expect(r.stderr).toContain('Nothing was started');
    expect(r.stderr).toContain('inventory.file');
    expect(existsSync(join(f.dir, 'state-other', 'cli-shop'))).toBe(false);
  });

  it('the token is never printed, recorded or cached', () => {
    const files = [
      join(f.dir, 'state', 'cli-shop', 'events.ndjson'),
      join(f.dir, 'state', 'cli-shop', 'state.json'),
      ...readdirSync(join(f.dir, 'state', '.inventory')).map((n) =>
        join(f.dir, 'state', '.inventory', n),
      ),
    ];
    for (const text of [...seen, ...files.map((p) => readFileSync(p, 'utf8'))]) {
      expect(text).not.toContain(TOKEN);
    }
  });
});
