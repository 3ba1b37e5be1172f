/**
 * O4: put release events on the monitoring timeline. Pushes
 *
 *   rollgate_release_info{group, version, event} 1
 *   rollgate_release_event_timestamp_seconds{group, version, event} <when>
 *
 * to a Prometheus Pushgateway, grouping key `job/<job>/group/<group>/event/<event>`: each push
 * replaces the group's previous one for that event, so in Prometheus (scraping the Pushgateway
 * with `honor_labels: true`) the series for version 1.1.0 starts when 1.1.0 was deployed and a
 * graph of errors can be laid over `changes(rollgate_release_event_timestamp_seconds[1m])`.
 * Optional: a failed push is the caller's warning, never a failed release.
 */
import { RollgateError } from '../model/errors';
import { describeFetchError } from './prometheus/client';

export interface ReleaseEventPush {
  /** Pushgateway base URL: `http://127.0.10.2:19091`. */
  url: string;
  group: string;
  version: string;
  /** `deployed`, `baked`, `rolled`, `rolled-back`, `degraded`, `healthy`, … */
  event: string;
  /** When it happened, epoch ms (from the Clock port). */
  at: number;
  /** Default `rollgate`. */
  job?: string;
  timeoutMs?: number;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

export class PushError extends RollgateError {}

/** The text exposition body (pure; exported for tests). */
export function releaseEventBody(version: string, at: number): string {
  const v = `version="${escapeLabel(version)}"`;
  return [
    '# TYPE rollgate_release_info gauge',
    `rollgate_release_info{${v}} 1`,
    '# TYPE rollgate_release_event_timestamp_seconds gauge',
    `rollgate_release_event_timestamp_seconds{${v}} ${at / 1000}`,
    '',
  ].join('\n');
}

/** `/metrics/job/rollgate/group/shop/event/deployed`; values with `/` go base64url-encoded. */
export function groupingPath(job: string, labels: Record<string, string>): string {
  const pairs: [string, string][] = [['job', job], ...Object.entries(labels)];
  const parts = pairs.map(([key, value]) =>
    value === '' || value.includes('/')
      ? `${key}@base64/${Buffer.from(value).toString('base64url') || '='}`
      : `${key}/${encodeURIComponent(value)}`,
  );
  return `/metrics/${parts.join('/')}`;
}

export async function pushReleaseEvent(push: ReleaseEventPush): Promise<void> {
  const base = push.url.replace(/\/+$/, '');
  const path = groupingPath(push.job ?? 'rollgate', { group: push.group, event: push.event });
  const fetchFn = push.fetch ?? fetch;
  let res: Response;
  try {
    res = await fetchFn(`${base}${path}`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain; version=0.0.4', ...(push.headers ?? {}) },
      body: releaseEventBody(push.version, push.at),
      signal: AbortSignal.timeout(push.timeoutMs ?? 5000),
    });
  } catch (err) {
    throw new PushError(`pushgateway ${base} unreachable: ${describeFetchError(err)}`, {
      cause: err,
    });
  }
  const text = await res.text();
  if (!res.ok) {
    throw new PushError(`pushgateway ${base}: HTTP ${res.status} ${text.trim().slice(0, 200)}`);
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
