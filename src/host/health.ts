import type { HealthResult } from '../engine/ports';
import type { Target } from '../model/types';
import { abortReason } from '../model/abort';

export const DEFAULT_HEALTH_TIMEOUT_MS = 2000;

/** A path (`/health`) is asked of the target's address and port; a full URL may use {address} and {port}. */
export function healthUrl(
  healthCheckUrl: string,
  target: Pick<Target, 'address' | 'port'>,
): string {
  const address = target.address.includes(':') ? `[${target.address}]` : target.address;
  if (healthCheckUrl.startsWith('/')) return `http://${address}:${target.port}${healthCheckUrl}`;
  return healthCheckUrl.replaceAll('{address}', address).replaceAll('{port}', String(target.port));
}

/** One GET; ok on 2xx. Never throws, except the abort reason once `abort` (a hard stop) fires. */
export async function checkHealth(
  url: string,
  timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS,
  abort?: AbortSignal,
): Promise<HealthResult> {
  let response: Response;
  let body: string;
  try {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = abort ? AbortSignal.any([timeout, abort]) : timeout;
    response = await fetch(url, {
      signal,
      redirect: 'manual',
      headers: { accept: 'application/json' },
    });
    body = await response.text();
  } catch (error) {
    if (abort?.aborted) throw abortReason(abort);
    return { ok: false, detail: describeFailure(error, timeoutMs) };
  }
  const version = reportedVersion(body);
  const ok = response.status >= 200 && response.status < 300;
  const excerpt = ok ? '' : `: ${body.trim().slice(0, 200)}`;
  return {
    ok,
    ...(version === undefined ? {} : { version }),
    detail: `HTTP ${response.status}${excerpt}`,
  };
}

function reportedVersion(body: string): string | undefined {
  if (!body.trimStart().startsWith('{')) return undefined;
  try {
    const value = (JSON.parse(body) as Record<string, unknown>).version;
    if (typeof value === 'string') return value;
    if (typeof value === 'number') return String(value);
  } catch {
    // not JSON after all: no version to report
  }
  return undefined;
}

function describeFailure(error: unknown, timeoutMs: number): string {
  const err = error as {
    name?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') {
    return `no answer within ${timeoutMs} ms`;
  }
  switch (err.cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ENOTFOUND':
      return 'host name not found';
  }
  return err.cause?.message ?? err.message ?? String(error);
}
