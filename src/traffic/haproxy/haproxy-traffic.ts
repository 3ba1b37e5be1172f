import type { HaproxySpec } from '../../config/specs';
import type { Clock } from '../../model/clock';
import type { Logger } from '../../model/logger';
import type { Traffic, TrafficStatus } from '../../engine/ports';
import { InputError } from '../../model/errors';
import type { Target } from '../../model/types';
import { TrafficRejectedError, TrafficUnavailableError } from '../errors';
import { RuntimeApiError } from './runtime-client';
import { RuntimePool } from './runtime-pool';
import {
  ParseError,
  parseServersState,
  parseShowStat,
  statusFromServerState,
  worstStatus,
  type ServerStateRow,
} from './stat-csv';

export interface HaproxyTrafficDeps {
  clock: Clock;
  logger: Logger;
  /** Per runtime API command (default 5 s). */
  commandTimeoutMs?: number;
  /** How often `show stat` is read while draining (default 100 ms). */
  pollMs?: number;
  /** Runtime API connections per HAProxy instance at most (default 4). */
  maxConnections?: number;
}

interface ServerRef {
  backend: string;
  server: string;
  /** `backend/server` as the runtime API spells it. */
  ref: string;
}

const NAME = /^[A-Za-z0-9_.:-]+$/;

/**
 * HAProxy through its runtime API. Every action goes to every instance in `sockets`; status is
 * the worst view across them.
 */
export class HaproxyTraffic implements Traffic {
  readonly name = 'haproxy';
  private readonly clients: RuntimePool[];
  private readonly pollMs: number;
  /** Weight each instance had for a server before markdown, restored at markup. */
  private readonly weights = new Map<string, number>();

  constructor(
    private readonly spec: HaproxySpec,
    private readonly deps: HaproxyTrafficDeps,
  ) {
    if (spec.sockets.length === 0) {
      throw new InputError('traffic.sockets', 'list at least one runtime API socket');
    }
    if (!NAME.test(spec.backend)) {
      throw new InputError('traffic.backend', `'${spec.backend}' is not an HAProxy backend name`);
    }
    if (!(spec.drainTimeoutMs >= 0)) {
      throw new InputError('traffic.drainTimeout', 'must be zero or more');
    }
    const timeoutMs = deps.commandTimeoutMs ?? 5_000;
    this.clients = spec.sockets.map(
      (s) => new RuntimePool(s, { timeoutMs, maxConnections: deps.maxConnections }),
    );
    this.pollMs = deps.pollMs ?? 100;
  }

  /** `spec.backend` + (lbName ?? id); an lbName of the form `backend/server` names both. */
  serverOf(target: Target): ServerRef {
    const name = target.lbName ?? target.id;
    const slash = name.indexOf('/');
    const backend = slash >= 0 ? name.slice(0, slash) : this.spec.backend;
    const server = slash >= 0 ? name.slice(slash + 1) : name;
    if (!NAME.test(backend) || !NAME.test(server)) {
      throw new InputError(
        `targets.${target.id}.lbName`,
        `'${name}' is not an HAProxy server name (letters, digits, '_', '.', ':', '-')`,
      );
    }
    return { backend, server, ref: `${backend}/${server}` };
  }

  async status(target: Target): Promise<TrafficStatus> {
    const srv = this.serverOf(target);
    const views = await this.onAll((c) => this.row(c, srv).then(statusFromServerState));
    return worstStatus(views);
  }

  async markdown(target: Target, signal?: AbortSignal): Promise<void> {
    const srv = this.serverOf(target);
    await this.onAll((c) => this.markdownOn(c, srv, signal));
  }

  async markup(target: Target): Promise<void> {
    const srv = this.serverOf(target);
    await this.onAll((c) => this.markupOn(c, srv));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    for (const c of this.clients) {
      const s = c.stats();
      if (s.commands === 0) continue;
      this.deps.logger.debug?.(
        `haproxy ${c.label}: ${s.commands} commands on ${s.connects} connection(s), ` +
          `${s.sharedReads} shared reads, ${s.joinedSets} joined sets, queue wait ${Math.round(s.queueMsSum)} ms ` +
          `(worst ${Math.round(s.queueMsMax)}), answers ${Math.round(s.answerMsSum)} ms ` +
          `(worst ${Math.round(s.answerMsMax)})`,
      );
    }
  }

  private async markdownOn(c: RuntimePool, srv: ServerRef, signal?: AbortSignal): Promise<void> {
    // The row carries the weight `get weight` would answer (uweight, iweight): one shared read.
    const row = await this.row(c, srv);
    // A zero read must not replace a real weight recorded by an earlier markdown of this run.
    if (!this.weights.has(key(c, srv)) || row.uweight > 0) {
      this.weights.set(key(c, srv), row.uweight);
    }
    const state = statusFromServerState(row);
    if (state === 'maint') return;
    if (state === 'down') {
      // HAProxy would keep a DOWN server DOWN under a forced drain, never DRAIN: nothing to wait for.
      this.deps.logger.info(
        `haproxy ${c.label}: ${srv.ref} is DOWN; setting maint without a drain`,
      );
      await c.set(`set server ${srv.ref} state maint`);
      return;
    }
    await c.set(`set server ${srv.ref} state drain`);
    await this.waitDrained(c, srv, signal);
    await c.set(`set server ${srv.ref} state maint`);
  }

  /** A hard stop ends the wait: the server stays in DRAIN, which the record then explains. */
  private async waitDrained(c: RuntimePool, srv: ServerRef, signal?: AbortSignal): Promise<void> {
    const { clock, logger } = this.deps;
    const cmd = `show stat ${srv.backend} 4 -1`;
    const started = clock.now();
    for (let poll = 0; ; poll++) {
      const rows = parse(c, cmd, await c.read(cmd), parseShowStat);
      const row = rows.find((r) => r.pxname === srv.backend && r.svname === srv.server);
      if (!row) throw new RuntimeApiError(c.label, cmd, `no server ${srv.ref} in its output`);
      const busy = row.scur + (row.qcur ?? 0);
      if (busy === 0) return;
      const waited = clock.now() - started;
      if (waited >= this.spec.drainTimeoutMs) {
        logger.warn(
          `haproxy ${c.label}: ${srv.ref} still has ${busy} session(s) after the ` +
            `${this.spec.drainTimeoutMs} ms drain timeout; setting maint anyway`,
        );
        return;
      }
      // Most drains end within milliseconds: poll fast first, then every pollMs.
      const pause = Math.min(this.pollMs, 10 * 2 ** poll);
      await clock.sleep(Math.min(pause, this.spec.drainTimeoutMs - waited), signal);
    }
  }

  private async markupOn(c: RuntimePool, srv: ServerRef): Promise<void> {
    const row = await this.row(c, srv);
    const recorded = this.weights.get(key(c, srv));
    // Without a record (another process did the markdown), only a zero weight is worth undoing.
    const restore = recorded ?? (row.uweight === 0 ? row.iweight : undefined);
    if (restore !== undefined && restore !== row.uweight) {
      await c.set(`set weight ${srv.ref} ${restore}`);
      const note = row.agentConfigured
        ? '; its agent-check sets weights too and overrides this one at its next reply'
        : '';
      this.deps.logger.info(
        `haproxy ${c.label}: ${srv.ref} weight ${row.uweight} -> ${restore} restored${note}`,
      );
    }
    await c.set(`set server ${srv.ref} state ready`);
    this.weights.delete(key(c, srv));
  }

  private async row(c: RuntimePool, srv: ServerRef): Promise<ServerStateRow> {
    const cmd = `show servers state ${srv.backend}`;
    const rows = parse(c, cmd, await c.read(cmd), parseServersState);
    const row = rows.find((r) => r.srvName === srv.server);
    if (!row) throw new RuntimeApiError(c.label, cmd, `No such server ${srv.ref}`);
    return row;
  }

  /** Runs on every instance at once; an unreachable instance fails the call as unavailable. */
  private async onAll<T>(fn: (c: RuntimePool) => Promise<T>): Promise<T[]> {
    const results = await Promise.allSettled(this.clients.map(fn));
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (failed.length === 0) {
      return results.map((r) => (r as PromiseFulfilledResult<T>).value);
    }
    if (failed.length === 1 && this.clients.length === 1) throw failed[0];
    const message = failed.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
    const rejectedOnly = failed.every((e) => e instanceof TrafficRejectedError);
    const summary = `${failed.length} of ${this.clients.length} HAProxy instances failed: ${message}`;
    throw rejectedOnly
      ? new TrafficRejectedError(summary, { cause: failed[0] })
      : new TrafficUnavailableError(summary, { cause: failed[0] });
  }
}

function key(c: RuntimePool, srv: ServerRef): string {
  return `${c.label} ${srv.ref}`;
}

/** An answer the parser does not recognise is HAProxy's error text ("No such server."). */
function parse<T>(c: RuntimePool, command: string, text: string, parser: (t: string) => T): T {
  try {
    return parser(text);
  } catch (err) {
    if (err instanceof ParseError) throw new RuntimeApiError(c.label, command, text);
    throw err;
  }
}
