import { InputError } from '../model/errors';
import type { Target } from '../model/types';
import { assertAbsolutePath, assertHost, assertTargetId, isHost } from '../model/validate';
import { bareMessage, type Problems } from './group-file-issues';
import type { RawGroupFile, RawTarget } from './raw-group-file';
import { lbNameProblem } from './value-checks';

/** A login name transport.user and an inventory's ansible_user may hold. */
export const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

/** A target before ids are given out: from `targets` or from the inventory. */
export interface Draft {
  host: string;
  address: string;
  port: number;
  docBase: string;
  id?: string;
  pulledOut: boolean;
  lbName?: string;
  altPort?: number;
  altLbName?: string;
  site?: string;
  sshUser?: string;
  sshPort?: number;
  /** `targets[2]` or `hosts.ini:4 (web-01)`, for messages about other targets. */
  label: string;
  /** Where the address came from, for messages: `address` or `ansible_host`. */
  addressFrom: string;
  fromInventory: boolean;
  fail(key: keyof RawTarget | undefined, message: string): void;
}

export function explicitDraft(
  t: RawTarget,
  index: number,
  raw: RawGroupFile,
  problems: Problems,
): Draft {
  const draft: Draft = {
    host: t.host,
    address: t.address ?? t.host,
    port: t.port ?? raw.port,
    docBase: t.docBase ?? raw.docBase,
    pulledOut: t.pulledOut ?? false,
    label: `targets[${index}]`,
    addressFrom: 'address',
    fromInventory: false,
    fail: (key, message) =>
      problems.add(key === undefined ? `targets[${index}]` : `targets[${index}].${key}`, message),
  };
  if (t.id !== undefined) draft.id = t.id;
  if (t.lbName !== undefined) draft.lbName = t.lbName;
  const altPort = t.altPort ?? raw.altPort;
  if (altPort !== undefined) draft.altPort = altPort;
  if (t.altLbName !== undefined) draft.altLbName = t.altLbName;
  if (t.site !== undefined) draft.site = t.site;
  return draft;
}

/** Checks each draft, gives out ids (host, or host:port when a host has several) and finds clashes. */
export function finishTargets(drafts: readonly Draft[]): Array<{ target: Target; draft: Draft }> {
  const check = (draft: Draft, key: keyof RawTarget, fn: (field: string) => void): boolean => {
    try {
      fn(key);
      return true;
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      draft.fail(key, bareMessage(error));
      return false;
    }
  };
  const perHost = new Map<string, number>();
  for (const draft of drafts) perHost.set(draft.host, (perHost.get(draft.host) ?? 0) + 1);

  const ids = new Map<string, Draft>();
  const places = new Map<string, Draft>();
  const endpoints = new Map<string, Draft>();
  const finished: Array<{ target: Target; draft: Draft }> = [];
  for (const draft of drafts) {
    const ok =
      check(draft, 'host', (f) => {
        if (draft.fromInventory && !isHost(draft.host)) {
          throw new InputError(
            f,
            `"${draft.host}" is not a valid host name or address: Ansible accepts any text as ` +
              'an inventory name, but rollgate names the target after it and records it; use ' +
              'letters, digits and . _ - (and put the address in ansible_host)',
          );
        }
        assertHost(draft.host, f);
      }) &&
      check(draft, 'address', (f) => assertHost(draft.address, f)) &&
      check(draft, 'docBase', (f) => {
        draft.docBase = notRoot(assertAbsolutePath(draft.docBase, f), f);
      }) &&
      (draft.id === undefined || check(draft, 'id', (f) => assertTargetId(draft.id!, f))) &&
      (draft.lbName === undefined ||
        check(draft, 'lbName', (f) => {
          const problem = lbNameProblem(draft.lbName!);
          if (problem) throw new InputError(f, problem);
        })) &&
      (draft.altLbName === undefined ||
        check(draft, 'altLbName', (f) => {
          const problem = lbNameProblem(draft.altLbName!);
          if (problem) throw new InputError(f, problem);
        })) &&
      (draft.altPort === undefined ||
        check(draft, 'altPort', (f) => {
          if (draft.altPort === draft.port) {
            throw new InputError(
              f,
              `${draft.altPort} is also the app port: the second slot needs a port of its own`,
            );
          }
        }));
    if (!ok) continue;

    const shared = (perHost.get(draft.host) ?? 0) > 1;
    const id = draft.id ?? (shared ? `${draft.host}:${draft.port}` : draft.host);
    const sameId = ids.get(id);
    if (sameId) {
      const hint =
        draft.id === undefined && shared
          ? `; give each instance on ${draft.host} its own port, or an id`
          : '';
      draft.fail(
        draft.id === undefined ? undefined : 'id',
        `id "${id}" is already used by ${sameId.label}${hint}`,
      );
      continue;
    }
    ids.set(id, draft);

    const place = `${draft.host}\0${draft.docBase}`;
    const samePlace = places.get(place);
    if (samePlace) {
      draft.fail(
        'docBase',
        `${draft.docBase} on ${draft.host} is already used by ${samePlace.label}; give each instance on one host its own docBase`,
      );
      continue;
    }
    places.set(place, draft);

    const altEndpoint =
      draft.altPort === undefined ? undefined : `${draft.address}:${draft.altPort}`;
    const sameAlt = altEndpoint === undefined ? undefined : endpoints.get(altEndpoint);
    if (sameAlt) {
      draft.fail(
        'altPort',
        `${altEndpoint} is already used by ${sameAlt.label}: give each slot its own port`,
      );
      continue;
    }
    const endpoint = `${draft.address}:${draft.port}`;
    const sameEndpoint = endpoints.get(endpoint);
    if (sameEndpoint) {
      if (draft.fromInventory) {
        draft.fail(
          undefined,
          `${draft.host} and ${sameEndpoint.label} both reach ${draft.address} (${draft.addressFrom}) ` +
            `on app port ${draft.port}: two targets cannot share one address and port. Give each ` +
            'its own rollgate_port (and rollgate_doc_base), or list the machine once',
        );
      } else {
        draft.fail('port', `${endpoint} is already used by ${sameEndpoint.label}`);
      }
      continue;
    }
    endpoints.set(endpoint, draft);
    if (altEndpoint !== undefined) endpoints.set(altEndpoint, draft);

    const target: Target = {
      id,
      host: draft.host,
      address: draft.address,
      port: draft.port,
      docBase: draft.docBase,
      pulledOut: draft.pulledOut,
    };
    if (draft.lbName !== undefined) target.lbName = draft.lbName;
    if (draft.altPort !== undefined) target.altPort = draft.altPort;
    if (draft.altLbName !== undefined) target.altLbName = draft.altLbName;
    if (draft.site !== undefined) target.site = draft.site;
    finished.push({ target, draft });
  }
  return finished;
}

export function notRoot(path: string, field: string): string {
  if (path === '/')
    throw new InputError(field, 'must not be / itself: give the application its own directory');
  return path;
}
