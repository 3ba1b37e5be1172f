import { rmSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { firstClosedDir, hostReachableDir, type ModeOf } from '../../support/host-reachable';

const modes =
  (m: Record<string, number>): ModeOf =>
  (p) =>
    m[p] ?? null;

describe('firstClosedDir: where the deploy user is stopped on the way to the fleet files', () => {
  it.each<[string, string, Record<string, number>, string | null]>([
    [
      'a clone in root’s home',
      '/root/rollgate/.demo/env/ssh',
      { '/root': 0o700, '/root/rollgate': 0o755 },
      '/root',
    ],
    [
      'a clone under mktemp -d',
      '/tmp/tmp.x1/src/rollgate/.demo',
      { '/tmp': 0o1777, '/tmp/tmp.x1': 0o700, '/tmp/tmp.x1/src': 0o755 },
      '/tmp/tmp.x1',
    ],
    [
      'a clone in /srv',
      '/srv/rollgate/.demo/env/ssh',
      { '/srv': 0o755, '/srv/rollgate': 0o755 },
      null,
    ],
    ['the fleet dir itself private', '/srv/f', { '/srv': 0o755, '/srv/f': 0o750 }, '/srv/f'],
    [
      'o+x without o+r is enough',
      '/home/a/x',
      { '/home': 0o755, '/home/a': 0o711, '/home/a/x': 0o755 },
      null,
    ],
    ['not made yet: mkdir makes it 0755', '/srv/new/deeper', { '/srv': 0o755 }, null],
  ])('%s', (_, path, m, want) => {
    expect(firstClosedDir(path, modes(m))).toBe(want);
  });
});

describe('hostReachableDir', () => {
  it('keeps the preferred place when others can enter it', () => {
    expect(hostReachableDir('/srv/x', 'p-', modes({ '/srv': 0o755 }))).toEqual({ dir: '/srv/x' });
  });

  it('else makes a 0755 directory under a temp dir every user can enter', () => {
    const place = hostReachableDir('/root/x', 'rollgate-test-place-', (p) =>
      p === '/root' ? 0o700 : (statSync(p, { throwIfNoEntry: false })?.mode ?? null),
    );
    try {
      expect(place.movedBecause).toBe('/root');
      expect(place.dir).toMatch(/\/rollgate-test-place-[^/]+$/);
      expect(statSync(place.dir).mode & 0o777).toBe(0o755);
    } finally {
      rmSync(place.dir, { recursive: true, force: true });
    }
  });

  it('says what to do when no temp dir is reachable either', () => {
    expect(() => hostReachableDir('/root/x', 'p-', () => 0o700)).toThrow(
      /cannot enter \/root \(mode 700\).*ROLLGATE_DEMO_DIR.*chmod o\+x \/root/,
    );
  });
});
