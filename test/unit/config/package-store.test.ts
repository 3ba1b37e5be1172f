import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isStoreSource,
  parseOciSource,
  parsePackageStore,
  siteKeys,
  sourceForSite,
  storeUrlFor,
  targetStoreProblem,
} from '../../../src/config/package-store';
import { GroupFileError, parseGroupFile } from '../../../src/config/group-file';
import { InputError } from '../../../src/model/errors';
import { resolveStorePackage } from '../../../src/app/package-store';
import { buildPlanReport, renderPlan } from '../../../src/report/plan';
import { planBatches } from '../../../src/plan/batches';
import { makeConfig, makeTargets } from '../../support/fakes';

const URL_DC1 = 'https://pkgs.dc1.example/web/web-{version}.tar.gz';
const URL_ANY = 'https://pkgs.{site}.example/web/web-{version}.tar.gz';

function fieldOf(fn: () => unknown): { field: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof InputError) return { field: error.field, message: error.message };
    throw error;
  }
  throw new Error('no error');
}

describe('package store sources (issue 17)', () => {
  it.each([
    ['./build/web-{version}.tar.gz', false],
    ['/abs/web.tgz', false],
    ['https://pkgs.example/web-{version}.tgz', true],
    ['http://127.0.30.1:30080/web-{version}.tgz', true],
    ['oci://registry.example/acme/web-pkg:{version}', true],
    ['oci+http://127.0.30.2:30500/acme/web-pkg:{version}', true],
  ])('%s is a store: %s', (source, store) => {
    expect(isStoreSource(source)).toBe(store);
  });

  it('a local package.source is no store', () => {
    expect(parsePackageStore({ source: './web-{version}.tgz' })).toBeUndefined();
  });

  it.each([
    [
      { source: 'https://pkgs.example/web-{version}.tgz' },
      { kind: 'http', sources: { default: 'https://pkgs.example/web-{version}.tgz' } },
    ],
    [
      { sources: { default: URL_ANY, dc1: URL_DC1 }, auth: 'env:PKG_AUTH' },
      { kind: 'http', sources: { default: URL_ANY, dc1: URL_DC1 }, authEnv: 'PKG_AUTH' },
    ],
    [
      { source: 'oci://reg.example/acme/web-pkg:{version}' },
      { kind: 'oci', sources: { default: 'oci://reg.example/acme/web-pkg:{version}' } },
    ],
  ])('parses %j', (raw, spec) => {
    expect(parsePackageStore(raw)).toEqual(spec);
  });

  it.each([
    [
      { source: 'https://x.example/a.tgz', sources: { dc1: URL_DC1 } },
      'package.sources',
      'not both',
    ],
    [{ source: 'https://x.example/web.tgz' }, 'package.source', 'has no {version}'],
    [{ source: 'https://x.example/{ver}.tgz' }, 'package.source', '{ver} is not known'],
    [
      { source: 'https://u:secret@x.example/{version}.tgz' },
      'package.source',
      'package.auth: env:NAME',
    ],
    [{ sources: { dc1: './local-{version}.tgz' } }, 'package.sources.dc1', 'not a store'],
    [{ sources: { 'd c': URL_DC1 } }, 'package.sources.d c', 'not a site name'],
    [{ sources: { dc1: URL_DC1, dc2: 'oci://r.example/a/b:{version}' } }, 'package.sources', 'mix'],
    [{ source: URL_DC1, auth: 'Bearer abc' }, 'package.auth', 'env:NAME'],
    [{ source: './x-{version}.tgz', auth: 'env:X' }, 'package.auth', 'only for a package store'],
    [{ source: 'oci://reg.example/Acme/web:{version}' }, 'package.source', 'lower-case'],
    [{ source: 'oci://reg.example/web@{version}' }, 'package.source', 'not an OCI artifact'],
  ])('refuses %j naming %s', (raw, field, words) => {
    const e = fieldOf(() => parsePackageStore(raw));
    expect(e.field).toBe(field);
    expect(e.message).toContain(words);
  });

  it('parses an OCI artifact', () => {
    expect(parseOciSource('oci+http://127.0.30.2:30500/acme/web-pkg:1.2.0')).toEqual({
      registry: '127.0.30.2:30500',
      repository: 'acme/web-pkg',
      tag: '1.2.0',
      plainHttp: true,
    });
    expect(parseOciSource('oci://ghcr.io/acme/web-pkg:1.2.0').plainHttp).toBe(false);
  });

  describe('per-site choice', () => {
    const sources = { default: URL_ANY, dc1: URL_DC1 };
    it.each([
      ['dc1', URL_DC1, 'dc1'],
      ['dc2', URL_ANY, 'default'],
    ])('site %s fetches from %s (%s)', (site, template, from) => {
      expect(sourceForSite(sources, site)).toEqual({ template, from });
    });
    it('a target without a site cannot use a {site} default', () => {
      expect(sourceForSite(sources, undefined)).toBeNull();
      expect(targetStoreProblem({ kind: 'http', sources }, { id: 'web-09' })).toContain(
        'web-09 has no site',
      );
    });
    it('a site without a store and no default is named with the fix', () => {
      expect(
        targetStoreProblem({ kind: 'http', sources: { dc1: URL_DC1 } }, { id: 'w', site: 'dc7' }),
      ).toBe(
        'no package store for site "dc7" of target w: add package.sources.dc7, or package.sources.default',
      );
    });
    it('site keys: every site, default for targets without', () => {
      expect(siteKeys([{ site: 'dc2' }, {}, { site: 'dc1' }, { site: 'dc2' }])).toEqual([
        'dc1',
        'dc2',
        'default',
      ]);
    });
    it('the URL a target fetches', () => {
      const ref = {
        kind: 'http' as const,
        urls: { default: 'http://d/x', dc1: 'http://a/x' },
        checksumFrom: '',
      };
      expect(storeUrlFor(ref, 'dc1')).toBe('http://a/x');
      expect(storeUrlFor(ref, undefined)).toBe('http://d/x');
      expect(storeUrlFor(ref, 'dc9')).toBe('http://d/x');
    });
  });

  describe('group file', () => {
    const group = (pkg: string, sites: [string?, string?]) =>
      [
        'group: web',
        'docBase: /srv/web',
        'port: 8080',
        'service:',
        '  start: node server.js',
        pkg,
        'targets:',
        `  - { host: web-01, address: 127.0.30.11${sites[0] ? `, site: ${sites[0]}` : ''} }`,
        `  - { host: web-02, address: 127.0.30.12${sites[1] ? `, site: ${sites[1]}` : ''} }`,
        '',
      ].join('\n');

    it('targets carry their site; the store is kept, not a path', async () => {
      const loaded = await parseGroupFile(
        group(
          `package:\n  sources:\n    dc1: ${URL_DC1}\n    dc2: ${URL_ANY}\n  auth: env:PKG_AUTH`,
          ['dc1', 'dc2'],
        ),
        '/tmp',
      );
      expect(loaded.group.targets.map((t) => t.site)).toEqual(['dc1', 'dc2']);
      expect(loaded.package.source).toBeUndefined();
      expect(loaded.package.store).toEqual({
        kind: 'http',
        sources: { dc1: URL_DC1, dc2: URL_ANY },
        authEnv: 'PKG_AUTH',
      });
    });

    it('a target whose site has no store is refused on its line, with the fix', async () => {
      const text = group(`package:\n  sources:\n    dc1: ${URL_DC1}`, ['dc1', 'dc3']);
      const error = await parseGroupFile(text, '/tmp').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GroupFileError);
      expect((error as GroupFileError).message).toContain('targets[1].site');
      expect((error as GroupFileError).message).toContain('add package.sources.dc3');
    });

    it('an Ansible inventory gives the site with rollgate_site; a bad one is refused on its line', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rollgate-site-'));
      writeFileSync(
        join(dir, 'hosts.ini'),
        '[web]\nweb-01 ansible_host=127.0.30.11\nweb-02 ansible_host=127.0.30.12\n\n[web:vars]\nrollgate_site=dc2\n',
      );
      const text = (inv: string) =>
        [
          'group: web',
          'docBase: /srv/web',
          'port: 8080',
          'service:',
          '  start: node server.js',
          `package:\n  sources:\n    dc2: ${URL_DC1}`,
          `inventory: { file: ${inv}, group: web }`,
          '',
        ].join('\n');
      const loaded = await parseGroupFile(text('hosts.ini'), dir);
      expect(loaded.group.targets.map((t) => [t.id, t.site])).toEqual([
        ['web-01', 'dc2'],
        ['web-02', 'dc2'],
      ]);
      writeFileSync(
        join(dir, 'bad.ini'),
        '[web]\nweb-01 ansible_host=127.0.30.11 rollgate_site=a/b\n',
      );
      const error = await parseGroupFile(text('bad.ini'), dir).catch((e: unknown) => e);
      expect((error as GroupFileError).message).toMatch(
        /bad\.ini:2 \(web-01\): rollgate_site "a\/b" is not a site name/,
      );
      rmSync(dir, { recursive: true, force: true });
    });

    it('package.sources and package.image together are refused', async () => {
      const text = group(
        `package:\n  sources:\n    dc1: ${URL_DC1}\n  image:\n    repository: reg.example/acme/web`,
        ['dc1', 'dc1'],
      );
      const error = await parseGroupFile(text, '/tmp').catch((e: unknown) => e);
      expect((error as GroupFileError).message).toContain('not both');
    });
  });

  describe('resolving a release (runner side, no host involved)', () => {
    it('an http store: sha256 of the copy read once, each site its URL; the credential is sent, not kept', async () => {
      const seen: Array<{ url: string; auth: string | null }> = [];
      const fake: typeof fetch = (input, init) => {
        seen.push({
          url: String(input),
          auth: new Headers(init?.headers).get('authorization'),
        });
        return Promise.resolve(new Response('package bytes'));
      };
      const ref = await resolveStorePackage(
        { kind: 'http', sources: { default: URL_ANY, dc1: URL_DC1 }, authEnv: 'PKG_AUTH' },
        [{ site: 'dc1' }, { site: 'dc2' }, { site: 'dc1' }],
        '1.4.0',
        { PKG_AUTH: 'Bearer s3cret' },
        fake,
      );
      expect(seen).toEqual([
        { url: 'https://pkgs.dc1.example/web/web-1.4.0.tar.gz', auth: 'Bearer s3cret' },
      ]);
      expect(ref.sha256).toBe(createHash('sha256').update('package bytes').digest('hex'));
      expect(ref.store).toEqual({
        kind: 'http',
        urls: {
          dc1: 'https://pkgs.dc1.example/web/web-1.4.0.tar.gz',
          dc2: 'https://pkgs.dc2.example/web/web-1.4.0.tar.gz',
        },
        authEnv: 'PKG_AUTH',
        checksumFrom:
          'the copy at https://pkgs.dc1.example/web/web-1.4.0.tar.gz, read once by rollgate',
      });
      expect(JSON.stringify(ref)).not.toContain('s3cret');
    });

    it('a store that answers 404 names the field and the status', async () => {
      const fake: typeof fetch = () => Promise.resolve(new Response('no', { status: 404 }));
      const error = await resolveStorePackage(
        { kind: 'http', sources: { default: 'http://127.0.30.1:30080/w-{version}.tgz' } },
        [{}],
        '2.0.0',
        {},
        fake,
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).field).toBe('package.source');
      expect((error as InputError).message).toContain('HTTP 404');
    });

    it('a credential variable that is not set is refused before any fetch', async () => {
      const error = await resolveStorePackage(
        { kind: 'http', sources: { default: URL_DC1 }, authEnv: 'NOPE' },
        [{}],
        '2.0.0',
        {},
        () => Promise.reject(new Error('must not fetch')),
      ).catch((e: unknown) => e);
      expect((error as InputError).field).toBe('package.auth');
      expect((error as InputError).message).toContain('NOPE is not set');
    });
  });

  it('plan says where each site fetches from and that rollgate sends no package bytes', () => {
    const targets = makeTargets(4);
    const config = makeConfig({});
    const text = renderPlan(
      buildPlanReport('shop', '2.0.0', planBatches(targets, config), config, 4, null, {
        package: {
          sha256: 'ab'.repeat(32),
          checksumFrom: 'the layer of oci://reg.dc1/acme/web-pkg:2.0.0 (manifest sha256:cd…)',
          stores: [
            { site: 'dc1', url: 'https://reg.dc1/v2/acme/web-pkg/blobs/sha256:abab', targets: 3 },
            { site: 'dc2', url: 'https://reg.dc2/v2/acme/web-pkg/blobs/sha256:abab', targets: 1 },
          ],
        },
      }),
    );
    expect(text).toContain(
      `package: fetched by each host from its site's store, sha256 ${'ab'.repeat(32)} (from the layer of oci://reg.dc1/acme/web-pkg:2.0.0 (manifest sha256:cd…)); rollgate sends no package bytes`,
    );
    expect(text).toContain(
      '  dc1: 3 targets fetch https://reg.dc1/v2/acme/web-pkg/blobs/sha256:abab',
    );
    expect(text).toContain(
      '  dc2: 1 target fetches https://reg.dc2/v2/acme/web-pkg/blobs/sha256:abab',
    );
  });
});
