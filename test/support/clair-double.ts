/**
 * A Clair v4 double (Clair itself cannot run here) that serves the API described in
 * /work/shared/specs/clair/openapi.json (Clair v4.9, OpenAPI 3.1) and validates every request
 * and every response it sends against it, with Ajv in JSON Schema 2020-12 mode; `$ref`s to
 * `#/components/schemas/<name>` resolve to the `<name>.schema.json` files of that folder (by
 * their `$id`).
 *
 * It behaves like the real server where the server differs from the spec (SOURCE.md), and only
 * there (each deviation is named in DEVIATIONS):
 *  - GetVulnerabilityReport answers 200 (spec: 201) — `vulnReportStatus` picks 200 or 201;
 *  - 202 with an empty body while the matcher warms up (`matcherWarmup` requests);
 *  - 401 with an empty body when PSK auth is on and the token is missing or bad.
 * Indexing fetches every layer from its `uri` (with its `headers`) and checks its sha256, as
 * Clair's FetchLayers step does, so a manifest pointing at the wrong blobs fails to index.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020';
import addFormatsModule from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { verifyPskToken } from '../../src/scan/clair/jwt';
import type { ClairManifest, IndexReport, VulnerabilityReport } from '../../src/scan/clair/types';

export const SPEC_DIR = '/work/shared/specs/clair';
const SCHEMA_BASE = 'https://clairproject.org/api/http/v1/';
const FIXTURES = fileURLToPath(new URL('../fixtures/clair', import.meta.url));

type Json = Record<string, unknown>;

export const DEVIATIONS = {
  vulnReport200:
    'GetVulnerabilityReport answers 200 (the spec lists 201); the server code sends 200',
  matcherWarmup: 'GetVulnerabilityReport answers 202 with an empty body while the matcher starts',
  pskUnauthorized: 'a bad or missing PSK token gets 401 with an empty body (not in the spec)',
} as const;

interface Operation {
  operationId: string;
  method: string;
  template: string;
  regex: RegExp;
  names: string[];
  parameters: Json[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: Json }> };
  responses: Record<string, Json>;
}

export interface Violation {
  direction: 'request' | 'response';
  operationId?: string;
  method: string;
  path: string;
  status?: number;
  part: string;
  message: string;
}

/** The Clair OpenAPI description as validators. */
export class ClairSpec {
  readonly doc: Json;
  readonly operations: Operation[] = [];
  private readonly ajv: Ajv2020;
  private readonly cache = new Map<string, ValidateFunction>();
  private readonly files = new Set<string>();

  constructor(dir = SPEC_DIR) {
    this.doc = JSON.parse(fs.readFileSync(path.join(dir, 'openapi.json'), 'utf8')) as Json;
    this.ajv = new Ajv2020({ allErrors: true, strict: false });
    const addFormats = addFormatsModule as unknown as (a: Ajv2020) => Ajv2020;
    addFormats(this.ajv);
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.schema.json'))) {
      const schema = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Json;
      this.ajv.addSchema(schema);
      this.files.add(file.replace(/\.schema\.json$/, ''));
    }
    const paths = this.doc.paths as Record<string, Record<string, Json>>;
    for (const [template, item] of Object.entries(paths)) {
      const shared = (item.parameters as Json[] | undefined) ?? [];
      for (const [method, op] of Object.entries(item)) {
        if (method === 'parameters') continue;
        const names: string[] = [];
        const regex = new RegExp(
          '^' +
            template.replace(/\{([^}]+)\}/g, (_m, n: string) => {
              names.push(n);
              return '([^/]+)';
            }) +
            '$',
        );
        const params = [...shared, ...((op.parameters as Json[] | undefined) ?? [])].map((p) =>
          this.deref(p),
        );
        const responses: Record<string, Json> = {};
        for (const [status, r] of Object.entries(op.responses as Record<string, Json>)) {
          responses[status] = this.deref(r);
        }
        this.operations.push({
          operationId: op.operationId as string,
          method: method.toUpperCase(),
          template,
          regex,
          names,
          parameters: params,
          requestBody: op.requestBody
            ? (this.deref(op.requestBody as Json) as Operation['requestBody'])
            : undefined,
          responses,
        });
      }
    }
  }

  /** Follows a `#/components/...` $ref (not schema refs: those go to the files). */
  private deref(obj: Json): Json {
    let cur = obj;
    for (let i = 0; i < 10 && typeof cur.$ref === 'string'; i += 1) {
      const parts = (cur.$ref as string).replace(/^#\//, '').split('/');
      let node: unknown = this.doc;
      for (const p of parts) node = (node as Json)[p];
      cur = node as Json;
    }
    return cur;
  }

  /** A validator for a schema object from the spec; schema refs point at the *.schema.json. */
  validator(schema: Json): ValidateFunction {
    const key = JSON.stringify(schema);
    let v = this.cache.get(key);
    if (!v) {
      v = this.ajv.compile(this.rewrite(schema) as Json);
      this.cache.set(key, v);
    }
    return v;
  }

  /** Validator for a named component schema (`vulnerability_report`, `manifest`, …). */
  schema(name: string): ValidateFunction {
    return this.validator({ $ref: `#/components/schemas/${name}` });
  }

  private rewrite(schema: unknown): unknown {
    if (Array.isArray(schema)) return schema.map((s) => this.rewrite(s));
    if (typeof schema !== 'object' || schema === null) return schema;
    const out: Json = {};
    for (const [k, v] of Object.entries(schema as Json)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
        const name = v.slice('#/components/schemas/'.length);
        if (this.files.has(name)) {
          out.$ref = `${SCHEMA_BASE}${name}.schema.json`;
        } else {
          const inline = (this.doc.components as Json).schemas as Json;
          Object.assign(out, this.rewrite(inline[name]));
        }
      } else {
        out[k] = this.rewrite(v);
      }
    }
    return out;
  }

  find(method: string, urlPath: string): { op: Operation; params: Record<string, string> } | null {
    for (const op of this.operations) {
      if (op.method !== method) continue;
      const m = op.regex.exec(urlPath);
      if (!m) continue;
      const params: Record<string, string> = {};
      op.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1]!)));
      return { op, params };
    }
    return null;
  }
}

export function ajvErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`)
    .join('; ');
}

export interface ClairDoubleOptions {
  host?: string;
  port?: number;
  /** Require PSK auth (HS256 JWT) with this key (base64) and issuer allow-list. */
  psk?: { key: string; issuers: string[] };
  /** Vulnerability-report requests that get 202 before the matcher is "ready". */
  matcherWarmup?: number;
  /** GETs of the index report that still show progress before IndexFinished (0: POST is synchronous). */
  indexSteps?: number;
  /** 200 (the real server) or 201 (the spec). */
  vulnReportStatus?: 200 | 201;
  /** The report for a manifest; default: fixtures/clair/vulnerability-report.json, placeholders replaced. */
  report?: (manifest: ClairManifest) => VulnerabilityReport;
  /** Fetch and verify each layer (default true). */
  fetchLayers?: boolean;
  /** Server's clock for the JWT checks (default Date.now). */
  now?: () => number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  operationId?: string;
  status: number;
  authorization?: string;
}

export interface ClairDouble {
  url: string;
  spec: ClairSpec;
  requests: RecordedRequest[];
  /** Requests or responses that did not match the spec. Tests expect none. */
  violations: Violation[];
  /** Deviations from the spec the double made on purpose (named in DEVIATIONS). */
  deviations: { deviation: keyof typeof DEVIATIONS; path: string }[];
  /** Layers the double fetched, by digest. */
  fetchedLayers: string[];
  close(): Promise<void>;
}

const INDEX_PROGRESS = ['FetchLayers', 'ScanLayers', 'Coalesce', 'IndexManifest'];
const PLACEHOLDER_MANIFEST = `sha256:${'f'.repeat(64)}`;
const PLACEHOLDER_LAYERS = [`sha256:${'0'.repeat(63)}1`, `sha256:${'0'.repeat(63)}2`];

/** The fixture report with the manifest's digests in place of the placeholders. */
export function fixtureReport(
  manifest: ClairManifest,
  file = 'vulnerability-report.json',
): VulnerabilityReport {
  let text = fs.readFileSync(path.join(FIXTURES, file), 'utf8');
  text = text.split(PLACEHOLDER_MANIFEST).join(manifest.hash);
  const layers = manifest.layers.map((l) => l.hash);
  if (layers.length > 0) {
    text = text.split(PLACEHOLDER_LAYERS[0]!).join(layers[0]!);
    text = text.split(PLACEHOLDER_LAYERS[1]!).join(layers[layers.length - 1]!);
  }
  return JSON.parse(text) as VulnerabilityReport;
}

interface Indexed {
  manifest: ClairManifest;
  report: IndexReport;
  stepsLeft: number;
}

export async function startClairDouble(options: ClairDoubleOptions = {}): Promise<ClairDouble> {
  const spec = new ClairSpec();
  const host = options.host ?? '127.0.11.2';
  const now = options.now ?? (() => Date.now());
  const indexed = new Map<string, Indexed>();
  let warmup = options.matcherWarmup ?? 0;
  let stateCounter = 0;
  const double: Omit<ClairDouble, 'url' | 'close'> = {
    spec,
    requests: [],
    violations: [],
    deviations: [],
    fetchedLayers: [],
  };
  const violation = (v: Violation) => double.violations.push(v);

  async function fetchLayers(manifest: ClairManifest): Promise<string | null> {
    for (const layer of manifest.layers) {
      const headers: Record<string, string> = {};
      for (const [k, vs] of Object.entries(layer.headers ?? {})) headers[k] = vs.join(', ');
      try {
        const res = await fetch(layer.uri, { headers, signal: AbortSignal.timeout(60_000) });
        if (!res.ok) return `fetching layer ${layer.hash}: HTTP ${res.status}`;
        const hash = createHash('sha256');
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
          hash.update(chunk);
        const got = `sha256:${hash.digest('hex')}`;
        if (got !== layer.hash) return `layer ${layer.hash}: the blob's sha256 is ${got}`;
        double.fetchedLayers.push(layer.hash);
      } catch (err) {
        return `fetching layer ${layer.hash}: ${(err as Error).message}`;
      }
    }
    return null;
  }

  function indexReportOf(entry: Indexed): IndexReport {
    return entry.report;
  }

  function advance(entry: Indexed): void {
    if (entry.report.state === 'IndexFinished' || entry.report.state === 'IndexError') return;
    if (entry.stepsLeft > 0) {
      entry.stepsLeft -= 1;
      const next = INDEX_PROGRESS.indexOf(entry.report.state) + 1;
      entry.report = {
        ...entry.report,
        state: INDEX_PROGRESS[Math.min(next, INDEX_PROGRESS.length - 1)]!,
      };
      return;
    }
    entry.report = finished(entry.manifest);
  }

  function finished(manifest: ClairManifest): IndexReport {
    const vr = (options.report ?? fixtureReport)(manifest);
    const report: IndexReport = {
      manifest_hash: manifest.hash,
      state: 'IndexFinished',
      success: true,
      packages: vr.packages,
      distributions: vr.distributions,
      environments: vr.environments,
    };
    if (vr.repository) report.repository = vr.repository;
    return report;
  }

  interface Reply {
    status: number;
    headers?: Record<string, string>;
    body?: unknown;
    contentType?: string;
  }

  const errorReply = (status: number, code: string, message: string): Reply => ({
    status,
    contentType: 'application/vnd.clair.error.v1+json',
    body: { code, message },
  });

  async function handle(
    op: Operation,
    params: Record<string, string>,
    body: unknown,
    reqPath: string,
  ): Promise<Reply> {
    switch (op.operationId) {
      case 'Index': {
        const manifest = body as ClairManifest;
        const failure = options.fetchLayers === false ? null : await fetchLayers(manifest);
        stateCounter += 1;
        let entry: Indexed;
        if (failure) {
          entry = {
            manifest,
            stepsLeft: 0,
            report: {
              manifest_hash: manifest.hash,
              state: 'IndexError',
              success: false,
              err: failure,
            },
          };
        } else if ((options.indexSteps ?? 0) > 0) {
          entry = {
            manifest,
            stepsLeft: options.indexSteps!,
            report: { manifest_hash: manifest.hash, state: 'FetchLayers', success: false },
          };
        } else {
          entry = { manifest, stepsLeft: 0, report: finished(manifest) };
        }
        indexed.set(manifest.hash, entry);
        const self = `/indexer/api/v1/index_report/${manifest.hash}`;
        return {
          status: 201,
          contentType: 'application/vnd.clair.index_report.v1+json',
          headers: {
            Location: self,
            Link: `<${self}>; rel="https://projectquay.io/clair/v1/index_report", </matcher/api/v1/vulnerability_report/${manifest.hash}>; rel="https://projectquay.io/clair/v1/vulnerability_report"`,
            ETag: `"state-${stateCounter}"`,
          },
          body: indexReportOf(entry),
        };
      }
      case 'GetIndexReport': {
        const entry = indexed.get(params.digest!);
        if (!entry) return errorReply(404, 'not-found', `no index report for ${params.digest}`);
        advance(entry);
        return {
          status: 200,
          contentType: 'application/vnd.clair.index_report.v1+json',
          body: entry.report,
        };
      }
      case 'DeleteManifest': {
        indexed.delete(params.digest!);
        return { status: 204 };
      }
      case 'IndexState':
        return {
          status: 200,
          contentType: 'application/vnd.clair.index_state.v1+json',
          headers: { ETag: `"state-${stateCounter}"` },
          body: { state: `state-${stateCounter}` },
        };
      case 'GetVulnerabilityReport': {
        if (warmup > 0) {
          warmup -= 1;
          double.deviations.push({ deviation: 'matcherWarmup', path: reqPath });
          return { status: 202 };
        }
        const entry = indexed.get(params.digest!);
        if (!entry || entry.report.state !== 'IndexFinished') {
          return errorReply(404, 'not-found', `no finished index report for ${params.digest}`);
        }
        const status = options.vulnReportStatus ?? 200;
        if (status === 200) double.deviations.push({ deviation: 'vulnReport200', path: reqPath });
        return {
          status,
          contentType: 'application/vnd.clair.vulnerability_report.v1+json',
          body: (options.report ?? fixtureReport)(entry.manifest),
        };
      }
      default:
        return errorReply(400, 'not-implemented', `${op.operationId} is not served by the double`);
    }
  }

  function checkRequest(
    op: Operation,
    params: Record<string, string>,
    method: string,
    reqPath: string,
    contentType: string,
    body: unknown,
    rawBody: string,
  ): string | null {
    const fail = (part: string, message: string) => {
      violation({
        direction: 'request',
        operationId: op.operationId,
        method,
        path: reqPath,
        part,
        message,
      });
      return `${part}: ${message}`;
    };
    for (const p of op.parameters) {
      if (p.in !== 'path') continue;
      const value = params[p.name as string];
      if (value === undefined) return fail('path', `missing ${String(p.name)}`);
      const v = spec.validator(p.schema as Json);
      if (!v(value)) return fail('path', `${String(p.name)} "${value}": ${ajvErrors(v.errors)}`);
    }
    if (op.requestBody) {
      if (rawBody === '') {
        return op.requestBody.required ? fail('body', 'a body is required') : null;
      }
      const media = contentType.split(';')[0]!.trim();
      const content = op.requestBody.content[media];
      if (!content) {
        return fail(
          'content-type',
          `${media || '(none)'} is not one of ${Object.keys(op.requestBody.content).join(', ')}`,
        );
      }
      if (body === undefined) return fail('body', 'not JSON');
      const v = spec.validator(content.schema as Json);
      if (!v(body)) return fail('body', ajvErrors(v.errors));
    } else if (rawBody !== '') {
      return fail('body', 'this operation takes no body');
    }
    return null;
  }

  function checkResponse(op: Operation, method: string, reqPath: string, reply: Reply): void {
    const fail = (part: string, message: string): void => {
      violation({
        direction: 'response',
        operationId: op.operationId,
        method,
        path: reqPath,
        status: reply.status,
        part,
        message,
      });
    };
    if (reply.status === 401 && options.psk) return; // DEVIATIONS.pskUnauthorized
    if (op.operationId === 'GetVulnerabilityReport' && reply.status === 202) {
      if (reply.body !== undefined) fail('body', '202 must have an empty body');
      return;
    }
    const declared =
      op.operationId === 'GetVulnerabilityReport' && reply.status === 200
        ? op.responses['201']
        : (op.responses[String(reply.status)] ?? op.responses.default);
    if (!declared) return fail('status', `${reply.status} is not declared`);
    const content = declared.content as Record<string, { schema?: Json }> | undefined;
    if (content) {
      const schema = content[reply.contentType ?? '']?.schema;
      if (!schema) {
        return fail(
          'content-type',
          `${reply.contentType ?? '(none)'} is not one of ${Object.keys(content).join(', ')}`,
        );
      }
      const v = spec.validator(schema);
      if (!v(reply.body)) fail('body', ajvErrors(v.errors));
    } else if (reply.body !== undefined) {
      fail('body', 'no content is declared for this status');
    }
    for (const [name, h] of Object.entries((declared.headers ?? {}) as Record<string, Json>)) {
      const required = (typeof h.$ref === 'string' ? resolveHeader(spec, h) : h).required === true;
      if (
        required &&
        !Object.keys(reply.headers ?? {}).some((k) => k.toLowerCase() === name.toLowerCase())
      ) {
        fail('header', `${name} is required`);
      }
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const method = req.method ?? 'GET';
        const reqPath = (req.url ?? '/').split('?')[0]!;
        const record: RecordedRequest = { method, path: reqPath, status: 0 };
        if (req.headers.authorization) record.authorization = req.headers.authorization;
        double.requests.push(record);
        const send = (reply: Reply) => {
          record.status = reply.status;
          const headers: Record<string, string> = { ...(reply.headers ?? {}) };
          let payload = '';
          if (reply.body !== undefined) {
            headers['Content-Type'] = reply.contentType ?? 'application/json';
            payload = JSON.stringify(reply.body);
          }
          res.writeHead(reply.status, headers);
          res.end(payload);
        };
        const found = spec.find(method, reqPath);
        if (!found) {
          violation({
            direction: 'request',
            method,
            path: reqPath,
            part: 'route',
            message: 'no such operation in the spec',
          });
          return send({ status: 404 });
        }
        const { op, params } = found;
        record.operationId = op.operationId;
        if (options.psk) {
          const auth = req.headers.authorization ?? '';
          const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
          const ok = token
            ? verifyPskToken(token, {
                key: options.psk.key,
                issuers: options.psk.issuers,
                nowMs: now(),
              })
            : { ok: false as const, why: 'no token' };
          if (!ok.ok) {
            double.deviations.push({ deviation: 'pskUnauthorized', path: reqPath });
            return send({ status: 401 });
          }
        }
        const rawBody = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = rawBody === '' ? undefined : JSON.parse(rawBody);
        } catch {
          body = undefined;
        }
        const bad = checkRequest(
          op,
          params,
          method,
          reqPath,
          req.headers['content-type'] ?? '',
          body,
          rawBody,
        );
        const reply = bad
          ? errorReply(400, 'bad-request', bad)
          : await handle(op, params, body, reqPath).catch((err: Error) =>
              errorReply(500, 'internal', err.message),
            );
        checkResponse(op, method, reqPath, reply);
        send(reply);
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    ...double,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  } as ClairDouble;
}

function resolveHeader(spec: ClairSpec, h: Json): Json {
  const parts = (h.$ref as string).replace(/^#\//, '').split('/');
  let node: unknown = spec.doc;
  for (const p of parts) node = (node as Json)[p];
  return node as Json;
}
