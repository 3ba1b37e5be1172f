/**
 * GitHub's official OpenAPI description (@octokit/openapi, api.github.com, OpenAPI 3.0.3) as a
 * validator for the test doubles: finds the operation for a request, checks its parameters and
 * JSON body, and checks the double's responses against the declared status, content and schema.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

export type SchemaObject = Record<string, unknown>;

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: SchemaObject;
  'x-multi-segment'?: boolean;
}

interface MediaTypeObject {
  schema?: SchemaObject;
}

interface ResponseObject {
  description?: string;
  content?: Record<string, MediaTypeObject>;
  headers?: Record<string, { required?: boolean; schema?: SchemaObject } | { $ref: string }>;
}

interface OperationObject {
  operationId: string;
  parameters?: (ParameterObject | { $ref: string })[];
  requestBody?: { required?: boolean; content: Record<string, MediaTypeObject> } | { $ref: string };
  responses: Record<string, ResponseObject | { $ref: string }>;
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OperationObject>>;
  components: Record<string, Record<string, unknown>>;
}

export interface Operation {
  operationId: string;
  method: string;
  template: string;
  parameters: ParameterObject[];
  requestBody?: { required: boolean; content: Record<string, MediaTypeObject> };
  responses: Record<string, ResponseObject>;
}

export interface Violation {
  direction: 'request' | 'response';
  method: string;
  path: string;
  operationId?: string;
  status?: number;
  /** Which part was wrong: route, auth, path, query, body, status, content-type, header. */
  part: string;
  /** JSON pointer into the offending value ('' is the whole value). */
  pointer: string;
  /** Readable one-line summary with all of the above. */
  message: string;
}

export interface ValidationIssue {
  pointer: string;
  message: string;
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const DROPPED_KEYWORDS = new Set(['example', 'discriminator', 'xml', 'externalDocs', 'nullable']);
const SCHEMA_MAPS = ['properties', 'patternProperties'];
const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf'];
const SCHEMA_SINGLES = ['items', 'not', 'additionalProperties'];
const COMPONENT_SCHEMA_REF = '#/components/schemas/';
const BASIC_ERROR_CONTENT: Record<string, MediaTypeObject> = {
  'application/json': { schema: { $ref: `${COMPONENT_SCHEMA_REF}basic-error` } },
};

export function specPath(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@octokit/openapi/package.json');
  return join(dirname(pkg), 'generated', 'api.github.com.json');
}

/**
 * OpenAPI 3.0 schema → JSON Schema (draft-07, as Ajv reads it): `nullable` becomes a type union
 * (or an anyOf with null), OpenAPI-only keywords and x- extensions are dropped, and
 * `#/components/schemas/<name>` refs are handed to `onRef` and pointed at `#/definitions/<name>`.
 */
export function toJsonSchema(schema: unknown, onRef: (name: string) => void = () => {}): unknown {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return schema;
  const src = schema as SchemaObject;
  if (typeof src.$ref === 'string') {
    if (!src.$ref.startsWith(COMPONENT_SCHEMA_REF)) {
      throw new Error(`unsupported $ref in schema: ${src.$ref}`);
    }
    const name = src.$ref.slice(COMPONENT_SCHEMA_REF.length);
    onRef(name);
    return { $ref: `#/definitions/${escapePointer(name)}` };
  }
  const out: SchemaObject = {};
  for (const [key, value] of Object.entries(src)) {
    if (DROPPED_KEYWORDS.has(key) || key.startsWith('x-')) continue;
    if (SCHEMA_MAPS.includes(key) && isRecord(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, toJsonSchema(v, onRef)]),
      );
    } else if (SCHEMA_LISTS.includes(key) && Array.isArray(value)) {
      out[key] = value.map((v) => toJsonSchema(v, onRef));
    } else if (SCHEMA_SINGLES.includes(key) && isRecord(value)) {
      out[key] = toJsonSchema(value, onRef);
    } else {
      out[key] = value;
    }
  }
  // The spec's own default for e.g. deployment-status target_url is "", which no `uri` matches;
  // GitHub does return "" there.
  if (typeof out.format === 'string' && out.default === '') {
    const format = out.format;
    delete out.format;
    out.anyOf = [{ const: '' }, { format }];
  }
  if (src.nullable === true) return makeNullable(out);
  return out;
}

function makeNullable(schema: SchemaObject): SchemaObject {
  const combined = SCHEMA_LISTS.some((k) => k in schema);
  if (typeof schema.type === 'string' && !combined) {
    const out: SchemaObject = { ...schema, type: [schema.type, 'null'] };
    if (Array.isArray(schema.enum) && !schema.enum.includes(null))
      out.enum = [...schema.enum, null];
    return out;
  }
  const { title, description, default: dflt, ...rest } = schema;
  const meta: SchemaObject = {};
  if (title !== undefined) meta.title = title;
  if (description !== undefined) meta.description = description;
  if (dflt !== undefined) meta.default = dflt;
  if (Object.keys(rest).length === 0) return meta;
  return { ...meta, anyOf: [{ type: 'null' }, rest] };
}

/** Matches an OpenAPI path template against a request path; values come back URL-decoded. */
export class PathTemplate {
  readonly names: string[] = [];
  readonly literalSegments: number;
  readonly multiSegments: number;
  private readonly regex: RegExp;

  constructor(
    readonly template: string,
    multiSegment: ReadonlySet<string> = new Set(),
  ) {
    let literals = 0;
    const parts = template.split('/').map((segment) => {
      if (!segment.includes('{')) {
        if (segment !== '') literals += 1;
        return escapeRegex(segment);
      }
      return segment.replace(/\{([^}]+)\}|([^{]+)/g, (_m, name: string | undefined, lit) => {
        if (name === undefined) return escapeRegex(lit as string);
        this.names.push(name);
        return multiSegment.has(name) ? '(.+)' : '([^/]+)';
      });
    });
    this.literalSegments = literals;
    this.multiSegments = this.names.filter((n) => multiSegment.has(n)).length;
    this.regex = new RegExp(`^${parts.join('/')}$`);
  }

  match(path: string): Record<string, string> | undefined {
    const m = this.regex.exec(path);
    if (!m) return undefined;
    const params: Record<string, string> = {};
    for (const [i, name] of this.names.entries()) {
      const raw = m[i + 1] ?? '';
      try {
        params[name] = decodeURIComponent(raw);
      } catch {
        params[name] = raw;
      }
    }
    return params;
  }
}

export function matchTemplate(template: string, path: string): Record<string, string> | undefined {
  return new PathTemplate(template).match(path);
}

interface Route {
  operation: Operation;
  template: PathTemplate;
}

export type OperationLookup =
  | { kind: 'found'; operation: Operation; params: Record<string, string> }
  | { kind: 'no-path' }
  | { kind: 'no-method'; allowed: string[] };

export interface RequestInput {
  method: string;
  /** Path without the query string, still URL-encoded. */
  path: string;
  query: URLSearchParams;
  contentType?: string;
  /** Raw body; empty or undefined when none was sent. */
  body?: string;
}

export interface RequestCheck {
  lookup: OperationLookup;
  params: Record<string, string | number | boolean>;
  query: Record<string, unknown>;
  body: unknown;
  /** What GitHub would answer for the first problem found (4xx), if any. */
  reject?: { status: number; message: string };
  violations: Violation[];
}

export interface ResponseInput {
  status: number;
  headers: Record<string, string | undefined>;
  /** Parsed JSON, or undefined when no body was sent. */
  body?: unknown;
}

export class OpenApi {
  private readonly ajv: Ajv;
  private readonly coercingAjv: Ajv;
  private readonly routes: Route[] = [];
  private readonly convertedComponents = new Map<string, unknown>();
  private readonly componentRefs = new Map<string, string[]>();
  private readonly validators = new WeakMap<object, ValidateFunction>();
  private readonly coercingValidators = new WeakMap<object, ValidateFunction>();
  private readonly byOperationId = new Map<string, Operation>();
  private readonly paramSchemas = new Map<Operation, { path: SchemaObject; query: SchemaObject }>();

  constructor(readonly spec: OpenApiDocument) {
    this.ajv = newAjv(false);
    this.coercingAjv = newAjv(true);
    for (const [template, item] of Object.entries(spec.paths)) {
      const shared = (item.parameters as unknown as ParameterObject[] | undefined) ?? [];
      for (const method of HTTP_METHODS) {
        const raw = item[method];
        if (!raw) continue;
        const operation = this.operation(template, method, raw, shared);
        const multi = new Set(
          operation.parameters.filter((p) => p['x-multi-segment']).map((p) => p.name),
        );
        this.routes.push({ operation, template: new PathTemplate(template, multi) });
        this.byOperationId.set(operation.operationId, operation);
      }
    }
    // OpenAPI: concrete paths win over templated ones; a slash-spanning parameter is the least concrete.
    this.routes.sort(
      (a, b) =>
        b.template.literalSegments - a.template.literalSegments ||
        a.template.multiSegments - b.template.multiSegments,
    );
  }

  getOperation(operationId: string): Operation {
    const op = this.byOperationId.get(operationId);
    if (!op) throw new Error(`no operation ${operationId} in the OpenAPI description`);
    return op;
  }

  findOperation(method: string, path: string): OperationLookup {
    const lower = method.toLowerCase();
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = route.template.match(path);
      if (!params) continue;
      if (route.operation.method === lower)
        return { kind: 'found', operation: route.operation, params };
      const m = route.operation.method.toUpperCase();
      if (!allowed.includes(m)) allowed.push(m);
    }
    return allowed.length ? { kind: 'no-method', allowed } : { kind: 'no-path' };
  }

  validateRequest(req: RequestInput): RequestCheck {
    const method = req.method.toUpperCase();
    const lookup = this.findOperation(method, req.path);
    const check: RequestCheck = { lookup, params: {}, query: {}, body: undefined, violations: [] };
    const violation = (part: string, issue: ValidationIssue, operationId?: string): void => {
      check.violations.push(
        makeViolation({
          direction: 'request',
          method,
          path: req.path,
          operationId,
          part,
          ...issue,
        }),
      );
    };
    if (lookup.kind !== 'found') {
      const message =
        lookup.kind === 'no-path'
          ? 'no operation in the OpenAPI description matches this path'
          : `no ${method} operation on this path (it has ${lookup.allowed.join(', ')})`;
      violation('route', { pointer: '', message });
      check.reject = { status: 404, message: 'Not Found' };
      return check;
    }
    const op = lookup.operation;
    const reject = (status: number, message: string): void => {
      check.reject ??= { status, message };
    };

    const schemas = this.paramSchemas.get(op) as { path: SchemaObject; query: SchemaObject };
    const pathResult = this.validateParams(schemas.path, lookup.params);
    check.params = pathResult.value as Record<string, string | number | boolean>;
    for (const issue of pathResult.issues) violation('path', issue, op.operationId);
    if (pathResult.issues.length) reject(404, 'Not Found');

    const queryInput: Record<string, string | string[]> = {};
    for (const key of new Set(req.query.keys())) {
      const all = req.query.getAll(key);
      queryInput[key] = all.length === 1 ? (all[0] as string) : all;
    }
    const queryResult = this.validateParams(schemas.query, queryInput);
    check.query = queryResult.value;
    for (const issue of queryResult.issues) violation('query', issue, op.operationId);
    if (queryResult.issues.length)
      reject(422, `Invalid request.\n\n${formatIssue(queryResult.issues[0] as ValidationIssue)}`);
    const known = schemas.query.properties as Record<string, unknown>;
    for (const key of Object.keys(queryInput)) {
      if (!(key in known)) {
        // GitHub silently ignores it, so a filter the client believes in would do nothing.
        violation(
          'query',
          {
            pointer: `/${escapePointer(key)}`,
            message: 'unknown query parameter (GitHub ignores it)',
          },
          op.operationId,
        );
      }
    }

    const rawBody = req.body ?? '';
    if (op.requestBody) {
      const jsonMedia = op.requestBody.content['application/json'];
      if (rawBody === '') {
        if (op.requestBody.required) {
          violation('body', { pointer: '', message: 'request body is required' }, op.operationId);
          reject(422, 'Invalid request.\n\nRequest body is required.');
        }
      } else if (jsonMedia) {
        if (req.contentType && mediaType(req.contentType) !== 'application/json') {
          violation(
            'content-type',
            {
              pointer: '',
              message: `request content-type ${req.contentType}, expected application/json`,
            },
            op.operationId,
          );
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(rawBody);
        } catch (err) {
          violation(
            'body',
            { pointer: '', message: `body is not JSON: ${(err as Error).message}` },
            op.operationId,
          );
          reject(400, 'Problems parsing JSON');
        }
        if (parsed !== undefined) {
          check.body = parsed;
          const issues = this.validateSchema(jsonMedia.schema ?? {}, parsed);
          for (const issue of issues) violation('body', issue, op.operationId);
          if (issues.length)
            reject(422, `Invalid request.\n\n${formatIssue(issues[0] as ValidationIssue)}`);
        }
      } else {
        check.body = rawBody;
      }
    } else if (rawBody !== '') {
      violation(
        'body',
        { pointer: '', message: 'this operation takes no request body' },
        op.operationId,
      );
    }
    return check;
  }

  /** Checks a response of the double against the operation's declared responses. */
  validateResponse(
    op: Operation,
    req: { method: string; path: string },
    res: ResponseInput,
  ): Violation[] {
    const violations: Violation[] = [];
    const violation = (part: string, issue: ValidationIssue): void => {
      violations.push(
        makeViolation({
          direction: 'response',
          method: req.method.toUpperCase(),
          path: req.path,
          operationId: op.operationId,
          status: res.status,
          part,
          ...issue,
        }),
      );
    };
    const declared =
      op.responses[String(res.status)] ??
      op.responses[`${Math.floor(res.status / 100)}XX`] ??
      op.responses.default;
    let content: Record<string, MediaTypeObject> | undefined;
    if (declared) {
      content = declared.content;
      for (const [name, header] of Object.entries(declared.headers ?? {})) {
        const h = this.deref(header) as { required?: boolean };
        if (h.required && res.headers[name.toLowerCase()] === undefined) {
          violation('header', { pointer: '', message: `required header ${name} is missing` });
        }
      }
    } else if (res.status >= 400) {
      // Operations rarely list 401/403/404, yet GitHub sends them everywhere as basic-error.
      content = BASIC_ERROR_CONTENT;
    } else {
      const codes = Object.keys(op.responses).join(', ');
      violation('status', {
        pointer: '',
        message: `status ${res.status} is not declared (declared: ${codes})`,
      });
      return violations;
    }
    const hasBody = res.body !== undefined;
    if (!content || Object.keys(content).length === 0) {
      if (hasBody)
        violation('body', { pointer: '', message: 'no body is declared for this status' });
      return violations;
    }
    if (!hasBody) {
      violation('body', {
        pointer: '',
        message: `a body is declared (${Object.keys(content).join(', ')}) but none was sent`,
      });
      return violations;
    }
    const type = mediaType(res.headers['content-type'] ?? '');
    const media = content[type];
    if (!media) {
      violation('content-type', {
        pointer: '',
        message: `content-type ${type || '(none)'} is not declared (declared: ${Object.keys(content).join(', ')})`,
      });
      return violations;
    }
    for (const issue of this.validateSchema(media.schema ?? {}, res.body)) violation('body', issue);
    return violations;
  }

  /** Validates a value against an OpenAPI schema (refs resolved in the spec's components). */
  validateSchema(schema: SchemaObject, value: unknown): ValidationIssue[] {
    const validate = this.compile(schema, false);
    if (validate(value)) return [];
    return toIssues(validate.errors ?? []);
  }

  /** Compiles an OpenAPI schema into a standalone JSON Schema with the components it needs. */
  jsonSchemaFor(schema: SchemaObject): SchemaObject {
    const needed = new Set<string>();
    const queue: string[] = [];
    const onRef = (name: string): void => {
      if (!needed.has(name)) {
        needed.add(name);
        queue.push(name);
      }
    };
    const root = toJsonSchema(schema, onRef) as SchemaObject;
    while (queue.length) {
      const name = queue.shift() as string;
      this.component(name);
      for (const ref of this.componentRefs.get(name) ?? []) onRef(ref);
    }
    const definitions = Object.fromEntries(
      [...needed].sort().map((name) => [name, this.convertedComponents.get(name)]),
    );
    return needed.size ? { ...root, definitions } : root;
  }

  private compile(schema: SchemaObject, coerce: boolean): ValidateFunction {
    const cache = coerce ? this.coercingValidators : this.validators;
    let validate = cache.get(schema);
    if (!validate) {
      validate = (coerce ? this.coercingAjv : this.ajv).compile(this.jsonSchemaFor(schema));
      cache.set(schema, validate);
    }
    return validate;
  }

  private component(name: string): void {
    if (this.convertedComponents.has(name)) return;
    const raw = this.spec.components.schemas?.[name];
    if (raw === undefined) throw new Error(`$ref to unknown schema ${name}`);
    const refs: string[] = [];
    this.convertedComponents.set(
      name,
      toJsonSchema(raw, (r) => refs.push(r)),
    );
    this.componentRefs.set(name, refs);
  }

  private validateParams(
    schema: SchemaObject,
    input: Record<string, string | string[]>,
  ): { value: Record<string, unknown>; issues: ValidationIssue[] } {
    const properties = schema.properties as Record<string, unknown>;
    const value: Record<string, unknown> = Object.fromEntries(
      Object.entries(input).filter(([k]) => k in properties),
    );
    const validate = this.compile(schema, true);
    if (validate(value)) return { value, issues: [] };
    return { value, issues: toIssues(validate.errors ?? []) };
  }

  private operation(
    template: string,
    method: string,
    raw: OperationObject,
    shared: ParameterObject[],
  ): Operation {
    const own = (raw.parameters ?? []).map((p) => this.deref(p) as ParameterObject);
    const names = new Set(own.map((p) => `${p.in}:${p.name}`));
    const parameters = [
      ...shared
        .map((p) => this.deref(p) as ParameterObject)
        .filter((p) => !names.has(`${p.in}:${p.name}`)),
      ...own,
    ];
    const body = raw.requestBody
      ? (this.deref(raw.requestBody) as OperationObject['requestBody'])
      : undefined;
    const responses: Record<string, ResponseObject> = {};
    for (const [code, r] of Object.entries(raw.responses)) {
      responses[code] = this.deref(r) as ResponseObject;
    }
    const op: Operation = { operationId: raw.operationId, method, template, parameters, responses };
    if (body && 'content' in body)
      op.requestBody = { required: body.required === true, content: body.content };
    this.paramSchemas.set(op, {
      path: paramsSchema(parameters.filter((p) => p.in === 'path')),
      query: paramsSchema(parameters.filter((p) => p.in === 'query')),
    });
    return op;
  }

  private deref(value: unknown): unknown {
    let current = value;
    for (let depth = 0; isRecord(current) && typeof current.$ref === 'string'; depth += 1) {
      if (depth > 20) throw new Error(`$ref loop at ${current.$ref}`);
      current = resolvePointer(this.spec, current.$ref);
    }
    return current;
  }
}

let cached: OpenApi | undefined;

/** The api.github.com description, parsed once per process (13 MB). */
export function githubOpenApi(): OpenApi {
  cached ??= new OpenApi(JSON.parse(readFileSync(specPath(), 'utf8')) as OpenApiDocument);
  return cached;
}

export function formatViolation(v: Omit<Violation, 'message'>, detail: string): string {
  const where = [
    v.direction,
    v.operationId ?? `${v.method} ${v.path}`,
    v.status === undefined ? undefined : String(v.status),
    v.part,
  ]
    .filter(Boolean)
    .join(' ');
  return `${where} ${v.pointer || '/'}: ${detail}`;
}

export function makeViolation(
  v: Omit<Violation, 'message' | 'operationId' | 'status'> & {
    operationId?: string | undefined;
    status?: number | undefined;
    message: string;
  },
): Violation {
  const out: Violation = {
    direction: v.direction,
    method: v.method,
    path: v.path,
    part: v.part,
    pointer: v.pointer,
    message: '',
  };
  if (v.operationId !== undefined) out.operationId = v.operationId;
  if (v.status !== undefined) out.status = v.status;
  out.message = formatViolation(out, v.message);
  return out;
}

function paramsSchema(params: ParameterObject[]): SchemaObject {
  return {
    type: 'object',
    properties: Object.fromEntries(params.map((p) => [p.name, p.schema ?? {}])),
    required: params.filter((p) => p.required).map((p) => p.name),
  };
}

function toIssues(errors: ErrorObject[]): ValidationIssue[] {
  // Leave out what the nullable / empty-default conversion added, and anyOf/oneOf summaries
  // whose branch errors are listed anyway.
  const kept = errors.filter((e) => {
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'type' && params.type === 'null') return false;
    if (e.keyword === 'const' && params.allowedValue === '') return false;
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      return !errors.some(
        (o) =>
          o !== e &&
          o.schemaPath.startsWith(`${e.schemaPath}/`) &&
          !(o.keyword === 'type' && (o.params as Record<string, unknown>).type === 'null'),
      );
    }
    return true;
  });
  const issues = (kept.length ? kept : errors).map((e) => {
    const params = e.params as Record<string, unknown>;
    let pointer = e.instancePath;
    let message = e.message ?? e.keyword;
    if (e.keyword === 'required') {
      pointer = `${pointer}/${escapePointer(String(params.missingProperty))}`;
      message = 'is required but missing';
    } else if (e.keyword === 'additionalProperties') {
      pointer = `${pointer}/${escapePointer(String(params.additionalProperty))}`;
      message = 'is not an allowed property';
    } else if (e.keyword === 'type' && Array.isArray(params.type)) {
      message = `must be ${params.type.join(' or ')}`;
    } else if (e.keyword === 'enum') {
      message = `must be one of ${JSON.stringify(params.allowedValues)}`;
    }
    return { pointer, message };
  });
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.pointer} ${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function formatIssue(issue: ValidationIssue): string {
  return `${issue.pointer || '/'}: ${issue.message}`;
}

function newAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    strictSchema: true,
    strictTypes: false,
    strictTuples: false,
    allowUnionTypes: true,
    coerceTypes: coerce ? 'array' : false,
  });
  const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
  addFormats(ajv);
  // Formats that only GitHub's description uses.
  ajv.addFormat('repo.nwo', /^[^/\s]+\/[^/\s]+$/);
  ajv.addFormat('timestamp', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  return ajv;
}

function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) throw new Error(`only local refs are supported: ${ref}`);
  let current: unknown = doc;
  for (const token of ref.slice(2).split('/')) {
    const key = token.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isRecord(current) || !(key in current)) throw new Error(`unresolvable $ref ${ref}`);
    current = current[key];
  }
  return current;
}

function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
