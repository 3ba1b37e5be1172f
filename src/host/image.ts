/**
 * The image package on a host: releases/<version>/IMAGE names the image the release runs, pulled
 * by digest with podman. Pure builders of the shell the image steps add, and the checks of every
 * value that reaches it (validated here, then quoted with shq).
 */
import { InputError } from '../model/errors';
import { assertAbsolutePath, assertVersion } from '../model/validate';
import { formatImageReference, parseImageReference } from '../registry/reference';
import { commitReleaseLines } from './release-commit';
import { shq } from './quote';

/** `releases/<version>/IMAGE`: the pinned reference the release runs. */
export const IMAGE_FILE = 'IMAGE';

/** Repository of the per-instance tags that keep an image while a release kept on the host names it. */
export const KEEP_REPOSITORY = 'localhost/rollgate';

/** How podman runs on the hosts: the group file's `package.image` settings. */
export interface ContainerSettings {
  /** Global podman flags, before the subcommand: `--root`, `--runtime /usr/sbin/runc`. */
  podmanArgs: readonly string[];
  /** Extra `podman run` arguments, before the image: `--ulimit nofile=20000:20000`. */
  runArgs: readonly string[];
  /** false: pull from a plain-HTTP or self-signed registry. */
  tlsVerify: boolean;
}

export const DEFAULT_CONTAINER_SETTINGS: ContainerSettings = {
  podmanArgs: [],
  runArgs: [],
  tlsVerify: true,
};

/** One install's container: its name and how podman runs it. */
export interface ContainerRun {
  name: string;
  podmanArgs: readonly string[];
  runArgs: readonly string[];
  /** Names of the variables passed into the container (`-e NAME`), besides PORT, HOST, VERSION. */
  env: readonly string[];
  /** `--stop-timeout`, what `--replace` waits for a container left running before it kills it. */
  stopTimeoutMs: number;
}

const DIGEST_HEX = /^sha256:([a-f0-9]{64})$/;
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A release's image: `registry/repository@sha256:<64 hex>`, returned in its normal form (the
 * tag, if any, dropped: the digest is what runs). A tag alone is refused: it can move.
 */
export function assertPinnedImage(value: string, field = 'image'): string {
  const ref = parseImageReference(value, field);
  if (!ref.digest) {
    throw new InputError(
      field,
      `"${value}" names a tag, which can move: pin it by digest (registry/repository@sha256:<64 hex>)`,
    );
  }
  return formatImageReference({
    registry: ref.registry,
    repository: ref.repository,
    digest: ref.digest,
  });
}

/** `registry/repository`, without tag or digest: the group file's `package.image.repository`. */
export function assertImageRepository(value: string, field = 'repository'): string {
  const ref = parseImageReference(value, field);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new InputError(field, `"${value}" must be registry/repository, without tag or digest`);
  }
  return formatImageReference(ref);
}

/** `sha256:<hex>` of a pinned reference. */
export function imageDigest(pinned: string): string {
  const digest = pinned.slice(pinned.lastIndexOf('@') + 1);
  if (!DIGEST_HEX.test(digest)) throw new InputError('image', `"${pinned}" is not pinned`);
  return digest;
}

/**
 * The container of one target: `rollgate-<group>-<address>-<port>`. The address is part of it
 * because one machine may run several targets on one port (the local transport does).
 */
export function containerName(group: string, address: string, port: number): string {
  // An IPv6 address has colons, which a container name cannot.
  const name = `rollgate-${group}-${address.replaceAll(':', '-')}-${port}`;
  if (!CONTAINER_NAME.test(name)) {
    throw new InputError('container', `"${name}" is not a valid container name`);
  }
  return name;
}

/** `localhost/rollgate/<instance>`: lower case, separators single, as a repository requires. */
export function keepRepository(container: string): string {
  const instance = container
    .replace(/^rollgate-/, '')
    .toLowerCase()
    .replace(/[._-]{2,}/g, '-');
  const repository = `${KEEP_REPOSITORY}/${instance}`;
  parseImageReference(repository, 'container');
  // podman 4.3: "repository name must not be more than 255 characters".
  if (repository.length > 255) {
    throw new InputError('container', `the keep repository ${repository} is over 255 characters`);
  }
  return repository;
}

/** The tag that keeps `pinned` for one instance: `<keepRepository>:sha256-<hex>`. */
export function keepTag(container: string, pinned: string): string {
  return `${keepRepository(container)}:${imageDigest(pinned).replace(':', '-')}`;
}

const RUN_RESERVED = new Map<string, string>([
  ['--name', 'rollgate names the container'],
  ['--replace', 'rollgate replaces the container'],
  ['--rm', 'rollgate removes the container when it stops'],
  ['--detach', 'the container runs in the foreground, under the pid rollgate records'],
  ['--network', 'the container uses the host network, so the app listens on its own address'],
  ['--net', 'the container uses the host network, so the app listens on its own address'],
  ['--pull', 'the image is pulled by the download step, never at start'],
]);

/**
 * Flags with their values: each element is a flag (`-x`, `--flag`, `--flag=value`) or the value
 * of the flag before it, so no element can become a subcommand or the image.
 */
function assertFlagList(args: unknown, field: string): string[] {
  if (!Array.isArray(args)) throw new InputError(field, 'must be a list of strings');
  let valueAllowed = false;
  return args.map((arg: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof arg !== 'string') throw new InputError(at, 'must be a string');
    if (arg.length === 0 || arg.length > 4096 || CONTROL.test(arg)) {
      throw new InputError(at, `${JSON.stringify(arg)} must be one line of 1 to 4096 characters`);
    }
    if (arg.startsWith('-')) {
      if (arg === '-' || arg === '--') throw new InputError(at, `"${arg}" is not a flag`);
      valueAllowed = !arg.includes('=');
      return arg;
    }
    if (!valueAllowed) {
      throw new InputError(
        at,
        `"${arg}" is neither a flag nor the value of the flag before it; write flags with their values, e.g. ["--ulimit", "nofile=20000:20000"]`,
      );
    }
    valueAllowed = false;
    return arg;
  });
}

/** Global podman flags (`package.image.podmanArgs`). */
export function assertPodmanArgs(args: unknown, field = 'podmanArgs'): string[] {
  return assertFlagList(args, field);
}

/** Extra `podman run` arguments (`package.image.runArgs`); the ones rollgate sets are refused. */
export function assertRunArgs(args: unknown, field = 'runArgs'): string[] {
  const list = assertFlagList(args, field);
  list.forEach((arg, i) => {
    if (!arg.startsWith('-')) return;
    const flag = arg.split('=')[0]!;
    const why =
      RUN_RESERVED.get(flag) ??
      (/^-[A-Za-z]*d[A-Za-z]*$/.test(flag) ? RUN_RESERVED.get('--detach') : undefined);
    if (why) throw new InputError(`${field}[${i}]`, `"${arg}" is set by rollgate: ${why}`);
  });
  return list;
}

export function assertContainerSettings(
  settings: ContainerSettings,
  field = 'package.image',
): ContainerSettings {
  return {
    podmanArgs: assertPodmanArgs(settings.podmanArgs, `${field}.podmanArgs`),
    runArgs: assertRunArgs(settings.runArgs, `${field}.runArgs`),
    tlsVerify: settings.tlsVerify,
  };
}

/** `podman <podmanArgs>`, quoted. */
export function podmanCommand(podmanArgs: readonly string[]): string {
  return ['podman', ...assertPodmanArgs(podmanArgs)].map(shq).join(' ');
}

function assertContainerName(name: string): string {
  if (!CONTAINER_NAME.test(name)) {
    throw new InputError('container', `"${name}" is not a valid container name`);
  }
  return name;
}

/**
 * The start command of an image release, for `sh -c`: podman in the foreground, so the pid the
 * install records is podman's and a TERM to its process group reaches the app (podman proxies
 * it). The image comes from $ROLLGATE_IMAGE, which the install script reads from IMAGE.
 */
export function imageStartCommand(run: ContainerRun): string {
  const name = assertContainerName(run.name);
  const env = ['PORT', 'HOST', 'VERSION', ...run.env].flatMap((variable) => {
    if (!ENV_NAME.test(variable)) {
      throw new InputError(`service.env.${variable}`, 'is not a valid environment variable name');
    }
    return ['-e', variable];
  });
  const stopSeconds = Math.max(1, Math.ceil(run.stopTimeoutMs / 1000));
  const words = [
    'run',
    '--rm',
    '--replace',
    '--name',
    name,
    '--network',
    'host',
    '--pull=never',
    '--stop-timeout',
    String(stopSeconds),
    ...env,
    ...assertRunArgs(run.runArgs),
  ];
  return `exec ${podmanCommand(run.podmanArgs)} ${words.map(shq).join(' ')} "$ROLLGATE_IMAGE"`;
}

/**
 * podman 4.3 changes an image's names by read-modify-write: two instances on one host tagging the
 * same image at once can lose a tag (seen here: a keep tag gone after a parallel batch). What
 * names or removes images runs under one lock per user and host (flock, util-linux; unlocked
 * where there is none).
 */
export const PODMAN_NAMES_LOCK_FN = [
  'names_locked() {',
  '  if command -v flock >/dev/null 2>&1; then',
  '    flock -w 600 "${TMPDIR:-/tmp}/rollgate-podman-names-$(id -u).lock" "$@"',
  '  else',
  '    "$@"',
  '  fi',
  '}',
];

/** Shell `case` pattern of what an IMAGE file may hold: no blank, no leading dash, no quoting. */
export const IMAGE_CASE_BAD = '""|-*|*[!][A-Za-z0-9._:/@-]*';

/**
 * Prune of an image release's image, after its directory is gone: this instance's keep tag is
 * removed, then the image itself when no release kept here still names it and no other instance
 * keeps it. Failures only warn. Runs with `$pimg` set to the pruned release's reference, already
 * checked against IMAGE_CASE_BAD.
 */
export function pruneImageLines(run: Pick<ContainerRun, 'name' | 'podmanArgs'>): string[] {
  const podman = podmanCommand(run.podmanArgs);
  const repository = keepRepository(assertContainerName(run.name));
  return [
    '    if ! grep -qxF -- "$pimg" releases/*/IMAGE 2>/dev/null; then',
    `      names_locked ${podman} rmi ${shq(repository)}:"sha256-\${pimg##*@sha256:}" >/dev/null 2>&1`,
    `      if ${podman} image inspect --format '{{range .RepoTags}}{{println .}}{{end}}' "$pimg" 2>/dev/null | grep -q '^${KEEP_REPOSITORY}/'; then`,
    '        echo "kept image $pimg: another instance on this host keeps it"',
    `      elif names_locked ${podman} rmi "$pimg" >/dev/null 2>&1; then`,
    '        echo "removed image $pimg"',
    '      else',
    '        echo "warning: could not remove image $pimg"',
    '      fi',
    '    fi',
  ];
}

export interface ImageDownloadParams {
  docBase: string;
  version: string;
  /** Pinned reference, `registry/repository@sha256:…`. */
  image: string;
  /** The target's container name; the keep tag derives from it. */
  container: string;
  podmanArgs: readonly string[];
  tlsVerify: boolean;
  /** Temp directory suffix. */
  tag: string;
}

/**
 * Prints `complete` when releases/<version> names this image and the image is on the host;
 * otherwise pulls it by digest, checks the digest, tags it for this instance and writes IMAGE and
 * the marker in a temp dir renamed into place (the rename is the commit). Exit 3: the version is
 * on the host as something else (F6); 4: the pulled image has another digest.
 */
export function imageDownloadScript(p: ImageDownloadParams, completeMarker: string): string {
  const doc = assertAbsolutePath(p.docBase, 'docBase');
  const version = assertVersion(p.version);
  const image = assertPinnedImage(p.image);
  const digest = imageDigest(image);
  const keep = keepTag(assertContainerName(p.container), image);
  if (!/^[A-Za-z0-9]{1,32}$/.test(p.tag)) {
    throw new InputError('tag', `"${p.tag}" must be 1-32 letters or digits`);
  }
  const podman = podmanCommand(p.podmanArgs);
  const tls = p.tlsVerify ? '' : ' --tls-verify=false';
  return [
    'set -u',
    `doc=${shq(doc)}`,
    `v=${shq(version)}`,
    `ref=${shq(image)}`,
    `keep=${shq(keep)}`,
    `tmp="$doc/releases/.tmp-$v-${p.tag}"`,
    'rel="$doc/releases/$v"',
    ...PODMAN_NAMES_LOCK_FN,
    'again=',
    `if [ -f "$rel/${completeMarker}" ]; then`,
    `  have=$(cat "$rel/${IMAGE_FILE}" 2>/dev/null || true)`,
    '  if [ -z "$have" ]; then',
    '    echo "release $v is already on the host as a tarball, not the image $ref: a release is never replaced (F6); publish it under a new version" >&2',
    '    exit 3',
    '  fi',
    '  if [ "$have" != "$ref" ]; then',
    '    echo "release $v is already on the host with the image $have, not $ref: a release is never replaced (F6); publish it under a new version" >&2',
    '    exit 3',
    '  fi',
    `  if ${podman} image exists "$keep"; then echo complete; exit 0; fi`,
    '  again=1',
    'fi',
    'mkdir -p "$doc/releases" || exit 1',
    `trap 'rm -rf -- "$tmp"' EXIT`,
    `names_locked ${podman} pull -q${tls} "$ref" >/dev/null || { echo "podman pull $ref failed" >&2; exit 1; }`,
    `got=$(${podman} image inspect --format '{{.Digest}}{{range .RepoDigests}} {{.}}{{end}}' "$ref") || exit 1`,
    `case " $got " in *" ${digest} "*|*" $ref "*) ;; *)`,
    `  echo "digest mismatch: podman pulled $ref as $got, expected ${digest}" >&2`,
    '  exit 4 ;;',
    'esac',
    `names_locked ${podman} tag "$ref" "$keep" || { echo "podman tag $ref $keep failed" >&2; exit 1; }`,
    'if [ -n "$again" ]; then echo pulled; exit 0; fi',
    'mkdir -- "$tmp" || exit 1',
    `printf '%s\\n' "$ref" >"$tmp/${IMAGE_FILE}" || exit 1`,
    `printf '%s\\n' ${shq(digest)} >"$tmp/${completeMarker}" || exit 1`,
    ...commitReleaseLines({
      marker: completeMarker,
      tag: p.tag,
      same: `[ "$(cat "$rel/${IMAGE_FILE}" 2>/dev/null)" = "$ref" ]`,
      other: 'as something else',
      done: 'pulled',
    }),
  ].join('\n');
}

/** What the image download script said: `complete` means nothing was pulled. */
export function parseImageDownload(stdout: string): { skipped: boolean } {
  const last = stdout.trim().split('\n').pop()?.trim();
  if (last === 'complete') return { skipped: true };
  if (last === 'pulled') return { skipped: false };
  throw new Error(`unexpected answer from the image download script: ${stdout.trim()}`);
}
