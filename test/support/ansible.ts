/**
 * The real `ansible-inventory` and `ansible` (ansible-core from Debian) for the inventory parity
 * test, installed through scripts/test-env/ansible.sh.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../scripts/test-env/ansible.sh', import.meta.url));

/**
 * Makes sure ansible-inventory is installed. Returns null when it is, or why not; with CI=true a
 * missing ansible-core throws instead, so the suite fails rather than skips.
 */
export async function ensureAnsible(): Promise<string | null> {
  let why: string;
  try {
    await run('bash', [SCRIPT, 'install'], { timeout: 600_000 });
    if (await ansibleVersion()) return null;
    why = 'ansible.sh install finished but ansible-inventory is still not on PATH';
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    why = `ansible-inventory is missing and could not be installed: ${(e.stderr || e.message).trim()}`;
  }
  if (process.env.CI === 'true') throw new Error(`${why} (CI=true: failing, not skipping)`);
  return why;
}

export async function ansibleVersion(): Promise<string | null> {
  try {
    const { stdout } = await run('ansible-inventory', ['--version']);
    return stdout.split('\n')[0] ?? null;
  } catch {
    return null;
  }
}

/** An empty working directory: no ansible.cfg, no playbook-adjacent group_vars. */
const CWD = mkdtempSync(join(tmpdir(), 'rollgate-ansible-'));

/** Errors are errors: an inventory Ansible cannot parse fails the command instead of a warning. */
const ENV: NodeJS.ProcessEnv = {
  ...process.env,
  ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true',
  ANSIBLE_NOCOLOR: 'true',
  ANSIBLE_CONFIG: join(CWD, 'none.cfg'),
  ANSIBLE_LOCALHOST_WARNING: 'false',
};

export interface AnsibleRun {
  ok: boolean;
  stdout: string;
  stderr: string;
}

async function ansible(command: string, args: string[]): Promise<AnsibleRun> {
  try {
    const { stdout, stderr } = await run(command, args, {
      cwd: CWD,
      env: ENV,
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { ok: true, stdout, stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr || e.message };
  }
}

/** `ansible-inventory -i <file> --list` */
export function inventoryList(file: string): Promise<AnsibleRun> {
  return ansible('ansible-inventory', ['-i', file, '--list']);
}

/** `ansible-inventory -i <file> --host <host>` */
export function inventoryHost(file: string, host: string): Promise<AnsibleRun> {
  return ansible('ansible-inventory', ['-i', file, '--host', host]);
}

/** `ansible -i <file> <pattern> --list-hosts`: the hosts a play on `pattern` runs on, in order. */
export async function listHosts(file: string, pattern: string): Promise<string[] | AnsibleRun> {
  const result = await ansible('ansible', ['-i', file, pattern, '--list-hosts']);
  if (!result.ok) return result;
  return result.stdout
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}
