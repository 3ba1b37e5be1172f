import { versionLabelOf } from './checks';
import { formatValue } from './format';
import type { Reading } from './judge';
import { asQueryError } from './ports';
import { readPlain, readRatio, type VersionSelect } from './read';
import type { WatchOptions } from './watch';

export interface PreflightResult {
  check: string;
  ok: boolean;
  /** The value now, or why there is none. */
  text: string;
}

/**
 * Reads every check once, now, without retries: a rejected query, a missing aggregation or an
 * unreachable source shows up before the release instead of 30 minutes after it.
 */
export async function preflight(
  opts: Pick<WatchOptions, 'checks' | 'sources' | 'clock' | 'version' | 'previousVersion'>,
): Promise<PreflightResult[]> {
  return Promise.all(
    opts.checks.map(async (check): Promise<PreflightResult> => {
      const source = opts.sources[check.source];
      if (!source) return { check: check.name, ok: false, text: `no source "${check.source}"` };
      const label = versionLabelOf(check);
      const by: VersionSelect | undefined =
        label && opts.version
          ? {
              label,
              version: opts.version,
              ...(opts.previousVersion ? { previous: opts.previousVersion } : {}),
            }
          : undefined;
      try {
        const at = opts.clock.now();
        let reading: Reading;
        if (check.ratio) {
          const [num, den] = await Promise.all([
            source.instant(check.ratio.numerator, at),
            source.instant(check.ratio.denominator, at),
          ]);
          reading = readRatio(num, den, by, check.name);
        } else reading = readPlain(await source.instant(check.query!, at), by, check.name);
        const shown = Number.isNaN(reading.value)
          ? 'no value yet'
          : formatValue(reading.value, check.unit);
        const old =
          reading.old !== undefined && Number.isFinite(reading.old)
            ? ` (old ${formatValue(reading.old, check.unit)})`
            : '';
        return { check: check.name, ok: true, text: `${shown}${old}` };
      } catch (err) {
        return { check: check.name, ok: false, text: asQueryError(err, source).message };
      }
    }),
  );
}
