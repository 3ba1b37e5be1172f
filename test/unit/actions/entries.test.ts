import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ACTIONS } from '../../../src/actions/index';
import { ROOT } from '../../support/actions-runner';

// The actions share one bundle (src/actions/index.ts -> dist/actions/index.js); scripts/build.mjs
// writes for each action.yml a dist/<name>/index.js that calls run('<name>'). Every name an
// action.yml points at must be an action of the bundle, and the bundle has no action nobody runs.

const actionFiles = [
  join(ROOT, 'action.yml'),
  ...readdirSync(join(ROOT, 'actions')).map((a) => join(ROOT, 'actions', a, 'action.yml')),
];

function entryName(file: string): string {
  const main = (parse(readFileSync(file, 'utf8')) as { runs: { main: string } }).runs.main;
  return relative(join(ROOT, 'dist'), resolve(dirname(file), main));
}

describe('action entries', () => {
  it('each action.yml runs dist/<name>/index.js for an action of the shared bundle, and only those', () => {
    const names = actionFiles.map(entryName);
    for (const n of names) expect(n).toMatch(/^[a-z0-9-]+\/index\.js$/);
    expect(names.map((n) => n.split('/')[0]).sort()).toEqual(Object.keys(ACTIONS).sort());
  });
});
