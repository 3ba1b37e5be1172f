/**
 * What the results services of the double (artifacts, cache) share: Twirp JSON over POST, each
 * request and response read strictly with the protobuf message types generated into the client
 * package (unknown fields fail), errors as Twirp codes, and the runner's runtime token.
 */
import { makeViolation, type Violation } from './openapi';

export const TWIRP_STATUS = {
  malformed: 400,
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  bad_route: 404,
  already_exists: 409,
  failed_precondition: 412,
} as const;
export type TwirpCode = keyof typeof TWIRP_STATUS;

export interface TwirpReply {
  status: number;
  body: Record<string, unknown>;
}

interface JsonMessageType {
  fromJson(json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

/** The generated message types of a client package, by name (`<Method>Request`, …). */
export type Generated = Record<string, JsonMessageType>;

export class TwirpError extends Error {
  constructor(
    readonly code: TwirpCode,
    message: string,
    /** A client mistake the test should hear about (not a legitimate GitHub answer). */
    readonly violation: boolean,
  ) {
    super(message);
  }
}

/**
 * One call: the method must exist in `types`, the caller authenticate, the body be a valid
 * `<Method>Request`; the answer is checked as a `<Method>Response`. Client mistakes are
 * reported as violations and answered with their Twirp status.
 */
export async function serveTwirp<C>(o: {
  service: string;
  prefix: string;
  method: string;
  rawBody: string;
  types: () => Promise<Generated>;
  report: (v: Violation) => void;
  authenticate: () => C;
  dispatch: (caller: C, message: Record<string, unknown>) => Promise<Record<string, unknown>>;
}): Promise<TwirpReply> {
  const { method } = o;
  const violation = (message: string, direction: 'request' | 'response', status?: number) =>
    o.report(
      makeViolation({
        direction,
        method: 'POST',
        path: `${o.prefix}${method}`,
        operationId: `${o.service}/${method}`,
        status,
        part: 'body',
        pointer: '',
        message,
      }),
    );
  try {
    const types = await o.types();
    const requestType = types[`${method}Request`];
    const responseType = types[`${method}Response`];
    if (!requestType || !responseType) {
      throw new TwirpError('bad_route', `no method ${method}`, true);
    }
    const caller = o.authenticate();
    let json: unknown;
    try {
      json = JSON.parse(o.rawBody);
    } catch {
      throw new TwirpError('malformed', 'the request body is not JSON', true);
    }
    let message: Record<string, unknown>;
    try {
      message = requestType.fromJson(json) as Record<string, unknown>;
    } catch (err) {
      throw new TwirpError('malformed', `not a ${method}Request: ${(err as Error).message}`, true);
    }
    const body = await o.dispatch(caller, message);
    try {
      responseType.fromJson(body);
    } catch (err) {
      violation(`not a ${method}Response: ${(err as Error).message}`, 'response', 200);
    }
    return { status: 200, body };
  } catch (err) {
    if (!(err instanceof TwirpError)) throw err;
    if (err.violation) violation(err.message, 'request');
    return { status: TWIRP_STATUS[err.code], body: { code: err.code, msg: err.message } };
  }
}

/**
 * The `Actions.Results:<run>:<job>` scope of the runtime token, split at `:`, or undefined when
 * the token has none. No token, or one that is not a JWT, is unauthenticated.
 */
export function resultsScope(authorization: string | undefined): string[] | undefined {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (!token) throw new TwirpError('unauthenticated', 'a Bearer runtime token is required', true);
  let scp: unknown;
  try {
    const payload = token.split('.')[1] ?? '';
    scp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { scp?: unknown }).scp;
  } catch {
    throw new TwirpError('unauthenticated', 'the runtime token is not a JWT', true);
  }
  const scope =
    typeof scp === 'string'
      ? scp.split(' ').find((s) => s.startsWith('Actions.Results:'))
      : undefined;
  return scope?.split(':');
}
