/**
 * Checks of values that a release would otherwise fail on only on a host — after the bastion
 * left the load balancer: bytes no command can carry, commands too long for exec, names HAProxy
 * or podman refuse. Run when the group file is loaded, so `plan` and every operation refuse
 * them before any host is touched, naming the field.
 */
import { InputError } from '../model/errors';
import type { ServiceSpec, Target } from '../model/types';
import { installScript } from '../host/install-script';
import { containerName, keepRepository } from '../host/image';
import { shq } from '../host/quote';
import type { YamlPath } from './yaml-source';

/** The kernel's limit for one exec argument (MAX_ARG_STRLEN, 32 pages), its NUL included. */
export const MAX_ARG_STRLEN = 131_072;

/** HAProxy 2.6 accepts letters, digits and `. _ - :` in proxy and server names (invalid_char()). */
const HAPROXY_NAME = /^[A-Za-z0-9._:-]+$/;
/**
 * HAProxy sets no length in the configuration, but the runtime API carries a name in one request
 * line and one `show stat` row, both within tune.bufsize (16 KiB by default): measured on 2.6,
 * `set server` stops finding a server of ~15,900 characters. Names are kept well below.
 */
export const HAPROXY_NAME_MAX = 1024;

/** podman 4.3 refuses an image repository name over 255 characters (the keep tag's). */
export const REPOSITORY_MAX = 255;

export type Report = (field: string, message: string) => void;

/** A NUL byte in any string of the file: no exec, ssh request or HAProxy command carries it. */
export function findNul(value: unknown, path: YamlPath, report: (path: YamlPath) => void): void {
  if (typeof value === 'string') {
    if (value.includes('\0')) report(path);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => findNul(v, [...path, i], report));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\0')) report([...path, k]);
      findNul(v, [...path, k], report);
    }
  }
}

// eslint-disable-next-line no-control-regex
const COMMAND_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/**
 * A shell command (service.start, service.stop, the traffic commands) is one script: tabs and
 * newlines are its own, any other control character is a mistake the shell would take as part
 * of a word (a carriage return from Windows line endings).
 */
export function checkCommand(field: string, command: string | undefined, report: Report): void {
  if (command === undefined) return;
  const m = COMMAND_CONTROL.exec(command);
  if (!m || m[0] === '\0') return;
  const code = m[0].charCodeAt(0);
  const name =
    code === 13
      ? 'a carriage return (Windows line endings?)'
      : `the control character \\x${code.toString(16).padStart(2, '0')}`;
  report(
    field,
    `contains ${name} at position ${m.index + 1}; the shell would take it as part of the command: remove it`,
  );
}

/**
 * The install script carries service.start, service.stop and service.env to each host as one
 * exec argument (`sh -c <script>`; over SSH the quoted command line the login shell runs): it
 * must fit MAX_ARG_STRLEN, or the host refuses it (E2BIG) with the target already out of traffic.
 */
export function checkExecSize(
  o: {
    service: ServiceSpec;
    keep: number;
    targets: readonly Target[];
    ssh: boolean;
    container?: { group: string; podmanArgs: string[]; runArgs: string[] };
  },
  report: Report,
): void {
  for (const [name, value] of Object.entries(o.service.env)) {
    const bytes = Buffer.byteLength(`${name}=${value}`) + 1;
    if (bytes > MAX_ARG_STRLEN) {
      report(
        `service.env.${name}`,
        `is ${bytes - name.length - 2} bytes; one variable can hold at most ${MAX_ARG_STRLEN - name.length - 2} (exec's MAX_ARG_STRLEN, ${MAX_ARG_STRLEN} bytes): keep large data in a file the app reads`,
      );
      return;
    }
  }
  // The longest docBase and address make the longest script.
  const target = [...o.targets].sort(
    (a, b) => b.docBase.length + b.address.length - (a.docBase.length + a.address.length),
  )[0];
  if (!target) return;
  let script: string;
  try {
    script = installScript({
      docBase: target.docBase,
      version: 'v'.repeat(128),
      port: target.port,
      address: target.address,
      service: o.service,
      keep: o.keep,
      ...(o.container
        ? {
            container: {
              name: containerName(o.container.group, target.address, target.port),
              podmanArgs: o.container.podmanArgs,
              runArgs: o.container.runArgs,
            },
          }
        : {}),
    });
  } catch (err) {
    if (err instanceof InputError) return; // reported by its own check
    throw err;
  }
  const carried = o.ssh ? `sh -c ${shq(script)} </dev/null` : script;
  const bytes = Buffer.byteLength(carried) + 1;
  if (bytes <= MAX_ARG_STRLEN) return;
  const parts: Array<[string, number]> = [
    ['service.start', Buffer.byteLength(o.service.start)],
    ['service.stop', Buffer.byteLength(o.service.stop ?? '')],
    ...Object.entries(o.service.env).map(([k, v]): [string, number] => [
      `service.env.${k}`,
      Buffer.byteLength(v),
    ]),
  ];
  const [largest, size] = parts.sort((a, b) => b[1] - a[1])[0]!;
  report(
    largest,
    `is ${size} bytes: with the rest of service.start, service.stop and service.env the install command for ${target.id} would be ${bytes} bytes, over the ${MAX_ARG_STRLEN} one exec argument can carry (MAX_ARG_STRLEN; the host would refuse it with E2BIG): keep large data in a file the app reads`,
  );
}

/** A load-balancer name as HAProxy accepts it: `server` or `backend/server`. */
export function lbNameProblem(name: string): string | null {
  if (name.length > HAPROXY_NAME_MAX) {
    return `is ${name.length} characters; HAProxy's runtime API carries names of at most ${HAPROXY_NAME_MAX} here`;
  }
  const parts = name.split('/');
  if (parts.length > 2 || parts.some((p) => !HAPROXY_NAME.test(p))) {
    return `"${name}" is not an HAProxy server name: letters, digits and . _ - : (or backend/server)`;
  }
  return null;
}

/** The container of an image release and its keep tag, as podman 4.3 accepts them. */
export function containerProblem(group: string, target: Target): string | null {
  try {
    keepRepository(containerName(group, target.address, target.port));
    return null;
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    const name = `rollgate-${group}-${target.address}-${target.port}`;
    return `the container of ${target.id}, ${name.slice(0, 40)}… (${name.length} characters), keeps its images as localhost/rollgate/<group>-<address>-<port>, longer than the ${REPOSITORY_MAX} characters podman takes for a repository name: use a shorter group name or address`;
  }
}
