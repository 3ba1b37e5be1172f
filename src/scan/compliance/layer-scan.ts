import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { InputError } from '../../model/errors';
import { describeLayer, type LayerInfo } from './layers';
import type { Issue } from './policy';
import type { Descriptor, RegistryClient } from '../../registry/client';
import { looksText, secretFileKind, secretsInText, skipPath } from './secrets';
import { readTar } from './tar';

export interface LayerScan {
  issues: Issue[];
  /** The effective /etc/passwd (last layer that has one), if any. */
  passwd?: string;
  files: number;
  filesRead: number;
  bytes: number;
}

interface FileHit {
  path: string;
  layer: LayerInfo;
  message: string;
}

/**
 * Walks every layer's files: credentials files by name, secrets in text files, /etc/passwd.
 * Records whiteouts, so that a secret "deleted" in a later layer is reported as still present.
 */
export async function scanLayers(
  client: RegistryClient,
  repository: string,
  layers: readonly LayerInfo[],
  descriptors: readonly Descriptor[],
  options: { maxFileBytes: number; ignorePaths: RegExp[]; wantSecrets: boolean },
): Promise<LayerScan> {
  const hits: FileHit[] = [];
  const deletedIn = new Map<string, number>();
  let passwd: string | undefined;
  let files = 0;
  let filesRead = 0;
  let bytes = 0;
  for (const layer of layers) {
    const d = descriptors[layer.index]!;
    const chunks = client.blobChunks(repository, d.digest);
    const compressed = /gzip/.test(d.mediaType);
    if (/zstd/.test(d.mediaType)) {
      throw new InputError(
        'layers',
        `${d.digest} is zstd-compressed, which this reader cannot open`,
      );
    }
    const source = compressed
      ? (Readable.from(chunks).pipe(createGunzip()) as AsyncIterable<Buffer>)
      : chunks;
    const ignored = (p: string) => options.ignorePaths.some((re) => re.test(p));
    const want = (e: { path: string; size: number }) =>
      e.path === 'etc/passwd' ||
      (options.wantSecrets &&
        e.size <= options.maxFileBytes &&
        !skipPath(e.path) &&
        !ignored(e.path));
    for await (const { entry, content } of readTar(source, want)) {
      files += 1;
      const base = entry.path.split('/').pop() ?? '';
      if (base.startsWith('.wh.')) {
        const dir = entry.path.slice(0, entry.path.length - base.length);
        const target = base === '.wh..wh..opq' ? dir : dir + base.slice(4);
        deletedIn.set(target.replace(/\/$/, ''), layer.index);
        continue;
      }
      if (entry.type !== 'file') continue;
      if (content) {
        filesRead += 1;
        bytes += content.length;
        if (entry.path === 'etc/passwd') passwd = content.toString('utf8');
      }
      if (!options.wantSecrets || ignored(entry.path)) continue;
      const kind = secretFileKind(entry.path);
      if (kind) {
        hits.push({ path: entry.path, layer, message: `/${entry.path} is a ${kind}` });
        continue;
      }
      if (content && looksText(content)) {
        const found = secretsInText(entry.path, content.toString('utf8'), 3);
        if (found.length > 0) {
          const what = found.map((h) => `${h.kind} at line ${h.line}: ${h.evidence}`).join('; ');
          hits.push({ path: entry.path, layer, message: `/${entry.path} holds a ${what}` });
        }
      }
    }
  }
  const total = layers.length;
  const issues: Issue[] = hits.map((h) => {
    const deleted = [...deletedIn].find(
      ([p, at]) => at > h.layer.index && (h.path === p || h.path.startsWith(`${p}/`)),
    );
    const note = deleted
      ? ` — deleted in layer ${deleted[1] + 1}, but still readable in layer ${h.layer.index + 1}`
      : '';
    const issue: Issue = {
      rule: 'no-secrets',
      message: h.message + note,
      layer: describeLayer(h.layer, total),
      path: `/${h.path}`,
      fix: deleted
        ? 'Deleting a file in a later step does not remove it from the image: keep it out of the build context (.containerignore) or use a build secret (RUN --mount=type=secret), then rebuild.'
        : 'Keep secrets out of the image: exclude the file from the build context (.containerignore), mount it at run time, or use a build secret (RUN --mount=type=secret).',
    };
    if (h.layer.digest) issue.layerDigest = h.layer.digest;
    return issue;
  });
  return { issues, passwd, files, filesRead, bytes };
}
