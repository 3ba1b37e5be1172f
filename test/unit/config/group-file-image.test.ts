import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseGroupFile, type LoadedGroup } from '../../../src/config/group-file';
import { imagePackage } from '../../../src/config/package-source';
import { resolvePackage } from '../../../src/app/runtime';
import { InputError } from '../../../src/model/errors';

const FIXTURES = fileURLToPath(new URL('../../fixtures/config/groups/', import.meta.url));
const ENV = { HOME: '/home/tester', USER: 'tester' };
const HEX = 'ab'.repeat(32);
const REPOSITORY = '127.0.0.1:5000/acme/app';
const REF = `${REPOSITORY}@sha256:${HEX}`;

// Line numbers below refer to this text (line 1 is `group: shop-web`).
const IMAGE_GROUP = `group: shop-web
docBase: /srv/shop-web
port: 8080
package:
  image:
    repository: ${REPOSITORY}
    tlsVerify: false
    podmanArgs: [--runtime, /usr/sbin/runc]
    runArgs: [--ulimit, "nofile=20000:20000"]
targets:
  - { host: web-01, address: 127.0.0.11 }
`;

const TARBALL_GROUP = `group: shop-web
docBase: /srv/shop-web
port: 8080
service:
  start: node server.js
package:
  source: ./build/shop-{version}.tgz
targets:
  - { host: web-01, address: 127.0.0.11 }
`;

const parse = (text: string) => parseGroupFile(text, FIXTURES, { env: ENV });

async function problem(text: string): Promise<InputError> {
  try {
    await parse(text);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected an InputError');
}

describe('group file: package.image', () => {
  it('reads the repository and the podman settings; an image group needs no service', async () => {
    const loaded = await parse(IMAGE_GROUP);
    expect(loaded.package).toEqual({
      image: {
        repository: REPOSITORY,
        tlsVerify: false,
        podmanArgs: ['--runtime', '/usr/sbin/runc'],
        runArgs: ['--ulimit', 'nofile=20000:20000'],
      },
    });
    expect(loaded.group.service).toEqual({ start: '', stopTimeoutMs: 10_000, env: {} });
  });

  it('defaults: TLS verified, no extra flags', async () => {
    const loaded = await parse(
      IMAGE_GROUP.replace(/ {4}tlsVerify.*\n {4}podmanArgs.*\n {4}runArgs.*\n/, ''),
    );
    expect(loaded.package.image).toEqual({
      repository: REPOSITORY,
      tlsVerify: true,
      podmanArgs: [],
      runArgs: [],
    });
  });

  type Case = [string, string, string, number | undefined, RegExp];
  const cases: Case[] = [
    [
      'a repository with a tag',
      IMAGE_GROUP.replace(`repository: ${REPOSITORY}`, `repository: ${REPOSITORY}:1.0`),
      'package.image.repository',
      6,
      /without tag or digest/,
    ],
    [
      'a repository that is no reference',
      IMAGE_GROUP.replace(`repository: ${REPOSITORY}`, 'repository: "acme/$(reboot)"'),
      'package.image.repository',
      6,
      /not an image reference/,
    ],
    [
      'no repository',
      IMAGE_GROUP.replace(`    repository: ${REPOSITORY}\n`, ''),
      'package.image.repository',
      5,
      /is required/,
    ],
    [
      'a podman subcommand among the flags',
      IMAGE_GROUP.replace('[--runtime, /usr/sbin/runc]', '[--runtime, /usr/sbin/runc, rm]'),
      'package.image.podmanArgs[2]',
      8,
      /neither a flag nor the value/,
    ],
    [
      'a run flag rollgate sets',
      IMAGE_GROUP.replace('[--ulimit, "nofile=20000:20000"]', '[--network, bridge]'),
      'package.image.runArgs[0]',
      9,
      /host network/,
    ],
    [
      'tlsVerify as a word',
      IMAGE_GROUP.replace('tlsVerify: false', 'tlsVerify: nope'),
      'package.image.tlsVerify',
      7,
      /must be true or false/,
    ],
    [
      'a typo under image',
      IMAGE_GROUP.replace('tlsVerify: false', 'tlsverify: false'),
      'package.image.tlsverify',
      7,
      /did you mean "tlsVerify"/,
    ],
    [
      'tarballs and images at once',
      IMAGE_GROUP.replace('package:\n', 'package:\n  source: ./x-{version}.tgz\n'),
      'package.image',
      undefined,
      /tarballs \(package\.source\) or images \(package\.image\), not both/,
    ],
    [
      'a tarball group without a start command',
      TARBALL_GROUP.replace('service:\n  start: node server.js\n', ''),
      'service',
      undefined,
      /is required/,
    ],
  ];

  it.each(cases)('%s: names %s', async (_name, text, field, line, why) => {
    const error = await problem(text);
    expect(error.field).toBe(field);
    expect(error.message).toMatch(why);
    if (line !== undefined) expect(error.message).toContain(`line ${line}:`);
  });
});

describe('the package of a release: --image', () => {
  let imageGroup: LoadedGroup;
  let tarballGroup: LoadedGroup;

  beforeAll(async () => {
    imageGroup = await parse(IMAGE_GROUP);
    tarballGroup = await parse(TARBALL_GROUP);
  });

  it.each([
    [REF, REF],
    [`${REPOSITORY}:1.2.0@sha256:${HEX}`, REF],
    [`sha256:${HEX}`, REF],
    [`  ${REF} `, REF],
  ])('%j → %s', async (image, ref) => {
    expect(imagePackage(imageGroup.package, '1.2.0', image)).toEqual({
      version: '1.2.0',
      image: ref,
    });
    expect(await resolvePackage(imageGroup, '1.2.0', undefined, image)).toEqual({
      version: '1.2.0',
      image: ref,
    });
  });

  type Refusal = [string, () => Promise<unknown>, string, RegExp];
  const refusals: Refusal[] = [
    [
      'a tag alone',
      () => resolvePackage(imageGroup, '1.2.0', undefined, `${REPOSITORY}:1.2.0`),
      '--image',
      /pin it by digest/,
    ],
    [
      'an image of another repository',
      () =>
        resolvePackage(imageGroup, '1.2.0', undefined, `127.0.0.1:5000/acme/other@sha256:${HEX}`),
      '--image',
      /not from the group's 127\.0\.0\.1:5000\/acme\/app \(package\.image\.repository\)/,
    ],
    [
      'no --image for an image group',
      () => resolvePackage(imageGroup, '1.2.0'),
      '--image',
      /the group releases images \(package\.image\): give the image, 127\.0\.0\.1:5000\/acme\/app@sha256:<64 hex>/,
    ],
    [
      '--package for an image group',
      () => resolvePackage(imageGroup, '1.2.0', './x.tgz'),
      '--package',
      /use --image/,
    ],
    [
      '--image and --package together',
      () => resolvePackage(imageGroup, '1.2.0', './x.tgz', REF),
      '--image',
      /not both/,
    ],
    [
      '--image for a group without package.image',
      () => resolvePackage(tarballGroup, '1.2.0', undefined, REF),
      '--image',
      /has no package\.image/,
    ],
    [
      'an unsafe version',
      () => resolvePackage(imageGroup, '1.2;reboot', undefined, REF),
      '--version',
      /not a valid version/,
    ],
  ];

  it.each(refusals)('refuses %s (names %s)', async (_name, call, field, why) => {
    const error = await call().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).field).toBe(field);
    expect((error as InputError).message).toMatch(why);
  });
});
