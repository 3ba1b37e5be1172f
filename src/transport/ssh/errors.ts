import { RollgateError } from '../../model/errors';
import type { HostRef } from '../../host/executor';

/** `10.0.0.1:22`, `[2001:db8::1]:22`. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function describe(ref: HostRef, port: number): string {
  const where = `${ref.host} (${hostPort(ref.address, port)})`;
  return ref.id === ref.host ? where : `${ref.id} on ${where}`;
}

/** The host could not be reached, or the connection died while a command ran. */
export class HostUnreachableError extends RollgateError {
  constructor(
    readonly host: HostRef,
    readonly port: number,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach ${describe(host, port)}: ${reason}`, options);
  }
}

export type HostKeyProblem = 'unknown' | 'changed' | 'revoked';

/** The host's key does not match known_hosts: we refuse to talk to it. */
export class HostKeyError extends HostUnreachableError {
  constructor(
    host: HostRef,
    port: number,
    readonly problem: HostKeyProblem,
    reason: string,
  ) {
    super(host, port, reason);
  }
}

/** A command ran longer than its timeout; its channel was closed. */
export class ExecTimeoutError extends RollgateError {
  constructor(
    readonly host: HostRef,
    readonly timeoutMs: number,
  ) {
    super(`command on ${host.host} (${host.address}) timed out after ${timeoutMs} ms`);
  }
}
