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

interface Pending {
  resolve(text: string): void;
  reject(err: Error): void;
}

/** What one client did, for the debug line a run ends with (bench/scale reads it). */
export interface RuntimeClientStats {
  /** Command lines sent (not counting `prompt`). */
  commands: number;
  /** Connections opened. */
  connects: number;
  /** Callers whose identical read joined one already queued. */
  sharedReads: number;
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
  private readonly counts: RuntimeClientStats = {
    commands: 0,
    connects: 0,
    sharedReads: 0,
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
    const run = this.enqueue(command, () => undefined);
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
    const run = this.enqueue(command, () => this.unsent.delete(command));
    this.unsent.set(command, run);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A command whose success is an empty answer (`set …`); anything else is HAProxy's error. */
  async set(command: string): Promise<void> {
    const answer = await this.command(command);
    if (answer.trim() !== '') throw new RuntimeApiError(this.label, command, answer);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    this.drop();
  }

  /** Queues `command` behind the others; `onSend` runs when its turn comes. */
  private enqueue(command: string, onSend: () => void): Promise<string> {
    const asked = performance.now();
    this.queued++;
    return this.queue
      .then(async () => {
        onSend();
        const sent = performance.now();
        const waited = sent - asked;
        this.counts.queueMsSum += waited;
        this.counts.queueMsMax = Math.max(this.counts.queueMsMax, waited);
        try {
          return await this.run(command);
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

  private async run(command: string): Promise<string> {
    if (this.closed) throw new RuntimeUnreachableError(this.label, 'client is closed');
    const deadline = Date.now() + this.timeoutMs;
    const reused = this.socket !== null;
    try {
      return await this.attempt(command, deadline);
    } catch (err) {
      if (!(err instanceof DroppedError)) throw err;
      if (!reused) throw this.unreachable(err);
      try {
        return await this.attempt(command, deadline);
      } catch (again) {
        throw again instanceof DroppedError ? this.unreachable(again) : again;
      }
    }
  }

  private async attempt(command: string, deadline: number): Promise<string> {
    if (!this.socket) await this.connect(deadline);
    return this.exchange(`${command}\n`, deadline, command);
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
      if (this.pending && this.buffer.endsWith(PROMPT)) {
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

  private exchange(line: string, deadline: number, command: string): Promise<string> {
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
