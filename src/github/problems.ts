/**
 * What the page says when GitHub does not answer a repository's reads: a named problem a person
 * can act on, never a stack trace. Pure: the caller passes what the failed request left.
 */

export type ProblemKind =
  | 'bad-token'
  | 'no-token'
  | 'forbidden'
  | 'not-found'
  | 'rate-limited'
  | 'unreachable'
  | 'github-error';

export interface RepoProblem {
  /** owner/repo */
  repo: string;
  kind: ProblemKind;
  /** One line: what happened and what to do. */
  message: string;
  /** ms since the epoch: when the page saw it. */
  at: number;
}

/** What a failed request leaves: its HTTP status (none: no answer), headers and message. */
export interface FailedRead {
  status?: number;
  headers?: Record<string, string | number | undefined>;
  message: string;
}

const TOKEN_ENV = 'GITHUB_TOKEN or ROLLGATE_GITHUB_TOKEN';
const SCOPES =
  'read access to deployments and actions (a fine-grained token: Deployments: read, Actions: read)';

function header(f: FailedRead, name: string): string | undefined {
  const v = f.headers?.[name];
  return v === undefined ? undefined : String(v);
}

function resetTime(f: FailedRead, now: number): string | null {
  const retryAfter = Number(header(f, 'retry-after'));
  const reset = Number(header(f, 'x-ratelimit-reset'));
  const at = Number.isFinite(retryAfter) && retryAfter > 0 ? now + retryAfter * 1000 : reset * 1000;
  if (!Number.isFinite(at) || at <= 0) return null;
  return new Date(at).toISOString().slice(11, 19) + ' UTC';
}

function isRateLimit(f: FailedRead): boolean {
  if (f.status === 429) return true;
  if (f.status !== 403) return false;
  return (
    header(f, 'x-ratelimit-remaining') === '0' ||
    header(f, 'retry-after') !== undefined ||
    /rate limit/i.test(f.message)
  );
}

/** The first line of GitHub's message, without octokit's " - https://docs…" tail. */
function gist(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/ - https?:\/\/\S+$/, '').slice(0, 200);
}

export function describeFailure(
  repo: string,
  f: FailedRead,
  o: { now: number; tokenGiven: boolean; apiUrl: string },
): RepoProblem {
  const at = o.now;
  const p = (kind: ProblemKind, message: string): RepoProblem => ({ repo, kind, message, at });
  if (f.status === undefined) {
    return p(
      'unreachable',
      `cannot reach GitHub at ${o.apiUrl} (${gist(f.message)}): check --github-api-url and the network; the page tries again`,
    );
  }
  if (isRateLimit(f)) {
    const reset = resetTime(f, o.now);
    return p(
      'rate-limited',
      `GitHub's API rate limit is spent (${f.status})${reset ? `; it resets at ${reset}` : ''}: the page keeps the last figures and reads again then — raise --github-poll if it recurs`,
    );
  }
  switch (f.status) {
    case 401:
      return o.tokenGiven
        ? p(
            'bad-token',
            `GitHub refused the token (401 ${gist(f.message) || 'Bad credentials'}): set ${TOKEN_ENV} to a valid token with ${SCOPES}`,
          )
        : p(
            'no-token',
            `GitHub wants a token to read ${repo} (401): set ${TOKEN_ENV} to a token with ${SCOPES}`,
          );
    case 403:
      return p(
        'forbidden',
        `the token may not read ${repo} (403 ${gist(f.message)}): give it ${SCOPES}`,
      );
    case 404:
      return p(
        'not-found',
        `${repo} was not found (404): check the name given to --github, or the token cannot see this repository (a private one needs ${SCOPES})`,
      );
    default:
      return p(
        'github-error',
        `GitHub answered ${f.status} (${gist(f.message)}): the page tries again`,
      );
  }
}
