/**
 * An in-memory GitHub for tests: REST endpoints for deployments, environments, pending
 * deployments, a run's review history (approvals.ts) and run artifacts, plus the Actions
 * results service (Twirp) on the same origin.
 * Every request and every response is checked against GitHub's OpenAPI description; problems
 * land in `violations` (tests assert it stays empty) and bad requests get GitHub's 4xx answer.
 * Like GitHub, a GET's JSON answer carries an ETag and a request whose If-None-Match names it
 * gets 304 with no body; `state.revokedTokens` answer 401 and `state.rateLimitedUntil` 403 with
 * the rate-limit headers, as GitHub does.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ArtifactService, TWIRP_PREFIX, fileNameOf } from './artifact-double';
import { AzuriteContainer, startAzurite, type Azurite } from './azurite';
import { CACHE_TWIRP_PREFIX, CacheService } from './cache-double';
import { githubOpenApi, makeViolation, type Operation, type Violation } from './openapi';
import { GitHubState, type DeploymentRecord, type DeploymentState } from './state';
import { gateHandlers } from './approvals';

export { applyEnv, runnerEnv, runtimeToken, type RunnerIds } from './artifact-double';
export type { Violation } from './openapi';
export type { EnvironmentOptions, GitHubState, ReviewerSpec } from './state';

export interface GitHubDoubleOptions {
  owner: string;
  repo: string;
  /** Loopback address to listen on; default 127.0.4.1. */
  host?: string;
  /** The API's port and the artifact storage's (Azurite); default ephemeral. */
  port?: number;
  storagePort?: number;
  /** The GITHUB_TOKEN that runnerEnv hands out (any token is accepted). */
  token?: string;
}

export interface RequestRecord {
  method: string;
  path: string;
  operationId: string | undefined;
  status: number;
}

export interface GitHubDouble {
  /** Origin, e.g. http://127.0.4.1:40123 — the REST base URL and ACTIONS_RESULTS_URL. */
  url: string;
  token: string;
  state: GitHubState;
  violations: Violation[];
  /** Requests per operationId; Twirp ones as `ArtifactService/<Method>`, others as UNMATCHED. */
  calls: Record<string, number>;
  requests: RequestRecord[];
  /** Sum of `calls` over REST operations (Twirp excluded). */
  restCallCount(): number;
  resetCalls(): void;
  /** The artifact blob store (azurite), started on first use. */
  storage(): Promise<AzuriteContainer>;
  /** The Actions cache service v2 (Twirp CacheService), its entries in the same azurite. */
  cache: CacheService;
  stop(): Promise<void>;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Context {
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
  user: string;
  url: URL;
  origin: string;
}

/** Each request the double refused as GitHub would, as `operation: why`; tests expect none. */
export function violationLines(double: Pick<GitHubDouble, 'violations'>): string[] {
  return double.violations.map((v) => `${v.operationId ?? v.path}: ${v.message}`);
}

const DOCS = 'https://docs.github.com/rest';
/** `calls` key for requests that match no GitHub operation. */
export const UNMATCHED = '(unmatched)';
const ARTIFACT_CONTAINER = 'actions-results';

export async function startGitHubDouble(options: GitHubDoubleOptions): Promise<GitHubDouble> {
  const host = options.host ?? '127.0.4.1';
  const api = githubOpenApi();
  const state = new GitHubState(options.owner, options.repo);
  const violations: Violation[] = [];
  const calls: Record<string, number> = {};
  const requests: RequestRecord[] = [];
  let azurite: Promise<Azurite> | undefined;
  let container: Promise<AzuriteContainer> | undefined;

  const storage = (): Promise<AzuriteContainer> => {
    container ??= (async () => {
      azurite = startAzurite({
        host,
        ...(options.storagePort !== undefined ? { port: options.storagePort } : {}),
      });
      const c = new AzuriteContainer(await azurite, ARTIFACT_CONTAINER);
      await c.create();
      return c;
    })();
    return container;
  };
  const artifacts = new ArtifactService(state, storage, (v) => violations.push(v));
  const caches = new CacheService(state, storage, (v) => violations.push(v));
  const handlers: Record<string, Handler> = {
    ...restHandlers(state, storage),
    ...gateHandlers(state),
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      violations.push(
        makeViolation({
          direction: 'response',
          method: req.method ?? '?',
          path: req.url ?? '?',
          part: 'double',
          pointer: '',
          message: `the double failed: ${(err as Error).stack ?? String(err)}`,
        }),
      );
      // 4xx: @actions/artifact and octokit's retry plugin would retry a 5xx for half a minute.
      if (!res.headersSent) send(res, 400, { message: 'double error', documentation_url: DOCS });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://double');
    const method = (req.method ?? 'GET').toUpperCase();
    const record = (operationId: string | undefined, status: number): void => {
      requests.push({ method, path: url.pathname, operationId, status });
      const key = operationId ?? UNMATCHED;
      calls[key] = (calls[key] ?? 0) + 1;
    };

    if (url.pathname.startsWith(CACHE_TWIRP_PREFIX)) {
      const rpc = url.pathname.slice(CACHE_TWIRP_PREFIX.length);
      const reply =
        method === 'POST'
          ? await caches.handle(rpc, req.headers.authorization, body)
          : { status: 404, body: { code: 'bad_route', msg: `${method} is not a Twirp call` } };
      record(`CacheService/${rpc}`, reply.status);
      send(res, reply.status, reply.body);
      return;
    }

    if (url.pathname.startsWith(TWIRP_PREFIX)) {
      const rpc = url.pathname.slice(TWIRP_PREFIX.length);
      const reply =
        method === 'POST'
          ? await artifacts.handle(rpc, req.headers.authorization, body)
          : { status: 404, body: { code: 'bad_route', msg: `${method} is not a Twirp call` } };
      record(`ArtifactService/${rpc}`, reply.status);
      send(res, reply.status, reply.body);
      return;
    }

    const check = api.validateRequest({
      method,
      path: url.pathname,
      query: url.searchParams,
      body,
      contentType: req.headers['content-type'],
    });
    violations.push(...check.violations);
    const op = check.lookup.kind === 'found' ? check.lookup.operation : undefined;
    const reply = (r: Reply): void => {
      const notModified = method === 'GET' && r.status === 200 && r.body !== undefined;
      const etag = notModified
        ? `W/"${createHash('sha256').update(JSON.stringify(r.body)).digest('hex')}"`
        : null;
      const fresh = etag !== null && req.headers['if-none-match'] === etag;
      record(op?.operationId, fresh ? 304 : r.status);
      const withTag = etag ? { ...r, headers: { ...(r.headers ?? {}), ETag: etag } } : r;
      if (op) respond(res, op, method, url.pathname, withTag, fresh);
      else send(res, r.status, r.body, r.headers);
    };
    if (!op || check.reject) {
      const status = check.reject?.status ?? 404;
      reply(error(status, check.reject?.message ?? 'Not Found'));
      return;
    }
    const auth = /^(token|bearer)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!auth) {
      violations.push(
        makeViolation({
          direction: 'request',
          method,
          path: url.pathname,
          operationId: op.operationId,
          part: 'auth',
          pointer: '',
          message: 'no "Authorization: token|Bearer <token>" header',
        }),
      );
      reply(error(401, 'Requires authentication'));
      return;
    }
    if (state.revokedTokens.has(auth[2] as string)) {
      reply(error(401, 'Bad credentials'));
      return;
    }
    if (state.rateLimitedUntil !== null) {
      const reset = String(Math.ceil(state.rateLimitedUntil.getTime() / 1000));
      const limited = error(
        403,
        'API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID.',
      );
      reply({
        ...limited,
        headers: {
          'x-ratelimit-limit': '5000',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-used': '5000',
          'x-ratelimit-reset': reset,
          'x-ratelimit-resource': 'core',
        },
      });
      return;
    }
    const params = check.params;
    if (
      String(params.owner).toLowerCase() !== state.owner.toLowerCase() ||
      String(params.repo).toLowerCase() !== state.repo.toLowerCase()
    ) {
      reply(error(404, 'Not Found'));
      return;
    }
    const handler = handlers[op.operationId];
    if (!handler) {
      violations.push(
        makeViolation({
          direction: 'request',
          method,
          path: url.pathname,
          operationId: op.operationId,
          part: 'route',
          pointer: '',
          message: 'valid GitHub operation, but the double does not implement it',
        }),
      );
      reply(error(404, 'Not Found'));
      return;
    }
    const ctx: Context = {
      params,
      query: check.query,
      body: (check.body ?? {}) as Record<string, unknown>,
      user: state.tokenUser(auth[2] as string),
      url,
      origin: state.apiUrl,
    };
    reply(await handler(ctx));
  }

  function respond(
    res: ServerResponse,
    op: Operation,
    method: string,
    path: string,
    r: Reply,
    notModified = false,
  ): void {
    const headers: Record<string, string> = { ...(r.headers ?? {}) };
    if (r.body !== undefined) headers['content-type'] = 'application/json; charset=utf-8';
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const body = r.body === undefined ? undefined : JSON.parse(JSON.stringify(r.body));
    violations.push(
      ...api.validateResponse(op, { method, path }, { status: r.status, headers: lower, body }),
    );
    if (notModified) {
      // RFC 9110 §15.4.5: the 200 it stands for is what was checked; a 304 has no body.
      delete headers['content-type'];
      send(res, 304, undefined, headers);
      return;
    }
    send(res, r.status, r.body, headers);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;
  state.apiUrl = url;

  return {
    url,
    token: options.token ?? `ghs_double${randomUUID().replace(/-/g, '')}`,
    state,
    violations,
    calls,
    requests,
    restCallCount: () =>
      Object.entries(calls)
        .filter(([k]) => !k.startsWith('ArtifactService/') && !k.startsWith('CacheService/'))
        .reduce((n, [, v]) => n + v, 0),
    resetCalls: () => {
      for (const k of Object.keys(calls)) delete calls[k];
      requests.length = 0;
    },
    storage,
    cache: caches,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (azurite) await (await azurite).stop();
    },
  };
}

type Handler = (ctx: Context) => Reply | Promise<Reply>;

function restHandlers(
  state: GitHubState,
  storage: () => Promise<AzuriteContainer>,
): Record<string, Handler> {
  const findDeployment = (ctx: Context): DeploymentRecord | undefined =>
    state.deployment(Number(ctx.params.deployment_id));

  return {
    'repos/create-deployment': (ctx) => {
      const b = ctx.body;
      const ref = String(b.ref);
      const sha = state.resolveRef(ref);
      if (!sha) return error(422, `No ref found for: ${ref}`);
      const d = state.createDeployment({
        ref,
        sha,
        task: b.task as string | undefined,
        payload: b.payload as Record<string, unknown> | string | undefined,
        environment: b.environment as string | undefined,
        description: b.description as string | null | undefined,
        transient: b.transient_environment as boolean | undefined,
        production: b.production_environment as boolean | undefined,
        creator: ctx.user,
      });
      return { status: 201, body: state.deploymentJson(d) };
    },

    'repos/list-deployments': (ctx) => {
      const q = ctx.query;
      const list = state.deployments
        .filter((d) => q.sha === undefined || d.sha === q.sha)
        .filter((d) => q.ref === undefined || d.ref === q.ref)
        .filter((d) => q.task === undefined || d.task === q.task)
        .filter(
          (d) =>
            q.environment === undefined ||
            q.environment === null ||
            d.environment === q.environment,
        )
        .sort((a, b) => b.id - a.id);
      const page = paginate(list, ctx);
      return {
        status: 200,
        body: page.items.map((d) => state.deploymentJson(d)),
        headers: page.headers,
      };
    },

    'repos/get-deployment': (ctx) => {
      const d = findDeployment(ctx);
      return d ? { status: 200, body: state.deploymentJson(d) } : error(404, 'Not Found');
    },

    'repos/delete-deployment': (ctx) => {
      const d = findDeployment(ctx);
      if (!d) return error(404, 'Not Found');
      const others = state.deployments.filter((o) => o !== d && o.environment === d.environment);
      if (state.latestState(d) !== 'inactive' && others.length > 0) {
        return error(
          422,
          'We cannot delete an active deployment unless it is the only deployment in a given environment.',
        );
      }
      state.deployments.splice(state.deployments.indexOf(d), 1);
      return { status: 204 };
    },

    'repos/create-deployment-status': (ctx) => {
      const d = findDeployment(ctx);
      if (!d) return error(404, 'Not Found');
      const b = ctx.body;
      const description = b.description as string | undefined;
      if (description !== undefined && description.length > 140) {
        return error(422, 'Validation Failed', [
          {
            resource: 'DeploymentStatus',
            field: 'description',
            code: 'custom',
            message: 'description is too long (maximum is 140 characters)',
          },
        ]);
      }
      const s = state.addStatus(d, {
        state: b.state as DeploymentState,
        description,
        environment: b.environment as string | undefined,
        targetUrl: b.target_url as string | undefined,
        logUrl: b.log_url as string | undefined,
        environmentUrl: b.environment_url as string | undefined,
        autoInactive: b.auto_inactive as boolean | undefined,
        creator: ctx.user,
      });
      const json = state.statusJson(d, s);
      return { status: 201, body: json, headers: { Location: String(json.url) } };
    },

    'repos/list-deployment-statuses': (ctx) => {
      const d = findDeployment(ctx);
      if (!d) return error(404, 'Not Found');
      const page = paginate([...d.statuses].reverse(), ctx);
      return {
        status: 200,
        body: page.items.map((s) => state.statusJson(d, s)),
        headers: page.headers,
      };
    },

    'repos/get-deployment-status': (ctx) => {
      const d = findDeployment(ctx);
      const s = d?.statuses.find((x) => x.id === Number(ctx.params.status_id));
      return d && s ? { status: 200, body: state.statusJson(d, s) } : error(404, 'Not Found');
    },

    'repos/get-all-environments': (ctx) => {
      const all = [...state.environments.values()].sort((a, b) => a.name.localeCompare(b.name));
      const page = paginate(all, ctx);
      return {
        status: 200,
        body: {
          total_count: all.length,
          environments: page.items.map((e) => state.environmentJson(e)),
        },
        headers: page.headers,
      };
    },

    'repos/get-environment': (ctx) => {
      const env = state.environments.get(String(ctx.params.environment_name));
      return env ? { status: 200, body: state.environmentJson(env) } : error(404, 'Not Found');
    },

    'actions/get-pending-deployments-for-run': (ctx) => {
      const run = state.runs.get(Number(ctx.params.run_id));
      if (!run) return error(404, 'Not Found');
      return { status: 200, body: run.pending.map((p) => state.pendingJson(run, p, ctx.user)) };
    },

    'actions/review-pending-deployments-for-run': (ctx) => {
      const run = state.runs.get(Number(ctx.params.run_id));
      if (!run) return error(404, 'Not Found');
      const ids = ctx.body.environment_ids as number[];
      const decision = ctx.body.state as 'approved' | 'rejected';
      const chosen = run.pending.filter((p) =>
        ids.includes(state.environments.get(p.environment)?.id ?? -1),
      );
      if (chosen.length === 0 || chosen.length !== new Set(ids).size) {
        return error(422, 'No pending deployment requests to approve or reject');
      }
      for (const p of chosen) {
        const env = state.environments.get(p.environment);
        if (!env || !state.canApprove(ctx.user, env, run)) {
          return error(422, `${ctx.user} is not allowed to review deployments to ${p.environment}`);
        }
      }
      const created: DeploymentRecord[] = [];
      for (const p of chosen) {
        run.pending.splice(run.pending.indexOf(p), 1);
        run.reviews.push({
          environment: p.environment,
          state: decision,
          comment: String(ctx.body.comment),
          user: ctx.user,
          at: state.timestamp(),
        });
        if (decision === 'approved') {
          created.push(
            state.createDeployment({
              ref: run.headBranch,
              sha: run.headSha,
              environment: p.environment,
              creator: run.actor,
            }),
          );
        }
      }
      return { status: 200, body: created.map((d) => state.deploymentJson(d)) };
    },

    'actions/list-workflow-run-artifacts': (ctx) => {
      const runId = Number(ctx.params.run_id);
      const name = ctx.query.name as string | undefined;
      const asc = ctx.query.direction === 'asc';
      const list = state.artifacts
        .filter((a) => a.finalized && a.runId === runId && (name === undefined || a.name === name))
        .sort((a, b) => (asc ? a.id - b.id : b.id - a.id));
      const page = paginate(list, ctx);
      return {
        status: 200,
        body: { total_count: list.length, artifacts: page.items.map((a) => state.artifactJson(a)) },
        headers: page.headers,
      };
    },

    'actions/get-artifact': (ctx) => {
      const a = state.artifacts.find((x) => x.finalized && x.id === Number(ctx.params.artifact_id));
      return a ? { status: 200, body: state.artifactJson(a) } : error(404, 'Not Found');
    },

    'actions/delete-artifact': async (ctx) => {
      const a = state.artifacts.find((x) => x.finalized && x.id === Number(ctx.params.artifact_id));
      if (!a) return error(404, 'Not Found');
      state.artifacts.splice(state.artifacts.indexOf(a), 1);
      await (await storage()).delete(a.blobName);
      return { status: 204 };
    },

    'actions/download-artifact': async (ctx) => {
      const a = state.artifacts.find((x) => x.finalized && x.id === Number(ctx.params.artifact_id));
      if (!a || ctx.params.archive_format !== 'zip') return error(404, 'Not Found');
      if (Date.parse(a.expiresAt) <= state.now().getTime())
        return error(410, 'Artifact has expired');
      const location = (await storage()).downloadUrl(a.blobName, fileNameOf(a), 60_000);
      return { status: 302, headers: { Location: location } };
    },
  };
}

function paginate<T>(items: T[], ctx: Context): { items: T[]; headers: Record<string, string> } {
  const perPage = Math.min(Math.max(Number(ctx.query.per_page ?? 30), 1), 100);
  const page = Math.max(Number(ctx.query.page ?? 1), 1);
  const last = Math.max(Math.ceil(items.length / perPage), 1);
  const link = (p: number, rel: string): string => {
    const u = new URL(ctx.url.pathname + ctx.url.search, ctx.origin);
    u.searchParams.set('per_page', String(perPage));
    u.searchParams.set('page', String(p));
    return `<${u.href}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (page > 1) links.push(link(page - 1, 'prev'), link(1, 'first'));
  if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    headers: links.length ? { Link: links.join(', ') } : {},
  };
}

function error(status: number, message: string, errors?: Record<string, unknown>[]): Reply {
  const body: Record<string, unknown> = {
    message,
    documentation_url: DOCS,
    status: String(status),
  };
  if (errors) body.errors = errors;
  return { status, body };
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  const out: Record<string, string> = {
    'x-github-request-id': randomUUID().toUpperCase().slice(0, 23),
    'x-github-api-version-selected': '2022-11-28',
    ...headers,
  };
  if (body === undefined) {
    res.writeHead(status, out).end();
    return;
  }
  res
    .writeHead(status, { ...out, 'content-type': 'application/json; charset=utf-8' })
    .end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
