import { describe, expect, it } from 'vitest';
import type { getOctokit } from '@actions/github';
import {
  GitHubReportingStore,
  groupPageUrl,
  type RepoContext,
} from '../../../src/actions/lib/github-deployments';
import { SimulatedClock } from '../../../src/engine/clock';
import { Engine } from '../../../src/engine/engine';
import { InputError } from '../../../src/model/errors';
import {
  FakeFleet,
  FakeTraffic,
  MemoryStore,
  fakePackage,
  makeConfig,
  makeGroup,
  makeLogger,
} from '../../support/fakes';
import { githubOpenApi } from '../../support/github-double/openapi';

describe('input page-url: the group page in the published export', () => {
  it.each([
    ['https://acme.github.io/shop/', 'web', 'https://acme.github.io/shop/g/web.html'],
    ['https://acme.github.io/shop', 'web', 'https://acme.github.io/shop/g/web.html'],
    ['https://acme.github.io/shop/index.html', 'web', 'https://acme.github.io/shop/g/web.html'],
    [
      'http://pages.internal:8080/rollgate/?x=1#top',
      'api',
      'http://pages.internal:8080/rollgate/g/api.html',
    ],
    ['https://x.example', 'shop-eu', 'https://x.example/g/shop-eu.html'],
  ])('%s, group %s → %s', (url, group, want) => {
    expect(groupPageUrl(url, group)).toBe(want);
  });

  it.each([
    ['no scheme', 'acme.github.io/shop'],
    ['relative', '/shop/'],
    ['another scheme', 'ftp://acme.example/shop/'],
    ['script', 'javascript:alert(1)'],
    ['file', 'file:///tmp/site/'],
  ])('refuses %s, naming the input', (_why, url) => {
    let err: unknown;
    try {
      groupPageUrl(url, 'web');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      `input page-url: "${url}" is not an absolute http(s) URL: give where the page of \`rollgate page --out\` is published, e.g. https://acme.github.io/shop/`,
    );
  });
});

/** What GitHubReportingStore posts as deployment statuses, checked against GitHub's OpenAPI. */
async function statusesOf(ctx: Partial<RepoContext>): Promise<Record<string, unknown>[]> {
  const posted: Record<string, unknown>[] = [];
  const octokit = {
    rest: {
      repos: {
        createDeployment: async () => ({ status: 201, data: { id: 12 } }),
        createDeploymentStatus: async (p: Record<string, unknown>) => {
          posted.push(p);
          return { status: 201, data: {} };
        },
      },
    },
  } as unknown as ReturnType<typeof getOctokit>;
  const clock = new SimulatedClock();
  const store = new GitHubReportingStore(new MemoryStore(), octokit, {
    owner: 'acme',
    repo: 'shop',
    environment: 'production/shop',
    ref: 'main',
    runId: 7,
    logUrl: 'https://github.com/acme/shop/actions/runs/7',
    warn: (l) => {
      throw new Error(l);
    },
    ...ctx,
  });
  const engine = new Engine(
    {
      transport: new FakeFleet(clock, 10),
      traffic: new FakeTraffic(),
      store,
      clock,
      logger: makeLogger(),
    },
    makeGroup(3),
    makeConfig(),
    'alice',
  );
  await engine.deploy({ version: '1.0.0', package: fakePackage('1.0.0') });
  const api = githubOpenApi();
  for (const p of posted) {
    const { owner, repo, deployment_id, ...body } = p;
    const check = api.validateRequest({
      method: 'POST',
      path: `/repos/${String(owner)}/${String(repo)}/deployments/${String(deployment_id)}/statuses`,
      query: new URLSearchParams(),
      contentType: 'application/json',
      body: JSON.stringify(body),
    });
    expect(check.violations.map((v) => v.message)).toEqual([]);
  }
  return posted;
}

describe('the deployment statuses', () => {
  it('carry environment_url when page-url is given; log_url stays the run', async () => {
    const posted = await statusesOf({
      environmentUrl: groupPageUrl('https://acme.github.io/shop/', 'web'),
    });
    expect(posted.length).toBeGreaterThan(0);
    for (const p of posted) {
      expect(p.environment_url).toBe('https://acme.github.io/shop/g/web.html');
      expect(p.log_url).toBe('https://github.com/acme/shop/actions/runs/7');
    }
  });

  it('carry no environment_url without it', async () => {
    const posted = await statusesOf({});
    expect(posted.length).toBeGreaterThan(0);
    for (const p of posted) expect(p).not.toHaveProperty('environment_url');
  });
});
