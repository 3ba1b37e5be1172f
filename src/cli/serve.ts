/**
 * `rollgate serve`: the page is a shell of its own (src/web, beside cli/ and actions/, never
 * imported by them): the command runs its entry — src/web/bin.ts next to these sources, or
 * dist/web/index.js next to the bundle — in a child process with the same Node and flags.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function pageEntry(cliEntry: string): string {
  const fromSources = basename(cliEntry) === 'bin.ts';
  return join(dirname(cliEntry), '..', 'web', fromSources ? 'bin.ts' : 'index.js');
}

export async function runPageShell(args: string[]): Promise<number> {
  const entry = pageEntry(process.argv[1] ?? '');
  if (!existsSync(entry)) {
    console.error(`rollgate: the page's entry ${entry} is missing: rebuild with \`npm run build\``);
    return 1;
  }
  const child = spawn(process.execPath, [...process.execArgv, entry, ...args], {
    stdio: 'inherit',
  });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal ? 130 : 1));
    }),
  );
}
