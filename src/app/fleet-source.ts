/**
 * Where `rollgate serve` reads: file stores (every group in them) and group files, through the
 * Store port, and GitHub repositories (their deployments and rollgate's record artifacts, read
 * only, polled); a watch that says which groups changed; the operations the page's buttons run.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadGroupFile, type LoadedGroup } from '../config/group-file';
import { FileStore } from '../store/file/file-store';
import type { Logger } from '../model/logger';
import { InputError } from '../model/errors';
import { groupView, homeRow, type GroupView, type HomeRow, type PageOperation } from './fleet-view';
import { openRuntime } from './runtime';
import { GitHubRepoReader, type GroupSnapshot } from '../github/repo-reader';
import type { RepoProblem } from '../github/problems';

/** The GitHub repositories the page reads (`--github`). */
export interface GitHubSourceOptions {
  /** owner/repo, each. */
  repos: string[];
  apiUrl: string;
  webUrl: string;
  token: string | undefined;
  /** The operate workflow's file name, for its link. */
  operateWorkflow: string;
  /** How often each repository is read again (ms). */
  pollMs: number;
}

export interface FleetSourceOptions {
  /** Store directories, each optionally labelled with its environment: `production=/srv/rec`. */
  storeDirs: string[];
  /** Group files, each optionally labelled the same way: `staging=groups/web.yml`. */
  groupFiles: string[];
  github?: GitHubSourceOptions;
  env: Record<string, string | undefined>;
  logger: Logger;
  /** Writes nothing: a damaged record is rebuilt in memory only (a read-only page). */
  readOnly?: boolean;
}

type Known =
  | {
      kind: 'file';
      store: FileStore;
      dir: string;
      group: string;
      environment: string | null;
      loaded?: LoadedGroup;
    }
  | { kind: 'github'; snap: GroupSnapshot; repo: string };

const REPO = /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/;
const LABELLED = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62})=(.+)$/s;

/**
 * `production=/srv/rec` → the environment `production` and the path; a plain path (or one that
 * exists as written, `=` and all) has no environment.
 */
export function environmentLabel(
  arg: string,
  exists: (path: string) => boolean,
): { environment: string | null; path: string } {
  const m = LABELLED.exec(arg);
  if (!m || exists(arg)) return { environment: null, path: arg };
  return { environment: m[1]!, path: m[2]! };
}

/** A group's key on the page (its URL): its name, under its store's environment if labelled. */
export const fileGroupKey = (group: string, environment: string | null): string =>
  environment ? `${environment}/${group}` : group;

export class FleetSource {
  private stores = new Map<string, FileStore>();
  /** The environment each store (absolute directory) was labelled with. */
  private storeEnv = new Map<string, string | null>();
  private files = new Map<string, LoadedGroup>();
  private watchers: FSWatcher[] = [];
  private readers: GitHubRepoReader[] = [];
  private polls: NodeJS.Timeout[] = [];
  private closed = false;

  private constructor(private readonly o: FleetSourceOptions) {}

  static async open(o: FleetSourceOptions): Promise<FleetSource> {
    const s = new FleetSource(o);
    const loadedFiles: LoadedGroup[] = [];
    for (const arg of o.groupFiles) {
      const { environment, path } = environmentLabel(arg, existsSync);
      const loaded = await loadGroupFile(path, o.env);
      loadedFiles.push(loaded);
      s.storeOf(loaded.store.dir, environment);
    }
    for (const arg of o.storeDirs) {
      const { environment, path: dir } = environmentLabel(arg, existsSync);
      const st = await stat(dir).catch(() => null);
      if (!st?.isDirectory()) throw new InputError('--store', `${dir} is not a directory`);
      s.storeOf(dir, environment);
    }
    // Keyed once every store's label is known: a group file's group is its store's.
    for (const loaded of loadedFiles) {
      const environment = s.storeEnv.get(resolve(loaded.store.dir)) ?? null;
      s.files.set(fileGroupKey(loaded.group.name, environment), loaded);
    }
    for (const repo of o.github?.repos ?? []) {
      if (!REPO.test(repo)) {
        throw new InputError('--github', `${repo} is not owner/repo (as in github.com/owner/repo)`);
      }
      s.readers.push(
        new GitHubRepoReader({
          repo,
          token: o.github!.token,
          apiUrl: o.github!.apiUrl,
          webUrl: o.github!.webUrl,
          operateWorkflow: o.github!.operateWorkflow,
          now: () => Date.now(),
        }),
      );
    }
    if (s.stores.size === 0 && s.readers.length === 0) {
      throw new InputError(
        '--store',
        'give a store directory (--store), group files (-g) or a repository (--github)',
      );
    }
    // The first read before the first page; a failure is a problem the page shows, not an exit.
    await Promise.all(s.readers.map((r) => r.poll()));
    return s;
  }

  private storeOf(dir: string, environment: string | null = null): FileStore {
    const abs = resolve(dir);
    const was = this.storeEnv.get(abs);
    if (was !== undefined && was !== null && environment !== null && was !== environment) {
      throw new InputError(
        '--store',
        `${dir} is labelled both ${was} and ${environment}: one store holds one environment`,
      );
    }
    if (!was) this.storeEnv.set(abs, environment);
    let st = this.stores.get(abs);
    if (!st) {
      st = new FileStore(abs, this.o.logger, { readOnly: this.o.readOnly === true });
      this.stores.set(abs, st);
    }
    return st;
  }

  /** Every group: those of the group files, and every directory of a store with a record. */
  private async known(): Promise<Map<string, Known>> {
    const out = new Map<string, Known>();
    for (const [dir, store] of this.stores) {
      const names = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const n of names) {
        if (!n.isDirectory() || n.name.startsWith('.')) continue;
        const has = await stat(join(dir, n.name, 'state.json')).catch(() => null);
        const environment = this.storeEnv.get(dir) ?? null;
        if (has) {
          out.set(fileGroupKey(n.name, environment), {
            kind: 'file',
            store,
            dir,
            group: n.name,
            environment,
          });
        }
      }
    }
    for (const [key, loaded] of this.files) {
      const dir = resolve(loaded.store.dir);
      const environment = this.storeEnv.get(dir) ?? null;
      out.set(key, {
        kind: 'file',
        store: this.storeOf(dir),
        dir,
        group: loaded.group.name,
        environment,
        loaded,
      });
    }
    for (const r of this.readers) {
      for (const snap of r.snapshot.groups) {
        out.set(snap.group.key, { kind: 'github', snap, repo: r.snapshot.repo });
      }
    }
    return out;
  }

  async groupNames(): Promise<string[]> {
    return [...(await this.known()).keys()].sort();
  }

  async group(name: string): Promise<GroupView | null> {
    const k = (await this.known()).get(name);
    return k ? this.view(name, k) : null;
  }

  async home(): Promise<HomeRow[]> {
    const known = await this.known();
    const names = [...known.keys()].sort();
    return Promise.all(names.map(async (n) => homeRow(await this.view(n, known.get(n)!))));
  }

  /** The repositories GitHub did not answer as it should, as the page names them. */
  problems(): RepoProblem[] {
    return this.readers.flatMap((r) => (r.snapshot.problem ? [r.snapshot.problem] : []));
  }

  private async view(name: string, k: Known): Promise<GroupView> {
    if (k.kind === 'github') {
      const s = k.snap;
      return groupView({
        name,
        group: s.group.group,
        environment: s.group.environment,
        ledger: s.ledger,
        events: s.events,
        github: { repo: k.repo, runUrl: s.runUrl, operateUrl: s.operateUrl, source: s.source },
      });
    }
    const [ledger, events, holder] = await Promise.all([
      k.store.load(k.group),
      k.store.events(k.group),
      k.store.runHolder(k.group),
    ]);
    const l = k.loaded;
    const repaired = k.store.repaired(k.group);
    const view = groupView({
      name,
      group: k.group,
      environment: k.environment,
      ledger,
      events,
      holder,
      ...(l
        ? {
            file: {
              path: l.file,
              targets: l.group.targets.map((t) => ({
                id: t.id,
                address: t.address,
                pulledOut: t.pulledOut,
              })),
              config: l.config,
              loadBalancer: l.traffic.kind,
              degraded: l.traffic.degraded === true,
            },
          }
        : {}),
    });
    return repaired ? { ...view, recordRepaired: repaired } : view;
  }

  /** Whether the page can act on a group: it needs the group file (hosts, transport, LB). */
  canOperate(name: string): boolean {
    return this.files.has(name);
  }

  /**
   * Runs an operation as the CLI does, through the application layer. Resolves once it has
   * ended; the record (and so the page) shows its progress meanwhile.
   */
  async operate(name: string, op: PageOperation, who: string): Promise<string> {
    const loaded = this.files.get(name);
    if (!loaded) {
      throw new InputError(
        '-g',
        `group ${name} was not given as a group file: the page cannot act on it`,
      );
    }
    const rt = await openRuntime({
      groupFile: loaded.file,
      env: this.o.env,
      logger: this.o.logger,
      who,
    });
    try {
      const result = await rt.engine[op]();
      return result ? `${result.status}: ${result.message}` : 'done';
    } finally {
      await rt.close();
    }
  }

  /** Calls `onChange` with the groups whose record changed, debounced. */
  watch(onChange: (groups: Set<string>) => void, debounceMs = 40): void {
    let pending = new Set<string>();
    let timer: NodeJS.Timeout | null = null;
    const touched = (group: string) => {
      pending.add(group);
      timer ??= setTimeout(() => {
        const g = pending;
        pending = new Set();
        timer = null;
        onChange(g);
      }, debounceMs);
    };
    this.readers.forEach((r, i) => {
      const again = () => {
        if (this.closed) return;
        // After a spent rate limit, not before GitHub said it resets.
        const wait = Math.max(this.o.github!.pollMs, r.retryAt - Date.now());
        this.polls[i] = setTimeout(() => {
          void r
            .poll()
            .then((keys) => keys.forEach(touched))
            .finally(again);
        }, wait);
      };
      again();
    });
    for (const dir of this.stores.keys()) {
      const environment = this.storeEnv.get(dir) ?? null;
      try {
        const w = watch(dir, { recursive: true }, (_e, file) => {
          const name = file ? String(file).split(/[\\/]/)[0] : '';
          if (name && !name.startsWith('.')) touched(fileGroupKey(name, environment));
        });
        w.on('error', (err) => this.o.logger.warn(`watching ${dir}: ${err.message}`));
        this.watchers.push(w);
      } catch (err) {
        this.o.logger.warn(`watching ${dir}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.polls) clearTimeout(t);
    for (const w of this.watchers) w.close();
    await Promise.all([...this.stores.values()].map((s) => s.close()));
  }
}
