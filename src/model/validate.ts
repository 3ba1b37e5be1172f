import { isIPv4, isIPv6 } from 'node:net';
import { InputError } from './errors';

/**
 * Anything that reaches a shell is checked here first, then quoted where it is used.
 * A version like `1.0;rm -rf /` is refused before anything runs.
 */
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const HOST = /^[A-Za-z0-9_]([A-Za-z0-9._-]{0,251}[A-Za-z0-9_])?$/;
const TARGET_ID = /^[A-Za-z0-9]([A-Za-z0-9._:-]{0,252}[A-Za-z0-9])?$/;
const ABS_PATH = /^\/[A-Za-z0-9._/-]*$/;

export function assertVersion(value: string, field = 'version'): string {
  if (!VERSION.test(value) || value.includes('..')) {
    throw new InputError(
      field,
      `"${value}" is not a valid version: use letters, digits and . _ + - (at most 128, starting with a letter or digit)`,
    );
  }
  return value;
}

/**
 * A host name (letters, digits, . _ -), an IPv4 address or an IPv6 address (no zone). Digits
 * and dots alone must be an IPv4 address: `127.0.80.999` is none, and `127.1` or `010.0.0.1`
 * would be read by the resolver as another address (short forms, octal).
 */
export function isHost(value: string): boolean {
  if (/^[0-9.]+$/.test(value)) return isIPv4(value);
  return HOST.test(value) || isIp6(value);
}

function isIp6(value: string): boolean {
  return isIPv6(value) && !value.includes('%') && value.length <= 45;
}

export function assertHost(value: string, field = 'host'): string {
  if (/^[0-9.]+$/.test(value) && !isIPv4(value)) {
    throw new InputError(
      field,
      `"${value}" is not an IPv4 address: four numbers 0–255 without leading zeros, like 10.0.2.15`,
    );
  }
  if (!isHost(value)) {
    throw new InputError(field, `"${value}" is not a valid host name or address`);
  }
  return value;
}

export function assertTargetId(value: string, field = 'id'): string {
  if (!TARGET_ID.test(value) && !isIp6(value)) {
    throw new InputError(field, `"${value}" is not a valid target id: letters, digits and . _ : -`);
  }
  return value;
}

export function assertAbsolutePath(value: string, field = 'path'): string {
  if (!ABS_PATH.test(value) || value.split('/').includes('..') || value.length > 1024) {
    throw new InputError(
      field,
      `"${value}" must be an absolute path of letters, digits and . _ / - (no "..")`,
    );
  }
  return value.length > 1 ? value.replace(/\/+$/, '') : value;
}
