import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Group files as text, for the tests that write one: the shop-web group the config unit tests
 * vary, the sample app's group the fleets write next to their packages, and the image group whose
 * run flags the no-privileged rule fails.
 */

/**
 * Two targets running `node server.js`, nothing else. The config tests assert line numbers of
 * this text (line 1 is `group: shop-web`): keep its lines where they are.
 */
export const SHOP_WEB_GROUP = `group: shop-web
docBase: /srv/shop-web
port: 8080
service:
  start: node server.js
targets:
  - host: web-01
    address: 127.0.0.11
  - host: web-02
    address: 127.0.0.12
`;

export interface GroupTarget {
  host: string;
  address: string;
  /** The target's own docBase (a real host's directory under the test's sshd root). */
  docBase?: string;
}

/** The `targets:` entries, one flow mapping a line. */
export function targetLines(targets: ReadonlyArray<GroupTarget>): string {
  return targets
    .map(
      (t) =>
        `  - { host: ${t.host}, address: ${t.address}${t.docBase ? `, docBase: ${t.docBase}` : ''} }`,
    )
    .join('\n');
}

/**
 * A `command` load balancer that writes `down`/`up` into `<lb>/<target>` (a target with no file
 * is up), so a test reads which targets are in traffic.
 */
export function commandTraffic(lb: string): string {
  const q = (s: string) => JSON.stringify(s);
  return `traffic:
  kind: command
  markdown: ${q(`echo down > ${lb}/$TARGET`)}
  markup: ${q(`echo up > ${lb}/$TARGET`)}
  status: ${q(`cat ${lb}/$TARGET 2>/dev/null || echo up`)}`;
}

/** What `commandTraffic(lb)` last wrote for `target`: `up`, `down`, or null for nothing yet. */
export function commandTrafficState(lb: string, target: string): 'up' | 'down' | null {
  try {
    const s = readFileSync(join(lb, target), 'utf8').trim();
    return s === 'up' || s === 'down' ? s : null;
  } catch {
    return null;
  }
}

export interface SampleAppGroup {
  group: string;
  docBase: string;
  port: number;
  healthCheckUrl?: string;
  /** Releases kept on a host; 3 when left out. */
  keep?: number;
  /** service.stopTimeout, e.g. `3s`. */
  stopTimeout: string;
  /** The lines under `deployment:`, indented by two. */
  deployment: string;
  /** What follows the deployment, in order: transport, traffic, store, more sections. */
  sections: string[];
  targets: ReadonlyArray<GroupTarget>;
}

/** The sample app (examples/app) as tarballs from ./packages/app-{version}.tar.gz. */
export function sampleAppGroup(g: SampleAppGroup): string {
  return [
    `group: ${g.group}`,
    `docBase: ${g.docBase}`,
    `port: ${g.port}`,
    ...(g.healthCheckUrl ? [`healthCheckUrl: ${g.healthCheckUrl}`] : []),
    `keep: ${g.keep ?? 3}`,
    'service:',
    '  start: node server.js',
    `  stopTimeout: ${g.stopTimeout}`,
    'package:',
    '  source: ./packages/app-{version}.tar.gz',
    'deployment:',
    g.deployment,
    ...g.sections,
    'targets:',
    targetLines(g.targets),
    '',
  ].join('\n');
}

/**
 * An image group on one target whose podman run flags add SYS_ADMIN: the no-privileged rule
 * fails a scan that reads it. `more` goes between the transport and the targets.
 */
export function cappedImageGroup(repository: string, address: string, more: string[] = []) {
  return [
    'group: capped',
    'docBase: /srv/capped',
    'port: 18080',
    'package:',
    '  image:',
    `    repository: ${repository}`,
    '    runArgs: [--cap-add, SYS_ADMIN]',
    'transport: { kind: local, root: ./fleet }',
    ...more,
    'targets:',
    `  - { host: web-01, address: ${address} }`,
    '',
  ].join('\n');
}
