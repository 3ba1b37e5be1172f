/**
 * The group file both scale benches release with (bench/scale.ts, bench/slow-link.ts): the
 * stand-in app behind one HAProxy backend `app`, 25 % batches, no bastion, no waits.
 */
import type { BenchHost } from './fleet-check';

export interface ScaleGroup {
  group: string;
  appPort: number;
  keep: number;
  /** package.source: a path on the runner or a store URL. */
  source: string;
  hosts: BenchHost[];
  keyFile: string;
  knownHosts: string;
  socketPath: string;
  /** transport.port and transport.maxConnecting, left to their defaults when not given. */
  sshPort?: number;
  maxConnecting?: number;
}

export function scaleGroupYaml(g: ScaleGroup): string {
  return [
    `group: ${g.group}`,
    'docBase: /srv/app',
    `port: ${g.appPort}`,
    'healthCheckUrl: /health',
    `keep: ${g.keep}`,
    'service:',
    '  start: sh start.sh',
    '  stopTimeout: 5s',
    'package:',
    `  source: ${g.source}`,
    'deployment:',
    '  bastion: 0',
    '  maxUnavailable: 25%',
    '  startTimeout: 10s',
    '  verifyInterval: 20ms',
    'transport:',
    '  kind: ssh',
    '  user: deploy',
    ...(g.sshPort === undefined ? [] : [`  port: ${g.sshPort}`]),
    `  privateKeyFile: ${g.keyFile}`,
    `  knownHostsFile: ${g.knownHosts}`,
    ...(g.maxConnecting === undefined ? [] : [`  maxConnecting: ${g.maxConnecting}`]),
    'traffic:',
    '  kind: haproxy',
    `  sockets: [unix:${g.socketPath}]`,
    '  backend: app',
    '  drainTimeout: 10s',
    'store:',
    '  dir: ./state',
    'targets:',
    ...g.hosts.map((h) => `  - { host: ${h.id}, address: ${h.address}, docBase: ${h.docBase} }`),
    '',
  ].join('\n');
}
