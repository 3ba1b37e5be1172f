/**
 * Python's `ast.literal_eval` as Ansible's INI inventory uses it on every value: `0x1F90` is
 * 8080, `8_080` is 8080, `"a\tb"` has a tab, `True` is a boolean, `[1, 2]` a list; anything
 * literal_eval refuses (`deploy`, `07`, `2+3`) stays the text as written.
 *
 * Values Python can produce but Ansible cannot print (sets, complex numbers, Ellipsis) are left
 * as text too.
 */

export type PyValue = null | boolean | number | string | PyValue[] | { [key: string]: PyValue };

/** The value literal_eval gives, or undefined where Python raises (Ansible then keeps the text). */
export function literalEval(text: string): PyValue | undefined {
  try {
    const parser = new Parser(tokenize(text.replace(/^[ \t]+/, '')));
    const value = parser.expression();
    parser.end();
    return value;
  } catch (error) {
    if (error instanceof NotLiteral) return undefined;
    throw error;
  }
}

class NotLiteral extends Error {}

type Token =
  | { kind: 'str'; value: string; bytes: boolean }
  | { kind: 'num'; value: number; complex: boolean }
  | { kind: 'name'; value: string }
  | { kind: 'op'; value: string };

const fail = (why = 'not a literal'): never => {
  throw new NotLiteral(why);
};

const DEC = /^(?:0(?:_?0)*|[1-9](?:_?\d)*)$/;
const DIGITS = String.raw`\d(?:_?\d)*`;
const FLOAT = new RegExp(`^(?:(?:${DIGITS})?\\.${DIGITS}|${DIGITS}\\.?)(?:[eE][+-]?${DIGITS})?$`);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
    } else if (c === '#') {
      break;
    } else if (c === '\\' && (source[i + 1] === '\n' || i + 1 === source.length)) {
      fail('line continuation');
    } else if (c === '\n' || c === '\r') {
      i++;
    } else if (/[A-Za-z_]/.test(c) || c.charCodeAt(0) > 127) {
      const match = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*/u.exec(source.slice(i));
      if (!match) fail('bad character');
      const word = match![0];
      const quote = source[i + word.length];
      if (
        (quote === '"' || quote === "'") &&
        /^(?:[rRuUbBfF]|[bB][rR]|[rR][bB]|[fF][rR]|[rR][fF])$/.test(word)
      ) {
        const prefix = word.toLowerCase();
        if (prefix.includes('f')) fail('f-string');
        const [value, end] = readString(source, i + word.length, prefix.includes('r'));
        tokens.push({ kind: 'str', value, bytes: prefix.includes('b') });
        i = end;
      } else {
        tokens.push({ kind: 'name', value: word });
        i += word.length;
      }
    } else if (c === '"' || c === "'") {
      const [value, end] = readString(source, i, false);
      tokens.push({ kind: 'str', value, bytes: false });
      i = end;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(source[i + 1] ?? ''))) {
      const match =
        /^(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:\d(?:_?\d)*)?\.?(?:\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?)[jJ]?/.exec(
          source.slice(i),
        );
      const word = match?.[0] ?? '';
      if (word === '' || /[A-Za-z0-9_.]/.test(source[i + word.length] ?? '')) fail('bad number');
      tokens.push(number(word));
      i += word.length;
    } else if ('()[]{},:+-'.includes(c)) {
      tokens.push({ kind: 'op', value: c });
      i++;
    } else if (c === '.' && source.startsWith('...', i)) {
      tokens.push({ kind: 'name', value: '...' });
      i += 3;
    } else {
      fail('operator');
    }
  }
  return tokens;
}

function number(word: string): Token {
  const complex = /[jJ]$/.test(word);
  const text = complex ? word.slice(0, -1) : word;
  const plain = text.replaceAll('_', '');
  let value: number;
  if (/^0[xX]/.test(text)) value = Number.parseInt(plain.slice(2), 16);
  else if (/^0[oO]/.test(text)) value = Number.parseInt(plain.slice(2), 8);
  else if (/^0[bB]/.test(text)) value = Number.parseInt(plain.slice(2), 2);
  else if (DEC.test(text)) value = Number(plain);
  else if (FLOAT.test(text) && /[.eE]/.test(text)) value = Number(plain);
  else if (complex && /^\d(?:_?\d)*$/.test(text)) value = Number(plain);
  else return fail('bad number');
  return { kind: 'num', value, complex };
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\n': '',
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** Reads a (possibly triple-quoted) string literal starting at `start`; returns it and its end. */
function readString(source: string, start: number, raw: boolean): [string, number] {
  const quote = source[start]!;
  const triple = source.startsWith(quote.repeat(3), start);
  const close = triple ? quote.repeat(3) : quote;
  let i = start + close.length;
  let out = '';
  while (i < source.length) {
    if (source.startsWith(close, i)) return [out, i + close.length];
    const c = source[i]!;
    if (!triple && (c === '\n' || c === '\r')) fail('unterminated string');
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    const next = source[i + 1];
    if (next === undefined) fail('unterminated string');
    if (raw) {
      out += c + next;
      i += 2;
      continue;
    }
    if (next! in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[next!];
      i += 2;
    } else if (/[0-7]/.test(next!)) {
      const digits = /^[0-7]{1,3}/.exec(source.slice(i + 1))![0];
      out += String.fromCodePoint(Number.parseInt(digits, 8));
      i += 1 + digits.length;
    } else if (next === 'x' || next === 'u' || next === 'U') {
      const width = next === 'x' ? 2 : next === 'u' ? 4 : 8;
      const hex = source.slice(i + 2, i + 2 + width);
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) fail('bad escape');
      const code = Number.parseInt(hex, 16);
      if (code > 0x10ffff) fail('bad escape');
      out += String.fromCodePoint(code);
      i += 2 + width;
    } else if (next === 'N') {
      fail('named escape');
    } else {
      out += c + next;
      i += 2;
    }
  }
  return fail('unterminated string');
}

class Parser {
  private at = 0;

  constructor(private readonly tokens: Token[]) {}

  end(): void {
    if (this.at !== this.tokens.length) fail('trailing tokens');
  }

  private peek(): Token | undefined {
    return this.tokens[this.at];
  }

  private isOp(value: string): boolean {
    const token = this.peek();
    return token?.kind === 'op' && token.value === value;
  }

  private take(): Token {
    return this.tokens[this.at++] ?? fail('unexpected end');
  }

  private expect(value: string): void {
    if (!this.isOp(value)) fail(`expected ${value}`);
    this.at++;
  }

  /** A whole expression: a bare tuple (`1, 2`) is allowed at the top and inside parentheses. */
  expression(): PyValue {
    if (this.peek() === undefined) fail('empty');
    const first = this.value();
    if (!this.isOp(',')) return first;
    const items = [first];
    while (this.isOp(',')) {
      this.at++;
      if (this.peek() === undefined || this.isOp(')')) break;
      items.push(this.value());
    }
    return items;
  }

  private value(): PyValue {
    const token = this.take();
    if (token.kind === 'op') {
      if (token.value === '+' || token.value === '-') return this.signed(token.value);
      if (token.value === '(') {
        if (this.isOp(')')) {
          this.at++;
          return [];
        }
        const inner = this.expression();
        this.expect(')');
        return inner;
      }
      if (token.value === '[') return this.sequence(']');
      if (token.value === '{') return this.mapping();
      return fail('operator');
    }
    if (token.kind === 'num') {
      if (token.complex) fail('complex');
      return this.maybeComplexSum(token.value);
    }
    if (token.kind === 'str') {
      let value = token.value;
      while (this.peek()?.kind === 'str') {
        const next = this.take() as Extract<Token, { kind: 'str' }>;
        if (next.bytes !== token.bytes) fail('bytes and str');
        value += next.value;
      }
      return value;
    }
    if (token.value === 'True') return true;
    if (token.value === 'False') return false;
    if (token.value === 'None') return null;
    if (token.value === 'set' && this.isOp('(')) fail('set');
    return fail('name');
  }

  private signed(sign: string): PyValue {
    const token = this.take();
    if (token.kind !== 'num' || token.complex) fail('operand');
    const value = (token as Extract<Token, { kind: 'num' }>).value;
    return this.maybeComplexSum(sign === '-' ? -value : value);
  }

  /** `1+2j` is a complex literal to Python; Ansible cannot print it, so it stays text. */
  private maybeComplexSum(value: number): PyValue {
    if (this.isOp('+') || this.isOp('-')) fail('binary operator');
    return value;
  }

  private sequence(close: string): PyValue[] {
    const items: PyValue[] = [];
    while (!this.isOp(close)) {
      items.push(this.value());
      if (!this.isOp(',')) break;
      this.at++;
    }
    this.expect(close);
    return items;
  }

  private mapping(): { [key: string]: PyValue } {
    const out = Object.create(null) as { [key: string]: PyValue };
    if (this.isOp('}')) {
      this.at++;
      return out;
    }
    const firstKey = this.value();
    if (!this.isOp(':')) fail('set');
    this.at++;
    out[jsonKey(firstKey)] = this.value();
    while (this.isOp(',')) {
      this.at++;
      if (this.isOp('}')) break;
      const key = this.value();
      this.expect(':');
      out[jsonKey(key)] = this.value();
    }
    this.expect('}');
    return out;
  }
}

/** A dict key as Python's json module writes it (True → "true", None → "null", 1.5 → "1.5"). */
export function jsonKey(key: unknown): string {
  if (typeof key === 'string') return key;
  if (key === true) return 'true';
  if (key === false) return 'false';
  if (key === null || key === undefined) return 'null';
  if (typeof key === 'number') return Number.isInteger(key) ? String(key) : String(key);
  return fail('unhashable key');
}
