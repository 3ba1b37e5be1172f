import { createServer, type Server } from 'node:http';

/** Another process holding a host's app port: answers 503 to everything. Waits for the port. */
export async function squat(host: string, port: number): Promise<Server> {
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      return await new Promise<Server>((resolve, reject) => {
        const s = createServer((_req, res) => {
          res
            .writeHead(503, { 'content-type': 'text/plain' })
            .end('port held by another process\n');
        });
        s.once('error', reject);
        s.listen(port, host, () => resolve(s));
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Closes the squatter and the connections it still holds, so the port is free at once. */
export function closeServer(s: Server): Promise<void> {
  return new Promise((r) => {
    s.close(() => r());
    s.closeAllConnections();
  });
}
