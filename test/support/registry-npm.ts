/**
 * A private npm mirror on loopback (B1 "private mirrors"): serves a few dependency-free packages
 * packed from this repository's node_modules, and counts what npm asks for — the bench uses the
 * counts to show what the dependency cache saves. `latencyMs` delays each answer (a remote
 * mirror); the default is none.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Dependency-free packages present in node_modules (pure JavaScript). */
export const MIRROR_PACKAGES = ['yaml', 'commander', 'semver', 'ms', 'cockatiel', 'lodash'];

interface Packed {
  name: string;
  version: string;
  file: string;
  integrity: string;
  shasum: string;
  manifest: Record<string, unknown>;
}

async function pack(name: string, outDir: string): Promise<Packed> {
  const src = path.join(ROOT, 'node_modules', name);
  const manifest = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const version = String(manifest.version);
  const file = path.join(outDir, `${name}-${version}.tgz`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    await exec('tar', [
      '-czf',
      tmp,
      '--owner=0',
      '--group=0',
      '--mtime=2020-01-01',
      '--transform',
      's,^\\.,package,',
      '-C',
      src,
      '.',
    ]);
    fs.renameSync(tmp, file);
  }
  const data = fs.readFileSync(file);
  return {
    name,
    version,
    file,
    integrity: `sha512-${createHash('sha512').update(data).digest('base64')}`,
    shasum: createHash('sha1').update(data).digest('hex'),
    manifest,
  };
}

export interface NpmMirror {
  url: string;
  packages: Record<string, string>;
  /** Requests by kind since the last reset. */
  counts: { packuments: number; tarballs: number };
  reset(): void;
  latencyMs: number;
  close(): Promise<void>;
}

export async function startNpmMirror(
  host: string,
  port: number,
  cacheDir: string,
  latencyMs = 0,
): Promise<NpmMirror> {
  fs.mkdirSync(cacheDir, { recursive: true });
  const packed = new Map<string, Packed>();
  for (const name of MIRROR_PACKAGES) packed.set(name, await pack(name, cacheDir));
  const url = `http://${host}:${port}`;
  const counts = { packuments: 0, tarballs: 0 };
  const mirror: NpmMirror = {
    url,
    packages: Object.fromEntries([...packed.values()].map((p) => [p.name, p.version])),
    counts,
    reset: () => {
      counts.packuments = 0;
      counts.tarballs = 0;
    },
    latencyMs,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    const answer = () => {
      const p = decodeURIComponent((req.url ?? '/').split('?')[0]!);
      const tarball = /^\/([^/]+)\/-\/[^/]+\.tgz$/.exec(p);
      if (tarball) {
        const pkg = packed.get(tarball[1]!);
        if (!pkg) return notFound(res);
        counts.tarballs += 1;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        fs.createReadStream(pkg.file).pipe(res);
        return;
      }
      const pkg = packed.get(p.slice(1));
      if (!pkg) return notFound(res);
      counts.packuments += 1;
      const { scripts: _scripts, devDependencies: _dev, ...meta } = pkg.manifest;
      const body = {
        name: pkg.name,
        'dist-tags': { latest: pkg.version },
        versions: {
          [pkg.version]: {
            ...meta,
            name: pkg.name,
            version: pkg.version,
            dist: {
              tarball: `${url}/${pkg.name}/-/${pkg.name}-${pkg.version}.tgz`,
              integrity: pkg.integrity,
              shasum: pkg.shasum,
            },
          },
        },
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (mirror.latencyMs > 0) setTimeout(answer, mirror.latencyMs);
    else answer();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return mirror;
}

function notFound(res: http.ServerResponse) {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"error":"not found"}');
}
