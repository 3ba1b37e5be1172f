import http from 'node:http';

export interface BackendSpec {
  name: string;
  address: string;
  port: number;
}

/**
 * A tiny app server behind HAProxy: `/health` answers 200 (503 when sick), `/slow?ms=N` answers
 * after N ms, anything else answers its name at once. Health checks are not counted.
 */
export interface TestBackend extends BackendSpec {
  /** Requests other than /health that reached this server. */
  hits: number;
  /** Such requests still being answered. */
  inFlight: number;
  healthy: boolean;
  /** Stops listening and closes every connection (the server then looks DOWN to HAProxy). */
  stop(): Promise<void>;
  /** Listens again on the same address and port. */
  start(): Promise<void>;
}

export async function startBackend(spec: BackendSpec): Promise<TestBackend> {
  let server: http.Server | null = null;
  const backend: TestBackend = {
    ...spec,
    hits: 0,
    inFlight: 0,
    healthy: true,
    async start() {
      if (server) return;
      const s = http.createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://backend');
        if (url.pathname === '/health') {
          res.writeHead(backend.healthy ? 200 : 503, { 'content-type': 'text/plain' });
          res.end(backend.healthy ? 'ok\n' : 'sick\n');
          return;
        }
        backend.hits += 1;
        backend.inFlight += 1;
        const ms = url.pathname === '/slow' ? Number(url.searchParams.get('ms') ?? 1000) : 0;
        const answer = () => {
          backend.inFlight -= 1;
          res.writeHead(200, { 'content-type': 'text/plain', 'x-server': spec.name });
          res.end(`${spec.name}\n`);
        };
        if (ms > 0) setTimeout(answer, ms);
        else answer();
      });
      s.keepAliveTimeout = 1000;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(spec.port, spec.address, () => {
          s.off('error', reject);
          resolve();
        });
      });
      server = s;
    },
    async stop() {
      const s = server;
      if (!s) return;
      server = null;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
      backend.inFlight = 0;
    },
  };
  await backend.start();
  return backend;
}

export async function startBackends(specs: BackendSpec[]): Promise<TestBackend[]> {
  return Promise.all(specs.map(startBackend));
}

export interface HttpResult {
  status: number;
  server: string | null;
  ms: number;
}

/** One request through the LB on a fresh connection, so HAProxy balances each one. */
export function request(base: string, path = '/', timeoutMs = 10_000): Promise<HttpResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          server: (res.headers['x-server'] as string | undefined) ?? null,
          ms: performance.now() - started,
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${base}${path}`)));
    req.on('error', reject);
  });
}

/** Sends n requests one after another and counts which server answered each. */
export async function spread(base: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await request(base);
    const key = r.status === 200 ? (r.server ?? '?') : `status-${r.status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Steady load with `concurrency` clients until stopped; every non-200 or error is counted. */
export function loadProbe(base: string, concurrency = 4) {
  let running = true;
  const stats = {
    ok: 0,
    failed: 0,
    errors: [] as string[],
    byServer: {} as Record<string, number>,
  };
  const worker = async () => {
    while (running) {
      try {
        const r = await request(base, '/', 5000);
        if (r.status === 200) {
          stats.ok += 1;
          const s = r.server ?? '?';
          stats.byServer[s] = (stats.byServer[s] ?? 0) + 1;
        } else {
          stats.failed += 1;
          stats.errors.push(`HTTP ${r.status}`);
        }
      } catch (err) {
        stats.failed += 1;
        stats.errors.push((err as Error).message);
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(workers);
      return stats;
    },
  };
}
