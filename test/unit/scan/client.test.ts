import { describe, expect, it } from 'vitest';
import { ClairClient, ClairError } from '../../../src/scan/clair/client';
import { verifyPskToken } from '../../../src/scan/clair/jwt';
import type { ClairManifest } from '../../../src/scan/clair/types';
import { captureLogger } from '../../support/haproxy-fixture';

/** The Clair client against scripted answers, on a fake clock (no real waiting). */

const H = `sha256:${'a'.repeat(64)}`;
const manifest: ClairManifest = {
  hash: H,
  layers: [{ hash: `sha256:${'b'.repeat(64)}`, uri: 'http://r/b' }],
};
const key = Buffer.from('k'.repeat(32)).toString('base64');
const report = {
  manifest_hash: H,
  packages: {},
  distributions: {},
  environments: {},
  vulnerabilities: {},
  package_vulnerabilities: {},
};

type Answer = { status: number; body?: unknown; type?: string } | Error;

function script(answers: Answer[]) {
  const seen: { method: string; url: string; auth?: string; body?: string; type?: string }[] = [];
  const fetchImpl = (async (url: string | URL | Request, init?: RequestInit) => {
    const h = (init?.headers ?? {}) as Record<string, string>;
    seen.push({
      method: init?.method ?? 'GET',
      url: String(url),
      auth: h.Authorization,
      body: init?.body as string | undefined,
      type: h['Content-Type'],
    });
    const a = answers.shift();
    if (!a) throw new Error('no more answers');
    if (a instanceof Error) throw a;
    return new Response(a.body === undefined ? null : JSON.stringify(a.body), {
      status: a.status,
      headers: a.body === undefined ? {} : { 'Content-Type': a.type ?? 'application/json' },
    });
  }) as typeof fetch;
  return { seen, fetchImpl };
}

function fakeClock() {
  let t = Date.UTC(2026, 10, 23);
  const sleeps: number[] = [];
  return {
    sleeps,
    clock: {
      now: () => t,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        t += ms;
      },
    },
  };
}

const finished = { manifest_hash: H, state: 'IndexFinished', success: true };

describe('ClairClient', () => {
  it('submits, then fetches the report: 200 accepted (the real server), as 201 (the spec)', async () => {
    for (const status of [200, 201]) {
      const { seen, fetchImpl } = script([
        { status: 201, body: finished, type: 'application/vnd.clair.index_report.v1+json' },
        { status, body: report, type: 'application/vnd.clair.vulnerability_report.v1+json' },
      ]);
      const { clock } = fakeClock();
      const client = new ClairClient({ indexerUrl: 'http://clair:6060/', clock, fetch: fetchImpl });
      const out = await client.scan(manifest);
      expect(out.report.manifest_hash).toBe(H);
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
        'POST http://clair:6060/indexer/api/v1/index_report',
        `GET http://clair:6060/matcher/api/v1/vulnerability_report/${H}`,
      ]);
      expect(JSON.parse(seen[0]!.body!)).toEqual(manifest);
      expect(seen[0]!.type).toBe('application/json');
    }
  });

  it('202 while the matcher warms up is retried on the clock; the server’s wrong content type is tolerated', async () => {
    const { seen, fetchImpl } = script([
      { status: 201, body: finished },
      { status: 202 },
      { status: 202 },
      // the server sends the index_report content type on this answer (a known bug)
      { status: 200, body: report, type: 'application/vnd.clair.index_report.v1+json' },
    ]);
    const { clock, sleeps } = fakeClock();
    const { logger, lines } = captureLogger();
    const client = new ClairClient({
      indexerUrl: 'http://c',
      clock,
      fetch: fetchImpl,
      pollIntervalMs: 500,
      logger,
    });
    await client.scan(manifest);
    expect(seen).toHaveLength(4);
    expect(sleeps).toEqual([500, 500]);
    expect(lines.info.filter((l) => l.includes('202'))).toHaveLength(2);
  });

  it('gives up on 202 at the deadline', async () => {
    const { fetchImpl } = script(Array.from({ length: 20 }, () => ({ status: 202 })));
    const { clock } = fakeClock();
    const client = new ClairClient({
      indexerUrl: 'http://c',
      clock,
      fetch: fetchImpl,
      pollIntervalMs: 1000,
    });
    await expect(client.vulnerabilityReport(H, 3000)).rejects.toThrow(
      /still starting \(202\) after 4 tries/,
    );
  });

  it('polls the index report until IndexFinished', async () => {
    const { seen, fetchImpl } = script([
      { status: 201, body: { manifest_hash: H, state: 'FetchLayers', success: false } },
      { status: 200, body: { manifest_hash: H, state: 'ScanLayers', success: false } },
      { status: 200, body: finished },
    ]);
    const { clock, sleeps } = fakeClock();
    const client = new ClairClient({
      indexerUrl: 'http://c',
      clock,
      fetch: fetchImpl,
      pollIntervalMs: 200,
    });
    expect((await client.index(manifest)).state).toBe('IndexFinished');
    expect(seen.map((s) => s.method)).toEqual(['POST', 'GET', 'GET']);
    expect(sleeps).toEqual([200, 200]);
  });

  it('IndexError is an error with Clair’s message', async () => {
    const { fetchImpl } = script([
      {
        status: 201,
        body: { manifest_hash: H, state: 'IndexError', success: false, err: 'fetching layer: 404' },
      },
    ]);
    const client = new ClairClient({
      indexerUrl: 'http://c',
      clock: fakeClock().clock,
      fetch: fetchImpl,
    });
    await expect(client.index(manifest)).rejects.toThrow(/could not index .*fetching layer: 404/);
  });

  it('network errors and 5xx are retried with backoff; 4xx are not', async () => {
    const { seen, fetchImpl } = script([
      new TypeError('fetch failed'),
      { status: 503 },
      { status: 201, body: finished },
    ]);
    const { clock, sleeps } = fakeClock();
    const client = new ClairClient({ indexerUrl: 'http://c', clock, fetch: fetchImpl });
    await client.submit(manifest);
    expect(seen).toHaveLength(3);
    expect(sleeps).toEqual([250, 500]);

    const bad = script([
      { status: 400, body: { code: 'bad-request', message: 'layers[0].hash: bad digest' } },
    ]);
    const c2 = new ClairClient({ indexerUrl: 'http://c', clock, fetch: bad.fetchImpl });
    const err = await c2.submit(manifest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClairError);
    expect(err).toMatchObject({
      status: 400,
      message: expect.stringMatching(/HTTP 400: layers\[0\]\.hash: bad digest/),
    });
    expect(bad.seen).toHaveLength(1);
  });

  it('gives up after the attempts', async () => {
    const { fetchImpl } = script([new Error('down'), new Error('down'), new Error('down')]);
    const client = new ClairClient({
      indexerUrl: 'http://c',
      clock: fakeClock().clock,
      fetch: fetchImpl,
      attempts: 3,
    });
    await expect(client.submit(manifest)).rejects.toThrow(/failed after 3 attempts: down/);
  });

  it('PSK: every request carries a fresh token Clair would accept; 401 explains what to check', async () => {
    const { seen, fetchImpl } = script([{ status: 201, body: finished }, { status: 401 }]);
    const { clock } = fakeClock();
    const client = new ClairClient({
      indexerUrl: 'http://c',
      clock,
      fetch: fetchImpl,
      psk: { key, issuer: 'rollgate' },
    });
    await client.submit(manifest);
    const token = seen[0]!.auth!.replace(/^Bearer /, '');
    expect(verifyPskToken(token, { key, issuers: ['rollgate'], nowMs: clock.now() }).ok).toBe(true);
    await expect(client.vulnerabilityReport(H)).rejects.toThrow(
      /HTTP 401: unauthorized: check the PSK/,
    );
  });

  it('404 on the report means no finished index; a report for another manifest is refused', async () => {
    const a = script([{ status: 404, body: { message: 'not found' } }]);
    const c = new ClairClient({
      indexerUrl: 'http://c',
      clock: fakeClock().clock,
      fetch: a.fetchImpl,
    });
    await expect(c.vulnerabilityReport(H)).rejects.toMatchObject({ status: 404 });
    const b = script([
      { status: 200, body: { ...report, manifest_hash: `sha256:${'c'.repeat(64)}` } },
    ]);
    const d = new ClairClient({
      indexerUrl: 'http://c',
      clock: fakeClock().clock,
      fetch: b.fetchImpl,
    });
    await expect(d.vulnerabilityReport(H)).rejects.toThrow(/is for sha256:ccc/);
  });

  it('indexer and matcher may be separate services', async () => {
    const { seen, fetchImpl } = script([{ status: 200, body: report }]);
    const c = new ClairClient({
      indexerUrl: 'http://indexer',
      matcherUrl: 'http://matcher/',
      clock: fakeClock().clock,
      fetch: fetchImpl,
    });
    await c.vulnerabilityReport(H);
    expect(seen[0]!.url).toBe(`http://matcher/matcher/api/v1/vulnerability_report/${H}`);
    const nf = script([{ status: 404, body: { message: 'x' } }]);
    const c2 = new ClairClient({
      indexerUrl: 'http://indexer',
      clock: fakeClock().clock,
      fetch: nf.fetchImpl,
    });
    expect(await c2.indexReport(H)).toBeNull();
  });

  it('refuses a non-JSON answer', async () => {
    const { fetchImpl } = script([{ status: 201, body: 'x', type: 'text/html' }]);
    const c = new ClairClient({
      indexerUrl: 'http://c',
      clock: fakeClock().clock,
      fetch: fetchImpl,
    });
    await expect(c.submit(manifest)).rejects.toThrow(/content type "text\/html"/);
  });
});
