import { existsSync, statSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { SIDE_BY_SIDE_OUTAGE_ADVICE } from '../engine/lb-outage';
import { servingView } from '../engine/serving-view';
import { loadGroupFile, type LoadedGroup } from '../config/group-file';
import { Engine } from '../engine/engine';
import type { Logger } from '../model/logger';
import type { Ports, Store, Traffic } from '../engine/ports';
import { realClock } from '../clock/real';
import { ShellHost } from '../host/shell-host';
import type { Executor } from '../host/executor';
import { LocalExecutor } from '../transport/local/local-executor';
import { SshExecutor } from '../transport/ssh/ssh-executor';
import { LazyExecutor } from '../transport/lazy-executor';
import { createTraffic } from '../traffic';
import { assertStoreDir, FileStore } from '../store/file/file-store';
import { TimelineStore } from '../store/timeline-store';
import { InputError } from '../model/errors';
import { assertVersion } from '../model/validate';
import { sha256File } from '../host/file-hash';
import type { PackageRef } from '../model/types';
import { imagePackage } from '../config/package-source';
import { resolveStorePackage } from './package-store';
import { NotifyingStore } from './notify';
import { inventoryLine } from '../inventory/sources';
import { InventoryNoteStore } from './inventory-note';

export interface RuntimeOptions {
  groupFile: string;
  env: Record<string, string | undefined>;
  logger: Logger;
  who?: string;
  /** F5: outside systems to go on without, e.g. ['lb']. */
  degrade?: string[];
  /** Where the record lives instead of the group file's store.dir (the actions use a temp dir). */
  storeDir?: string;
  /** Wraps the record (the actions report events to GitHub deployments this way). */
  decorateStore?: (store: Store) => Store;
  /**
   * Build the SSH executor only when a host is reached: a step that touches no host (stop)
   * then needs no key. Default false: a missing key fails here, before anything is done.
   */
  lazyTransport?: boolean;
  /** Only reads the record (status): store.dir need not be writable. */
  readOnly?: boolean;
  /** Notifications: the link in each message (the page; the actions' run) over notify.link. */
  notifyLink?: string;
  /** Notifications: the environment each message names, over notify.environment. */
  environment?: string;
}

export interface Runtime {
  loaded: LoadedGroup;
  /** Who runs this, for the record. */
  who: string;
  ports: Ports;
  engine: Engine;
  /**
   * Another copy of the record (the one a cancel writes the stop into), given the subscribers
   * this runtime's record has: its events are notified like the step's own, flushed with them.
   */
  alongside(copy: Store): Store;
  close(): Promise<void>;
}

export function defaultWho(env: Record<string, string | undefined>): string {
  if (env.ROLLGATE_WHO) return env.ROLLGATE_WHO;
  let user = env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers): keep $USER
  }
  return `${user}@${hostname()}`;
}

/** The composition root: group file → real adapters → engine. */
export async function openRuntime(o: RuntimeOptions): Promise<Runtime> {
  const loaded = await loadGroupFile(o.groupFile, o.env);
  if (o.storeDir === undefined && !o.readOnly) await assertStoreDir(loaded.store.dir);
  const origin = loaded.inventoryOrigin;
  const inventoryDown = origin?.down !== undefined ? inventoryLine(origin) : null;
  if (origin?.cacheError) o.logger.warn(`inventory: ${origin.cacheError}`);
  if (inventoryDown && !o.readOnly) o.logger.warn(`degraded: ${inventoryDown}`);
  const who = o.who ?? defaultWho(o.env);
  const spec = loaded.transport;
  let executor: Executor;
  if (spec.kind === 'ssh') {
    const lazy = new LazyExecutor(
      () =>
        new SshExecutor({
          ...spec,
          logger: o.logger,
          env: o.env,
          ...(loaded.sshOverrides && { hostLogins: loaded.sshOverrides }),
        }),
    );
    if (!o.lazyTransport) lazy.ready();
    executor = lazy;
  } else {
    executor = new LocalExecutor();
  }
  const transport = new ShellHost({
    executor,
    group: loaded.group,
    ...(loaded.package.image ? { image: loaded.package.image } : {}),
    env: o.env,
  });
  let engine: Engine | null = null;
  // A record that cannot be written stops the operation like `stop`: nothing new starts, hosts
  // out of traffic finish their step, and the operation then fails with the write error.
  const fileStore = new FileStore(o.storeDir ?? loaded.store.dir, o.logger, {
    onFailure: (err) => {
      o.logger.error(`${err.message.split(' — ')[0]} — stopping: nothing new starts`);
      engine?.requestStop('rollgate (the record could not be written)');
    },
  });
  const timeline: Store = loaded.monitor?.pushgateway
    ? new TimelineStore(fileStore, loaded.monitor.pushgateway.url, realClock, o.logger)
    : fileStore;
  const noted: Store =
    inventoryDown && !o.readOnly
      ? new InventoryNoteStore(timeline, inventoryDown, realClock)
      : timeline;
  const link = o.notifyLink ?? loaded.notify?.link;
  const environment = o.environment ?? loaded.notify?.environment;
  // A read-only command writes no events, so it has nothing to tell.
  const notifying =
    loaded.notify && !o.readOnly
      ? new NotifyingStore(noted, {
          spec: loaded.notify,
          env: o.env,
          logger: o.logger,
          ...(link ? { link } : {}),
          ...(environment ? { environment } : {}),
        })
      : null;
  const recorded: Store = notifying ?? noted;
  const store = o.decorateStore ? o.decorateStore(recorded) : recorded;
  const lbDegraded = (o.degrade ?? []).includes('lb')
    ? '--degrade lb'
    : loaded.traffic.degraded === true
      ? 'traffic.degraded'
      : undefined;
  const sideBySide = loaded.config.strategy === 'side-by-side';
  const traffic: Traffic = createTraffic(
    { ...loaded.traffic, degraded: lbDegraded !== undefined },
    {
      clock: realClock,
      logger: o.logger,
      onDegraded: (reason: string) => void engine?.recordDegraded(reason),
      // S7: a side-by-side host switches only through the LB; there is no going on without it.
      ...(sideBySide ? { outageAdvice: SIDE_BY_SIDE_OUTAGE_ADVICE } : {}),
    },
  );
  // S7: a side-by-side target is seen whole (its serving slot) outside the chain's own steps.
  const seen = sideBySide ? servingView(transport, traffic) : { transport, traffic };
  const ports: Ports = { ...seen, store, clock: realClock, logger: o.logger };
  engine = new Engine(ports, loaded.group, loaded.config, who, {
    groupFile: o.groupFile,
    ...(lbDegraded ? { lbDegraded } : {}),
  });
  return {
    loaded,
    who,
    ports,
    engine,
    alongside: (copy) => notifying?.alongside(copy) ?? copy,
    async close() {
      await Promise.allSettled([transport.close(), traffic.close()]);
      await fileStore.close();
    },
  };
}

/**
 * The package for a version: `--image` for a group with package.image; else `--package`, or the
 * group file's `package.source` with {version}.
 */
export async function resolvePackage(
  loaded: LoadedGroup,
  version: string,
  explicit?: string,
  image?: string,
  env: Record<string, string | undefined> = process.env,
): Promise<PackageRef> {
  assertVersion(version, '--version');
  if (image !== undefined && explicit !== undefined) {
    throw new InputError('--image', 'give --image or --package, not both');
  }
  if (loaded.package.image) {
    if (explicit !== undefined) {
      throw new InputError('--package', 'the group releases images (package.image): use --image');
    }
    return imagePackage(loaded.package, version, image);
  }
  if (image !== undefined) return imagePackage(loaded.package, version, image);
  // Issue 17: the hosts fetch from the store; --package still streams a local file.
  if (loaded.package.store && explicit === undefined) {
    return resolveStorePackage(loaded.package.store, loaded.group.targets, version, env);
  }
  const field = explicit ? '--package' : 'package.source';
  const path = explicit ?? loaded.package.source?.replaceAll('{version}', version);
  if (!path) {
    throw new InputError('--package', 'no package given and the group file has no package.source');
  }
  if (!existsSync(path)) throw new InputError(field, `package file ${path} does not exist`);
  if (!statSync(path).isFile()) {
    throw new InputError(
      field,
      `${path} is a directory, not a package: give the tarball (build one with \`rollgate pack <dir> --version ${version}\`)`,
    );
  }
  return { version, path, sha256: await sha256File(path) };
}
