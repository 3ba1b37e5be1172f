import { InputError } from '../model/errors';
import type { ServiceSpec } from '../model/types';
import { assertAbsolutePath, assertVersion } from '../model/validate';
import {
  containerName,
  IMAGE_CASE_BAD,
  IMAGE_FILE,
  imageStartCommand,
  podmanCommand,
  PODMAN_NAMES_LOCK_FN,
  type ContainerRun,
} from './image';
import {
  ALIVE_FN,
  OWNED_FN,
  pruneLines,
  startLines,
  stopLines,
  switchLines,
} from './install-steps';
import { COMPLETE_MARKER } from './marker';
import { shq } from './quote';
import { assertCount, assertPort } from './script-args';

export interface InstallParams {
  docBase: string;
  version: string;
  /** Exported to the app as PORT and HOST. */
  port: number;
  address: string;
  service: ServiceSpec;
  keep: number;
  /**
   * Releases never pruned whatever `keep` says: what a rollback returns to (F4). After aborted
   * releases the "previous" release can be one that never succeeded; this keeps the good one.
   */
  protect?: readonly string[];
  /** How long to wait for the started app to record its pid. */
  startWaitMs?: number;
  /**
   * How an image release (releases/<version>/IMAGE) runs. Default: `rollgate-app-<address>-<port>`
   * with plain podman.
   */
  container?: Pick<ContainerRun, 'name' | 'podmanArgs' | 'runArgs'>;
}

/** Exit code of the install script when the release is not on the host. */
export const NOT_ON_HOST = 3;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const NOT_EXECUTABLE = new Set(
  'if then else elif fi while until for case esac do done in ! { } cd trap exec export set unset . : eval readonly shift umask wait ulimit'.split(
    ' ',
  ),
);

/**
 * A start command that is one plain program call is exec'd, so the pid rollgate records is the
 * app's own and a plain `kill <pid>` reaches it. Anything else runs under sh as given; the pid is
 * then that sh's, which still leads the app's process group.
 */
export function execWhenSimple(start: string): string {
  const command = start.trim();
  const first = command.split(/\s+/)[0] ?? '';
  const simple =
    !/[;&|<>()`$\\{}\n*?[\]#~]/.test(command) &&
    /^[A-Za-z0-9_./'"+-]+$/.test(first) &&
    !NOT_EXECUTABLE.has(first);
  return simple ? `exec ${command}` : command;
}

/** The app's environment: service.env, then PORT and HOST (a side-by-side slot's port). */
export function envExports(service: ServiceSpec, port: number, address: string): string[] {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(service.env)) {
    if (!ENV_NAME.test(name)) {
      throw new InputError(`service.env.${name}`, 'is not a valid environment variable name');
    }
    lines.push(`export ${name}=${shq(value)}`);
  }
  lines.push(`export PORT=${shq(String(port))} HOST=${shq(address)}`);
  return lines;
}

/**
 * Makes `version` the running release: checks it is on the host (its image too), then stop,
 * switch, start and prune (install-steps.ts).
 */
export function installScript(p: InstallParams): string {
  const doc = assertAbsolutePath(p.docBase, 'docBase');
  const version = assertVersion(p.version);
  const port = assertPort(p.port);
  const keep = assertCount(p.keep, 'keep', 1);
  const protect = (p.protect ?? []).map((v) => assertVersion(v));
  const stopMs = assertCount(p.service.stopTimeoutMs, 'service.stopTimeoutMs', 0);
  const startWaitMs = assertCount(p.startWaitMs ?? 5000, 'startWaitMs', 100);
  const container: ContainerRun = {
    name: containerName('app', p.address, port),
    podmanArgs: [],
    runArgs: [],
    ...p.container,
    env: Object.keys(p.service.env),
    stopTimeoutMs: stopMs,
  };
  if (!p.service.start.trim() && !p.container) {
    throw new InputError('service.start', 'is empty');
  }
  const podman = podmanCommand(container.podmanArgs);
  const tarballStart = p.service.start.trim()
    ? `start=${shq(execWhenSimple(p.service.start))}`
    : `echo "release $v is no image release (no ${IMAGE_FILE}) and the group has no service.start" >&2; exit 1`;

  return [
    'set -u',
    `doc=${shq(doc)}`,
    `v=${shq(version)}`,
    'state="$doc/.rollgate"',
    'pidf="$state/app.pid"',
    'log="$state/app.log"',
    'cd "$doc" || exit 1',
    `if [ ! -f "releases/$v/${COMPLETE_MARKER}" ]; then`,
    '  echo "release $v is not on the host (no complete $doc/releases/$v): download it first; a rollback needs the old release kept" >&2',
    `  exit ${NOT_ON_HOST}`,
    'fi',
    '# an image release runs its image, which must be on the host: a rollback never pulls',
    'img=',
    `if [ -f "releases/$v/${IMAGE_FILE}" ]; then`,
    `  img=$(cat "releases/$v/${IMAGE_FILE}") || exit 1`,
    `  case $img in ${IMAGE_CASE_BAD})`,
    `    echo "releases/$v/${IMAGE_FILE} does not hold an image reference" >&2`,
    '    exit 1 ;;',
    '  esac',
    `  if ! ${podman} image exists "$img"; then`,
    '    echo "the image $img of release $v is not on the host: deploy $v again to pull it (a rollback uses only what the host keeps)" >&2',
    `    exit ${NOT_ON_HOST}`,
    '  fi',
    `  start=${shq(imageStartCommand(container))}`,
    'else',
    `  ${tarballStart}`,
    'fi',
    'mkdir -p "$state" || exit 1',
    'phys=$(pwd -P)',
    'prev=$(readlink current 2>/dev/null || true)',
    'prev=${prev##*/}',
    ...ALIVE_FN,
    ...OWNED_FN,
    ...PODMAN_NAMES_LOCK_FN,
    ...envExports(p.service, port, p.address),
    '',
    ...stopLines({
      stopCommand: p.service.stop?.trim(),
      stopMs,
      podman,
      containerName: container.name,
    }),
    '',
    ...switchLines(),
    '',
    ...startLines(startWaitMs),
    '',
    ...pruneLines({ keep, protect, container }),
    'exit 0',
  ].join('\n');
}
