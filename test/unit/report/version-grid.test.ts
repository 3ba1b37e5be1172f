import { describe, expect, it } from 'vitest';
import { batchTime } from '../../../src/report/batch-rows';
import { JOB_SUMMARY_LIMITS, renderStatusMarkdown } from '../../../src/report/markdown';
import type { GroupStatus, TargetStatus } from '../../../src/report/status';
import { gridMarks, versionGrid } from '../../../src/report/version-grid';

type Release = NonNullable<GroupStatus['release']>;
type B = Release['batches'][number];

const T0 = Date.parse('2026-12-05T10:00:00Z');

function target(
  id: string,
  batch: number | null,
  running: string | null,
  extra: Partial<TargetStatus> = {},
): TargetStatus {
  return {
    id,
    address: `10.0.0.${id.slice(-2)}`,
    running,
    healthy: true,
    traffic: 'up',
    state: batch === null ? null : 'MARKUP_SUCCESS',
    batch,
    steps: {},
    pulledOut: false,
    ...extra,
  };
}

function release(batches: B[], nextBatch: number): Release {
  return {
    id: 'web-2',
    kind: 'deploy',
    version: '2.0.0',
    fromVersion: '1.0.0',
    phase: 'ROLLING_OUT',
    by: 'alice',
    batches,
    nextBatch,
    degraded: [],
    brake: null,
    next: 'stop',
  };
}

const batch = (index: number, size: number, extra: Partial<B> = {}): B => ({
  index,
  number: index + 1,
  bastion: index === 0,
  size,
  done: 0,
  failed: 0,
  ...extra,
});

describe('batchTime: start (UTC) and how long', () => {
  it.each([
    ['not started', [{}], { started: '', took: '' }],
    ['running', [{ startedAt: T0 }], { started: '10:00:00', took: 'running' }],
    ['ended', [{ startedAt: T0, endedAt: T0 + 83_000 }], { started: '10:00:00', took: '1m23s' }],
    [
      'a gap of batches: first start to last end',
      [{ startedAt: T0 + 5_000, endedAt: T0 + 9_000 }, { startedAt: T0, endedAt: T0 + 4_000 }, {}],
      { started: '10:00:00', took: '9s' },
    ],
    [
      'a gap with one still running',
      [{ startedAt: T0, endedAt: T0 + 4_000 }, { startedAt: T0 + 5_000 }],
      { started: '10:00:00', took: 'running' },
    ],
  ] as const)('%s', (_name, bs, want) => {
    expect(batchTime(bs)).toEqual(want);
  });
});

describe('gridMarks: a mark per version, the release first', () => {
  it.each([
    ['the release', target('w01', 1, '2.0.0'), '🟩'],
    ['the version before', target('w02', 2, '1.0.0'), '🟦'],
    ['an older one, by count', target('w03', null, '0.9.0'), '🟪'],
    ['nothing installed', target('w04', null, null), '⬜'],
    ['host did not answer', target('w05', 2, null, { hostError: 'timeout' }), '❔'],
    ['failed, whatever it runs', target('w06', 2, '2.0.0', { state: 'VERIFY_FAILURE' }), '🟥'],
  ])('%s', (_name, t, want) => {
    const all = [
      target('w01', 1, '2.0.0'),
      target('w02', 2, '1.0.0'),
      target('w03', null, '0.9.0'),
      t,
    ];
    expect(gridMarks({ targets: all, release: release([], 0) }).mark(t)).toBe(want);
  });

  it('past six versions the rest share one mark, named in the legend', () => {
    const versions = ['2.0.0', '1.0.0', 'a', 'b', 'c', 'd', 'e', 'f'];
    const targets = versions.map((v, i) => target(`w${String(i).padStart(2, '0')}`, null, v));
    const { mark, legend } = gridMarks({ targets, release: release([], 0) });
    expect(targets.map(mark)).toEqual(['🟩', '🟦', '🟪', '🟧', '🟨', '🟫', '⬛', '⬛']);
    expect(legend.at(-1)).toEqual({ mark: '⬛', label: 'other versions: e, f', count: 2 });
    expect(legend[0]).toEqual({ mark: '🟩', label: '2.0.0 (the release)', count: 1 });
  });
});

describe('versionGrid', () => {
  it('one row per batch, the next one marked, targets outside the release, a legend', () => {
    const s = {
      release: release([batch(0, 1), batch(1, 2), batch(2, 2)], 2),
      targets: [
        target('w01', 1, '2.0.0'),
        target('w02', 2, '2.0.0'),
        target('w03', 2, '2.0.0', { state: 'INSTALL_FAILURE' }),
        target('w04', 3, '1.0.0'),
        target('w05', 3, '1.0.0'),
        target('w06', null, '1.0.0', { pulledOut: true }),
      ],
    };
    expect(versionGrid(s)).toEqual([
      '### Version map',
      '| batch | targets |',
      '|---|---|',
      '| 1 (bastion) | 🟩 |',
      '| 2 | 🟩🟥 |',
      '| 3 ◀ next | 🟦🟦 |',
      '| not in the release | 🟦 |',
      '',
      '🟩 2.0.0 (the release) (2) · 🟦 1.0.0 (before) (3) · 🟥 failed (its version is in Instances) (1)',
    ]);
  });

  it('no release: one row of every target', () => {
    const s = { release: null, targets: [target('w01', null, '1.0.0'), target('w02', null, null)] };
    expect(versionGrid(s).slice(3)).toEqual([
      '| every target | 🟩⬜ |',
      '',
      '🟩 1.0.0 (1) · ⬜ nothing installed (1)',
    ]);
  });

  it('a retry pass is a row of its own', () => {
    const s = {
      release: release(
        [batch(0, 1), batch(1, 2, { failed: 1 }), { ...batch(2, 1), number: 1, pass: 1 }],
        3,
      ),
      targets: [
        target('w01', 1, '2.0.0'),
        target('w02', 2, '2.0.0'),
        target('w03', 1, '2.0.0', { pass: 1 }),
      ],
    };
    expect(versionGrid(s).slice(3, 6)).toEqual([
      '| 1 (bastion) | 🟩 |',
      '| 2 | 🟩 |',
      '| retry 1 · 1 | 🟩 |',
    ]);
  });

  it('200 targets: every one a cell, in tens', () => {
    const batches = [
      batch(0, 1),
      ...Array.from({ length: 4 }, (_, i) => batch(i + 1, 50 - (i === 0 ? 1 : 0))),
    ];
    const targets = Array.from({ length: 200 }, (_, i) => {
      const b = i === 0 ? 1 : Math.min(5, 2 + Math.floor((i - 1) / 49));
      return target(`w${String(i).padStart(3, '0')}`, b, b <= 3 ? '2.0.0' : '1.0.0');
    });
    const grid = versionGrid({ release: release(batches, 3), targets }, { maxCells: 1000 });
    const cells = grid.join('').match(/🟩|🟦/gu) ?? [];
    expect(cells.length - 2).toBe(200); // the legend's two marks
    expect(grid[4]).toMatch(/^\| 2 \| (🟩{10} ){4}🟩{9} \|$/u);
  });

  it('past maxCells a row counts its marks; past maxRows the batches between are summed', () => {
    const n = 5000;
    const batches = Array.from({ length: 100 }, (_, i) => batch(i, i === 0 ? 1 : 50));
    const targets = Array.from({ length: n }, (_, i) => {
      const b = i === 0 ? 1 : Math.min(100, 2 + Math.floor((i - 1) / 50));
      return target(`w${i}`, b, b <= 40 ? '2.0.0' : '1.0.0');
    });
    const grid = versionGrid(
      { release: release(batches, 40), targets },
      { maxCells: 1000, maxRows: 20 },
    );
    expect(grid.length).toBeLessThan(30);
    expect(grid).toContain('| 2 | 🟩×50 |');
    expect(grid.some((l) => /^\| \d+–\d+ \(\d+ batches\) \| 🟩×\d+/.test(l))).toBe(true);
    expect(grid.at(-1)).toMatch(/— 5000 targets: each row counts its marks$/);
    // Every target is in a row's count.
    const counted = grid
      .slice(3, -2)
      .flatMap((l) => [...l.matchAll(/×(\d+)/g)].map((m) => Number(m[1])))
      .reduce((a, b) => a + b, 0);
    expect(counted).toBe(n);
  });
});

describe('the job summary shows the version map and the batch times', () => {
  const s: GroupStatus = {
    group: 'web',
    release: release(
      [
        batch(0, 1, { done: 1, startedAt: T0, endedAt: T0 + 12_000 }),
        batch(1, 2, { done: 1, failed: 1, startedAt: T0 + 42_000, endedAt: T0 + 65_000 }),
        batch(2, 1, { startedAt: T0 + 95_000 }),
      ],
      2,
    ),
    targets: [
      target('w01', 1, '2.0.0'),
      target('w02', 2, '2.0.0'),
      target('w03', 2, '2.0.0', { state: 'INSTALL_FAILURE' }),
      target('w04', 3, '1.0.0'),
    ],
    history: [],
    rollbackTo: '1.0.0',
    log: [],
  };

  it('batches with started, took, done and failed; the map after them', () => {
    const page = renderStatusMarkdown(s, { live: [] }, JOB_SUMMARY_LIMITS);
    expect(page).toContain(
      [
        '| batch | hosts | started (UTC) | took | done | failed |',
        '|---|---:|---|---|---:|---:|',
        '| 1 (bastion) | 1 | 10:00:00 | 12s | 1 | 0 |',
        '| 2 | 2 | 10:00:42 | 23s | 1 | 1 |',
        '| 3 ◀ next | 1 | 10:01:35 | running | 0 | 0 |',
      ].join('\n'),
    );
    expect(page).toContain('### Version map');
    expect(page.indexOf('### Version map')).toBeGreaterThan(page.indexOf('### Batches'));
    expect(page.indexOf('### Version map')).toBeLessThan(page.indexOf('### Instances'));
    expect(page).toContain('| 2 | 🟩🟥 |');
  });
});
