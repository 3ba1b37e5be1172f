import {
  RuntimeClient,
  type RuntimeClientOptions,
  type RuntimeClientStats,
} from './runtime-client';

export interface RuntimePoolOptions extends RuntimeClientOptions {
  /** Most connections to this runtime API at once (default 4; HAProxy's own default limit is 10). */
  maxConnections?: number;
}

/**
 * A few connections to one HAProxy runtime API. One connection answers one command at a time, so
 * a batch's commands (drain, maint, ready of each target) waited for each other while HAProxy
 * and the hosts shared the cores. A new connection opens only when every open one is busy.
 */
export class RuntimePool {
  private readonly clients: RuntimeClient[] = [];
  private readonly max: number;
  private closed = false;

  constructor(
    readonly label: string,
    private readonly options: RuntimePoolOptions = {},
  ) {
    this.max = Math.max(1, options.maxConnections ?? 4);
    // Parses the endpoint at once: a bad `traffic.sockets` entry fails here, as before.
    this.clients.push(new RuntimeClient(label, options));
  }

  command(command: string): Promise<string> {
    return this.pick().command(command);
  }

  /**
   * Reads all go out on the first connection, so identical ones queued there share one answer
   * (a batch polling its backend costs a command per round, not one per target); commands that
   * change state spread over the others.
   */
  read(command: string): Promise<string> {
    return this.clients[0]!.read(command);
  }

  async set(command: string): Promise<void> {
    await this.pick().set(command);
  }

  /** Connections opened so far (each client opens its own when first used). */
  get size(): number {
    return this.clients.length;
  }

  stats(): RuntimeClientStats {
    const all = this.clients.map((c) => c.stats());
    const sum = (k: keyof RuntimeClientStats) => all.reduce((a, s) => a + s[k], 0);
    const max = (k: keyof RuntimeClientStats) => Math.max(0, ...all.map((s) => s[k]));
    return {
      commands: sum('commands'),
      connects: sum('connects'),
      sharedReads: sum('sharedReads'),
      joinedSets: sum('joinedSets'),
      queueMsSum: sum('queueMsSum'),
      queueMsMax: max('queueMsMax'),
      answerMsSum: sum('answerMsSum'),
      answerMsMax: max('answerMsMax'),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.clients.map((c) => c.close()));
  }

  /** The least busy connection; a new one when every open one is busy and there is room. */
  private pick(): RuntimeClient {
    let best = this.clients[0]!;
    for (const c of this.clients) if (c.depth < best.depth) best = c;
    if (best.depth > 0 && this.clients.length < this.max && !this.closed) {
      best = new RuntimeClient(this.label, this.options);
      this.clients.push(best);
    }
    return best;
  }
}
