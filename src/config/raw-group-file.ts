import type { InventoryFormat } from './ansible-inventory';

/** A group file as the schema lets it through, before defaults and checks. */
export type Duration = string | number;

export interface RawTarget {
  host: string;
  address?: string;
  port?: number;
  docBase?: string;
  id?: string;
  pulledOut?: boolean;
  lbName?: string;
  altPort?: number;
  altLbName?: string;
  site?: string;
}

export interface RawGroupFile {
  group: string;
  monitor?: unknown;
  notify?: unknown;
  site?: string;
  path?: string;
  docBase: string;
  port: number;
  altPort?: number;
  healthCheckUrl?: string;
  keep?: number;
  service?: {
    start?: string;
    stop?: string;
    stopTimeout?: Duration;
    env?: Record<string, string | number | boolean>;
  };
  package?: {
    source?: string;
    sources?: Record<string, string>;
    auth?: string;
    image?: { repository: string; tlsVerify?: boolean; podmanArgs?: unknown; runArgs?: unknown };
  };
  deployment?: {
    maxUnavailable?: string | number;
    batchPattern?: string | Array<string | number>;
    failureBudget?: { perBatch?: string | number; maxFailures?: number };
    bastion?: number | string[];
    waitBetweenBatches?: Duration;
    waitFromBatch3?: Duration;
    manual?: boolean;
    startTimeout?: Duration;
    verifyInterval?: Duration;
    warmup?: Duration;
    skipVerify?: boolean;
    prefetch?: boolean;
    strategy?: 'in-place' | 'side-by-side';
    keepWarm?: Duration;
  };
  transport?:
    | { kind: 'local'; root?: string }
    | {
        kind: 'ssh';
        user?: string;
        port?: number;
        privateKeyFile?: string;
        privateKeyEnv?: string;
        agent?: boolean;
        knownHostsFile?: string;
        insecureIgnoreHostKey?: boolean;
        jumpHost?: { host: string; port?: number; user?: string };
        maxChannelsPerHost?: number;
        maxConnecting?: number;
        connectTimeout?: Duration;
      };
  traffic?: (
    | { kind: 'none' }
    | { kind: 'haproxy'; sockets: string[]; backend: string; drainTimeout?: Duration }
    | { kind: 'command'; markdown: string; markup: string; status?: string; timeout?: Duration }
  ) & { degraded?: boolean };
  store?: { kind?: 'file'; dir?: string };
  targets?: RawTarget[];
  inventory?: {
    file?: string;
    command?: string[];
    url?: string;
    headers?: Record<string, string>;
    timeout?: Duration;
    cache?: { fresh?: Duration; maxAge?: Duration };
    format?: InventoryFormat;
    group?: string;
    pulledOutVar?: string;
  };
}
