/** A CMDB on loopback answering Ansible's --list JSON, told per test how to behave. */
import { createServer, type IncomingMessage, type Server } from 'node:http';

export type CmdbMode =
  | { kind: 'answer'; body: string; delayMs?: number }
  | { kind: 'fail'; status: number; body?: string }
  | { kind: 'hang' };

export interface CmdbServer {
  url: string;
  mode: CmdbMode;
  /** Requests received since the last reset. */
  requests: IncomingMessage['headers'][];
  /** When set, a request without this Authorization header gets 401. */
  token?: string;
  stop(): Promise<void>;
}

export async function startCmdb(host: string, port: number, mode: CmdbMode): Promise<CmdbServer> {
  const hanging = new Set<import('node:http').ServerResponse>();
  const cmdb: CmdbServer = {
    url: `http://${host}:${port}/inventory`,
    mode,
    requests: [],
    async stop() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    cmdb.requests.push(req.headers);
    const m = cmdb.mode;
    if (cmdb.token !== undefined && req.headers.authorization !== `Bearer ${cmdb.token}`) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('bad token\n');
      return;
    }
    if (m.kind === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (m.kind === 'fail') {
      res.writeHead(m.status, { 'content-type': 'text/plain' }).end(m.body ?? 'cmdb broke\n');
      return;
    }
    const send = () => res.writeHead(200, { 'content-type': 'application/json' }).end(m.body);
    if (m.delayMs) setTimeout(send, m.delayMs);
    else send();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return cmdb;
}

/** An answer with `hosts` in group `web`, each with ansible_host. */
export function webInventory(hosts: Record<string, string>): string {
  return JSON.stringify({
    web: { hosts: Object.keys(hosts) },
    _meta: {
      hostvars: Object.fromEntries(
        Object.entries(hosts).map(([name, address]) => [name, { ansible_host: address }]),
      ),
    },
  });
}
