/** `--debug` anywhere before `--`, or ROLLGATE_DEBUG set to anything but 0/false/empty. */
export function takeDebugFlag(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): { argv: string[]; debug: boolean } {
  const end = argv.indexOf('--');
  const head = end < 0 ? [...argv] : argv.slice(0, end);
  const tail = end < 0 ? [] : argv.slice(end);
  const kept = head.filter((a) => a !== '--debug');
  const fromEnv = env.ROLLGATE_DEBUG ?? '';
  return {
    argv: [...kept, ...tail],
    debug: kept.length !== head.length || !['', '0', 'false'].includes(fromEnv.toLowerCase()),
  };
}

/** The value of -g/--group in argv, for messages that name the group file. */
export function groupFileOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === '-g' || a === '--group') && i + 1 < argv.length) return argv[i + 1];
    if (a.startsWith('--group=')) return a.slice('--group='.length);
  }
  return undefined;
}
