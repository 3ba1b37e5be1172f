/**
 * Free text from people and hosts (`--who`, an error a host printed, a scan override's reason)
 * is printed by `status`, the log and the job summaries. Control characters in it are shown
 * escaped, so a value can neither start a line of its own (a forged history row) nor move the
 * cursor or clear the terminal (ANSI escapes). Used wherever such text is printed.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.codePointAt(0)!;
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** True when the text holds a character `escapeControl` would escape. */
export function hasControl(text: string): boolean {
  return ONE_CONTROL.test(text);
}

const ONE_CONTROL = new RegExp(CONTROL.source, 'u');

/**
 * A duration for people, in the units a group file takes: `0s`, `250ms`, `2.5s`, `1m30s`, `30m`,
 * `1h1m`. Seconds keep one decimal below a minute; from a minute on, whole units.
 */
export function formatMs(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) {
    const s = (ms / 1000).toFixed(1);
    return `${s.endsWith('.0') ? s.slice(0, -2) : s}s`;
  }
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}` || '0s';
}
