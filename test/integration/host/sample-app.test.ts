import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APP_DIR, waitFor } from '../../support/host-fleet';

const ADDRESS = '127.0.1.20';
let nextPort = 18120;
const started: ChildProcess[] = [];
let dir: string;

async function startApp(files: Record<string, string>, env: Record<string, string> = {}) {
  const cwd = await mkdtemp(join(dir, 'app-'));
  await copyFile(join(APP_DIR, 'server.js'), join(cwd, 'server.js'));
  for (const [name, content] of Object.entries(files)) await writeFile(join(cwd, name), content);
  const port = nextPort++;
  const child = spawn(process.execPath, ['server.js'], {
    cwd,
    env: { ...process.env, HOST: ADDRESS, PORT: String(port), START_DELAY_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const base = `http://${ADDRESS}:${port}`;
  return { child, base, exited };
}

async function ready(base: string): Promise<void> {
  await waitFor(`${base} to listen`, async () =>
    fetch(`${base}/health`).then(
      () => true,
      () => false,
    ),
  );
}

describe('examples/app/server.js', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-app-'));
  });
  afterEach(() => {
    for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers /health, /version and / with the version from the VERSION file', async () => {
    const app = await startApp({ VERSION: '1.0.0\n' });
    await ready(app.base);
    const health = await fetch(`${app.base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', version: '1.0.0' });
    expect(await (await fetch(`${app.base}/version`)).text()).toBe('1.0.0\n');
    expect(await (await fetch(`${app.base}/`)).text()).toBe('hello from 1.0.0\n');
    expect((await fetch(`${app.base}/nope`)).status).toBe(404);
  });

  it('VERSION in the environment wins over the file', async () => {
    const app = await startApp({ VERSION: 'file' }, { VERSION: 'env' });
    await ready(app.base);
    expect(await (await fetch(`${app.base}/version`)).text()).toBe('env\n');
  });

  it('waits start-delay-ms before listening', async () => {
    const t0 = Date.now();
    const app = await startApp({ VERSION: '1', 'start-delay-ms': '400' }, { START_DELAY_MS: '' });
    await ready(app.base);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
  });

  it('a BROKEN release answers /health with 500', async () => {
    const app = await startApp({ VERSION: '2', BROKEN: 'broken\n' });
    await ready(app.base);
    const health = await fetch(`${app.base}/health`);
    expect(health.status).toBe(500);
    expect(await health.json()).toEqual({ status: 'broken', version: '2' });
  });

  it('a BROKEN file naming hosts breaks only those hosts', async () => {
    const here = await startApp({ VERSION: '2', BROKEN: `hosts 127.0.1.99 ${ADDRESS}\n` });
    const elsewhere = await startApp({ VERSION: '2', BROKEN: 'hosts 127.0.1.99\n' });
    await ready(here.base);
    await ready(elsewhere.base);
    expect((await fetch(`${here.base}/health`)).status).toBe(500);
    expect((await fetch(`${elsewhere.base}/health`)).status).toBe(200);
  });

  it('a BROKEN file saying "exit" makes the app exit at once', async () => {
    const app = await startApp({ VERSION: '3', BROKEN: 'exit\n' });
    expect(await app.exited).toBe(1);
  });

  it('exits 0 on SIGTERM after closing the server', async () => {
    const app = await startApp({ VERSION: '1' });
    await ready(app.base);
    await fetch(`${app.base}/`);
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
  });

  it('POST /errrate makes that share of / fail, and /metrics counts by code and version', async () => {
    const app = await startApp({ VERSION: '1.5' });
    await ready(app.base);
    expect((await fetch(`${app.base}/errrate?r=2`, { method: 'POST' })).status).toBe(400);
    expect((await fetch(`${app.base}/errrate?r=0.3`, { method: 'POST' })).status).toBe(200);
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) codes.push((await fetch(`${app.base}/`)).status);
    expect(codes.filter((c) => c === 500)).toHaveLength(3);
    await fetch(`${app.base}/health`);

    const text = await (await fetch(`${app.base}/metrics`)).text();
    expect(text).toContain('# TYPE http_requests_total counter');
    // The two POSTs count; /health and /metrics do not.
    expect(text).toContain('http_requests_total{code="200",version="1.5"} 8');
    expect(text).toContain('http_requests_total{code="400",version="1.5"} 1');
    expect(text).toContain('http_requests_total{code="500",version="1.5"} 3');
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(text).toContain('http_request_duration_seconds_bucket{version="1.5",le="+Inf"} 12');
    expect(text).toContain('http_request_duration_seconds_count{version="1.5"} 12');
    expect(text).toMatch(/http_request_duration_seconds_sum\{version="1.5"\} [0-9.e-]+\n/);
  });
});
