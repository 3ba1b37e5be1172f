import { AbortedError } from './errors';

/** What a wait or a remote command rejects with once `signal` is aborted: its reason, as an Error. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new AbortedError(typeof reason === 'string' ? reason : 'stopped at once (hard stop)');
}

/** Throws the abort reason when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}
