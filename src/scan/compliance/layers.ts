import type { Descriptor, HistoryEntry, ImageConfig } from '../../registry/client';
import { redactText } from './secrets';

/** Which history step made each layer, and how findings name a layer. */

export interface LayerInfo {
  index: number;
  digest?: string;
  createdBy?: string;
}

/** Pairs each layer with the history step that made it (steps with empty_layer make none). */
export function layerSteps(config: ImageConfig, layers: readonly Descriptor[]): LayerInfo[] {
  const steps = (config.history ?? []).filter((h) => !h.empty_layer);
  return layers.map((d, index) => ({
    index,
    digest: d.digest,
    createdBy: steps.length === layers.length ? steps[index]?.created_by : undefined,
  }));
}

function shortStep(createdBy: string | undefined): string {
  if (!createdBy) return '';
  const text = redactText(createdBy)
    .replace(/\b(file|dir):([a-f0-9]{12})[a-f0-9]{52}\b/g, '$1:$2')
    .replace(/^\/bin\/sh -c #\(nop\)\s*/, '')
    .replace(/^\/bin\/sh -c /, 'RUN ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 100 ? `${text.slice(0, 97)}…` : text;
}

export function describeLayer(info: LayerInfo, total: number): string {
  const step = shortStep(info.createdBy);
  const digest = info.digest ? ` ${info.digest.slice(0, 19)}` : '';
  return `layer ${info.index + 1}/${total}${digest}${step ? ` (${step})` : ''}`;
}

/** The last history step whose instruction matches, for config-level findings. */
export function configStep(history: readonly HistoryEntry[] | undefined, re: RegExp): string {
  const steps = history ?? [];
  for (let i = steps.length - 1; i >= 0; i -= 1) {
    const by = steps[i]!.created_by ?? '';
    if (re.test(by)) return `image config, step ${i + 1} (${shortStep(by)})`;
  }
  return 'image config';
}
