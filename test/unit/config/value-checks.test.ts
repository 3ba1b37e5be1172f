import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGroupFile } from '../../../src/config/group-file';
import { InputError } from '../../../src/model/errors';
import { HAPROXY_NAME_MAX, lbNameProblem, MAX_ARG_STRLEN } from '../../../src/config/value-checks';
import { SHOP_WEB_GROUP } from '../../support/group-yaml';

/**
 * Issue 11 item 6: values a release would fail on only on a host, after the bastion left the
 * load balancer. Each is refused when the file is loaded (plan and deploy alike), naming the field.
 */
const SSH = `transport:
  kind: ssh
  user: deploy
  insecureIgnoreHostKey: true
`;
const IMAGE = `package:
  image:
    repository: 127.0.0.1:5000/acme/app
`;

const dir = mkdtempSync(join(tmpdir(), 'rollgate-values-'));
const big = (n: number) => 'x'.repeat(n);

async function load(text: string) {
  return parseGroupFile(text, dir, { env: { USER: 'tester', HOME: '/home/tester' } });
}
async function refused(text: string): Promise<InputError> {
  const err = await load(text).catch((e: unknown) => e);
  expect(err, 'expected the file to be refused').toBeInstanceOf(InputError);
  return err as InputError;
}

describe('values checked at load, before any host is touched', () => {
  type Case = [string, string, string, RegExp];
  const cases: Case[] = [
    [
      'a NUL byte in service.env',
      SHOP_WEB_GROUP.replace(
        '  start: node server.js',
        '  start: node server.js\n  env: { A: "x\\0y" }',
      ),
      'service.env.A',
      /NUL byte/,
    ],
    [
      'a NUL byte in service.stop',
      SHOP_WEB_GROUP.replace(
        '  start: node server.js',
        '  start: node server.js\n  stop: "kill\\0"',
      ),
      'service.stop',
      /NUL byte/,
    ],
    [
      'a NUL byte in service.start',
      SHOP_WEB_GROUP.replace('  start: node server.js', '  start: "node\\0server.js"'),
      'service.start',
      /NUL byte/,
    ],
    [
      'a carriage return in service.start',
      SHOP_WEB_GROUP.replace('  start: node server.js', '  start: "node server.js\\r"'),
      'service.start',
      /carriage return/,
    ],
    [
      'an escape character in service.stop',
      SHOP_WEB_GROUP.replace(
        '  start: node server.js',
        '  start: node server.js\n  stop: "kill \\e[2J"',
      ),
      'service.stop',
      /control character \\x1b/,
    ],
    [
      'an env value longer than one exec argument',
      SHOP_WEB_GROUP.replace(
        '  start: node server.js',
        `  start: node server.js\n  env: { BIG: ${big(MAX_ARG_STRLEN)} }`,
      ),
      'service.env.BIG',
      /MAX_ARG_STRLEN/,
    ],
    [
      'env values that together make the install command too long',
      SHOP_WEB_GROUP.replace(
        '  start: node server.js',
        `  start: node server.js\n  env: { A: ${big(70_000)}, B: ${big(65_000)} }`,
      ),
      'service.env.A',
      /install command .* over the 131072/,
    ],
    [
      'over SSH the quoted command is what counts',
      SSH +
        SHOP_WEB_GROUP.replace(
          '  start: node server.js',
          `  start: node server.js\n  env: { A: "${"'".repeat(40_000)}" }`,
        ),
      'service.env.A',
      /E2BIG/,
    ],
    [
      'an lbName HAProxy would refuse',
      SHOP_WEB_GROUP.replace(
        '    address: 127.0.0.11',
        `    address: 127.0.0.11\n    lbName: ${big(HAPROXY_NAME_MAX + 1)}`,
      ),
      'targets[0].lbName',
      /at most 1024/,
    ],
    [
      'an address too long for the container of an image release',
      IMAGE.replace('package', 'package') +
        SHOP_WEB_GROUP.replace('  start: node server.js\n', '  stopTimeout: 1s\n').replace(
          '    address: 127.0.0.11',
          `    address: ${'a'.repeat(220)}.example`,
        ),
      'targets[0].address',
      /255 characters podman takes/,
    ],
    [
      'an invalid monitor section',
      `${SHOP_WEB_GROUP}monitor:\n  prometheus: http://127.0.0.1:9090\n  checks: []\n`,
      'monitor.checks',
      /./,
    ],
  ];
  it.each(cases)('%s is refused, naming the field', async (_name, text, field, why) => {
    const err = await refused(text);
    expect(`${err.field}\n${err.message}`).toContain(field);
    expect(err.message).toMatch(why);
  });

  it('an inventory rollgate_lb_name HAProxy would refuse is refused, naming the inventory line', async () => {
    writeFileSync(
      join(dir, 'hosts.ini'),
      '[web]\nweb-01 ansible_host=127.0.0.11 rollgate_lb_name=bad/name/x\n',
    );
    const err = await refused(
      SHOP_WEB_GROUP.replace(/targets:[\s\S]*$/, 'inventory: { file: hosts.ini, group: web }\n'),
    );
    expect(err.field).toBe('inventory.file');
    expect(err.message).toMatch(
      /hosts\.ini:2 \(web-01\): rollgate_lb_name .*not an HAProxy server name/,
    );
  });

  it("values within the limits load; multi-line commands and tabs are the shell's own", async () => {
    const loaded = await load(
      SHOP_WEB_GROUP.replace(
        '  start: node server.js',
        `  start: "node server.js\\t--flag"\n  stop: |\n    kill $(cat pid)\n    sleep 1\n  env: { A: ${big(100_000)}, ESC: "\\e[1m" }`,
      ),
    );
    expect(loaded.group.service.env.A).toHaveLength(100_000);
  });

  it('the insecure host-key opt-out goes into the release config', async () => {
    const loaded = await load(SSH + SHOP_WEB_GROUP);
    expect(loaded.config.insecureIgnoreHostKey).toBe(true);
    expect((await load(SHOP_WEB_GROUP)).config.insecureIgnoreHostKey).toBeUndefined();
  });
});

describe('lbNameProblem: HAProxy 2.6 server names', () => {
  it.each([
    ['web-01', null],
    ['be_shop/web01', null],
    ['a.b:c_d-e', null],
    ['-dash', null],
    ['has space', /not an HAProxy server name/],
    ['a/b/c', /not an HAProxy server name/],
    ['a@b', /not an HAProxy server name/],
    ['a\nset server x state maint', /not an HAProxy server name/],
    ['é', /not an HAProxy server name/],
    ['/server', /not an HAProxy server name/],
    ['<1024 characters>', null],
    ['<1025 characters>', /at most/],
  ])('%s', (label, problem) => {
    const name = /^<(\d+) characters>$/.test(label) ? big(Number(label.slice(1, 5))) : label;
    const found = lbNameProblem(name);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toMatch(problem);
  });
});
