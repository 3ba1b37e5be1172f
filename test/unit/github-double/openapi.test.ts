import { describe, expect, it } from 'vitest';
import {
  OpenApi,
  PathTemplate,
  githubOpenApi,
  matchTemplate,
  toJsonSchema,
  type OpenApiDocument,
} from '../../support/github-double/openapi';

describe('path templates', () => {
  it('matches one segment per parameter and decodes it', () => {
    expect(
      matchTemplate(
        '/repos/{owner}/{repo}/environments/{environment_name}',
        '/repos/acme/shop/environments/eu%2Fwest',
      ),
    ).toEqual({
      owner: 'acme',
      repo: 'shop',
      environment_name: 'eu/west',
    });
    expect(matchTemplate('/repos/{owner}/{repo}', '/repos/acme/shop/extra')).toBeUndefined();
    expect(matchTemplate('/repos/{owner}/{repo}', '/repos/acme')).toBeUndefined();
  });

  it('lets x-multi-segment parameters span slashes', () => {
    const t = new PathTemplate('/repos/{owner}/{repo}/contents/{path}', new Set(['path']));
    expect(t.match('/repos/a/b/contents/docs/guide/intro.md')).toMatchObject({
      path: 'docs/guide/intro.md',
    });
  });

  it('handles a parameter inside a segment', () => {
    expect(
      matchTemplate('/repos/{owner}/{repo}/compare/{base}...{head}', '/repos/a/b/compare/v1...v2'),
    ).toEqual({
      owner: 'a',
      repo: 'b',
      base: 'v1',
      head: 'v2',
    });
  });

  it('prefers the template with more literal segments', () => {
    const doc: OpenApiDocument = {
      openapi: '3.0.3',
      components: {},
      paths: {
        '/things/{id}/{format}': { get: { operationId: 'things/format', responses: {} } },
        '/things/{id}/zip': { get: { operationId: 'things/zip', responses: {} } },
      },
    };
    const api = new OpenApi(doc);
    const found = api.findOperation('GET', '/things/1/zip');
    expect(found.kind === 'found' && found.operation.operationId).toBe('things/zip');
    const other = api.findOperation('GET', '/things/1/tar');
    expect(other.kind === 'found' && other.operation.operationId).toBe('things/format');
    expect(api.findOperation('POST', '/things/1/zip')).toEqual({
      kind: 'no-method',
      allowed: ['GET'],
    });
    expect(api.findOperation('GET', '/nothing')).toEqual({ kind: 'no-path' });
  });

  it('finds every operation of the real description by its own template', () => {
    const api = githubOpenApi();
    const misrouted: string[] = [];
    for (const [template, item] of Object.entries(api.spec.paths)) {
      for (const method of Object.keys(item)) {
        const found = api.findOperation(method, template.replace(/\{[^}]+\}/g, 'x1'));
        const got = found.kind === 'found' ? found.operation.template : found.kind;
        if (got !== template) misrouted.push(`${method} ${template} → ${got}`);
      }
    }
    expect(misrouted).toEqual([]);
  });

  it('finds the operations the doubles serve in the real description', () => {
    const api = githubOpenApi();
    const cases: [string, string, string][] = [
      ['POST', '/repos/o/r/deployments', 'repos/create-deployment'],
      ['GET', '/repos/o/r/deployments/5/statuses', 'repos/list-deployment-statuses'],
      ['GET', '/repos/o/r/environments/prod', 'repos/get-environment'],
      ['GET', '/repos/o/r/actions/runs/9/approvals', 'actions/get-reviews-for-run'],
      ['GET', '/repos/o/r/actions/runs/9/artifacts', 'actions/list-workflow-run-artifacts'],
      ['GET', '/repos/o/r/actions/artifacts/3/zip', 'actions/download-artifact'],
      [
        'POST',
        '/repos/o/r/actions/runs/9/pending_deployments',
        'actions/review-pending-deployments-for-run',
      ],
    ];
    for (const [method, path, operationId] of cases) {
      const found = api.findOperation(method, path);
      expect(found.kind === 'found' ? found.operation.operationId : found.kind).toBe(operationId);
    }
  });
});

describe('OpenAPI 3.0 schema → JSON Schema', () => {
  it('turns nullable into a type union, adding null to an enum', () => {
    expect(toJsonSchema({ type: 'string', nullable: true, example: 'x' })).toEqual({
      type: ['string', 'null'],
    });
    expect(toJsonSchema({ type: 'string', enum: ['a', 'b'], nullable: true })).toEqual({
      type: ['string', 'null'],
      enum: ['a', 'b', null],
    });
  });

  it('wraps nullable combinators and untyped schemas in anyOf with null', () => {
    expect(
      toJsonSchema({
        nullable: true,
        description: 'd',
        oneOf: [{ type: 'string' }, { type: 'integer' }],
      }),
    ).toEqual({
      description: 'd',
      anyOf: [{ type: 'null' }, { oneOf: [{ type: 'string' }, { type: 'integer' }] }],
    });
    expect(toJsonSchema({ nullable: true })).toEqual({});
  });

  it('points component refs at definitions and reports them', () => {
    const refs: string[] = [];
    const out = toJsonSchema(
      {
        type: 'object',
        'x-github-breaking-changes': [],
        properties: {
          creator: { $ref: '#/components/schemas/nullable-simple-user' },
          list: { type: 'array', items: { $ref: '#/components/schemas/team' } },
        },
      },
      (name) => refs.push(name),
    );
    expect(out).toEqual({
      type: 'object',
      properties: {
        creator: { $ref: '#/definitions/nullable-simple-user' },
        list: { type: 'array', items: { $ref: '#/definitions/team' } },
      },
    });
    expect(refs).toEqual(['nullable-simple-user', 'team']);
    expect(() => toJsonSchema({ $ref: '#/components/parameters/owner' })).toThrow(/unsupported/);
  });

  it('accepts the empty string where the spec gives "" as the default of a format', () => {
    const api = githubOpenApi();
    const schema = { type: 'string', format: 'uri', default: '' };
    expect(api.validateSchema(schema, '')).toEqual([]);
    expect(api.validateSchema(schema, 'https://example.com/x')).toEqual([]);
    expect(api.validateSchema(schema, 'not a uri')).toEqual([
      { pointer: '', message: 'must match format "uri"' },
    ]);
  });

  it('validates against the real components, nullables included', () => {
    const api = githubOpenApi();
    const schema = { $ref: '#/components/schemas/nullable-simple-user' };
    expect(api.validateSchema(schema, null)).toEqual([]);
    expect(api.validateSchema({ type: 'integer', nullable: true }, 'x')).toEqual([
      { pointer: '', message: 'must be integer or null' },
    ]);
    const app = { $ref: '#/components/schemas/nullable-integration' };
    expect(api.validateSchema(app, null)).toEqual([]);
    expect(api.validateSchema(schema, { login: 'x' })).toContainEqual({
      pointer: '/avatar_url',
      message: 'is required but missing',
    });
    const standalone = api.jsonSchemaFor({ $ref: '#/components/schemas/deployment' });
    expect(Object.keys(standalone.definitions as object)).toEqual(
      expect.arrayContaining([
        'deployment',
        'nullable-simple-user',
        'nullable-integration',
        'simple-user',
        'enterprise',
      ]),
    );
  });
});

describe('request and response checks', () => {
  const api = githubOpenApi();

  it('catches a bad request body with operationId, pointer and message', () => {
    const check = api.validateRequest({
      method: 'POST',
      path: '/repos/acme/shop/deployments/12/statuses',
      query: new URLSearchParams(),
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify({ state: 'done', log_url: 3 }),
    });
    expect(check.reject?.status).toBe(422);
    expect(check.violations.map((v) => v.message)).toEqual([
      'request repos/create-deployment-status body /state: must be one of ["error","failure","inactive","in_progress","queued","pending","success"]',
      'request repos/create-deployment-status body /log_url: must be string',
    ]);
    expect(check.violations[0]).toMatchObject({
      operationId: 'repos/create-deployment-status',
      part: 'body',
      pointer: '/state',
    });
  });

  it('catches a missing required field, unparsable JSON and a missing body', () => {
    const base = { method: 'POST', path: '/repos/a/b/deployments', query: new URLSearchParams() };
    expect(api.validateRequest({ ...base, body: '{}' }).violations.map((v) => v.message)).toEqual([
      'request repos/create-deployment body /ref: is required but missing',
    ]);
    expect(api.validateRequest({ ...base, body: '{nope' }).reject?.status).toBe(400);
    expect(api.validateRequest({ ...base }).reject?.status).toBe(422);
  });

  it('coerces and checks path and query parameters', () => {
    const ok = api.validateRequest({
      method: 'GET',
      path: '/repos/a/b/deployments',
      query: new URLSearchParams('environment=prod&per_page=50'),
    });
    expect(ok.violations).toEqual([]);
    expect(ok.query).toEqual({ environment: 'prod', per_page: 50 });

    const bad = api.validateRequest({
      method: 'GET',
      path: '/repos/a/b/deployments',
      query: new URLSearchParams('per_page=many&status=success'),
    });
    expect(bad.reject?.status).toBe(422);
    expect(bad.violations.map((v) => v.message)).toEqual([
      'request repos/list-deployments query /per_page: must be integer',
      'request repos/list-deployments query /status: unknown query parameter (GitHub ignores it)',
    ]);

    const badPath = api.validateRequest({
      method: 'GET',
      path: '/repos/a/b/deployments/abc',
      query: new URLSearchParams(),
    });
    expect(badPath.reject?.status).toBe(404);
    expect(badPath.violations[0]?.message).toBe(
      'request repos/get-deployment path /deployment_id: must be integer',
    );
  });

  it('reports a request to a path or method GitHub does not have', () => {
    const noPath = api.validateRequest({
      method: 'GET',
      path: '/repos/a/b/deploymentz',
      query: new URLSearchParams(),
    });
    expect(noPath.reject?.status).toBe(404);
    expect(noPath.violations[0]?.message).toBe(
      'request GET /repos/a/b/deploymentz route /: no operation in the OpenAPI description matches this path',
    );
    const noMethod = api.validateRequest({
      method: 'PATCH',
      path: '/repos/a/b/deployments',
      query: new URLSearchParams(),
    });
    expect(noMethod.violations[0]?.message).toMatch(
      /no PATCH operation on this path \(it has GET, POST\)/,
    );
  });

  it('catches a bad response body, status, content type and unexpected body', () => {
    const op = api.getOperation('repos/get-deployment');
    const req = { method: 'GET', path: '/repos/a/b/deployments/1' };
    const json = { 'content-type': 'application/json; charset=utf-8' };
    const bad = api.validateResponse(op, req, { status: 200, headers: json, body: { id: 'one' } });
    expect(bad.map((v) => v.message)).toContain(
      'response repos/get-deployment 200 body /id: must be integer',
    );
    expect(bad.map((v) => v.message)).toContain(
      'response repos/get-deployment 200 body /sha: is required but missing',
    );

    expect(
      api.validateResponse(op, req, { status: 201, headers: json, body: {} }).map((v) => v.message),
    ).toEqual([
      'response repos/get-deployment 201 status /: status 201 is not declared (declared: 200, 404)',
    ]);
    expect(
      api.validateResponse(op, req, {
        status: 404,
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      })[0]?.message,
    ).toMatch(/content-type text\/plain is not declared/);

    const del = api.getOperation('repos/delete-deployment');
    expect(
      api.validateResponse(del, req, { status: 204, headers: json, body: {} })[0]?.message,
    ).toBe('response repos/delete-deployment 204 body /: no body is declared for this status');
  });

  it('checks undeclared error statuses as GitHub basic errors', () => {
    const op = api.getOperation('repos/get-environment');
    const req = { method: 'GET', path: '/repos/a/b/environments/x' };
    const headers = { 'content-type': 'application/json' };
    expect(
      api.validateResponse(op, req, { status: 404, headers, body: { message: 'Not Found' } }),
    ).toEqual([]);
    expect(
      api.validateResponse(op, req, { status: 401, headers, body: { message: 7 } })[0]?.message,
    ).toBe('response repos/get-environment 401 body /message: must be string');
  });
});
