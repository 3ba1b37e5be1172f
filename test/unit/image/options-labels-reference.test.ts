import { describe, expect, it } from 'vitest';
import { LABEL, ociLabels } from '../../../src/image/labels';
import { listPlatformOptions, resolvePlatformOptions } from '../../../src/image/platform-options';
import {
  formatImageReference,
  matchesRepositoryPattern,
  parseImageReference,
  pinnedReference,
} from '../../../src/registry/reference';
import { InputError } from '../../../src/model/errors';

const host = { zoneinfoDir: '/zi', caBundle: '/etc/ca.crt' };
const D = `sha256:${'c'.repeat(64)}`;

describe('platform options by name (B3)', () => {
  it('the catalogue lists each option with the kinds it applies to', () => {
    const names = listPlatformOptions().map((o) => o.name);
    expect(names).toEqual(['tz-shanghai', 'ca-certificates', 'npm-mirror']);
    expect(listPlatformOptions().find((o) => o.name === 'npm-mirror')).toMatchObject({
      kinds: ['node'],
      takesValue: true,
    });
  });

  it('tz-shanghai: zoneinfo file in two places and TZ, final stage only', () => {
    const [tz] = resolvePlatformOptions(['tz-shanghai'], 'static', host);
    expect(tz!.files).toEqual([
      {
        dest: '/usr/share/zoneinfo/Asia/Shanghai',
        hostPath: '/zi/Asia/Shanghai',
        stages: ['final'],
      },
      { dest: '/etc/localtime', hostPath: '/zi/Asia/Shanghai', stages: ['final'] },
    ]);
    expect(tz!.finalEnv).toEqual({ TZ: 'Asia/Shanghai' });
    expect(tz!.buildEnv).toEqual({});
  });

  it('ca-certificates: both stages; NODE_EXTRA_CA_CERTS only for node', () => {
    const [n] = resolvePlatformOptions(['ca-certificates'], 'node', host);
    const [s] = resolvePlatformOptions(['ca-certificates'], 'static', host);
    expect(n!.files[0]!.stages).toEqual(['build', 'final']);
    expect(n!.finalEnv.NODE_EXTRA_CA_CERTS).toBe('/etc/ssl/certs/ca-certificates.crt');
    expect(s!.finalEnv.NODE_EXTRA_CA_CERTS).toBeUndefined();
  });

  it('npm-mirror takes a URL and sets the registry for the build stage only', () => {
    const [m] = resolvePlatformOptions([' npm-mirror=http://127.0.11.1:15009/ '], 'node', host);
    expect(m).toMatchObject({
      name: 'npm-mirror',
      value: 'http://127.0.11.1:15009/',
      buildEnv: { npm_config_registry: 'http://127.0.11.1:15009/' },
      finalEnv: {},
    });
  });

  it.each([
    [['nope'], 'node', /unknown platform option "nope"/],
    [['tz-shanghai', 'tz-shanghai'], 'node', /twice/],
    [['npm-mirror'], 'node', /needs an http\(s\) URL/],
    [['npm-mirror=ftp://x'], 'node', /needs an http\(s\) URL/],
    [['npm-mirror=http://x/"; rm -rf /'], 'node', /needs/],
    [['npm-mirror=http://x/'], 'static', /does not apply to static/],
    [['tz-shanghai=1'], 'node', /takes no value/],
    [['constructor'], 'node', /unknown/],
  ] as const)('%j for %s is refused', (entries, kind, message) => {
    expect(() => resolvePlatformOptions([...entries], kind, host)).toThrow(InputError);
    expect(() => resolvePlatformOptions([...entries], kind, host)).toThrow(message);
  });

  it('blank entries are skipped', () => {
    expect(resolvePlatformOptions(['', '  '], 'node', host)).toEqual([]);
  });
});

describe('OCI labels: commit, run and source', () => {
  const created = Date.UTC(2026, 10, 23, 12, 0, 0);

  it('standard keys plus rollgate run keys', () => {
    expect(
      ociLabels({
        commit: 'ABCDEF1234567',
        source: 'https://github.com/acme/shop',
        runUrl: 'https://github.com/acme/shop/actions/runs/42/attempts/1',
        runId: '42/1',
        version: '1.2.3',
        created,
        baseImage: `127.0.11.1:15000/base/node@${D}`,
        kind: 'node',
        platformOptions: ['tz-shanghai', 'ca-certificates'],
      }),
    ).toEqual({
      [LABEL.revision]: 'abcdef1234567',
      [LABEL.source]: 'https://github.com/acme/shop',
      [LABEL.created]: '2026-11-23T12:00:00.000Z',
      [LABEL.runUrl]: 'https://github.com/acme/shop/actions/runs/42/attempts/1',
      [LABEL.runId]: '42/1',
      [LABEL.version]: '1.2.3',
      [LABEL.baseName]: '127.0.11.1:15000/base/node',
      [LABEL.baseDigest]: D,
      [LABEL.kind]: 'node',
      [LABEL.options]: 'tz-shanghai,ca-certificates',
    });
  });

  it.each([
    [{ commit: 'xyz' }, /commit/],
    [{ source: 'not a url' }, /source/],
    [{ runUrl: 'javascript:alert(1)' }, /runUrl/],
    [{ version: 'a\nb' }, /one line/],
    [{ created: NaN }, /time/],
  ])('refuses %j', (over, message) => {
    expect(() =>
      ociLabels({ commit: 'a'.repeat(40), source: 'https://x/y', created, ...over }),
    ).toThrow(message);
  });

  it('git@ and ssh:// sources are accepted', () => {
    expect(
      ociLabels({ commit: 'a'.repeat(40), source: 'git@github.com:a/b.git', created })[
        LABEL.source
      ],
    ).toBe('git@github.com:a/b.git');
  });
});

describe('image references', () => {
  it.each([
    [
      '127.0.11.1:15000/acme/app:1.2.3',
      { registry: '127.0.11.1:15000', repository: 'acme/app', tag: '1.2.3' },
    ],
    [`ghcr.io/acme/app@${D}`, { registry: 'ghcr.io', repository: 'acme/app', digest: D }],
    [`localhost/x:1@${D}`, { registry: 'localhost', repository: 'x', tag: '1', digest: D }],
    ['node:20', { registry: 'docker.io', repository: 'library/node', tag: '20' }],
    ['acme/app', { registry: 'docker.io', repository: 'acme/app' }],
  ])('%s', (text, ref) => {
    expect(parseImageReference(text)).toEqual(ref);
  });

  it.each(['', 'UPPER/case', 'a b', 'x:tag@sha256:short', 'reg:99999999/a', 'a/../b', 'x;rm'])(
    'refuses %j',
    (text) => {
      expect(() => parseImageReference(text)).toThrow(InputError);
    },
  );

  it('formats and pins', () => {
    const ref = parseImageReference('127.0.11.1:15000/acme/app:1');
    expect(formatImageReference(ref)).toBe('127.0.11.1:15000/acme/app:1');
    expect(pinnedReference(ref, D)).toBe(`127.0.11.1:15000/acme/app@${D}`);
    expect(() => pinnedReference(ref, 'sha256:1')).toThrow(InputError);
  });

  it('allow-list patterns: exact, one level, any depth', () => {
    const ref = parseImageReference(`reg.corp/base/node@${D}`);
    expect(matchesRepositoryPattern(ref, 'reg.corp/base/node')).toBe(true);
    expect(matchesRepositoryPattern(ref, 'reg.corp/base/*')).toBe(true);
    expect(matchesRepositoryPattern(ref, 'reg.corp/**')).toBe(true);
    expect(matchesRepositoryPattern(ref, 'reg.corp/*')).toBe(false);
    expect(matchesRepositoryPattern(ref, 'reg.corp/base/nod')).toBe(false);
    expect(matchesRepositoryPattern(ref, 'evil.corp/base/*')).toBe(false);
  });
});
