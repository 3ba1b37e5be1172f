/** Adapter settings read from the group file; each adapter validates its own further. */

export interface LocalTransportSpec {
  kind: 'local';
  /** Each host is the directory `<root>/<host>`; docBase is resolved inside it. Absolute after loading. */
  root: string;
}

export interface SshTransportSpec {
  kind: 'ssh';
  user: string;
  port: number;
  /** Key file path, or the name of an environment variable holding the key, or the agent. */
  privateKeyFile?: string;
  privateKeyEnv?: string;
  agent?: boolean;
  /** known_hosts pinning is on unless insecureIgnoreHostKey is set (and then logged). */
  knownHostsFile?: string;
  insecureIgnoreHostKey: boolean;
  /** An SSH jump host (not the release's bastion batch). */
  jumpHost?: { host: string; port: number; user: string };
  /** Channels at once on one connection (sshd MaxSessions defaults to 10). */
  maxChannelsPerHost: number;
  /** Hosts connecting at once (sshd MaxStartups defaults to 10:30:100). */
  maxConnecting: number;
  connectTimeoutMs: number;
}

export type TransportSpec = LocalTransportSpec | SshTransportSpec;

export interface HaproxySpec {
  kind: 'haproxy';
  /** Runtime API endpoints: `unix:/path/admin.sock` or `tcp:127.0.0.1:9999`; several HAProxy instances allowed. */
  sockets: string[];
  backend: string;
  drainTimeoutMs: number;
}

export interface CommandTrafficSpec {
  kind: 'command';
  /** Run on the machine running rollgate with TARGET, HOST, ADDRESS, PORT, LB_NAME in the environment. */
  markdown: string;
  markup: string;
  /** Optional: prints up, down, drain or maint. */
  status?: string;
  timeoutMs: number;
}

export interface NoTrafficSpec {
  kind: 'none';
}

export type TrafficSpec = (HaproxySpec | CommandTrafficSpec | NoTrafficSpec) & {
  /** F5: go on without the LB (explicit, recorded). */
  degraded?: boolean;
};

export interface StoreSpec {
  kind: 'file';
  /** Absolute after loading; `<dir>/<group>/state.json` and `events.ndjson`. */
  dir: string;
}

export interface PackageSpec {
  /** Local tarball path with `{version}`, relative to the group file. */
  source?: string;
  /** The group releases container images (`--image registry/repository@sha256:…`). */
  image?: ImagePackageSpec;
  /** The hosts fetch the tarball from a store (an http(s) URL or an OCI artifact), per site. */
  store?: PackageStoreSpec;
}

export interface PackageStoreSpec {
  kind: 'http' | 'oci';
  /** Site → URL with `{version}` (and `{site}`); `default` for targets whose site has none. */
  sources: Record<string, string>;
  /** package.auth `env:NAME`: the variable's name. */
  authEnv?: string;
}

export interface ImagePackageSpec {
  /** `registry/repository` every released image comes from (no tag, no digest). */
  repository: string;
  /** false: the hosts pull without TLS verification (a plain-HTTP registry). Default true. */
  tlsVerify: boolean;
  /** Global podman flags on the hosts, before the subcommand: `--runtime /usr/sbin/runc`. */
  podmanArgs: string[];
  /** Extra `podman run` arguments, before the image: `--ulimit nofile=20000:20000`. */
  runArgs: string[];
}
