/**
 * GitHubRepoReader over a scripted client: conditional reads (a 304 keeps the last answer and
 * changes nothing), a refusal keeps the last figures and names the problem, a spent rate limit
 * holds the next read until GitHub's reset, a deployment's statuses are read again only when it
 * changed.
 */
import { describe, expect, it } from 'vitest';
import type { Octokit } from '@octokit/rest';
import { GitHubRepoReader, REFUSED_RETRY_MS } from '../../../src/github/repo-reader';
import type { DeploymentConfig } from '../../../src/model/types';

const NOW = Date.parse('2026-12-05T01:00:00Z');

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly response?: { headers: Record<string, string> },
  ) {
    super(message);
  }
}

type Answer = { data: unknown; etag: string } | HttpError;

function scripted(routes: Record<string, () => Answer>) {
  const log: { route: string; ifNoneMatch?: string }[] = [];
  const octokit = {
    request: async (route: string, params: { headers?: Record<string, string> }) => {
      const ifNoneMatch = params.headers?.['if-none-match'];
      log.push({ route, ...(ifNoneMatch ? { ifNoneMatch } : {}) });
      const a = routes[route]?.();
      if (!a) throw new HttpError(404, `no route ${route}`, { headers: {} });
      if (a instanceof HttpError) throw a;
      if (ifNoneMatch === a.etag) throw new HttpError(304, 'Not modified', { headers: {} });
      return { data: a.data, headers: { etag: a.etag }, status: 200 };
    },
  } as unknown as Octokit;
  return { octokit, log };
}

const deployment = (updatedAt: string) => ({
  id: 11,
  environment: 'production/web',
  created_at: '2026-12-05T00:00:00Z',
  updated_at: updatedAt,
  creator: { login: 'github-actions[bot]' },
  payload: {
    rollgate: 1,
    group: 'web',
    deployment: 'd1',
    version: '1.0.0',
    kind: 'deploy',
    config: { bastionCount: 0, sizing: { maxUnavailable: 1 } } as unknown as DeploymentConfig,
    batches: [['web-01']],
    runId: 0,
    by: 'alice',
    from: null,
  },
});

const STATUSES = 'GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses';
const DEPLOYMENTS = 'GET /repos/{owner}/{repo}/deployments';

function reader(routes: Record<string, () => Answer>, now = () => NOW) {
  const s = scripted(routes);
  const r = new GitHubRepoReader({
    repo: 'acme/shop',
    token: 't',
    apiUrl: 'https://api.github.com',
    webUrl: 'https://github.com',
    operateWorkflow: 'operate.yml',
    now,
    octokit: s.octokit,
  });
  return { r, log: s.log };
}

describe('GitHubRepoReader', () => {
  it('reads conditionally: an unchanged repository is all 304s and no change', async () => {
    let updated = '2026-12-05T00:01:00Z';
    const { r, log } = reader({
      [DEPLOYMENTS]: () => ({ data: [deployment(updated)], etag: `"d-${updated}"` }),
      [STATUSES]: () => ({
        data: [
          {
            state: updated.endsWith('1:00Z') ? 'in_progress' : 'success',
            description: 'x',
            created_at: updated,
          },
        ],
        etag: `"s-${updated}"`,
      }),
    });
    expect([...(await r.poll())]).toEqual(['acme/shop:production/web']);
    expect(r.snapshot.groups[0]!.ledger!.current!.phase).toBe('ROLLING_OUT');
    log.length = 0;
    expect([...(await r.poll())]).toEqual([]);
    // The list again, with the ETag; the statuses not at all (the deployment did not change).
    expect(log).toEqual([{ route: DEPLOYMENTS, ifNoneMatch: `"d-${updated}"` }]);
    expect(r.snapshot.notModified).toBe(1);
    updated = '2026-12-05T00:02:00Z';
    log.length = 0;
    expect([...(await r.poll())]).toEqual(['acme/shop:production/web']);
    expect(log.map((l) => l.route)).toEqual([DEPLOYMENTS, STATUSES]);
    expect(r.snapshot.groups[0]!.ledger!.current!.phase).toBe('SUCCESS');
  });

  it.each([
    [401, 'Bad credentials', {}, 'bad-token', NOW + REFUSED_RETRY_MS],
    [404, 'Not Found', {}, 'not-found', NOW + REFUSED_RETRY_MS],
    [
      403,
      'API rate limit exceeded',
      { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(NOW / 1000 + 900) },
      'rate-limited',
      NOW + 900_000,
    ],
  ])(
    'a %i keeps the last figures, names the problem, holds the next read',
    async (status, msg, headers, kind, retryAt) => {
      let fail = false;
      const { r } = reader({
        [DEPLOYMENTS]: () =>
          fail
            ? new HttpError(status, msg, { headers })
            : { data: [deployment('2026-12-05T00:01:00Z')], etag: '"a"' },
        [STATUSES]: () => ({ data: [], etag: '"s"' }),
      });
      await r.poll();
      fail = true;
      const changed = await r.poll();
      expect(changed.has('acme/shop:')).toBe(true);
      expect(r.snapshot.problem).toMatchObject({ repo: 'acme/shop', kind });
      expect(r.snapshot.groups.map((g) => g.group.key)).toEqual(['acme/shop:production/web']);
      expect(r.retryAt).toBe(retryAt);
      fail = false;
      await r.poll();
      expect(r.snapshot.problem).toBeNull();
      expect(r.retryAt).toBe(0);
    },
  );
});
