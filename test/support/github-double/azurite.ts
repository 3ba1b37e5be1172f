/** A real Azure Blob emulator (azurite) as a child process, and SAS URLs into it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  BlobSASPermissions,
  BlobServiceClient,
  type ContainerClient,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';

/** Azurite's documented development account. */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  /** http://host:port */
  url: string;
  /** Base URL of the dev account's blobs (path style). */
  accountUrl: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startAzurite(options: {
  host: string;
  /** Default ephemeral. */
  port?: number;
  startTimeoutMs?: number;
}): Promise<Azurite> {
  const require = createRequire(import.meta.url);
  const main = join(dirname(require.resolve('azurite/package.json')), 'dist/src/blob/main.js');
  const child = spawn(
    process.execPath,
    [
      main,
      '--blobHost',
      options.host,
      '--blobPort',
      String(options.port ?? 0),
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--inMemoryPersistence',
      '--silent',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const url = await waitForListening(child, options.startTimeoutMs ?? 20_000);
  return {
    url,
    accountUrl: `${url}/${DEV_ACCOUNT}`,
    pid: child.pid as number,
    stop: () => stopChild(child),
  };
}

function waitForListening(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      void stopChild(child);
      reject(new Error(`azurite did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const m = /successfully listens on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        // Keep draining so a full pipe never blocks azurite.
        child.stdout?.resume();
        resolve((m[1] as string).replace(/\/$/, ''));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export interface BlobInfo {
  size: number;
  contentType: string | undefined;
}

/** One container in azurite, addressed by blob name; URLs carry SAS tokens like GitHub's. */
export class AzuriteContainer {
  private readonly credential = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);
  private readonly container: ContainerClient;

  constructor(
    readonly azurite: Azurite,
    readonly name: string,
  ) {
    const service = new BlobServiceClient(azurite.accountUrl, this.credential);
    this.container = service.getContainerClient(name);
  }

  async create(): Promise<void> {
    await this.container.createIfNotExists();
  }

  uploadUrl(blobName: string, ttlMs = 3_600_000): string {
    return this.signedUrl(blobName, 'cw', ttlMs);
  }

  downloadUrl(blobName: string, fileName: string, ttlMs = 600_000): string {
    return this.signedUrl(
      blobName,
      'r',
      ttlMs,
      `attachment; filename=${encodeURIComponent(fileName)}`,
    );
  }

  async info(blobName: string): Promise<BlobInfo | undefined> {
    try {
      const p = await this.container.getBlobClient(blobName).getProperties();
      return { size: p.contentLength ?? 0, contentType: p.contentType };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  async delete(blobName: string): Promise<void> {
    await this.container.getBlobClient(blobName).deleteIfExists();
  }

  private signedUrl(
    blobName: string,
    permissions: string,
    ttlMs: number,
    contentDisposition?: string,
  ): string {
    const sas = generateBlobSASQueryParameters(
      {
        containerName: this.name,
        blobName,
        permissions: BlobSASPermissions.parse(permissions),
        startsOn: new Date(Date.now() - 60_000),
        expiresOn: new Date(Date.now() + ttlMs),
        ...(contentDisposition ? { contentDisposition } : {}),
      },
      this.credential,
    ).toString();
    const path = blobName.split('/').map(encodeURIComponent).join('/');
    return `${this.azurite.accountUrl}/${this.name}/${path}?${sas}`;
  }
}
