/**
 * A registry of the CLI's and the image actions' own on 127.0.13.1:<15000–15009> (other suites
 * use 127.0.11.x and 127.0.12.x), with its own data directory, the base images pushed to it, and
 * the shared private container storage of registry-env. With CI=true missing tools throw.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { RegistryClient } from '../../src/scan/compliance/registry';
import {
  containerEnv,
  containersDir,
  ensureBaseImages,
  ensureContainerTools,
  writeContainerConf,
  type BaseImages,
  type TestRegistry,
} from './registry-env';

export const IMAGE_HOST = '127.0.13.1';
/** The Clair double's address for these suites. */
export const CLAIR_HOST = '127.0.13.2';
/** The GitHub double's address for the image actions. */
export const GITHUB_HOST = '127.0.13.3';

export async function startRegistryAt(port: number, dir: string): Promise<TestRegistry> {
  if (port < 15000 || port > 15009) throw new Error(`registry port ${port} outside 15000–15009`);
  const addr = `${IMAGE_HOST}:${port}`;
  const url = `http://${addr}`;
  const busy = await fetch(`${url}/v2/`).then(
    () => true,
    () => false,
  );
  if (busy) throw new Error(`something already answers on ${addr}: a registry left running?`);
  const rdir = path.join(dir, 'registry-13');
  fs.mkdirSync(path.join(rdir, 'data'), { recursive: true });
  const config = path.join(rdir, `config-${port}.yml`);
  fs.writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(rdir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${addr}`,
      '',
    ].join('\n'),
  );
  const logFile = path.join(rdir, `${port}.log`);
  const log = fs.openSync(logFile, 'a');
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await fetch(`${url}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up && child.exitCode === null) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `docker-registry on ${addr} did not start:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    addr,
    url,
    pid: child.pid!,
    client: () => new RegistryClient(addr, { insecure: true }),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export interface ImageFixture {
  env: Record<string, string>;
  registry: TestRegistry;
  bases: BaseImages;
  scratch(prefix: string): string;
  stop(): Promise<void>;
}

/** Tools, private storage, the registry on 127.0.13.1:`port`, base images; or why not. */
export async function imageFixture(port: number): Promise<ImageFixture | string> {
  const missing = await ensureContainerTools();
  if (missing) return missing;
  const dir = containersDir();
  await writeContainerConf(dir);
  const registry = await startRegistryAt(port, dir);
  const scratchRoot = fs.mkdtempSync(path.join(dir, 'tmp', `t13-${port}-`));
  try {
    const bases = await ensureBaseImages(registry.addr, dir);
    return {
      env: containerEnv(dir),
      registry,
      bases,
      scratch: (prefix) => fs.mkdtempSync(path.join(scratchRoot, `${prefix}-`)),
      async stop() {
        await registry.stop();
        fs.rmSync(scratchRoot, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}
