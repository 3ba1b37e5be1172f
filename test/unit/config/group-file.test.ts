import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  GROUP_FILE_SCHEMA,
  loadGroupFile,
  parseGroupFile,
  type LoadedGroup,
} from '../../../src/config/group-file';
import { parseRatio } from '../../../src/config/percent';

const FIXTURES = fileURLToPath(new URL('../../fixtures/config/groups/', import.meta.url));
const ENV = { HOME: '/home/tester', USER: 'tester' };
const MINIMAL = readFileSync(`${FIXTURES}minimal.yml`, 'utf8');

describe('group file: defaults', () => {
  it('M4: without maxUnavailable, the loader takes the default the schema documents', async () => {
    const documented = GROUP_FILE_SCHEMA.properties.deployment.properties.maxUnavailable.default;
    const loaded = await loadGroupFile(`${FIXTURES}minimal.yml`, ENV);
    expect(loaded.config.sizing).toEqual({
      kind: 'ratio',
      maxUnavailable: parseRatio(documented, 'default'),
    });
  });

  it('M1/M2: a minimal file gets every default', async () => {
    const loaded = await loadGroupFile(`${FIXTURES}minimal.yml`, ENV);
    const fleet = `${FIXTURES}.fleet`;
    expect(loaded).toStrictEqual<LoadedGroup>({
      file: `${FIXTURES}minimal.yml`,
      group: {
        name: 'shop-web',
        path: '/',
        docBase: '/srv/shop-web',
        port: 8080,
        healthCheckUrl: '/health',
        keep: 5,
        service: { start: 'node server.js', stopTimeoutMs: 10_000, env: {} },
        targets: [
          {
            id: 'web-01',
            host: 'web-01',
            address: '127.0.0.11',
            port: 8080,
            docBase: `${fleet}/web-01/srv/shop-web`,
            pulledOut: false,
          },
          {
            id: 'web-02',
            host: 'web-02',
            address: '127.0.0.12',
            port: 8080,
            docBase: `${fleet}/web-02/srv/shop-web`,
            pulledOut: false,
          },
        ],
      },
      config: {
        sizing: { kind: 'ratio', maxUnavailable: 0.25 },
        bastionCount: 1,
        waitBetweenBatchesMs: 0,
        manual: false,
        startTimeoutMs: 60_000,
        verifyIntervalMs: 200,
        warmupMs: 0,
        skipVerify: false,
        prefetch: true,
      },
      transport: { kind: 'local', root: fleet },
      traffic: { kind: 'none', degraded: false },
      store: { kind: 'file', dir: `${FIXTURES}.rollgate` },
      package: {},
      sshOverrides: {},
    });
  });

  it('M5: address defaults to the host name', async () => {
    const text = MINIMAL.replace('    address: 127.0.0.11\n', '');
    const { group } = await parseGroupFile(text, '/work/x', { env: ENV });
    expect(group.targets[0]?.address).toBe('web-01');
  });

  it('S5: waitFromBatch3 is left out unless set (it then follows waitBetweenBatches)', async () => {
    const { config } = await parseGroupFile(MINIMAL, '/work/x', { env: ENV });
    expect('waitFromBatch3Ms' in config).toBe(false);
  });

  it.each([
    [
      'kind: ssh',
      {
        kind: 'ssh',
        user: 'tester',
        port: 22,
        insecureIgnoreHostKey: false,
        maxChannelsPerHost: 8,
        maxConnecting: 8,
        connectTimeoutMs: 10_000,
      },
    ],
    ['kind: local', { kind: 'local', root: '/work/x/.fleet' }],
  ])('transport defaults for %s', async (kind, expected) => {
    const { transport } = await parseGroupFile(`${MINIMAL}transport:\n  ${kind}\n`, '/work/x', {
      env: ENV,
    });
    expect(transport).toStrictEqual(expected);
  });

  it.each([
    [
      'kind: haproxy\n  backend: be\n  sockets: [unix:/run/h.sock]',
      {
        kind: 'haproxy',
        sockets: ['unix:/run/h.sock'],
        backend: 'be',
        drainTimeoutMs: 30_000,
        degraded: false,
      },
    ],
    [
      'kind: command\n  markdown: down\n  markup: up',
      { kind: 'command', markdown: 'down', markup: 'up', timeoutMs: 30_000, degraded: false },
    ],
    ['kind: none\n  degraded: true', { kind: 'none', degraded: true }],
  ])('traffic defaults for %s', async (body, expected) => {
    const { traffic } = await parseGroupFile(`${MINIMAL}traffic:\n  ${body}\n`, '/work/x', {
      env: ENV,
    });
    expect(traffic).toStrictEqual(expected);
  });

  it('a jump host takes the transport user and port 22 by default', async () => {
    const text = `${MINIMAL}transport:\n  kind: ssh\n  user: ops\n  jumpHost:\n    host: jump\n`;
    const { transport } = await parseGroupFile(text, '/work/x', { env: ENV });
    expect(transport.kind === 'ssh' && transport.jumpHost).toEqual({
      host: 'jump',
      port: 22,
      user: 'ops',
    });
  });
});

describe('group file: every setting', () => {
  it('M1–M5: reads a full ssh + haproxy file', async () => {
    const loaded = await loadGroupFile(`${FIXTURES}full-ssh.yml`, ENV);
    const base = FIXTURES.replace(/\/$/, '');
    expect(loaded.group).toMatchObject({
      name: 'shop-web',
      site: 'shop.example.com',
      path: '/shop',
      docBase: '/srv/shop-web',
      port: 8080,
      healthCheckUrl: 'https://{address}:{port}/ready',
      keep: 3,
      service: {
        start: './start.sh',
        stop: './stop.sh',
        stopTimeoutMs: 90_000,
        env: { NODE_ENV: 'production', WORKERS: '4', DEBUG: 'false' },
      },
    });
    expect(loaded.config).toStrictEqual({
      sizing: { kind: 'pattern', parts: [0.1, 0.2, 0.7], maxUnavailable: 0.5 },
      bastionCount: 1,
      bastionTargets: ['web-02'],
      waitBetweenBatchesMs: 60_000,
      waitFromBatch3Ms: 5_000,
      manual: true,
      startTimeoutMs: 120_000,
      verifyIntervalMs: 1_000,
      warmupMs: 250,
      skipVerify: true,
      prefetch: false,
    });
    expect(loaded.transport).toStrictEqual({
      kind: 'ssh',
      user: 'deploy',
      port: 2222,
      privateKeyFile: `${base}/keys/id_ed25519`,
      privateKeyEnv: 'DEPLOY_KEY',
      agent: true,
      knownHostsFile: '/home/tester/.ssh/known_hosts',
      insecureIgnoreHostKey: false,
      jumpHost: { host: 'jump.example.com', port: 22, user: 'deploy' },
      maxChannelsPerHost: 4,
      maxConnecting: 2,
      connectTimeoutMs: 5_000,
    });
    expect(loaded.traffic).toStrictEqual({
      kind: 'haproxy',
      sockets: [`unix:${base}/run/admin.sock`, 'tcp:127.0.0.1:9999'],
      backend: 'be_shop',
      drainTimeoutMs: 45_000,
      degraded: true,
    });
    expect(loaded.store.dir).toBe(
      fileURLToPath(new URL('../../fixtures/config/state', import.meta.url)),
    );
    expect(loaded.package.source).toBe(`${base}/build/shop-web-{version}.tar.gz`);
  });

  it('M1: several instances on one host get host:port ids, own ports and docBases; ssh docBases stay as written', async () => {
    const { group } = await loadGroupFile(`${FIXTURES}full-ssh.yml`, ENV);
    expect(group.targets.map((t) => [t.id, t.port, t.docBase])).toEqual([
      ['web-01', 8080, '/srv/shop-web'],
      ['web-02', 8080, '/srv/shop-web'],
      ['web-03', 8080, '/srv/shop-web'],
      ['web-04:8081', 8081, '/srv/shop-web-b'],
      ['web-04-c', 8082, '/srv/shop-web-c'],
    ]);
    expect(group.targets[0]?.lbName).toBe('be_shop/s1');
  });

  it('M6: pulled-out hosts are kept but flagged', async () => {
    const { group } = await loadGroupFile(`${FIXTURES}full-ssh.yml`, ENV);
    expect(group.targets.filter((t) => t.pulledOut).map((t) => t.id)).toEqual(['web-03']);
    expect(group.targets).toHaveLength(5);
  });

  it('M6: a pulled-out target cannot be the bastion', async () => {
    const text = `${MINIMAL.replace('    address: 127.0.0.12', '    address: 127.0.0.12\n    pulledOut: true')}deployment:\n  bastion: [web-02]\n`;
    await expect(parseGroupFile(text, '/work/x', { env: ENV })).rejects.toThrow(
      /^deployment\.bastion\[0\]: line 13: "web-02" is pulled out/,
    );
  });

  it('M4: bastion 0 means no bastion batch', async () => {
    const { config } = await parseGroupFile(`${MINIMAL}deployment:\n  bastion: 0\n`, '/w', {
      env: ENV,
    });
    expect(config.bastionCount).toBe(0);
  });

  it.each([
    ['30', 30_000],
    ['1.5', 1_500],
    ['"2m"', 120_000],
  ])('M2: durations may be bare seconds (%s)', async (value, ms) => {
    const { config } = await parseGroupFile(
      `${MINIMAL}deployment:\n  waitBetweenBatches: ${value}\n`,
      '/w',
      {
        env: ENV,
      },
    );
    expect(config.waitBetweenBatchesMs).toBe(ms);
  });

  it.each([
    ['25%', 0.25],
    ['0.1', 0.1],
    ['40', 0.4],
  ])('M2: maxUnavailable %s is the ratio %d', async (value, ratio) => {
    const { config } = await parseGroupFile(
      `${MINIMAL}deployment:\n  maxUnavailable: ${value}\n`,
      '/w',
      {
        env: ENV,
      },
    );
    expect(config.sizing).toEqual({ kind: 'ratio', maxUnavailable: ratio });
  });

  it.each([
    ['perBatch: 50%\n    maxFailures: 3', { perBatch: 0.5, maxFailures: 3 }],
    ['perBatch: 0.34', { perBatch: 0.34 }],
    ['maxFailures: 1', { maxFailures: 1 }],
  ])('F7: failureBudget %s', async (yaml, budget) => {
    const { config } = await parseGroupFile(
      `${MINIMAL}deployment:\n  failureBudget:\n    ${yaml}\n`,
      '/w',
      { env: ENV },
    );
    expect(config.failureBudget).toStrictEqual(budget);
  });

  it('F7: no failureBudget, no budget in the config (the global ratio alone)', async () => {
    const { config } = await parseGroupFile(`${MINIMAL}deployment:\n  failureBudget: {}\n`, '/w', {
      env: ENV,
    });
    expect(config).not.toHaveProperty('failureBudget');
  });

  it('accepts YAML anchors for repeated settings', async () => {
    const text = `${MINIMAL}traffic:\n  kind: command\n  markdown: &lb ./lb.sh\n  markup: *lb\n`;
    const { traffic } = await parseGroupFile(text, '/w', { env: ENV });
    expect(traffic.kind === 'command' && traffic.markup).toBe('./lb.sh');
  });
});

describe('group file: local transport paths', () => {
  it.each([
    ['(default)', '', '/work/x/.fleet/web-01/srv/shop-web'],
    [
      '../fleet',
      'transport:\n  kind: local\n  root: ../fleet\n',
      '/work/fleet/web-01/srv/shop-web',
    ],
    [
      '~/fleet',
      'transport:\n  kind: local\n  root: ~/fleet\n',
      '/home/tester/fleet/web-01/srv/shop-web',
    ],
    [
      '/var/fleet',
      'transport:\n  kind: local\n  root: /var/fleet/\n',
      '/var/fleet/web-01/srv/shop-web',
    ],
  ])('docBase becomes <root>/<host><docBase> with root %s', async (_root, extra, docBase) => {
    const { group, transport } = await parseGroupFile(MINIMAL + extra, '/work/x', { env: ENV });
    expect(group.targets[0]?.docBase).toBe(docBase);
    expect(group.docBase).toBe('/srv/shop-web');
    expect(transport.kind === 'local' && docBase.startsWith(transport.root)).toBe(true);
  });

  it('a per-target docBase is resolved the same way', async () => {
    const text = MINIMAL.replace(
      '    address: 127.0.0.12',
      '    address: 127.0.0.12\n    docBase: /opt/app/',
    );
    const { group } = await parseGroupFile(text, '/work/x', { env: ENV });
    expect(group.targets[1]?.docBase).toBe('/work/x/.fleet/web-02/opt/app');
  });

  it('store, package and inventory paths are relative to the group file', async () => {
    const text = `${MINIMAL}store:\n  dir: ~/state\npackage:\n  source: pkgs/app-{version}.tgz\n`;
    const loaded = await parseGroupFile(text, '/work/x', { env: ENV });
    expect(loaded.store.dir).toBe('/home/tester/state');
    expect(loaded.package.source).toBe('/work/x/pkgs/app-{version}.tgz');
  });
});

describe('group file: Ansible inventory import', () => {
  it('M5/M6: merges inventory hosts after the listed targets', async () => {
    const loaded = await loadGroupFile(`${FIXTURES}with-inventory.yml`, ENV);
    const targets = loaded.group.targets;
    expect(targets.map((t) => t.id)).toEqual([
      'extra-01',
      'web01.example.com',
      'web02.example.com',
      'web03.example.com',
      'web-special',
      'api-a',
      'api-b',
      'api-c',
    ]);
    const byId = new Map(targets.map((t) => [t.id, t]));
    expect(byId.get('web-special')).toEqual({
      id: 'web-special',
      host: 'web-special',
      address: '10.0.0.9',
      port: 9000,
      docBase: '/srv/shop-api',
      pulledOut: false,
    });
    expect(byId.get('web02.example.com')?.pulledOut).toBe(true);
    expect(byId.get('api-b')?.port).toBe(9001);
    expect(loaded.sshOverrides).toEqual({
      'web-special': { user: 'deploy', port: 2222 },
      'api-a': { port: 2200 },
      'api-b': { port: 2200 },
      'api-c': { port: 2200 },
    });
  });

  it('reads YAML inventories too, with doc base and lb name overrides', async () => {
    const inventory =
      'all:\n  hosts:\n    h1:\n      ansible_host: 10.9.0.1\n      rollgate_doc_base: /opt/x\n      rollgate_lb_name: srv1\n';
    const tmp = await mkdtemp(`${tmpdir()}/rollgate-inv-`);
    try {
      await writeFile(`${tmp}/inv.yaml`, inventory);
      const text = `group: g\ndocBase: /srv/g\nport: 80\nservice:\n  start: x\ntransport:\n  kind: ssh\ninventory:\n  file: inv.yaml\n`;
      const { group } = await parseGroupFile(text, tmp, { env: ENV });
      expect(group.targets).toEqual([
        {
          id: 'h1',
          host: 'h1',
          address: '10.9.0.1',
          port: 80,
          docBase: '/opt/x',
          pulledOut: false,
          lbName: 'srv1',
        },
      ]);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('a host both listed and in the inventory is a duplicate id', async () => {
    const text = readFileSync(`${FIXTURES}with-inventory.yml`, 'utf8').replace(
      '  - host: extra-01\n    address: 10.1.0.1',
      '  - host: extra-01\n    address: 10.1.0.1\n    id: web-special',
    );
    await expect(parseGroupFile(text, FIXTURES, { env: ENV })).rejects.toThrow(
      /^inventory\.file: line 14: inventory\.ini:20 \(web-special\): id "web-special" is already used by targets\[0\]/,
    );
  });
});
