import { assertHost } from '../model/validate';
import type { Problems } from './group-file-issues';
import type { Duration, RawGroupFile } from './raw-group-file';
import type { TrafficSpec, TransportSpec } from './specs';
import { USER_NAME } from './target-drafts';
import { checkCommand } from './value-checks';

/** A duration setting in ms, its problems recorded: `ms(field, value, fallback, positive?)`. */
export type Ms = (
  field: string,
  value: Duration | undefined,
  fallback: Duration,
  positive?: boolean,
) => number;

export function buildTransport(
  raw: RawGroupFile,
  env: Record<string, string | undefined>,
  problems: Problems,
  local: (path: string) => string,
  ms: Ms,
): TransportSpec {
  const t = raw.transport ?? { kind: 'local' };
  if (t.kind === 'local') return { kind: 'local', root: local(t.root ?? './.fleet') };

  let user = t.user ?? env.USER ?? env.LOGNAME ?? '';
  if (user === '') {
    problems.add(
      'transport.user',
      'is required: there is no USER in the environment to default to',
    );
  } else if (!USER_NAME.test(user)) {
    problems.add(
      'transport.user',
      `"${user}" (from USER) is not a valid user name; set transport.user`,
    );
    user = '';
  }
  const spec: TransportSpec = {
    kind: 'ssh',
    user,
    port: t.port ?? 22,
    insecureIgnoreHostKey: t.insecureIgnoreHostKey ?? false,
    maxChannelsPerHost: t.maxChannelsPerHost ?? 8,
    maxConnecting: t.maxConnecting ?? 8,
    connectTimeoutMs: ms('transport.connectTimeout', t.connectTimeout, '10s', true),
  };
  if (t.privateKeyFile !== undefined) spec.privateKeyFile = local(t.privateKeyFile);
  if (t.privateKeyEnv !== undefined) spec.privateKeyEnv = t.privateKeyEnv;
  if (t.agent !== undefined) spec.agent = t.agent;
  if (t.knownHostsFile !== undefined) spec.knownHostsFile = local(t.knownHostsFile);
  if (t.jumpHost !== undefined) {
    const jump = t.jumpHost;
    problems.guard(() => assertHost(jump.host, 'transport.jumpHost.host'));
    spec.jumpHost = { host: jump.host, port: jump.port ?? 22, user: jump.user ?? user };
  }
  return spec;
}

export function buildTraffic(
  raw: RawGroupFile,
  problems: Problems,
  local: (path: string) => string,
  ms: Ms,
): TrafficSpec {
  const t = raw.traffic ?? { kind: 'none' };
  const degraded = t.degraded ?? false;
  switch (t.kind) {
    case 'none':
      return { kind: 'none', degraded };
    case 'haproxy':
      return {
        kind: 'haproxy',
        sockets: t.sockets.map((socket, i) => {
          if (socket.startsWith('unix:')) return `unix:${local(socket.slice('unix:'.length))}`;
          const port = Number(socket.slice(socket.lastIndexOf(':') + 1));
          if (port < 1 || port > 65535) {
            problems.add(`traffic.sockets[${i}]`, `"${socket}": the port must be 1 to 65535`);
          }
          return socket;
        }),
        backend: t.backend,
        drainTimeoutMs: ms('traffic.drainTimeout', t.drainTimeout, '30s'),
        degraded,
      };
    case 'command': {
      for (const key of ['markdown', 'markup', 'status'] as const) {
        checkCommand(`traffic.${key}`, t[key], (f, m) => problems.add(f, m));
      }
      const spec: TrafficSpec = {
        kind: 'command',
        markdown: t.markdown,
        markup: t.markup,
        timeoutMs: ms('traffic.timeout', t.timeout, '30s', true),
        degraded,
      };
      if (t.status !== undefined) spec.status = t.status;
      return spec;
    }
  }
}
