import { describe, expect, it } from 'vitest';
import { pageEntry } from '../../../src/cli/serve';

describe('rollgate serve runs the page shell beside the cli', () => {
  it.each([
    ['/repo/src/cli/bin.ts', '/repo/src/web/bin.ts'],
    ['/repo/dist/cli/index.js', '/repo/dist/web/index.js'],
  ])('%s → %s', (cli, web) => expect(pageEntry(cli)).toBe(web));
});
