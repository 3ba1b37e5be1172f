/** A local fleet driven through the real `rollgate` command (tsx on the sources), for CLI tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPackage, type BuildPackageOptions } from '../../src/package/tarball';
import { killApp } from './kill-app';
import { sampleAppGroup } from './group-yaml';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const APP_DIR = join(ROOT, 'examples/app');
const CLI = join(ROOT, 'src/cli/bin.ts');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliFleet {
  dir: string;
  groupFile: string;
  hosts: { host: string; address: string }[];
  build(
    version: string,
    extra?: Omit<BuildPackageOptions, 'appDir' | 'version' | 'outDir'>,
  ): Promise<void>;
  run(args: string[]): Promise<CliRun>;
  spawn(args: string[]): ChildProcess & { output: () => string };
  current(host: string): string | null;
  events(): {
    type: string;
    target?: string;
    state?: string;
    message: string;
    deployment: string;
  }[];
  /** Events of the newest release only. */
  latest(): {
    type: string;
    target?: string;
    state?: string;
    message: string;
    deployment: string;
  }[];
  cleanup(): Promise<void>;
}

export async function makeCliFleet(opts: {
  addresses: string[];
  port: number;
  deployment?: string;
  /** More top-level sections of the group file (YAML text), e.g. a notify: section. */
  sections?: string[];
  /** More environment for the rollgate processes (secrets a section names as env:NAME). */
  env?: Record<string, string>;
}): Promise<CliFleet> {
  const dir = await mkdtemp(join(tmpdir(), 'rollgate-cli-'));
  const hosts = opts.addresses.map((address, i) => ({ host: `web-0${i + 1}`, address }));
  const groupFile = join(dir, 'group.yml');
  await writeFile(
    groupFile,
    sampleAppGroup({
      group: 'cli-shop',
      docBase: '/srv/shop',
      port: opts.port,
      stopTimeout: '3s',
      deployment:
        opts.deployment ?? '  maxUnavailable: 50%\n  startTimeout: 5s\n  verifyInterval: 50ms',
      sections: [
        'transport: { kind: local, root: ./fleet }',
        'store: { dir: ./state }',
        ...(opts.sections ?? []),
      ],
      targets: hosts,
    }),
  );
  const env = { ...process.env, ROLLGATE_WHO: 'cli-test', ...opts.env };
  const fleet: CliFleet = {
    dir,
    groupFile,
    hosts,
    async build(version, extra) {
      await buildPackage({ appDir: APP_DIR, version, outDir: join(dir, 'packages'), ...extra });
    },
    run(args) {
      return new Promise((resolve) => {
        const child = fleet.spawn(args);
        child.on('close', (code) =>
          resolve({ code: code ?? -1, stdout: child.output(), stderr: stderrOf(child) }),
        );
      });
    },
    spawn(args) {
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args, '-g', groupFile], {
        env,
        cwd: ROOT,
      }) as ChildProcess & { output: () => string };
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.output = () => out;
      (child as unknown as { errText: () => string }).errText = () => err;
      return child;
    },
    current(host) {
      const link = join(dir, 'fleet', host, 'srv/shop/current');
      try {
        return readFileSync(join(link, 'VERSION'), 'utf8').trim();
      } catch {
        return null;
      }
    },
    events() {
      const file = join(dir, 'state', 'cli-shop', 'events.ndjson');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    },
    latest() {
      const all = fleet.events();
      const last = all.at(-1)?.deployment;
      return all.filter((e) => e.deployment === last);
    },
    async cleanup() {
      for (const h of hosts) killApp(join(dir, 'fleet', h.host, 'srv/shop/.rollgate/app.pid'));
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fleet;
}

function stderrOf(child: ChildProcess): string {
  return (child as unknown as { errText: () => string }).errText();
}
