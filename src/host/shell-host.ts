import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, posix } from 'node:path';
import type { HealthResult, HostProbe, LockOwner, Transport } from '../engine/ports';
import { LockHeldError, StepError } from '../model/errors';
import type { Group, PackageRef, Slot, Target } from '../model/types';
import { otherSlot, slotTarget } from '../model/slots';
import { serveScript, slotInstallScript } from './slot-scripts';
import { assertVersion } from '../model/validate';
import { sha256File } from './file-hash';
import type { ExecResult, Executor, HostRef } from './executor';
import { checkHealth, DEFAULT_HEALTH_TIMEOUT_MS, healthUrl } from './health';
import {
  assertContainerSettings,
  assertPinnedImage,
  containerName,
  DEFAULT_CONTAINER_SETTINGS,
  imageDownloadScript,
  parseImageDownload,
  type ContainerSettings,
} from './image';
import { PACKAGE_REFUSED, packageRefusalMessage } from './package-check';
import { installScript, NOT_ON_HOST, type InstallParams } from './install-script';
import { assertHeaderValue, fetchScript } from './store-fetch';
import { storeUrlFor } from '../model/package-store';
import { assertSha256, incomingPath } from './script-args';
import {
  CHECKSUM_MISMATCH,
  COMPLETE_MARKER,
  downloadCheckScript,
  downloadScript,
  freeKibScript,
  lockScript,
  parseLock,
  parseProbe,
  probeScript,
  removeFileScript,
  unlockScript,
} from './scripts';

export interface ShellHostTimeouts {
  /** probe, lock, unlock and the checks around a download. */
  commandMs: number;
  /** Checksum and unpacking on the host; an image pull. */
  unpackMs: number;
  /** Added to the service's stop timeout for the whole install script. */
  installSlackMs: number;
  /** How long the started app has to record its pid. */
  startWaitMs: number;
  healthMs: number;
}

export interface ShellHostOptions {
  executor: Executor;
  group: Group;
  timeouts?: Partial<ShellHostTimeouts>;
  /** How podman pulls and runs image releases (the group file's package.image). */
  image?: ContainerSettings;
  /** Where a package store's credential is read (package.auth env:NAME). Default: none. */
  env?: Record<string, string | undefined>;
}

const DEFAULTS: ShellHostTimeouts = {
  commandMs: 30_000,
  unpackMs: 300_000,
  installSlackMs: 30_000,
  startWaitMs: 5_000,
  healthMs: DEFAULT_HEALTH_TIMEOUT_MS,
};

type StepName = 'probe' | 'lock' | 'unlock' | 'download' | 'install' | 'serve';

/** The five steps' host side, as shell scripts run through an Executor (local or SSH). */
export class ShellHost implements Transport {
  private readonly executor: Executor;
  private readonly group: Group;
  private readonly timeouts: ShellHostTimeouts;
  private readonly image: ContainerSettings;
  private readonly env: Record<string, string | undefined>;

  constructor(options: ShellHostOptions) {
    this.env = options.env ?? {};
    this.executor = options.executor;
    this.group = options.group;
    this.timeouts = { ...DEFAULTS, ...options.timeouts };
    this.image = assertContainerSettings(options.image ?? DEFAULT_CONTAINER_SETTINGS);
  }

  async probe(target: Target, signal?: AbortSignal): Promise<HostProbe> {
    const result = await this.run(target, 'probe', probeScript(target.docBase), { signal });
    if (result.code !== 0) throw this.failure(target, 'probe', result);
    return parseProbe(result.stdout);
  }

  async connect(target: Target, signal?: AbortSignal): Promise<void> {
    try {
      await this.executor.connect?.(hostRef(target), signal ? { signal } : {});
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new StepError(`connect to ${target.id}: host unreachable: ${message(error)}`, {
        cause: error,
      });
    }
  }

  /** Takes the host lock and, in the same round trip, probes the host under it. */
  async lock(target: Target, owner: LockOwner, signal?: AbortSignal): Promise<HostProbe> {
    // A lock removed between our failed create and reading it reads as empty: try again.
    for (let attempt = 1; ; attempt++) {
      const script = lockScript(target.docBase, owner, new Date().toISOString(), tag(), {
        probe: true,
      });
      const result = await this.run(target, 'lock', script, { signal });
      if (result.code !== 0) throw this.failure(target, 'lock', result);
      const outcome = parseLock(result.stdout, { probe: true });
      if (outcome.kind !== 'held') return outcome.probe!;
      if (outcome.deploymentId === undefined && attempt < 3) continue;
      const holder = outcome.deploymentId
        ? `${outcome.who ?? 'unknown'} (deployment ${outcome.deploymentId})`
        : 'an unreadable lock file';
      throw new LockHeldError(
        `host ${target.id}`,
        holder,
        outcome.since ?? 'an unknown time',
        outcome.deploymentId,
      );
    }
  }

  async unlock(target: Target, owner: LockOwner): Promise<boolean> {
    const result = await this.run(
      target,
      'unlock',
      unlockScript(target.docBase, owner.deploymentId),
    );
    if (result.code !== 0) throw this.failure(target, 'unlock', result);
    return result.stdout.trim() === 'released';
  }

  async download(
    target: Target,
    pkg: PackageRef,
    signal?: AbortSignal,
  ): Promise<{ skipped: boolean }> {
    const version = assertVersion(pkg.version);
    if (pkg.image !== undefined) return this.downloadImage(target, version, pkg.image, signal);
    if (pkg.store !== undefined) return this.downloadFromStore(target, version, pkg, signal);
    if (!pkg.path) {
      throw new StepError(`download on ${target.id}: package ${version} has no local file`);
    }
    const sha256 = assertSha256(
      (pkg.sha256 ?? (await this.hashPackage(target, pkg.path))).toLowerCase(),
    );
    const params = { docBase: target.docBase, version, sha256 };

    const check = await this.run(target, 'download', downloadCheckScript(params), { signal });
    if (check.code !== 0) throw this.failure(target, 'download', check);
    if (check.stdout.trim() === 'complete') return { skipped: true };

    const id = tag();
    const incoming = incomingPath(target.docBase, version, id);
    try {
      await this.executor.put(hostRef(target), pkg.path, incoming, { signal });
    } catch (error) {
      if (signal?.aborted) throw error;
      await this.run(target, 'download', removeFileScript(incoming)).catch(() => undefined);
      const space = await this.noSpace(target, posix.dirname(incoming), pkg.path);
      throw new StepError(
        `download on ${target.id}: copying ${pkg.path} to ${incoming} failed: ${message(error)}${space}`,
        { cause: error },
      );
    }
    const result = await this.run(
      target,
      'download',
      downloadScript({ ...params, incoming, tag: id }),
      {
        timeoutMs: this.timeouts.unpackMs,
        signal,
      },
    );
    if (result.code === PACKAGE_REFUSED) {
      throw new StepError(packageRefusalMessage(target.id, basename(pkg.path), result.stderr));
    }
    if (result.code !== 0) throw this.failure(target, 'download', result);
    return { skipped: false };
  }

  async install(
    target: Target,
    version: string,
    signal?: AbortSignal,
    options: { protect?: readonly string[]; probe?: HostProbe } = {},
  ): Promise<{ alreadyRunning: boolean }> {
    assertVersion(version);
    if (target.slot !== undefined) {
      return this.installSlot({ ...target, slot: target.slot }, version, signal, options);
    }
    const probe = options.probe ?? (await this.probe(target, signal));
    if (probe.current === version && (await this.servesHealthy(target, version, signal))) {
      return { alreadyRunning: true };
    }
    return this.runInstall(
      target,
      installScript(this.installParams(target, version, options.protect)),
      signal,
    );
  }

  /** The app answers healthy and (when it says) with `version`: nothing to start. */
  private async servesHealthy(
    target: Target,
    version: string,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const health = await this.health(target, signal);
    return health.ok && (health.version === undefined || health.version === version);
  }

  private installParams(
    target: Target,
    version: string,
    protect: readonly string[] | undefined,
  ): InstallParams {
    const { service, keep } = this.group;
    return {
      docBase: target.docBase,
      version,
      port: target.port,
      address: target.address,
      service,
      keep,
      ...(protect ? { protect } : {}),
      startWaitMs: this.timeouts.startWaitMs,
      container: {
        name: this.containerOf(target),
        podmanArgs: this.image.podmanArgs,
        runArgs: this.image.runArgs,
      },
    };
  }

  private async runInstall(
    target: Target,
    script: string,
    signal: AbortSignal | undefined,
  ): Promise<{ alreadyRunning: boolean }> {
    const timeoutMs =
      this.group.service.stopTimeoutMs + this.timeouts.startWaitMs + this.timeouts.installSlackMs;
    const result = await this.run(target, 'install', script, { timeoutMs, signal });
    if (result.code === NOT_ON_HOST) {
      throw new StepError(`install on ${target.id}: ${result.stderr.trim()}`);
    }
    if (result.code !== 0) throw this.failure(target, 'install', result);
    return { alreadyRunning: false };
  }

  /** S7: starts `version` in the target's idle slot (`target.slot`), beside the serving one. */
  private async installSlot(
    target: Target & { slot: Slot },
    version: string,
    signal: AbortSignal | undefined,
    options: { protect?: readonly string[]; probe?: HostProbe },
  ): Promise<{ alreadyRunning: boolean }> {
    const probe = options.probe ?? (await this.probe(target, signal));
    const held = probe.slots?.[target.slot];
    // Rollback in the keep-warm window: the old slot still runs the version, healthy.
    if (
      held?.version === version &&
      held.running &&
      (await this.servesHealthy(target, version, signal))
    ) {
      return { alreadyRunning: true };
    }
    const script = slotInstallScript({
      ...this.installParams(target, version, options.protect),
      slot: target.slot,
      pruneContainer: {
        name: this.containerOf(this.baseOf(target)),
        podmanArgs: this.image.podmanArgs,
      },
    });
    return this.runInstall(target, script, signal);
  }

  /**
   * The host's half of the flip; with `unlock`, the host lock is released in the same round trip
   * once the host serves from the slot (`unlocked`: it was this owner's and is gone).
   */
  async serve(
    target: Target,
    version: string,
    keepWarmMs: number,
    signal?: AbortSignal,
    options: { unlock?: LockOwner } = {},
  ): Promise<{ unlocked: boolean }> {
    if (target.slot === undefined) {
      throw new StepError(`serve on ${target.id}: no slot given (side-by-side only)`);
    }
    const other = slotTarget(this.baseOf(target), otherSlot(target.slot));
    const script = serveScript({
      docBase: target.docBase,
      slot: target.slot,
      version: assertVersion(version),
      keepWarmMs,
      otherStop: {
        service: this.group.service,
        podmanArgs: this.image.podmanArgs,
        containerName: this.containerOf(other),
      },
      ...(options.unlock
        ? { unlock: unlockScript(target.docBase, options.unlock.deploymentId) }
        : {}),
    });
    const timeoutMs = this.group.service.stopTimeoutMs + this.timeouts.installSlackMs;
    const result = await this.run(target, 'serve', script, { timeoutMs, signal });
    if (result.code !== 0) throw this.failure(target, 'serve', result);
    const last = result.stdout.trim().split('\n').at(-1)?.trim();
    return { unlocked: last === 'unlock released' };
  }

  /** The target as the group file has it (a slot view carries the slot's port). */
  private baseOf(target: Target): Target {
    const base = this.group.targets.find((t) => t.id === target.id) ?? target;
    // The local transport rewrites docBase after loading; the view's is the one to use.
    return { ...base, docBase: target.docBase };
  }

  health(target: Target, signal?: AbortSignal): Promise<HealthResult> {
    return checkHealth(
      healthUrl(this.group.healthCheckUrl, target),
      this.timeouts.healthMs,
      signal,
    );
  }

  close(): Promise<void> {
    return this.executor.close();
  }

  /** The container an image release of this target runs in. */
  containerOf(target: Target): string {
    return containerName(this.group.name, target.address, target.port);
  }

  /**
   * Issue 17: the host fetches the package from its site's store; rollgate sends only scripts
   * and the credential line, never package bytes. The checksum is checked by the download script
   * before anything is unpacked, as for a streamed package.
   */
  private async downloadFromStore(
    target: Target,
    version: string,
    pkg: PackageRef,
    signal?: AbortSignal,
  ): Promise<{ skipped: boolean }> {
    const store = pkg.store!;
    const url = storeUrlFor(store, target.site);
    if (url === undefined) {
      throw new StepError(
        `download on ${target.id}: no package store for site ${target.site ?? '(none)'} in this release`,
      );
    }
    if (!pkg.sha256) {
      throw new StepError(`download on ${target.id}: package ${version} has no sha256 to check`);
    }
    const sha256 = assertSha256(pkg.sha256.toLowerCase());
    let input: string | undefined;
    if (store.authEnv !== undefined) {
      const value = this.env[store.authEnv];
      if (value === undefined || value === '') {
        throw new StepError(
          `download on ${target.id}: ${store.authEnv} (package.auth) is not set in rollgate's environment`,
        );
      }
      input = assertHeaderValue(value, store.authEnv);
    }
    const params = { docBase: target.docBase, version, sha256 };
    const check = await this.run(target, 'download', downloadCheckScript(params), { signal });
    if (check.code !== 0) throw this.failure(target, 'download', check);
    if (check.stdout.trim() === 'complete') return { skipped: true };

    const id = tag();
    const incoming = incomingPath(target.docBase, version, id);
    const fetched = await this.run(
      target,
      'download',
      fetchScript({
        url,
        incoming,
        auth: input !== undefined,
        timeoutS: this.timeouts.unpackMs / 1000,
      }),
      { timeoutMs: this.timeouts.unpackMs, signal, ...(input !== undefined ? { input } : {}) },
    );
    if (fetched.code !== 0) {
      await this.run(target, 'download', removeFileScript(incoming)).catch(() => undefined);
      const said = (fetched.stderr.trim() || fetched.stdout.trim() || 'no output').slice(-1000);
      throw new StepError(`download on ${target.id}: ${said}; nothing installed`);
    }
    const result = await this.run(
      target,
      'download',
      downloadScript({ ...params, incoming, tag: id }),
      { timeoutMs: this.timeouts.unpackMs, signal },
    );
    if (result.code === PACKAGE_REFUSED) {
      throw new StepError(packageRefusalMessage(target.id, url, result.stderr));
    }
    if (result.code === CHECKSUM_MISMATCH) {
      throw new StepError(
        `download on ${target.id}: the package fetched from ${url} does not match the release: ${result.stderr.trim()}; nothing installed`,
      );
    }
    if (result.code !== 0) throw this.failure(target, 'download', result);
    return { skipped: false };
  }

  private async downloadImage(
    target: Target,
    version: string,
    image: string,
    signal?: AbortSignal,
  ): Promise<{ skipped: boolean }> {
    const script = imageDownloadScript(
      {
        docBase: target.docBase,
        version,
        image: assertPinnedImage(image, 'package.image'),
        container: this.containerOf(target),
        podmanArgs: this.image.podmanArgs,
        tlsVerify: this.image.tlsVerify,
        tag: tag(),
      },
      COMPLETE_MARKER,
    );
    const result = await this.run(target, 'download', script, {
      timeoutMs: this.timeouts.unpackMs,
      signal,
    });
    if (result.code !== 0) throw this.failure(target, 'download', result);
    try {
      return parseImageDownload(result.stdout);
    } catch (error) {
      throw new StepError(`download on ${target.id}: ${message(error)}`, { cause: error });
    }
  }

  private async run(
    target: Target,
    step: StepName,
    script: string,
    options: { timeoutMs?: number; signal?: AbortSignal | undefined; input?: string } = {},
  ): Promise<ExecResult> {
    const { timeoutMs = this.timeouts.commandMs, signal, input } = options;
    try {
      return await this.executor.exec(hostRef(target), script, {
        timeoutMs,
        ...(signal ? { signal } : {}),
        ...(input !== undefined ? { input } : {}),
      });
    } catch (error) {
      // A hard stop is not the host's fault: it goes up as it is.
      if (signal?.aborted) throw error;
      throw new StepError(`${step} on ${target.id}: host unreachable: ${message(error)}`, {
        cause: error,
      });
    }
  }

  private failure(target: Target, step: StepName, result: ExecResult): StepError {
    const said = (result.stderr.trim() || result.stdout.trim() || 'no output').slice(-2000);
    return new StepError(`${step} on ${target.id} failed (exit ${result.code}): ${said}`);
  }

  /**
   * SFTP reports a full disk as a bare "Failure": when the package does not fit in what is free
   * on the host, say so.
   */
  private async noSpace(target: Target, dir: string, localPath: string): Promise<string> {
    try {
      const size = (await stat(localPath)).size;
      const result = await this.run(target, 'download', freeKibScript(dir));
      const free = result.stdout.trim();
      const freeKib = Number(free);
      if (result.code !== 0 || !/^\d+$/.test(free) || freeKib * 1024 >= size) return '';
      return ` (no space left on device: ${dir} on the host has ${freeKib} KiB free, the package needs ${Math.ceil(size / 1024)} KiB)`;
    } catch {
      return '';
    }
  }

  private async hashPackage(target: Target, path: string): Promise<string> {
    try {
      return await sha256File(path);
    } catch (error) {
      throw new StepError(
        `download on ${target.id}: cannot read package ${path}: ${message(error)}`,
        {
          cause: error,
        },
      );
    }
  }
}

function hostRef(target: Target): HostRef {
  return { id: target.id, host: target.host, address: target.address };
}

function tag(): string {
  return randomBytes(6).toString('hex');
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
