import type { LineCounter, YAMLError } from 'yaml';

export interface YamlProblem {
  /** 1-based, never past the last line of the text. */
  line: number;
  /** What went wrong and the fix, in plain words. */
  message: string;
}

const QUOTE_HINT = 'put the whole value in quotes';

/**
 * A YAML syntax error as a person can act on it: the line where the mistake most likely is (an
 * unclosed `{` is reported where it was opened, not where the parser gave up, and never past
 * the end of the file), what YAML made of it, and the fix. Pure: text + parser error in.
 */
export function explainYamlError(text: string, err: YAMLError, lines: LineCounter): YamlProblem {
  const all = text.split('\n');
  const lastLine = Math.max(1, all.length - (all.at(-1) === '' ? 1 : 0));
  const at = Math.min(lines.linePos(err.pos[0]).line, lastLine);
  const lineText = (n: number) => (all[n - 1] ?? '').trim();
  const show = (n: number) => (lineText(n) ? ` (line ${n}: ${lineText(n)})` : '');
  const first = err.message.split('\n')[0] ?? err.message;

  switch (err.code) {
    case 'BAD_INDENT':
    case 'MISSING_CHAR': {
      const open = /Flow (map|sequence)|end with a [}\]]/.test(first)
        ? unclosedBracket(all, err.pos[0])
        : null;
      if (open) {
        const [ch, close] = open.char === '{' ? ['{', '}'] : ['[', ']'];
        return {
          line: open.line,
          message: `a "${ch}" opened here is never closed with "${close}" — close it, or, if the ${ch}…${close} belongs to the value (like {version}), ${QUOTE_HINT}${show(open.line)}`,
        };
      }
      const quote = /Missing closing (['"])/.exec(first)?.[1];
      if (quote) {
        const opened = lineOfQuote(all, err.pos[0], quote) ?? at;
        return {
          line: opened,
          message: `the ${quote} quote opened here is never closed — add the closing ${quote}${show(opened)}`,
        };
      }
      return { line: at, message: `the indentation does not fit the lines above it${show(at)}` };
    }
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return {
        line: at,
        message: `YAML reads ": " (colon, space) inside a value as the start of a nested key — ${QUOTE_HINT} ("…"), or fix the indentation if this line belongs to the one above${show(at)}`,
      };
    case 'UNEXPECTED_TOKEN':
      if (/flow-(map|seq)-start/.test(first)) {
        return {
          line: at,
          message: `a "{" or "[" inside a plain value starts a YAML collection — ${QUOTE_HINT}, e.g. source: './build/app-{version}.tar.gz'${show(at)}`,
        };
      }
      return {
        line: at,
        message: `unexpected text here${show(at)}; ${QUOTE_HINT} if it is one value`,
      };
    case 'TAB_AS_INDENT':
      return {
        line: at,
        message: `a tab indents this line; YAML indents with spaces only${show(at)}`,
      };
    case 'DUPLICATE_KEY':
      return {
        line: at,
        message: `this key appears twice in the same mapping (keys must be unique)${show(at)}`,
      };
    case 'BAD_SCALAR_START':
      return {
        line: at,
        message: `a plain value cannot start with ${/character (\S)/.exec(first)?.[1] ?? 'this character'} — ${QUOTE_HINT}${show(at)}`,
      };
    case 'MULTIPLE_DOCS':
      return {
        line: at,
        message: `the file holds more than one YAML document ("---"); a group file is one${show(at)}`,
      };
    default:
      return { line: at, message: `YAML syntax: ${first}${show(at)}` };
  }
}

/** The innermost `{`/`[` still open before `pos`, skipping quoted text and comments. */
function unclosedBracket(lines: string[], pos: number): { char: '{' | '['; line: number } | null {
  const stack: { char: '{' | '['; line: number }[] = [];
  let offset = 0;
  for (const [i, line] of lines.entries()) {
    let quote: string | null = null;
    for (let c = 0; c < line.length && offset + c < pos; c++) {
      const ch = line[c]!;
      if (quote) {
        if (ch === quote) quote = null;
      } else if (ch === '"' || ch === "'") {
        if (c === 0 || /[\s,[{:]/.test(line[c - 1]!)) quote = ch;
      } else if (ch === '#' && (c === 0 || /\s/.test(line[c - 1]!))) {
        break;
      } else if (ch === '{' || ch === '[') {
        stack.push({ char: ch, line: i + 1 });
      } else if (ch === '}' || ch === ']') {
        stack.pop();
      }
    }
    offset += line.length + 1;
    if (offset > pos) break;
  }
  return stack.at(-1) ?? null;
}

/** The line of the last `quote` that opens a value before `pos`. */
function lineOfQuote(lines: string[], pos: number, quote: string): number | null {
  let offset = 0;
  let found: number | null = null;
  for (const [i, line] of lines.entries()) {
    if (offset >= pos) break;
    if (new RegExp(`(^|[\\s:,\\[{-])${quote}`).test(line)) found = i + 1;
    offset += line.length + 1;
  }
  return found;
}
