#!/usr/bin/env node
import { main } from './index';

void main(process.argv.slice(2), process.env).then((code) => {
  // Let piped output (status --json) drain before leaving.
  process.stdout.write('', () => process.exit(code));
});
