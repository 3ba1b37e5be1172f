import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { renderScanMarkdown } from '../../scan/markdown';
import { toSarif } from '../../scan/sarif';
import { scanJson, type ScanOutcome } from '../../scan/scan';

export interface ScanFiles {
  sarif?: string;
  json?: string;
  markdown?: string;
  /** Repository path SARIF results point at (default Containerfile). */
  sarifArtifactUri?: string;
}

/** Writes the requested report files; returns them resolved. */
export async function writeScanFiles(outcome: ScanOutcome, files: ScanFiles): Promise<ScanFiles> {
  const written: ScanFiles = {};
  const put = async (path: string, text: string) => {
    const abs = resolve(path);
    await mkdir(dirname(abs), { recursive: true });
    await writeFile(abs, text);
    return abs;
  };
  if (files.sarif) {
    const sarif = toSarif(
      outcome,
      files.sarifArtifactUri ? { artifactUri: files.sarifArtifactUri } : {},
    );
    written.sarif = await put(files.sarif, JSON.stringify(sarif, null, 2) + '\n');
  }
  if (files.json) {
    written.json = await put(files.json, JSON.stringify(scanJson(outcome), null, 2) + '\n');
  }
  if (files.markdown) written.markdown = await put(files.markdown, renderScanMarkdown(outcome));
  return written;
}
