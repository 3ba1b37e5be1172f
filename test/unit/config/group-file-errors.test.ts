import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GroupFileError, loadGroupFile, parseGroupFile } from '../../../src/config/group-file';
import { packagePath } from '../../../src/config/package-source';
import { InputError } from '../../../src/model/errors';
import { SHOP_WEB_GROUP } from '../../support/group-yaml';

const FIXTURES = fileURLToPath(new URL('../../fixtures/config/groups/', import.meta.url));

// Line numbers below refer to SHOP_WEB_GROUP (line 1 is `group: shop-web`).

const replace = (from: string, to: string) => (text: string) => {
  if (!text.includes(from)) throw new Error(`test bug: "${from}" not in the text`);
  return text.replace(from, to);
};
const append = (extra: string) => (text: string) => text + extra;

async function inputError(
  text: string,
  options: { env?: Record<string, string>; file?: string } = {},
): Promise<InputError> {
  try {
    await parseGroupFile(text, FIXTURES, {
      env: { USER: 'tester', HOME: '/home/tester' },
      ...options,
    });
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected an InputError');
}

describe('group file: bad input names the field and the line', () => {
  type Case = [string, (text: string) => string, string, number, RegExp];
  const cases: Case[] = [
    ['port out of range', replace('port: 8080', 'port: 70000'), 'port', 3, /70000 is not a port/],
    ['port not a number', replace('port: 8080', 'port: abc'), 'port', 3, /"abc" is not a port/],
    ['a typo in a setting', append('prt: 1\n'), 'prt', 11, /unknown setting; did you mean "port"/],
    ['a missing group name', replace('group: shop-web\n', ''), 'group', 1, /is required/],
    [
      'a group name with a slash',
      replace('group: shop-web', 'group: a/b'),
      'group',
      1,
      /not a valid group name/,
    ],
    [
      'a relative docBase',
      replace('docBase: /srv/shop-web', 'docBase: srv/x'),
      'docBase',
      2,
      /absolute path/,
    ],
    [
      'docBase with ..',
      replace('docBase: /srv/shop-web', 'docBase: /srv/../etc'),
      'docBase',
      2,
      /no "\.\."/,
    ],
    ['docBase /', replace('docBase: /srv/shop-web', 'docBase: /'), 'docBase', 2, /must not be \//],
    [
      'docBase with a space',
      replace('docBase: /srv/shop-web', 'docBase: /srv/my app'),
      'docBase',
      2,
      /absolute path/,
    ],
    [
      'a health check that is no path',
      append('healthCheckUrl: health\n'),
      'healthCheckUrl',
      11,
      /path like \/health/,
    ],
    [
      'a health URL without {address}',
      append('healthCheckUrl: http://lb.example.com/health\n'),
      'healthCheckUrl',
      11,
      /\{address\}/,
    ],
    ['keep below 2', append('keep: 1\n'), 'keep', 11, /1 must be >= 2/],
    [
      'a missing start command',
      replace('  start: node server.js', '  stop: x'),
      'service.start',
      4,
      /is required/,
    ],
    [
      'PORT in the app environment',
      replace('  start: node server.js', '  start: x\n  env:\n    PORT: 9000'),
      'service.env.PORT',
      7,
      /set by rollgate/,
    ],
    [
      'a bad variable name',
      replace('  start: node server.js', '  start: x\n  env:\n    A-B: x'),
      'service.env.A-B',
      7,
      /environment variable name/,
    ],
    [
      'a zero max unavailable',
      append('deployment:\n  maxUnavailable: 0%\n'),
      'deployment.maxUnavailable',
      12,
      /more than 0%/,
    ],
    [
      'max unavailable over 100%',
      append('deployment:\n  maxUnavailable: 150%\n'),
      'deployment.maxUnavailable',
      12,
      /at most 100%/,
    ],
    [
      'max unavailable as a word',
      append('deployment:\n  maxUnavailable: half\n'),
      'deployment.maxUnavailable',
      12,
      /not a percentage/,
    ],
    [
      'a pattern short of 100%',
      append('deployment:\n  batchPattern: 10%+20%\n'),
      'deployment.batchPattern',
      12,
      /add up to 30%/,
    ],
    [
      'a pattern that is no pattern',
      append('deployment:\n  batchPattern: abc\n'),
      'deployment.batchPattern',
      12,
      /not a batch pattern/,
    ],
    [
      'a per-batch budget as a word (F7)',
      append('deployment:\n  failureBudget:\n    perBatch: half\n'),
      'deployment.failureBudget.perBatch',
      13,
      /not a percentage/,
    ],
    [
      'a per-batch budget of 0% (F7)',
      append('deployment:\n  failureBudget:\n    perBatch: 0%\n'),
      'deployment.failureBudget.perBatch',
      13,
      /more than 0%/,
    ],
    [
      'max failures 0 (F7)',
      append('deployment:\n  failureBudget:\n    maxFailures: 0\n'),
      'deployment.failureBudget.maxFailures',
      13,
      /0 must be >= 1/,
    ],
    [
      'max failures as a share (F7)',
      append('deployment:\n  failureBudget:\n    maxFailures: 10%\n'),
      'deployment.failureBudget.maxFailures',
      13,
      /whole number/,
    ],
    [
      'a typo in the failure budget (F7)',
      append('deployment:\n  failureBudget:\n    perbatch: 50%\n'),
      'deployment.failureBudget.perbatch',
      13,
      /did you mean "perBatch"/,
    ],
    [
      'a wait that is no duration',
      append('deployment:\n  waitBetweenBatches: 5 minutes\n'),
      'deployment.waitBetweenBatches',
      12,
      /not a duration/,
    ],
    [
      'a tail wait that is no duration',
      append('deployment:\n  waitFromBatch3: -1s\n'),
      'deployment.waitFromBatch3',
      12,
      /not a duration/,
    ],
    [
      'a zero start timeout',
      append('deployment:\n  startTimeout: 0s\n'),
      'deployment.startTimeout',
      12,
      /longer than 0/,
    ],
    [
      'yes for a boolean',
      append('deployment:\n  manual: yes\n'),
      'deployment.manual',
      12,
      /must be true or false/,
    ],
    [
      'a bastion that is no target',
      append('deployment:\n  bastion: [web-09]\n'),
      'deployment.bastion[0]',
      12,
      /"web-09" is not a target of this group \(web-01, web-02\)/,
    ],
    [
      'more bastions than targets',
      append('deployment:\n  bastion: 3\n'),
      'deployment.bastion',
      12,
      /only 2 targets/,
    ],
    [
      'a negative bastion count',
      append('deployment:\n  bastion: -1\n'),
      'deployment.bastion',
      12,
      /-1 must be >= 0/,
    ],
    [
      'an unknown transport',
      append('transport:\n  kind: ftp\n'),
      'transport.kind',
      12,
      /"ftp" is not a known kind: use local, ssh/,
    ],
    [
      'an ssh setting on local transport',
      append('transport:\n  kind: local\n  user: x\n'),
      'transport.user',
      13,
      /unknown setting/,
    ],
    [
      'a transport without kind',
      append('transport:\n  root: ./x\n'),
      'transport.kind',
      11,
      /is required: one of local, ssh/,
    ],
    [
      'a bad private key variable',
      append('transport:\n  kind: ssh\n  privateKeyEnv: bad-name\n'),
      'transport.privateKeyEnv',
      13,
      /environment variable name/,
    ],
    [
      'a bad jump host',
      append('transport:\n  kind: ssh\n  jumpHost:\n    host: a b\n'),
      'transport.jumpHost.host',
      14,
      /not a valid host name/,
    ],
    [
      'haproxy without backend',
      append('traffic:\n  kind: haproxy\n  sockets: [unix:/x]\n'),
      'traffic.backend',
      11,
      /is required/,
    ],
    [
      'a haproxy tcp port out of range',
      append('traffic:\n  kind: haproxy\n  backend: be\n  sockets: [tcp:10.0.0.1:99999]\n'),
      'traffic.sockets[0]',
      14,
      /1 to 65535/,
    ],
    [
      'an unknown traffic kind',
      append('traffic:\n  kind: nginx\n'),
      'traffic.kind',
      12,
      /use none, haproxy, command/,
    ],
    [
      'a command traffic without markup',
      append('traffic:\n  kind: command\n  markdown: x\n'),
      'traffic.markup',
      11,
      /is required/,
    ],
    [
      'an address with a space',
      replace('    address: 127.0.0.12', '    address: a b'),
      'targets[1].address',
      10,
      /"a b" is not a valid host name or address/,
    ],
    [
      // Issue 13 item 7: digits and dots are an IPv4 address or nothing.
      'an IPv4 address with an octet past 255',
      replace('    address: 127.0.0.12', '    address: 127.0.80.999'),
      'targets[1].address',
      10,
      /"127\.0\.80\.999" is not an IPv4 address: four numbers 0–255/,
    ],
    [
      'a short IPv4 form the resolver reads as another address',
      replace('    address: 127.0.0.12', '    address: "127.1"'),
      'targets[1].address',
      10,
      /"127\.1" is not an IPv4 address/,
    ],
    [
      'an IPv4 address with leading zeros (octal to some tools)',
      replace('    address: 127.0.0.12', '    address: 010.0.0.12'),
      'targets[1].address',
      10,
      /"010\.0\.0\.12" is not an IPv4 address/,
    ],
    [
      'a host name of digits only, with no address',
      replace('  - host: web-02\n    address: 127.0.0.12', '  - host: "1234"'),
      'targets[1].host',
      9,
      /"1234" is not an IPv4 address/,
    ],
    [
      'a typo in a target',
      replace('    address: 127.0.0.12', '    adress: 127.0.0.12'),
      'targets[1].adress',
      10,
      /did you mean "address"/,
    ],
    [
      'a target without host',
      replace('  - host: web-02\n    address', '  - address'),
      'targets[1].host',
      9,
      /is required/,
    ],
    [
      'a bad lb name',
      replace('    address: 127.0.0.12', '    address: 127.0.0.12\n    lbName: a b'),
      'targets[1].lbName',
      11,
      /must match/,
    ],
    [
      'the same id twice',
      replace('    address: 127.0.0.12', '    address: 127.0.0.12\n    id: web-01'),
      'targets[1].id',
      11,
      /"web-01" is already used by targets\[0\]/,
    ],
    [
      'two instances on one host on one port',
      replace('  - host: web-02', '  - host: web-01'),
      'targets[1]',
      9,
      /own port, or an id/,
    ],
    [
      'two instances on one host in one docBase',
      replace('  - host: web-02', '  - host: web-01\n    port: 8081'),
      'targets[1].docBase',
      9,
      /give each instance on one host its own docBase/,
    ],
    [
      'two targets on one address and port',
      replace('127.0.0.12', '127.0.0.11'),
      'targets[1].port',
      9,
      /127\.0\.0\.11:8080 is already used by targets\[0\]/,
    ],
    ['no targets', (t) => t.slice(0, t.indexOf('targets:')), 'targets', 1, /no targets/],
    [
      'an empty target list',
      (t) => `${t.slice(0, t.indexOf('targets:'))}targets: []\n`,
      'targets',
      6,
      /no targets/,
    ],
    [
      'a missing inventory file',
      append('inventory:\n  file: ./nope.ini\n'),
      'inventory.file',
      12,
      /cannot read .*nope\.ini \(ENOENT\)/,
    ],
    [
      'an unknown inventory group',
      append('inventory:\n  file: ../inventory.ini\n  group: webb\n'),
      'inventory.group',
      13,
      /unknown group "webb".*known groups: aaa, all/,
    ],
    [
      'an empty inventory group',
      append('inventory:\n  file: ./broken-inventory.ini\n  group: ungrouped\n'),
      'inventory.group',
      13,
      /has no hosts/,
    ],
  ];

  it.each(cases)('%s', async (_name, edit, field, line, message) => {
    const error = await inputError(edit(SHOP_WEB_GROUP));
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
    expect(error.message.startsWith(`${field}: line ${line}: `)).toBe(true);
  });

  it('reports every problem at once, in file order', async () => {
    const text =
      replace('port: 8080', 'port: 0')(SHOP_WEB_GROUP) + 'kep: 5\ndeployment:\n  manual: 1\n';
    const error = await inputError(text);
    expect(error).toBeInstanceOf(GroupFileError);
    const issues = (error as GroupFileError).issues;
    expect(issues.map((i) => [i.field, i.line])).toEqual([
      ['port', 3],
      ['kep', 11],
      ['deployment.manual', 13],
    ]);
    expect(error.message.split('\n')).toHaveLength(3);
    expect(error.message).toMatch(/\n {2}kep: line 11: unknown setting; did you mean "keep"\?/);
  });

  it('ssh without a user and no USER in the environment names transport.user', async () => {
    const error = await inputError(append('transport:\n  kind: ssh\n')(SHOP_WEB_GROUP), {
      env: {},
    });
    expect(error.field).toBe('transport.user');
    expect(error.message).toMatch(/no USER/);
  });

  it('a YAML syntax error names the file and the line', async () => {
    const error = await inputError(replace('port: 8080', 'port: [8080')(SHOP_WEB_GROUP), {
      file: 'shop.yml',
    });
    expect(error.field).toBe('shop.yml');
    expect(error.message).toMatch(/^shop\.yml: line \d+: /);
  });

  it('a duplicate key is an error at its line', async () => {
    const error = await inputError(append('port: 8081\n')(SHOP_WEB_GROUP), { file: 'shop.yml' });
    expect(error.message).toMatch(/^shop\.yml: line 11: .*unique/);
  });

  it.each([
    ['', /empty/],
    ['# only a comment\n', /empty/],
  ])('an empty file (%j) says so', async (text, message) => {
    const error = await inputError(text, { file: 'shop.yml' });
    expect(error.field).toBe('shop.yml');
    expect(error.message).toMatch(message);
  });

  it('a file that is not a mapping says what it must be', async () => {
    const error = await inputError('- a\n- b\n', { file: 'shop.yml' });
    expect(error.field).toBe('shop.yml');
    expect(error.message).toMatch(/must be a mapping/);
  });

  it('a missing group file names the path', async () => {
    await expect(loadGroupFile('/nonexistent/group.yml')).rejects.toThrow(
      /^\/nonexistent\/group\.yml: cannot read the group file \(ENOENT\)/,
    );
  });
});

describe('group file: injection attempts are refused before anything runs', () => {
  it.each([
    ['a host', replace('  - host: web-01', `  - host: 'a;rm -rf /'`), 'targets[0].host'],
    [
      'an address',
      replace('    address: 127.0.0.11', '    address: $(reboot)'),
      'targets[0].address',
    ],
    [
      'an id',
      replace('    address: 127.0.0.11', '    address: 127.0.0.11\n    id: "x`reboot`"'),
      'targets[0].id',
    ],
    ['a docBase', replace('docBase: /srv/shop-web', `docBase: "/srv/x'; rm -rf /"`), 'docBase'],
    [
      'a target docBase with ..',
      replace('    address: 127.0.0.11', '    address: 127.0.0.11\n    docBase: /srv/../../etc'),
      'targets[0].docBase',
    ],
    ['a group name', replace('group: shop-web', 'group: ../../etc'), 'group'],
    [
      'an lb name',
      replace('    address: 127.0.0.11', '    address: 127.0.0.11\n    lbName: "s1;shutdown"'),
      'targets[0].lbName',
    ],
    [
      'an ssh user',
      append('transport:\n  kind: ssh\n  user: "-oProxyCommand=x"\n'),
      'transport.user',
    ],
  ])('in %s', async (_name, edit, field) => {
    const error = await inputError(edit(SHOP_WEB_GROUP));
    expect(error.field).toBe(field);
  });

  it.each(['a;rm -rf /', '1.0/../../x', '..', '$(id)', '1.0 2', ''])(
    'in a version: %j',
    (version) => {
      const call = () => packagePath({ source: '/pkgs/app-{version}.tar.gz' }, version);
      expect(call).toThrow(InputError);
      expect(call).toThrow(/^version: /);
    },
  );

  it('fills a checked version into the package path', () => {
    expect(packagePath({ source: '/pkgs/app-{version}.tar.gz' }, '1.2.3')).toBe(
      '/pkgs/app-1.2.3.tar.gz',
    );
    expect(packagePath({}, '1.2.3')).toBeUndefined();
  });

  it('in inventory variables: each bad host is named with its inventory line', async () => {
    const error = await loadGroupFile(`${FIXTURES}bad-inventory.yml`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GroupFileError);
    const issues = (error as GroupFileError).issues;
    expect(issues.map((i) => i.field)).toEqual(['inventory.file', 'inventory.file']);
    expect(issues[0]?.line).toBe(7);
    expect(issues[0]?.message).toBe(
      'broken-inventory.ini:3 (web02): ansible_host "10.0.0.2;reboot" is not a valid host name or address',
    );
    expect(issues[1]?.message).toBe(
      'broken-inventory.ini:4 (web03): rollgate_port "http" is not a port (1 to 65535)',
    );
  });
});

describe('group file errors: what an Ansible inventory gets wrong, blamed on the right thing', () => {
  const load = async (inventory: string): Promise<GroupFileError> => {
    const dir = await mkdtemp(join(tmpdir(), 'rollgate-inv-errors-'));
    try {
      await writeFile(join(dir, 'hosts.ini'), inventory);
      const text =
        'group: g\ndocBase: /srv/g\nport: 9000\nservice:\n  start: x\ntransport:\n  kind: ssh\n  user: deploy\ninventory:\n  file: ./hosts.ini\n';
      const error = await parseGroupFile(text, dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GroupFileError);
      return error as GroupFileError;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  it('two hosts on one ansible_host and app port: a shared address, not a rollgate_port clash', async () => {
    const error = await load('[web]\napp1 ansible_host=10.0.2.9\napp2 ansible_host=10.0.2.9\n');
    expect(error.issues.map((i) => i.message)).toEqual([
      'hosts.ini:3 (app2): app2 and hosts.ini:2 (app1) both reach 10.0.2.9 (ansible_host) on app ' +
        'port 9000: two targets cannot share one address and port. Give each its own ' +
        'rollgate_port (and rollgate_doc_base), or list the machine once',
    ]);
  });

  it('an inventory name Ansible accepts but rollgate cannot use says why', async () => {
    const error = await load('[web]\nweb@1\n');
    expect(error.issues[0]?.message).toMatch(
      /^hosts\.ini:2 \(web@1\): host name "web@1" is not a valid host name or address: Ansible accepts any text as an inventory name, but rollgate/,
    );
  });

  it('an IPv6 host line with a port is a host, not a bad section header', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rollgate-inv-v6-'));
    try {
      await writeFile(join(dir, 'hosts.ini'), '[web]\n[2001:db8::11]:2222\n');
      const text =
        'group: g\ndocBase: /srv/g\nport: 9000\nservice:\n  start: x\ntransport:\n  kind: ssh\n  user: deploy\ninventory:\n  file: ./hosts.ini\n';
      const loaded = await parseGroupFile(text, dir);
      expect(loaded.group.targets.map((t) => [t.id, t.address])).toEqual([
        ['2001:db8::11', '2001:db8::11'],
      ]);
      expect(loaded.sshOverrides).toEqual({ '2001:db8::11': { port: 2222 } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
