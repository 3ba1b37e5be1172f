/**
 * A real HTTP package store on loopback for issue 17's tests: serves the files of one directory,
 * answers 401 without the expected Authorization header when one is set, records what it was
 * asked, and can hold a response open (to look at the host while the fetch runs).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';

export interface StoreRequest {
  path: string;
  /** curl/…, Wget/…, or node for rollgate itself. */
  agent: string;
  authorization: string | undefined;
  status: number;
}

export interface PackageStoreServer {
  url: string;
  requests: StoreRequest[];
  /** Bytes of package files sent. */
  bytesServed: number;
  /** The next request waits until `release()` is called. */
  hold(): { arrived: Promise<void>; release: () => void };
  close(): Promise<void>;
}

export async function startPackageStore(o: {
  host: string;
  port: number;
  dir: string;
  authorization?: string;
}): Promise<PackageStoreServer> {
  let held: { arrive: () => void; wait: Promise<void> } | null = null;
  const state: PackageStoreServer = {
    url: `http://${o.host}:${o.port}`,
    requests: [],
    bytesServed: 0,
    hold() {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((r) => (arrive = r));
      const wait = new Promise<void>((r) => (release = r));
      held = { arrive, wait };
      return { arrived, release };
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', state.url).pathname);
      const auth = req.headers.authorization;
      const agent = (req.headers['user-agent'] ?? '').split('/')[0]!;
      const record = (status: number) =>
        state.requests.push({ path, agent, authorization: auth, status });
      if (o.authorization !== undefined && auth !== o.authorization) {
        record(401);
        res.writeHead(401).end('unauthorized');
        return;
      }
      const file = join(o.dir, path);
      if (path.includes('..') || !existsSync(file) || !statSync(file).isFile()) {
        record(404);
        res.writeHead(404).end('not found');
        return;
      }
      if (held) {
        const h = held;
        held = null;
        h.arrive();
        await h.wait;
      }
      record(200);
      const size = statSync(file).size;
      res.writeHead(200, { 'Content-Length': size, 'Content-Type': 'application/gzip' });
      state.bytesServed += size;
      createReadStream(file).pipe(res);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return state;
}
