#!/usr/bin/env node
import { main, reportError } from './index';
import { groupFileOf, takeDebugFlag } from './errors';

const argv = process.argv.slice(2);
const context = { debug: takeDebugFlag(argv, process.env).debug, groupFile: groupFileOf(argv) };
// Through the one error boundary too: a message, never a bare stack (unless --debug).
process.on('uncaughtException', (err) => process.exit(reportError(err, context)));
// A rejection nobody awaited does not end the operation that runs: it is reported.
process.on('unhandledRejection', (err) => void reportError(err, context));

void main(argv, process.env).then((code) => {
  // Let piped output (status --json) drain before leaving.
  process.stdout.write('', () => process.exit(code));
});
