import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clairManifest } from '../../../src/scan/clair/client';
import { ajvErrors, ClairSpec, fixtureReport } from '../../support/clair-double';

/**
 * The fixtures and what the client sends, checked against Clair's own schemas (OpenAPI 3.1 +
 * *.schema.json, JSON Schema 2020-12) — the same validator the Clair double uses.
 */

const spec = new ClairSpec();
const read = (name: string) =>
  JSON.parse(
    fs.readFileSync(new URL(`../../fixtures/clair/${name}`, import.meta.url), 'utf8'),
  ) as unknown;

describe('Clair fixtures match the spec', () => {
  it.each([
    ['vulnerability-report.json', 'vulnerability_report'],
    ['vulnerability-report-empty.json', 'vulnerability_report'],
    ['index-report.json', 'index_report'],
  ])('%s is a valid %s', (file, schema) => {
    const v = spec.schema(schema);
    expect(v(read(file)), ajvErrors(v.errors)).toBe(true);
  });

  it('the report the double serves (placeholders replaced) is valid', () => {
    const manifest = {
      hash: `sha256:${'a'.repeat(64)}`,
      layers: [{ hash: `sha256:${'b'.repeat(64)}`, uri: 'http://127.0.11.1:15000/v2/x/blobs/y' }],
    };
    const v = spec.schema('vulnerability_report');
    const served = fixtureReport(manifest);
    expect(v(served), ajvErrors(v.errors)).toBe(true);
    expect(served.manifest_hash).toBe(manifest.hash);
    expect(JSON.stringify(served)).not.toContain('0'.repeat(63));
  });

  it('the validator is strict where the spec is: bad digest, unknown key, lower-case kind', () => {
    const v = spec.schema('vulnerability_report');
    const good = read('vulnerability-report.json') as Record<string, unknown>;
    expect(v({ ...good, manifest_hash: 'sha256:XYZ' })).toBe(false);
    expect(v({ ...good, extra: 1 })).toBe(false);
    const pkgs = structuredClone(good.packages) as Record<string, Record<string, unknown>>;
    pkgs['10']!.kind = 'binary';
    expect(v({ ...good, packages: pkgs })).toBe(false);
  });
});

describe('the manifest the client submits is valid for Index', () => {
  const layers = [
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: `sha256:${'1'.repeat(64)}`,
      size: 1,
    },
    {
      mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      digest: `sha256:${'2'.repeat(64)}`,
      size: 1,
    },
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
      digest: `sha256:${'3'.repeat(64)}`,
      size: 1,
    },
    { mediaType: 'application/x-unknown', digest: `sha256:${'4'.repeat(64)}`, size: 1 },
  ];

  it('layer media types are mapped to the OCI types Clair accepts (or left out)', () => {
    const m = clairManifest(
      `sha256:${'9'.repeat(64)}`,
      layers,
      (d) => `http://127.0.11.1:15000/v2/acme/app/blobs/${d}`,
      {
        Authorization: ['Bearer abc'],
      },
    );
    expect(m.layers.map((l) => l.media_type)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.layer.v1.tar+zstd',
      undefined,
    ]);
    const v = spec.schema('manifest');
    expect(v(JSON.parse(JSON.stringify(m))), ajvErrors(v.errors)).toBe(true);
  });

  it('no headers key when there are no headers', () => {
    const m = clairManifest(
      `sha256:${'9'.repeat(64)}`,
      layers.slice(0, 1),
      (d) => `http://r/v2/a/blobs/${d}`,
    );
    expect(m.layers[0]).not.toHaveProperty('headers');
  });
});
