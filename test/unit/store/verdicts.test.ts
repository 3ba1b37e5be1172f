import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ScanVerdict } from '../../../src/scan/verdict';
import { FileVerdicts } from '../../../src/store/file/verdicts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

const verdict = (d: string, passed: boolean): ScanVerdict => ({
  rollgateScan: 1,
  digest: d,
  reference: `r.io/acme/app@${d}`,
  passed,
  scannedAt: '2026-01-02T03:04:05.000Z',
  vulnerabilities: {
    checked: true,
    passed,
    threshold: 'High',
    failing: passed ? [] : ['CVE-1|zlib|1'],
  },
  compliance: { checked: true, passed: true, failed: [], warned: [] },
});

describe('FileVerdicts: scan verdicts beside the record', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollgate-verdicts-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('saves under <dir>/scans/sha256-<hex>.json and reads it back by digest', async () => {
    const store = new FileVerdicts(dir);
    const file = await store.save(verdict(digest('a'), true));
    expect(file).toBe(join(dir, 'scans', `sha256-${'a'.repeat(64)}.json`));
    expect(await store.get(digest('a'))).toEqual(verdict(digest('a'), true));
    expect(await readdir(join(dir, 'scans'))).toEqual([`sha256-${'a'.repeat(64)}.json`]);
  });

  it('the newest scan of a digest replaces the older one', async () => {
    const store = new FileVerdicts(dir);
    await store.save(verdict(digest('b'), true));
    await store.save(verdict(digest('b'), false));
    expect((await store.get(digest('b')))?.passed).toBe(false);
  });

  it('null for a digest never scanned; a bad digest or a foreign file is an error', async () => {
    const store = new FileVerdicts(dir);
    expect(await store.get(digest('c'))).toBeNull();
    await expect(store.get('sha256:short')).rejects.toThrow(
      /^digest: "sha256:short" is not sha256/,
    );
    await store.save(verdict(digest('d'), true));
    await writeFile(store.fileFor(digest('e')), JSON.stringify(verdict(digest('d'), true)));
    await expect(store.get(digest('e'))).rejects.toThrow(
      /holds the verdict of sha256:d+, not of sha256:e+/,
    );
    await writeFile(store.fileFor(digest('f')), '{"rollgateScan":2}');
    await expect(store.get(digest('f'))).rejects.toThrow(/is not a rollgate scan verdict/);
  });
});
