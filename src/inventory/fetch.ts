import { spawn } from 'node:child_process';
import { formatMs } from '../model/text';
import type { InventorySource } from './source';

/** The source did not give an answer: it failed, exited non-zero, was cut by the timeout. */
export class SourceFailedError extends Error {}

/** An inventory answer larger than this is refused (a runaway script, a wrong URL). */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** Asks the source once; rejects with SourceFailedError, promptly once `signal` aborts. */
export function askSource(source: InventorySource, signal: AbortSignal): Promise<string> {
  return source.kind === 'command' ? runCommand(source, signal) : getUrl(source, signal);
}

function runCommand(
  source: Extract<InventorySource, { kind: 'command' }>,
  signal: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = source.argv as [string, ...string[]];
    // Its own process group: a timeout kills the script and whatever it started.
    const child = spawn(file, args, {
      cwd: source.cwd,
      env: source.env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let failure: string | null = null;
    const kill = (why: string) => {
      failure ??= why;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      // A grandchild that left the group (setsid) may hold the pipes: let go of them.
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const onAbort = () => kill(timedOut(source));
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) kill(`printed more than ${MAX_ANSWER_BYTES} bytes`);
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-2000);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      failure ??= `could not run it (${err.code ?? err.message})`;
    });
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      const said = lastLine(stderr);
      if (failure === null && code !== 0) {
        failure = code === null ? `killed by ${sig}` : `exited with ${code}`;
      }
      if (failure !== null) {
        reject(new SourceFailedError(`${failure}${said ? `: ${said}` : ''}`));
      } else {
        resolve(Buffer.concat(out).toString('utf8'));
      }
    });
  });
}

async function getUrl(
  source: Extract<InventorySource, { kind: 'url' }>,
  signal: AbortSignal,
): Promise<string> {
  let res: Response;
  try {
    res = await fetch(source.url, {
      headers: { accept: 'application/json', ...source.headers },
      signal,
      redirect: 'follow',
    });
  } catch (err) {
    if (signal.aborted) throw new SourceFailedError(timedOut(source));
    throw new SourceFailedError(networkReason(err));
  }
  try {
    if (!res.ok) {
      const said = lastLine((await readCapped(res, 2000, signal, source)).text);
      throw new SourceFailedError(
        `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${said ? `: ${said}` : ''}`,
      );
    }
    const body = await readCapped(res, MAX_ANSWER_BYTES, signal, source);
    if (body.truncated) throw new SourceFailedError(`answered more than ${MAX_ANSWER_BYTES} bytes`);
    return body.text;
  } catch (err) {
    if (err instanceof SourceFailedError) throw err;
    if (signal.aborted) throw new SourceFailedError(`${timedOut(source)} (while answering)`);
    throw new SourceFailedError(networkReason(err));
  }
}

async function readCapped(
  res: Response,
  max: number,
  signal: AbortSignal,
  source: InventorySource,
): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    if (signal.aborted) {
      await reader.cancel().catch(() => undefined);
      throw new SourceFailedError(`${timedOut(source)} (while answering)`);
    }
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
    chunks.push(value);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
}

/** fetch() says "fetch failed"; the cause says what (ECONNREFUSED 127.0.0.1:8080, …). */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

function timedOut(source: InventorySource): string {
  return `no answer within ${formatMs(source.timeoutMs)} (inventory.timeout)`;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines.at(-1) ?? '').trim().slice(0, 300);
}
