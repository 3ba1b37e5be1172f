import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadGroupFile } from '../../../src/config/group-file';

const DIR = fileURLToPath(new URL('../../../examples/groups/', import.meta.url));
const ENV = { HOME: '/home/tester', USER: 'tester' };

describe('examples/groups', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yml'));

  it('has the documented examples', () => {
    expect(files.sort()).toEqual([
      'image.yml',
      'local-demo.yml',
      'package-store.yml',
      'side-by-side.yml',
      'ssh-haproxy.yml',
      'with-inventory.yml',
    ]);
  });

  it('side-by-side.yml: a second slot per target, kept warm 5 minutes (S7)', async () => {
    const { config, group } = await loadGroupFile(`${DIR}side-by-side.yml`, ENV);
    expect(config).toMatchObject({ strategy: 'side-by-side', keepWarmMs: 300_000 });
    expect(group.targets.map((t) => [t.id, t.port, t.altPort, t.altLbName])).toEqual([
      ['web-01', 8080, 8081, undefined],
      ['web-02', 8080, 8081, undefined],
      ['web-03', 8080, 9081, 'web-03-green'],
    ]);
  });

  it.each(files)('%s loads without error', async (file) => {
    const loaded = await loadGroupFile(`${DIR}${file}`, ENV);
    expect(loaded.group.targets.length).toBeGreaterThan(0);
  });

  it('local-demo.yml: six local hosts on 127.0.0.11–16, port 18080', async () => {
    const { group, transport } = await loadGroupFile(`${DIR}local-demo.yml`, ENV);
    expect(transport).toEqual({ kind: 'local', root: `${DIR}.fleet` });
    expect(group.service.start).toBe('node server.js');
    expect(group.targets.map((t) => [t.address, t.port])).toEqual(
      [11, 12, 13, 14, 15, 16].map((n) => [`127.0.0.${n}`, 18080]),
    );
    expect(group.targets[0]?.docBase).toBe(`${DIR}.fleet/web-01/srv/demo-web`);
  });

  it('package-store.yml: per-site stores, the credential named, each target its site', async () => {
    const loaded = await loadGroupFile(`${DIR}package-store.yml`, ENV);
    expect(loaded.package.store?.kind).toBe('http');
    expect(Object.keys(loaded.package.store?.sources ?? {})).toEqual(['default', 'dc1']);
    expect(loaded.package.store?.authEnv).toBe('PKG_STORE_AUTH');
    expect(loaded.group.targets.map((t) => t.site)).toEqual(['dc1', 'dc1', 'dc2', 'dc2']);
  });

  it('ssh-haproxy.yml: ssh + haproxy with a pinned bastion and a pulled-out host (M6)', async () => {
    const { transport, traffic, config, group } = await loadGroupFile(`${DIR}ssh-haproxy.yml`, ENV);
    expect(transport.kind).toBe('ssh');
    expect(traffic.kind).toBe('haproxy');
    expect(config.bastionTargets).toEqual(['web-01']);
    expect(config.failureBudget).toEqual({ perBatch: 0.5, maxFailures: 3 });
    expect(group.targets.filter((t) => t.pulledOut).map((t) => t.id)).toEqual(['web-03']);
  });

  it('image.yml: an image group (B2): the repository and podman flags, no start command', async () => {
    const loaded = await loadGroupFile(`${DIR}image.yml`, ENV);
    expect(loaded.package.image?.repository).toBe('registry.example.com/acme/shop');
    expect(loaded.package.image?.runArgs).toEqual([
      '--ulimit',
      'nofile=20000:20000',
      '--memory',
      '512m',
    ]);
    expect(loaded.package.source).toBeUndefined();
  });

  it('with-inventory.yml: hosts come from hosts.ini, children followed', async () => {
    const { group, sshOverrides } = await loadGroupFile(`${DIR}with-inventory.yml`, ENV);
    expect(group.targets.map((t) => t.host)).toEqual([
      'web01.example.com',
      'web02.example.com',
      'web03.example.com',
      'web04.example.com',
      'web05.example.com',
      'web06.example.com',
    ]);
    expect(group.targets.find((t) => t.host === 'web06.example.com')?.pulledOut).toBe(true);
    expect(sshOverrides?.['web05.example.com']).toEqual({ user: 'deploy', port: 2222 });
  });
});
