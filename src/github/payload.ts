import type { PayloadForRebuild } from './rebuild';

/**
 * The rollgate part of a GitHub deployment's payload (an object, or the JSON text GitHub keeps
 * for older deployments); null for a deployment rollgate did not make.
 */
export function rollgatePayload(raw: unknown): PayloadForRebuild | null {
  try {
    const p = (typeof raw === 'string' ? JSON.parse(raw || '{}') : raw) as PayloadForRebuild;
    return p?.rollgate === 1 ? p : null;
  } catch {
    return null;
  }
}
