import { describe, expect, it } from 'vitest';
import { JOB_SUMMARY_LIMITS, renderStatusMarkdown } from '../../../src/report/markdown';
import type { GroupStatus, TargetStatus } from '../../../src/report/status';

// Issue 12 item 6: install stderr went whole into the job summary. GitHub refuses a summary
// over 1 MiB, so a fleet-wide failure lost the page exactly when it was needed, and a message
// with ``` closed the log's fence.

const MiB = 1024 * 1024;

function fleetWideFailure(n: number): GroupStatus {
  const stderr = `npm ERR! install failed | exit 1 \`\`\`\n${'x'.repeat(4000)}`;
  const targets: TargetStatus[] = Array.from({ length: n }, (_, i) => ({
    id: `web-${String(i + 1).padStart(5, '0')}`,
    address: `10.${Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`,
    running: '1.0.0',
    healthy: i % 2 === 0 || i === n - 1,
    traffic: 'maint',
    state: i === n - 1 ? 'VERIFY_SUCCESS' : 'INSTALL_FAILURE',
    batch: i,
    steps: { download: 1200, install: 3400 },
    ...(i === n - 1 ? {} : { error: `install: ${stderr}` }),
    pulledOut: false,
  }));
  return {
    group: 'web',
    release: {
      id: 'web-7',
      kind: 'deploy',
      version: '2.0.0',
      fromVersion: '1.0.0',
      phase: 'FAILURE',
      outcome: 'failure',
      by: 'alice',
      batches: Array.from({ length: n }, (_, i) => ({
        index: i,
        number: i + 1,
        bastion: i === 0,
        size: 1,
        done: 1,
        failed: i === n - 1 ? 0 : 1,
      })),
      nextBatch: n,
      degraded: [],
      brake: null,
      next: 'retry or rollback',
    },
    targets,
    history: [],
    rollbackTo: '1.0.0',
    log: Array.from({ length: 15 }, (_, i) => ({
      at: '2026-01-01T00:00:00.000Z',
      group: 'web',
      deployment: 'web-7',
      type: 'target' as const,
      target: `web-${String(i + 1).padStart(5, '0')}`,
      state: 'INSTALL_FAILURE' as const,
      message: `install: ${stderr}`,
    })),
  };
}

describe('the job summary stays under 1 MiB', () => {
  it('10,000 targets, every one failed with 4 KB of stderr: unbounded it is lost, bounded it fits', () => {
    const s = fleetWideFailure(10_000);
    const unbounded = Buffer.byteLength(renderStatusMarkdown(s, { live: [] }));
    const page = renderStatusMarkdown(s, { live: [] }, JOB_SUMMARY_LIMITS);
    const bytes = Buffer.byteLength(page);
    console.log(
      `job summary at 10,000 failed targets: ${bytes} bytes bounded, ${unbounded} unbounded`,
    );
    expect(unbounded).toBeGreaterThan(MiB);
    expect(bytes).toBeLessThan(MiB);
    expect(page).toContain('… 9500 more targets not shown (9499 of them need attention)');
    expect(page).toContain('… (cut: the whole text is in the job log)');
    // Every batch is counted, in rows or in a gap's sum.
    expect(page).toMatch(/\| \d+–\d+ \(\d+ batches\) \|/);
    const instanceRows = page.split('\n').filter((l) => /^\| web-\d{5}/.test(l));
    expect(instanceRows).toHaveLength(JOB_SUMMARY_LIMITS.maxTargets);
    // The targets that need attention come first: the one healthy target is not shown.
    expect(page).not.toContain('web-10000 |');
  });

  it('a message with ``` cannot close the release log fence', () => {
    const s = fleetWideFailure(3);
    const page = renderStatusMarkdown(s, { live: [] }, JOB_SUMMARY_LIMITS);
    const lines = page.split('\n');
    const open = lines.indexOf('### Release log') + 1;
    const fence = lines[open]!;
    expect(fence).toBe('````');
    const close = lines.indexOf(fence, open + 1);
    expect(close).toBe(open + 1 + s.log.length);
    for (const l of lines.slice(open + 1, close)) expect(l.startsWith(fence)).toBe(false);
  });

  it('a small release page is unchanged by the bounds', () => {
    const s = fleetWideFailure(3);
    for (const t of s.targets) delete t.error;
    s.log = s.log.slice(0, 1).map((e) => ({ ...e, message: 'install ok' }));
    expect(renderStatusMarkdown(s, { live: [] }, JOB_SUMMARY_LIMITS)).toBe(
      renderStatusMarkdown(s, { live: [] }),
    );
  });
});
