import type { ContainerRunSpec, Issue } from '../policy';

/** no-privileged: the group's container run options ask for no privileges. */

const DANGEROUS_CAPS = new Set([
  'ALL',
  'SYS_ADMIN',
  'SYS_MODULE',
  'SYS_PTRACE',
  'SYS_RAWIO',
  'SYS_BOOT',
  'SYS_TIME',
  'NET_ADMIN',
  'NET_RAW',
  'DAC_READ_SEARCH',
  'DAC_OVERRIDE',
  'BPF',
  'PERFMON',
  'MKNOD',
  'SETFCAP',
  'LINUX_IMMUTABLE',
  'MAC_ADMIN',
  'MAC_OVERRIDE',
]);
const HOST_PATHS =
  /^(?:\/|\/var\/run\/docker\.sock|\/run\/docker\.sock|\/var\/run\/podman|\/run\/podman|\/proc|\/sys|\/dev|\/etc|\/root|\/boot|\/var\/lib\/(?:docker|containers))(?:\/.*)?$/;

/** Reads `docker run`-style options into a spec (unknown options are ignored). */
export function parseRunArgs(args: readonly string[]): ContainerRunSpec {
  const spec: ContainerRunSpec = {};
  const push = (k: 'capAdd' | 'securityOpt' | 'devices' | 'volumes', v: string) => {
    (spec[k] ??= []).push(v);
  };
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = () => inline ?? args[++i] ?? '';
    switch (flag) {
      case '--privileged':
        spec.privileged = inline === undefined ? true : inline !== 'false';
        break;
      case '--cap-add':
        push('capAdd', value());
        break;
      case '--security-opt':
        push('securityOpt', value());
        break;
      case '--device':
        push('devices', value());
        break;
      case '-v':
      case '--volume':
        push('volumes', value());
        break;
      case '--mount': {
        const m = /(?:^|,)(?:source|src)=([^,]+)/.exec(value());
        if (m) push('volumes', `${m[1]}:`);
        break;
      }
      case '-u':
      case '--user':
        spec.user = value();
        break;
      case '--net':
      case '--network':
        spec.network = value();
        break;
      case '--pid':
        spec.pid = value();
        break;
      case '--ipc':
        spec.ipc = value();
        break;
      case '--userns':
        spec.userns = value();
        break;
      default:
        break;
    }
  }
  return spec;
}

export function checkRunSpec(input: ContainerRunSpec): Issue[] {
  const fromArgs = input.args ? parseRunArgs(input.args) : {};
  const spec: ContainerRunSpec = {
    ...fromArgs,
    ...input,
    capAdd: [...(input.capAdd ?? []), ...(fromArgs.capAdd ?? [])],
    securityOpt: [...(input.securityOpt ?? []), ...(fromArgs.securityOpt ?? [])],
    devices: [...(input.devices ?? []), ...(fromArgs.devices ?? [])],
    volumes: [...(input.volumes ?? []), ...(fromArgs.volumes ?? [])],
    privileged: input.privileged || fromArgs.privileged,
  };
  const issues: Issue[] = [];
  const add = (message: string, fix: string) =>
    issues.push({
      rule: 'no-privileged',
      message,
      layer: 'group container spec (run options)',
      fix,
    });
  if (spec.privileged) {
    add(
      'the container runs --privileged: all capabilities, all devices, no seccomp/AppArmor',
      'Remove privileged; add only the one capability the app needs, if any.',
    );
  }
  for (const cap of spec.capAdd ?? []) {
    const c = cap.toUpperCase().replace(/^CAP_/, '');
    if (DANGEROUS_CAPS.has(c))
      add(`--cap-add ${cap} grants host-level power`, `Remove --cap-add ${cap}.`);
  }
  for (const opt of spec.securityOpt ?? []) {
    if (
      /^(?:seccomp|apparmor)[=:]unconfined$|^label[=:]disable$|^no-new-privileges[=:]false$|^systempaths[=:]unconfined$/i.test(
        opt,
      )
    ) {
      add(`--security-opt ${opt} turns a protection off`, `Remove --security-opt ${opt}.`);
    }
  }
  for (const [k, v] of [
    ['pid', spec.pid],
    ['ipc', spec.ipc],
    ['userns', spec.userns],
    ['network', spec.network],
  ] as const) {
    if (v === 'host') add(`--${k}=host shares the host's ${k} namespace`, `Remove --${k}=host.`);
  }
  for (const d of spec.devices ?? [])
    add(`--device ${d} exposes a host device`, `Remove --device ${d}.`);
  for (const v of spec.volumes ?? []) {
    const host = v.split(':')[0] ?? '';
    if (HOST_PATHS.test(host.replace(/\/+$/, '') || '/')) {
      add(
        `volume ${v} mounts a sensitive host path`,
        `Mount an app-owned directory instead of ${host}.`,
      );
    }
  }
  if (spec.user !== undefined && /^(?:0|root)(?::|$)/.test(spec.user)) {
    add(
      `--user ${spec.user} runs the app as root whatever the image says`,
      'Remove --user or use the image’s non-root uid.',
    );
  }
  return issues;
}
