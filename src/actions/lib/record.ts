import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DefaultArtifactClient } from '@actions/artifact';
import type { getOctokit } from '@actions/github';
import type { Ledger, ReleaseEvent } from '../../engine/ledger';
import type { Clock } from '../../model/clock';
import type { Logger } from '../../model/logger';
import type { Store, Transport } from '../../engine/ports';
import { Recorder } from '../../engine/recorder';
import { isRunning } from '../../model/states';
import type { PackageRef, Target } from '../../model/types';
import { FileStore } from '../../store/file/file-store';
import { ReportingStore } from '../../store/reporting-store';
import { latestDeployment, type RepoContext } from './github-deployments';
import { FILES, prefix } from '../../github/ledger-artifacts';
import { rollgatePayload } from '../../github/payload';
import { rebuildLedger, type DeploymentFact, type HostFact } from '../../github/rebuild';

/**
 * Where the record of a group lives between jobs and runs, and how it survives GitHub:
 *
 * - **Carrier**: workflow artifacts `rollgate-<group>-a<attempt>-<job>-<time>`, uploaded after
 *   every batch, at every phase a person acts on, at the end of each step, and on cancel.
 * - **Reading**: a job of attempt 1 reads its own run through the runner's artifact service;
 *   everything else (a re-run attempt, a later run) reads by run id through the public REST API
 *   (`GET /repos/{o}/{r}/actions/runs/{run_id}/artifacts` + the zip), which is run-scoped: the
 *   runner's service of a re-run attempt does not serve attempt 1's artifacts.
 * - **Outliving retention**: an expired newest artifact gives way to the next-newest one; with
 *   none left the record is rebuilt from the GitHub deployments (the durable history) and host
 *   truth, with a warning. A group with deployments is never "released for the first time".
 */

type Octokit = ReturnType<typeof getOctokit>;

export interface RecordLog {
  info(line: string): void;
  warning(line: string): void;
}

export interface RestoreOptions {
  group: string;
  /** Where the FileStore keeps this group's record (`<storeDir>/<group>`). */
  groupDir: string;
  token: string;
  octokit: Octokit;
  repo: Pick<RepoContext, 'owner' | 'repo' | 'environment'>;
  runId: number;
  attempt: number;
  /** What every target's host says (asked only when the record is rebuilt). */
  hosts: () => Promise<Record<string, HostFact>>;
  /** A tarball release going on after a rebuild needs its package again (its path is not in the payload). */
  packageFor?: (version: string) => Promise<PackageRef | null>;
  now: () => number;
  log: RecordLog;
}

export interface Restored {
  /** Where it came from, for the log: an artifact name, `rebuilt`, or null (first release). */
  artifact: string | null;
  /** engine deployment id → GitHub deployment id. */
  ids: Record<string, number>;
  /** Set when the record was rebuilt. */
  warning?: string;
}

interface Found {
  id: number;
  name: string;
  createdAt: number;
  expired: boolean;
}

const PAGES = 10;
/** Newest rollgate deployments whose statuses a rebuild reads. */
const REBUILD_DEPLOYMENTS = 30;

function newestFirst(a: Found, b: Found): number {
  return b.createdAt - a.createdAt || b.id - a.id;
}

/** This group's ledger artifacts of a run, through the public REST API (run-scoped), newest first. */
export async function listRecordArtifacts(
  octokit: Octokit,
  where: { owner: string; repo: string; runId: number; group: string },
): Promise<Found[]> {
  const out: Found[] = [];
  for (let page = 1; page <= PAGES; page++) {
    const res = await octokit.rest.actions.listWorkflowRunArtifacts({
      owner: where.owner,
      repo: where.repo,
      run_id: where.runId,
      per_page: 100,
      page,
    });
    for (const a of res.data.artifacts) {
      if (!a.name.startsWith(prefix(where.group))) continue;
      out.push({
        id: a.id,
        name: a.name,
        createdAt: a.created_at ? Date.parse(a.created_at) : 0,
        expired: a.expired,
      });
    }
    if (res.data.artifacts.length < 100 || page * 100 >= res.data.total_count) break;
  }
  return out.sort(newestFirst);
}

function status(err: unknown): number | undefined {
  const s = (err as { status?: unknown }).status;
  return typeof s === 'number' ? s : undefined;
}

/** This attempt's own newest record, through the runner's artifact service (no REST call). */
async function fromThisAttempt(o: RestoreOptions): Promise<string | null> {
  const client = new DefaultArtifactClient();
  const { artifacts } = await client.listArtifacts();
  const newest = artifacts
    .filter((a) => a.name.startsWith(prefix(o.group)))
    .map((a) => ({
      id: a.id,
      name: a.name,
      createdAt: a.createdAt?.getTime() ?? 0,
      expired: false,
    }))
    .sort(newestFirst)[0];
  if (!newest) return null;
  await mkdir(o.groupDir, { recursive: true });
  await client.downloadArtifact(newest.id, { path: o.groupDir });
  return newest.name;
}

/** The newest record of run `runId` still there, by run id through REST; expired ones skipped. */
async function fromRun(
  o: RestoreOptions,
  runId: number,
): Promise<{ artifact: string | null; expired: number }> {
  const all = await listRecordArtifacts(o.octokit, {
    owner: o.repo.owner,
    repo: o.repo.repo,
    runId,
    group: o.group,
  });
  let expired = 0;
  const client = new DefaultArtifactClient();
  for (const a of all) {
    if (a.expired) {
      expired++;
      continue;
    }
    try {
      await mkdir(o.groupDir, { recursive: true });
      await client.downloadArtifact(a.id, {
        path: o.groupDir,
        findBy: {
          token: o.token,
          workflowRunId: runId,
          repositoryOwner: o.repo.owner,
          repositoryName: o.repo.repo,
        },
      });
      return { artifact: a.name, expired };
    } catch (err) {
      // Expired between the list and the download: the next-newest one.
      if (status(err) !== 410) throw err;
      expired++;
    }
  }
  return { artifact: null, expired };
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Whether the restored record knows release `deployment` (else a newer run's record was lost). */
async function knows(groupDir: string, deployment: string): Promise<boolean> {
  const ids = (await readJson<Record<string, number>>(join(groupDir, 'github.json'))) ?? {};
  const ledger = await readJson<Ledger>(join(groupDir, 'state.json'));
  return (
    deployment in ids ||
    ledger?.current?.id === deployment ||
    (ledger?.history ?? []).some((h) => h.id === deployment)
  );
}

/** The rollgate deployments of the environment with their statuses: the durable history. */
export async function deploymentFacts(
  octokit: Octokit,
  ctx: Pick<RepoContext, 'owner' | 'repo' | 'environment'>,
): Promise<DeploymentFact[]> {
  const res = await octokit.rest.repos.listDeployments({
    owner: ctx.owner,
    repo: ctx.repo,
    environment: ctx.environment,
    per_page: 100,
  });
  const facts: DeploymentFact[] = [];
  for (const d of res.data) {
    const payload = rollgatePayload(d.payload);
    if (!payload || facts.length >= REBUILD_DEPLOYMENTS) continue;
    const statuses = await octokit.rest.repos.listDeploymentStatuses({
      owner: ctx.owner,
      repo: ctx.repo,
      deployment_id: d.id,
      per_page: 100,
    });
    facts.push({
      githubId: d.id,
      createdAt: Date.parse(d.created_at),
      creator: d.creator?.login ?? 'unknown',
      payload,
      // GitHub lists them newest first, with times to the second: reversed, not sorted by time.
      statuses: statuses.data
        .map((s) => ({
          state: s.state,
          description: s.description ?? '',
          createdAt: Date.parse(s.created_at),
        }))
        .reverse(),
    });
  }
  return facts;
}

/** Asks every target's host where it is: `current`, releases kept, health (a pool of 16). */
export async function probeHosts(
  transport: Transport,
  targets: readonly Target[],
): Promise<Record<string, HostFact>> {
  const out: Record<string, HostFact> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const t = targets[next++]!;
      try {
        const probe = await transport.probe(t);
        const fact: HostFact = { probe };
        if (probe.current) {
          const h = await transport.health(t);
          fact.health = { ok: h.ok, ...(h.version !== undefined ? { version: h.version } : {}) };
        }
        out[t.id] = fact;
      } catch (err) {
        out[t.id] = { error: err instanceof Error ? err.message : String(err) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, targets.length) }, worker));
  return out;
}

async function writeRebuilt(o: RestoreOptions, reason: string): Promise<Restored> {
  const [deployments, hosts] = await Promise.all([deploymentFacts(o.octokit, o.repo), o.hosts()]);
  const rebuilt = rebuildLedger({ group: o.group, deployments, hosts, now: o.now(), reason });
  const d = rebuilt.ledger.current;
  if (
    d &&
    d.kind === 'deploy' &&
    !d.package.image &&
    d.phase !== 'SUCCESS' &&
    d.phase !== 'ABORTED' &&
    o.packageFor
  ) {
    // A retry or continue downloads the package again: the group file's package.source.
    const pkg = await o.packageFor(d.version).catch(() => null);
    if (pkg) d.package = { ...pkg, ...d.package, ...(pkg.path ? { path: pkg.path } : {}) };
  }
  await rm(o.groupDir, { recursive: true, force: true });
  await mkdir(o.groupDir, { recursive: true });
  await writeFile(join(o.groupDir, 'state.json'), JSON.stringify(rebuilt.ledger, null, 1));
  await writeFile(
    join(o.groupDir, 'events.ndjson'),
    rebuilt.events.map((e) => `${JSON.stringify(e)}\n`).join(''),
  );
  await writeFile(join(o.groupDir, 'github.json'), JSON.stringify(rebuilt.ids, null, 1));
  if (!d) return { artifact: null, ids: {} };
  o.log.warning(rebuilt.warning);
  return { artifact: 'rebuilt', ids: rebuilt.ids, warning: rebuilt.warning };
}

/**
 * Puts the group's record into `groupDir`: this attempt's own newest artifact; else, by run id
 * through REST, this run's (a re-run attempt) or the newest deployment's run's newest artifact
 * that has not expired; else rebuilt from the deployments and host truth; else nothing (the
 * group has never been released).
 */
export async function restoreRecord(o: RestoreOptions): Promise<Restored> {
  const ids = async () =>
    (await readJson<Record<string, number>>(join(o.groupDir, 'github.json'))) ?? {};
  if (o.attempt === 1) {
    const own = await fromThisAttempt(o);
    if (own) return { artifact: own, ids: await ids() };
  }
  const prev = await latestDeployment(o.octokit, o.repo);
  const prevRun = prev?.payload.runId;
  const runs: number[] = [];
  // A re-run reads its own run first, unless a newer run has released the group since.
  if (o.attempt > 1 && !(prevRun !== undefined && prevRun > o.runId)) runs.push(o.runId);
  if (prevRun !== undefined && !runs.includes(prevRun)) runs.push(prevRun);
  let expired = 0;
  for (const run of runs) {
    const found = await fromRun(o, run);
    expired += found.expired;
    if (!found.artifact) continue;
    if (prev && !(await knows(o.groupDir, prev.payload.deployment))) {
      return writeRebuilt(
        o,
        `the record in run ${run} (${found.artifact}) predates release ${prev.payload.deployment}, whose record was never saved`,
      );
    }
    return { artifact: found.artifact, ids: await ids() };
  }
  if (!prev) return { artifact: null, ids: {} };
  return writeRebuilt(
    o,
    expired > 0
      ? `the newest record of run ${prevRun} expired (the repository's artifact retention)`
      : `run ${prevRun} has no record artifact left`,
  );
}

// ── keeping the record as it goes ─────────────────────────────────────────────────────────────

export interface KeeperOptions {
  group: string;
  groupDir: string;
  attempt: number;
  job: string;
  /** Makes the store's writes durable (FileStore.flush). */
  flush: () => Promise<void>;
  /** engine deployment id → GitHub deployment id, as known now. */
  ids: () => Map<string, number>;
  log: RecordLog;
}

/** Copies the record as it is on disk: the event log cut at its last whole line. */
export async function snapshotRecord(groupDir: string, into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  for (const f of FILES) {
    const from = join(groupDir, f);
    if (!existsSync(from)) continue;
    if (f === 'events.ndjson') {
      const text = await readFile(from, 'utf8');
      await writeFile(join(into, f), text.slice(0, text.lastIndexOf('\n') + 1));
    } else {
      await copyFile(from, join(into, f));
    }
  }
}

/**
 * Uploads the record as it goes: each upload is a new artifact (names are unique per run), and
 * once it is finalized the step's earlier ones are deleted, so a run keeps one per job and
 * attempt and a SIGKILL loses at most what happened since the last upload.
 */
export class RecordKeeper {
  private queue: Promise<unknown> = Promise.resolve();
  private lastStamp = 0;
  private mine: string[] = [];
  /** After a cancel saved the record: no checkpoint of the still-running step overwrites it. */
  private sealed = false;

  constructor(private readonly o: KeeperOptions) {}

  /** Uploads the record as it is now (serialized; best effort: a failure warns). */
  checkpoint(why: string): Promise<string | null> {
    if (this.sealed) return Promise.resolve(null);
    return this.enqueue(why, (dir) => snapshotRecord(this.o.groupDir, dir));
  }

  /** The step's last upload: always, sealed or not. */
  final(): Promise<string | null> {
    return this.enqueue('end of step', (dir) => snapshotRecord(this.o.groupDir, dir));
  }

  /**
   * On cancel: a copy of the record, changed by `mark` (which records the stop in it), uploaded;
   * later checkpoints of the interrupted step are skipped.
   */
  emergency(mark: (snapshotGroupDir: string) => Promise<unknown>): Promise<string | null> {
    this.sealed = true;
    return this.enqueue('cancelled', async (dir) => {
      await snapshotRecord(this.o.groupDir, dir);
      await mark(dir);
    });
  }

  private enqueue(why: string, fill: (dir: string) => Promise<void>): Promise<string | null> {
    const run = this.queue.then(async () => {
      const root = await mkdtemp(join(process.env.RUNNER_TEMP ?? tmpdir(), 'rollgate-upload-'));
      const dir = join(root, this.o.group);
      try {
        await this.o
          .flush()
          .catch((err: unknown) =>
            this.o.log.warning(`could not write the record before uploading it: ${String(err)}`),
          );
        await fill(dir);
        await writeFile(
          join(dir, 'github.json'),
          JSON.stringify(Object.fromEntries(this.o.ids()), null, 1),
        );
        return await this.upload(dir);
      } catch (err) {
        this.o.log.warning(`could not upload the release record (${why}): ${String(err)}`);
        return null;
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });
    this.queue = run;
    return run;
  }

  private async upload(dir: string): Promise<string> {
    const client = new DefaultArtifactClient();
    const stamp = Math.max(Date.now(), this.lastStamp + 1);
    this.lastStamp = stamp;
    const job = this.o.job.replace(/[^A-Za-z0-9_-]/g, '_');
    const name = `${prefix(this.o.group)}a${this.o.attempt}-${job}-${stamp}`;
    const files = FILES.map((f) => join(dir, f)).filter((f) => existsSync(f));
    // No retentionDays: the repository's own retention (up to 400 days on a private
    // repository) is the longest an artifact can live.
    await client.uploadArtifact(name, files, dir);
    const superseded = this.mine;
    this.mine = [name];
    for (const old of superseded) {
      await client.deleteArtifact(old).catch((err: unknown) => {
        this.o.log.info(`could not delete the superseded record ${old}: ${String(err)}`);
      });
    }
    return name;
  }
}

/** Checkpoints the record after every batch and at every phase a person acts on. */
export class CheckpointStore extends ReportingStore {
  constructor(
    inner: Store,
    private readonly keeper: RecordKeeper,
  ) {
    super(inner);
  }

  protected async report(event: ReleaseEvent): Promise<void> {
    if (isCheckpoint(event)) await this.keeper.checkpoint(`${event.type} ${event.message}`);
  }
}

const ACTED_ON = new Set([
  'SMOKE_SUCCESS',
  'SMOKE_FAILURE',
  'BAKE_SUCCESS',
  'PAUSED',
  'BRAKED',
  'FAILURE',
]);

export function isCheckpoint(e: ReleaseEvent): boolean {
  if (e.type === 'batch') return / done /.test(e.message);
  return e.type === 'phase' && e.phase !== undefined && ACTED_ON.has(e.phase);
}

// ── cancel ────────────────────────────────────────────────────────────────────────────────────

/** The runner's cancel: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that. */
/**
 * GitHub's cancel: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that. A soft stop first (no
 * target starts or leaves traffic; those out of traffic finish their chain), a hard stop after
 * `CANCEL_SOFT_MS` (every wait, poll and remote command cut), and the record saved with the stop
 * in it after `CANCEL_GRACE_MS` if the step still has not ended — well before SIGTERM.
 */
export const CANCEL_SOFT_MS = 3000;
export const CANCEL_GRACE_MS = 5500;

export interface StoppableEngine {
  /** Soft stop: starts nothing more. */
  requestStop(by: string): void;
  /** Hard stop: cuts waits, verify polls and remote commands at once. */
  abort(by: string): void;
}

/**
 * Records the stop in a copy of the record (the `stop` event and phase ABORTED, naming the
 * targets caught mid-step) the way the engine would, through a store that also reports it.
 */
export async function recordStopIn(
  snapshotGroupDir: string,
  o: { group: string; by: string; decorate: (s: Store) => Store; logger: Logger; clock: Clock },
): Promise<string | null> {
  const files = new FileStore(dirname(snapshotGroupDir), o.logger);
  try {
    const ledger = await files.load(o.group);
    const d = ledger?.current;
    if (!ledger || !d || ['SUCCESS', 'FAILURE', 'ABORTED'].includes(d.phase)) return null;
    const caught = Object.values(d.targets)
      .filter((t) => isRunning(t.state))
      .map((t) => `${t.id} (${t.state})`);
    const interrupted = caught.length ? caught.join(', ') : 'none';
    const rec = new Recorder(ledger, o.decorate(files), o.clock, o.logger);
    // As the engine records a stop: who stopped it, in the release's trail. The save comes
    // after the hard stop (CANCEL_SOFT_MS < CANCEL_GRACE_MS).
    d.stop = { by: o.by, hard: true };
    rec.begin('stop', o.by);
    await rec.emit('stop', `stopped by ${o.by}; interrupted: ${interrupted}`, { stop: d.stop });
    await rec.phase(
      'ABORTED',
      `stopped by ${o.by} in phase ${d.phase}; interrupted: ${interrupted}; targets stay as they are`,
    );
    delete ledger.openRun;
    await files.save(ledger);
    return d.id;
  } finally {
    await files.close();
  }
}

/**
 * The layers over the copy of the record a cancel writes the stop into: the step's own
 * subscribers first (the notification of the stop), then `outer` (GitHub's deployment statuses).
 */
export function stopCopyLayers(
  rt: { alongside(copy: Store): Store },
  outer: (s: Store) => Store,
): (s: Store) => Store {
  return (s) => outer(rt.alongside(s));
}

export interface CancelGuard {
  /** The step's operation ended (no emergency save needed any more). */
  finished(): void;
  uninstall(): void;
}

/**
 * On the runner's cancel: a soft stop on SIGINT, the hard stop `softMs` later (or at once on
 * SIGTERM), and the record saved with the stop in it when the operation has not ended `graceMs`
 * after the first signal.
 */
export function guardCancel(o: {
  engine: StoppableEngine;
  aborter: AbortController;
  by: string;
  emergency: () => Promise<void>;
  softMs?: number;
  graceMs?: number;
  log: RecordLog;
}): CancelGuard {
  let cancelled = false;
  let hard = false;
  let done = false;
  const timers: NodeJS.Timeout[] = [];
  const stopAtOnce = (why: string) => {
    if (hard || done) return;
    hard = true;
    o.log.warning(`${why}: stopping at once (waits, health polls and remote commands cut)`);
    o.engine.abort(o.by);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (cancelled) {
      if (signal === 'SIGTERM') stopAtOnce('SIGTERM');
      else o.log.info(`${signal}: still stopping and saving the record`);
      return;
    }
    cancelled = true;
    o.engine.requestStop(o.by);
    o.aborter.abort();
    if (signal === 'SIGTERM') {
      stopAtOnce('SIGTERM');
    } else {
      o.log.warning(
        `${signal}: ${o.by} — no target starts or leaves traffic now; those out of traffic finish, then the record is saved`,
      );
      timers.push(setTimeout(() => stopAtOnce('still running'), o.softMs ?? CANCEL_SOFT_MS));
    }
    timers.push(
      setTimeout(() => {
        if (!done) void o.emergency();
      }, o.graceMs ?? CANCEL_GRACE_MS),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    finished() {
      done = true;
      for (const t of timers) clearTimeout(t);
    },
    uninstall() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
