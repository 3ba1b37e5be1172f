import net from 'node:net';
import { InputError } from '../../model/errors';
import { TrafficRejectedError, TrafficUnavailableError } from '../errors';

export type RuntimeEndpoint =
  { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** `unix:/run/haproxy/admin.sock`, `tcp:127.0.0.1:9999` or `tcp:[::1]:9999`. */
export function parseEndpoint(spec: string, field = 'traffic.sockets'): RuntimeEndpoint {
  if (spec.startsWith('unix:')) {
    const path = spec.slice('unix:'.length);
    if (!path) throw new InputError(field, `'${spec}' has no socket path`);
    return { kind: 'unix', path };
  }
  if (spec.startsWith('tcp:')) {
    const m = /^tcp:(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(spec);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port < 1 || port > 65535) {
      throw new InputError(field, `'${spec}' is not tcp:<host>:<port>`);
    }
    return { kind: 'tcp', host: (m[1] ?? m[2])!, port };
  }
  throw new InputError(field, `'${spec}' must start with unix: or tcp:`);
}

/** HAProxy answered a command with an error text ("No such server.", …). */
export class RuntimeApiError extends TrafficRejectedError {
  constructor(
    readonly endpoint: string,
    readonly command: string,
    readonly response: string,
  ) {
    super(`haproxy ${endpoint}: '${command}' failed: ${response.trim() || '(empty answer)'}`);
  }
}

/** The runtime API could not be reached, or stopped answering. */
export class RuntimeUnreachableError extends TrafficUnavailableError {
  constructor(
    readonly endpoint: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`haproxy ${endpoint}: ${message}`, options);
  }
}

/** The connection went away while a command was on it; worth one more try on a new one. */
class DroppedError extends Error {}

export interface RuntimeClientOptions {
  /** Per command, including a (re)connect. */
  timeoutMs?: number;
}

const PROMPT = '\n> ';
/** Longest line of joined sets: well inside HAProxy's 16 KB request buffer (tune.bufsize). */
const MAX_LINE = 4000;

interface UnsentSet {
  command: string;
  resolve(): void;
  reject(err: Error): void;
}

interface Pending {
  /** HAProxy prompts once per command of the line: the answer is complete after this many. */
  prompts: number;
  resolve(text: string): void;
  reject(err: Error): void;
}

/** What one client did, for the debug line a run ends with (bench/scale reads it). */
export interface RuntimeClientStats {
  /** Lines sent (not counting `prompt`); joined sets are one line. */
  commands: number;
  /** Connections opened. */
  connects: number;
  /** Callers whose identical read joined one already queued. */
  sharedReads: number;
  /** Sets that went out in the line of an earlier queued set (one round trip for all). */
  joinedSets: number;
  /** Time commands waited behind others on this connection: sum and worst, ms. */
  queueMsSum: number;
  queueMsMax: number;
  /** Time from sending a command to its answer (connect included): sum and worst, ms. */
  answerMsSum: number;
  answerMsMax: number;
}

/**
 * One interactive (`prompt`) connection to one HAProxy runtime API. Commands are queued and
 * answered in order; a connection HAProxy dropped (stats timeout, reload) is replaced once.
 */
export class RuntimeClient {
  readonly endpoint: RuntimeEndpoint;
  private readonly timeoutMs: number;
  private socket: net.Socket | null = null;
  private buffer = '';
  private pending: Pending | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  /** Reads queued but not sent yet, by command: a caller asking the same joins the queued one. */
  private readonly unsent = new Map<string, Promise<string>>();
  private closed = false;
  private queued = 0;
  /** Sets not sent yet, and whether a queue turn for them is already waiting. */
  private readonly unsentSets: UnsentSet[] = [];
  private setsQueued = false;
  private readonly counts: RuntimeClientStats = {
    commands: 0,
    connects: 0,
    sharedReads: 0,
    joinedSets: 0,
    queueMsSum: 0,
    queueMsMax: 0,
    answerMsSum: 0,
    answerMsMax: 0,
  };

  constructor(
    readonly label: string,
    options: RuntimeClientOptions = {},
  ) {
    this.endpoint = parseEndpoint(label);
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** Sends one command; resolves with HAProxy's answer without the trailing prompt. */
  command(command: string): Promise<string> {
    if (/[\r\n;]/.test(command) || command.trim() === '') {
      return Promise.reject(new Error(`refusing runtime API command ${JSON.stringify(command)}`));
    }
    const run = this.enqueue(() => this.run(command));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Commands asked for and not answered yet (queued or on the wire). */
  get depth(): number {
    return this.queued;
  }

  stats(): RuntimeClientStats {
    return { ...this.counts };
  }

  /**
   * A read (`show …`) that shares its answer with every identical read queued before it is sent:
   * the answer is still taken after each caller asked, so none gets an older view than its own
   * request, and a batch of targets polling one backend costs one command per round, not one
   * per target.
   */
  read(command: string): Promise<string> {
    const waiting = this.unsent.get(command);
    if (waiting) {
      this.counts.sharedReads++;
      return waiting;
    }
    if (/[\r\n;]/.test(command) || command.trim() === '') {
      return Promise.reject(new Error(`refusing runtime API command ${JSON.stringify(command)}`));
    }
    const run = this.enqueue(() => {
      this.unsent.delete(command);
      return this.run(command);
    });
    this.unsent.set(command, run);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * A command whose success is an empty answer (`set …`); anything else is HAProxy's error. Sets
   * queued behind other commands go out together, as one `a; b; c` line when their turn comes
   * (HAProxy runs each in turn and ends each one's answer with its prompt): a batch's 30 drains
   * cost one round trip, not 30, and each caller still gets its own command's answer.
   */
  set(command: string): Promise<void> {
    if (/[\r\n;]/.test(command) || command.trim() === '') {
      return Promise.reject(new Error(`refusing runtime API command ${JSON.stringify(command)}`));
    }
    return new Promise<void>((resolve, reject) => {
      this.unsentSets.push({ command, resolve, reject });
      if (this.unsentSets.length > 1) this.counts.joinedSets++;
      if (!this.setsQueued) this.queueSets();
    });
  }
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    this.drop();
  }

  /** One queue turn for the sets not sent yet (at most MAX_LINE characters of them). */
  private queueSets(): void {
    this.setsQueued = true;
    const turn = this.enqueue(async () => {
      this.setsQueued = false;
      let length = 0;
      let take = 0;
      while (take < this.unsentSets.length) {
        length += this.unsentSets[take]!.command.length + 2;
        if (take > 0 && length > MAX_LINE) break;
        take++;
      }
      const sets = this.unsentSets.splice(0, take);
      if (this.unsentSets.length > 0) this.queueSets();
      return this.sendSets(sets);
    });
    this.queue = turn.catch(() => undefined);
    // Callers hear after the turn ended, so one asking again at once sees this connection free.
    void turn.then((settle) => settle());
  }

  /** Sends the sets; never throws: what it returns tells each caller its own outcome. */
  private async sendSets(sets: UnsentSet[]): Promise<() => void> {
    const outcome: (Error | null)[] = [];
    const answered = (s: UnsentSet, answer: string) =>
      outcome.push(
        answer.trim() === '' ? null : new RuntimeApiError(this.label, s.command, answer),
      );
    const settle = () => sets.forEach((s, i) => (outcome[i] ? s.reject(outcome[i]) : s.resolve()));
    try {
      if (sets.length === 1) {
        answered(sets[0]!, await this.run(sets[0]!.command));
        return settle;
      }
      const text = await this.run(
        sets.map((s) => s.command).join('; '),
        `${sets.length} set commands in one line`,
        sets.length,
      );
      // Each command's answer ends with its own prompt ("\n> No such server.\n\n> \n> " for
      // three); the last one's newlines were trimmed with the prompt.
      const answers = `${text}${PROMPT}`.split(PROMPT);
      if (answers.length !== sets.length + 1) {
        // Not the shape HAProxy answers a line with: ask again one by one.
        for (const s of sets) answered(s, await this.run(s.command));
        return settle;
      }
      sets.forEach((s, i) => answered(s, answers[i]!));
    } catch (err) {
      while (outcome.length < sets.length) outcome.push(err as Error);
    }
    return settle;
  }

  /** Queues `job` behind the others (it runs when its turn comes). */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const asked = performance.now();
    this.queued++;
    return this.queue
      .then(async () => {
        const sent = performance.now();
        const waited = sent - asked;
        this.counts.queueMsSum += waited;
        this.counts.queueMsMax = Math.max(this.counts.queueMsMax, waited);
        try {
          return await job();
        } finally {
          const took = performance.now() - sent;
          this.counts.commands++;
          this.counts.answerMsSum += took;
          this.counts.answerMsMax = Math.max(this.counts.answerMsMax, took);
        }
      })
      .finally(() => {
        this.queued--;
      });
  }

  /**
   * `name`: how errors call the command (a joined line is long); `prompts`: the commands in the
   * line (HAProxy answers each, then its prompt).
   */
  private async run(command: string, name = command, prompts = 1): Promise<string> {
    if (this.closed) throw new RuntimeUnreachableError(this.label, 'client is closed');
    const deadline = Date.now() + this.timeoutMs;
    const reused = this.socket !== null;
    try {
      return await this.attempt(command, deadline, name, prompts);
    } catch (err) {
      if (!(err instanceof DroppedError)) throw err;
      if (!reused) throw this.unreachable(err);
      try {
        return await this.attempt(command, deadline, name, prompts);
      } catch (again) {
        throw again instanceof DroppedError ? this.unreachable(again) : again;
      }
    }
  }

  private async attempt(
    command: string,
    deadline: number,
    name: string,
    prompts: number,
  ): Promise<string> {
    if (!this.socket) await this.connect(deadline);
    return this.exchange(`${command}\n`, deadline, name, prompts);
  }

  private async connect(deadline: number): Promise<void> {
    const ep = this.endpoint;
    const socket =
      ep.kind === 'unix'
        ? net.connect({ path: ep.path })
        : net.connect({ host: ep.host, port: ep.port });
    if (ep.kind === 'tcp') socket.setNoDelay(true);
    socket.setEncoding('utf8');
    this.counts.connects++;
    this.socket = socket;
    this.buffer = '';
    socket.on('data', (chunk: string) => {
      if (socket !== this.socket) return;
      this.buffer += chunk;
      if (
        this.pending &&
        this.buffer.endsWith(PROMPT) &&
        this.buffer.split(PROMPT).length - 1 >= this.pending.prompts
      ) {
        const text = this.buffer.slice(0, -'> '.length);
        this.buffer = '';
        const p = this.pending;
        this.pending = null;
        p.resolve(text);
      }
    });
    socket.on('error', (err) => this.onGone(socket, err));
    socket.on('close', () => this.onGone(socket, new Error('connection closed by haproxy')));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new RuntimeUnreachableError(this.label, `connect timed out`)),
          Math.max(0, deadline - Date.now()),
        );
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(
            new RuntimeUnreachableError(this.label, `cannot connect: ${err.message}`, {
              cause: err,
            }),
          );
        });
      });
      await this.exchange('prompt\n', deadline, 'prompt');
    } catch (err) {
      this.drop();
      throw err instanceof DroppedError ? this.unreachable(err) : err;
    }
  }

  private exchange(line: string, deadline: number, command: string, prompts = 1): Promise<string> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(new DroppedError('not connected'));
    return new Promise<string>((resolve, reject) => {
      // I/O bound: a simulated clock would fire this at once, so it runs on real timers.
      const timer = setTimeout(
        () => {
          this.pending = null;
          this.drop();
          reject(
            new RuntimeUnreachableError(
              this.label,
              `no answer to '${command}' within ${this.timeoutMs} ms`,
            ),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      this.pending = {
        prompts,
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text.replace(/\n+$/, ''));
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      socket.write(line);
    });
  }

  private onGone(socket: net.Socket, err: Error): void {
    if (socket !== this.socket) return;
    this.socket = null;
    socket.destroy();
    const p = this.pending;
    this.pending = null;
    p?.reject(new DroppedError(err.message));
  }

  private drop(): void {
    const socket = this.socket;
    this.socket = null;
    this.pending = null;
    socket?.destroy();
  }

  private unreachable(err: Error): RuntimeUnreachableError {
    return new RuntimeUnreachableError(this.label, `connection lost: ${err.message}`, {
      cause: err,
    });
  }
}
