import { InputError } from '../model/errors';
import { assertAbsolutePath, assertVersion } from '../model/validate';

/** Checks of the values the host scripts interpolate (then quote). */

const SHA256 = /^[0-9a-f]{64}$/;
const TAG = /^[A-Za-z0-9]{1,32}$/;

export function assertSha256(value: string, field = 'sha256'): string {
  if (!SHA256.test(value)) throw new InputError(field, `"${value}" is not a sha256 hex digest`);
  return value;
}

export function assertTag(value: string): string {
  if (!TAG.test(value)) throw new InputError('tag', `"${value}" must be 1-32 letters or digits`);
  return value;
}

export function assertPort(value: number, field = 'port'): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new InputError(field, `${value} is not a TCP port`);
  }
  return value;
}

export function assertCount(value: number, field: string, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new InputError(field, `${value} must be an integer of at least ${min}`);
  }
  return value;
}

/** Where an upload waits until its checksum is verified. */
export function incomingPath(docBase: string, version: string, tag: string): string {
  return `${assertAbsolutePath(docBase, 'docBase')}/.rollgate/incoming/${assertVersion(version)}.${assertTag(tag)}.tgz`;
}

export function assertIncoming(docBase: string, path: string): string {
  const dir = `${docBase}/.rollgate/incoming/`;
  if (!path.startsWith(dir) || path.slice(dir.length).includes('/')) {
    throw new InputError('incoming', `"${path}" is not inside ${dir}`);
  }
  return assertAbsolutePath(path, 'incoming');
}
