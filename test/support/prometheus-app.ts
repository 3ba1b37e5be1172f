/**
 * The sample app (examples/app/server.js) as Prometheus's scrape targets, and the traffic that
 * gives them something to count: a steady stream of `GET /` per app, in this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('../../examples/app/server.js', import.meta.url));

export interface SampleApp {
  host: string;
  port: number;
  version: string;
  url: string;
  pid: number;
  /** POST /errrate?r=…: the share of `/` requests answering 500 from now on. */
  setErrorRate(r: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startSampleApp(opts: {
  host: string;
  port: number;
  version: string;
  dir: string;
}): Promise<SampleApp> {
  fs.mkdirSync(opts.dir, { recursive: true });
  const logPath = path.join(opts.dir, `app-${opts.host}-${opts.port}.log`);
  const log = fs.openSync(logPath, 'a');
  const child = spawn(process.execPath, [SERVER], {
    cwd: opts.dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOST: opts.host,
      PORT: String(opts.port),
      VERSION: opts.version,
      START_DELAY_MS: '0',
    },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://${opts.host}:${opts.port}`;
  const stop = () => stopChild(child, exited);
  try {
    await waitHealthy(url, child);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}; log:\n${fs.readFileSync(logPath, 'utf8')}`, {
      cause: err,
    });
  }
  return {
    host: opts.host,
    port: opts.port,
    version: opts.version,
    url,
    pid: child.pid!,
    async setErrorRate(r: number) {
      const res = await fetch(`${url}/errrate?r=${r}`, { method: 'POST' });
      const text = await res.text();
      if (!res.ok) throw new Error(`errrate ${r}: HTTP ${res.status} ${text}`);
    },
    stop,
  };
}

async function waitHealthy(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sample app at ${url} exited (${child.exitCode})`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(500) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`sample app at ${url} did not answer /health within 5 s`);
}

async function stopChild(child: ChildProcess, exited: Promise<void>) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

export interface Load {
  /** Requests sent and the ones answered 5xx, per URL. */
  counts(): Map<string, { sent: number; errors: number; failed: number }>;
  stop(): Promise<void>;
}

/** `perSecond` GETs of `/` per app, spread evenly, each awaited (no pile-up if an app stalls). */
export function startLoad(apps: readonly { url: string }[], perSecond: number): Load {
  const counts = new Map(apps.map((a) => [a.url, { sent: 0, errors: 0, failed: 0 }]));
  const inflight = new Set<Promise<void>>();
  let running = true;
  const tick = 1000 / perSecond;
  const timer = setInterval(() => {
    if (!running) return;
    for (const app of apps) {
      const c = counts.get(app.url)!;
      c.sent += 1;
      const p = fetch(`${app.url}/`, { signal: AbortSignal.timeout(2000) })
        .then(async (res) => {
          await res.arrayBuffer();
          if (res.status >= 500) c.errors += 1;
        })
        .catch(() => {
          c.failed += 1;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
  }, tick);
  return {
    counts: () => counts,
    async stop() {
      running = false;
      clearInterval(timer);
      await Promise.allSettled([...inflight]);
    },
  };
}
