import type { Client, SFTPWrapper } from 'ssh2';
import type { HostRef } from '../../host/executor';
import { HostUnreachableError } from './errors';
import type { Semaphore } from './semaphore';

/** Who we log in as, where. */
export interface Endpoint {
  ref: HostRef;
  port: number;
  user: string;
}

/** One kept SSH connection; its channels are limited by a semaphore. */
export interface Connection {
  endpoint: Endpoint;
  client: Client;
  channels: Semaphore;
  sftp?: Promise<SFTPWrapper>;
  closed: boolean;
  lastError?: string;
}

/** The channel never opened, so the command did not run and may be retried. */
export class ChannelNotOpenedError extends Error {
  constructor(
    readonly connectionGone: boolean,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

export function unreachable(
  endpoint: Endpoint,
  reason: string,
  cause: unknown,
): HostUnreachableError {
  return new HostUnreachableError(endpoint.ref, endpoint.port, reason, { cause });
}

/** ssh2's words for a connection that is gone. */
export function isGone(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return message === 'No response from server' || message === 'Not connected';
}
