import { describe, expect, it } from 'vitest';
import { escapeControl, hasControl } from '../../../src/model/text';
import { renderStatus, type GroupStatus } from '../../../src/report/status';
import { renderStatusMarkdown } from '../../../src/report/markdown';
import { formatEvent } from '../../../src/engine/recorder';
import { LockHeldError } from '../../../src/model/errors';

/** Issue 11 item 7: what a person typed (or a host printed) cannot forge lines or drive the terminal. */
describe('escapeControl', () => {
  it.each([
    ['plain text', 'alice@ops-7', 'alice@ops-7'],
    [
      'a newline',
      'alice\n2030-01-01  deploy 9.9.9 success by root',
      'alice\\n2030-01-01  deploy 9.9.9 success by root',
    ],
    ['a carriage return', 'a\rb', 'a\\rb'],
    ['a tab', 'a\tb', 'a\\tb'],
    ['an ANSI clear screen', 'x\u001b[2J\u001b[H', 'x\\e[2J\\e[H'],
    ['a NUL and a bell', 'a\u0000\u0007', 'a\\x00\\x07'],
    ['DEL and a C1 CSI', 'a\u007f\u009b31m', 'a\\x7f\\x9b31m'],
    ['a line separator', 'a\u2028b', 'a\\u2028b'],
    ['a right-to-left override', 'a\u202egnp.exe', 'a\\u202egnp.exe'],
    ['letters of any script', 'José 李', 'José 李'],
  ])('%s', (_name, input, shown) => {
    expect(escapeControl(input)).toBe(shown);
    expect(hasControl(escapeControl(input))).toBe(false);
  });
});

const FORGED = 'mallory\n  2030-01-01 00:00:00  deploy   9.9.9          success  by root\u001b[2J';

function status(): GroupStatus {
  return {
    group: 'shop',
    release: {
      id: 'shop-1',
      kind: 'deploy',
      version: '2.0.0',
      fromVersion: '1.0.0',
      phase: 'SUCCESS',
      outcome: 'success',
      by: FORGED,
      batches: [{ index: 0, number: 1, bastion: false, size: 1, done: 1, failed: 0 }],
      brake: null,
      nextBatch: 1,
      degraded: [`markdown of web-01 skipped\nFAKE`],
      next: 'rollback at any time',
      scan: `overridden by ${FORGED}`,
      image: 'r/a@sha256:x',
      insecureHostKey: true,
    },
    targets: [
      {
        id: 'web-01',
        address: '10.0.0.1',
        running: '2.0.0',
        healthy: true,
        traffic: 'up',
        state: 'MARKUP_SUCCESS',
        batch: 0,
        steps: {},
        pulledOut: false,
        error: `host said\n\u001b[31mFAKE`,
      },
    ],
    history: [
      {
        id: 'shop-1',
        kind: 'deploy',
        version: '2.0.0',
        outcome: 'success',
        createdAt: 0,
        endedAt: 1,
        by: FORGED,
      },
    ],
    rollbackTo: null,
    log: [
      {
        at: '2030-01-01T00:00:00.000Z',
        group: 'shop',
        deployment: 'shop-1',
        type: 'release',
        message: `release 2.0.0 of shop by ${FORGED}`,
      },
      {
        at: '2030-01-01T00:00:01.000Z',
        group: 'shop',
        deployment: 'shop-1',
        type: 'gate',
        message: 'reason ```\n## Approved by security',
      },
    ],
  };
}

describe('status, the log and the summary print what was recorded, not what it would do', () => {
  it('status text: one line per fact, no escape sequence reaches the terminal', () => {
    const text = renderStatus(status());
    expect(hasControl(text.replaceAll('\n', ''))).toBe(false);
    // The forged history row is not a line of its own.
    expect(text.split('\n').filter((l) => l.includes('9.9.9'))).toHaveLength(
      text.split('\n').filter((l) => l.includes('mallory')).length,
    );
    expect(text).toContain('by mallory\\n  2030-01-01');
    expect(text).toContain('host keys NOT checked');
  });

  it('the job summary: the same, and a message cannot close the log fence', () => {
    const md = renderStatusMarkdown(status(), { live: [] });
    expect(hasControl(md.replaceAll('\n', ''))).toBe(false);
    expect(md.split('\n').some((l) => l.startsWith('## Approved'))).toBe(false);
    expect(md).toContain('host keys NOT checked');
    const fence = md.split('\n').find((l) => /^`{3,}$/.test(l))!;
    expect(fence.length).toBeGreaterThan(3);
  });

  it('log lines and lock messages', () => {
    const line = formatEvent({
      at: '2030-01-01T00:00:00.000Z',
      group: 'shop',
      deployment: 'd',
      type: 'stop',
      message: `stopped by ${FORGED}`,
    });
    expect(line.split('\n')).toHaveLength(1);
    expect(hasControl(line)).toBe(false);
    const err = new LockHeldError('group shop', FORGED, 'now\u001b[2J');
    expect(err.message.split('\n')).toHaveLength(1);
    expect(hasControl(err.message)).toBe(false);
  });
});
