import { existsSync, readFileSync } from 'node:fs';

/** SIGKILLs the app a host's pid file names (its process group first): test clean-up. */
export function killApp(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  killGroup(pid);
}

/** SIGKILL to the process group the app leads (it was started with setsid), else to the pid. */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
