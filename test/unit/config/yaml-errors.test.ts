import { describe, expect, it } from 'vitest';
import { YamlSource } from '../../../src/config/yaml-source';
import { InputError } from '../../../src/model/errors';

function problem(text: string): string {
  try {
    YamlSource.parse(text, 'web.yml');
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as InputError).message;
  }
  throw new Error('parsed without an error');
}

describe('YAML syntax errors a person can act on (issue 13 item 12)', () => {
  it.each([
    {
      name: 'an unclosed flow map is reported where it was opened',
      text: 'group: a\ntargets:\n  - { host: web-01, address: 10.0.0.1\n  - { host: web-02 }\nport: 80\n',
      want: /^web\.yml: line 3: a "\{" opened here is never closed with "\}" — close it, or, if .* quotes \(line 3: - \{ host: web-01, address: 10\.0\.0\.1\)$/,
    },
    {
      name: 'an unclosed flow sequence at the end never names a line past the end',
      text: 'group: a\ntargets: [ a, b\n',
      want: /^web\.yml: line 2: a "\[" opened here is never closed with "\]"/,
    },
    {
      name: '": " inside a start command',
      text: 'group: a\nservice:\n  start: node server.js --msg: hello\nport: 80\n',
      want: /^web\.yml: line 3: YAML reads ": " \(colon, space\) inside a value as the start of a nested key — put the whole value in quotes/,
    },
    {
      name: '{version} in a flow map',
      text: 'group: a\npackage: { source: ./build/app-{version}.tar.gz }\n',
      want: /^web\.yml: line 2: a "\{" or "\[" inside a plain value starts a YAML collection — put the whole value in quotes, e.g. source: '\.\/build\/app-\{version\}\.tar\.gz'/,
    },
    {
      name: 'an unclosed quote is reported where it was opened',
      text: "group: 'a\nport: 80\n",
      want: /^web\.yml: line 1: the ' quote opened here is never closed — add the closing '/,
    },
    {
      name: 'a tab',
      text: 'group: a\nservice:\n\tstart: x\n',
      want: /^web\.yml: line 3: a tab indents this line; YAML indents with spaces only/,
    },
    {
      name: 'a duplicate key',
      text: 'group: a\ngroup: b\n',
      want: /^web\.yml: line 2: this key appears twice/,
    },
    {
      name: 'a reserved first character',
      text: 'group: @a\n',
      want: /^web\.yml: line 1: a plain value cannot start with @ — put the whole value in quotes/,
    },
  ])('$name', ({ text, want }) => {
    const message = problem(text);
    expect(message).toMatch(want);
    const lines = text.split('\n').length - 1;
    expect(Number(/line (\d+)/.exec(message)![1])).toBeLessThanOrEqual(lines);
    // No parser jargon.
    expect(message).not.toMatch(/flow-map-start|compact mappings|sufficiently indented/);
  });
});
