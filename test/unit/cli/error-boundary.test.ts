import { describe, expect, it } from 'vitest';
import { CommanderError } from 'commander';
import { describeError } from '../../../src/report/error';
import { groupFileOf, takeDebugFlag } from '../../../src/cli/errors';
import {
  DependencyDownError,
  EXIT,
  InputError,
  LockHeldError,
  PhaseError,
  RecordDamagedError,
  RecordWriteError,
  StepError,
} from '../../../src/model/errors';

const FRAME = /^\s+at .+:\d+:\d+\)?$/m;

describe('describeError: every error the one way, with the exit code of its class', () => {
  const cases: Array<[string, unknown, number, RegExp]> = [
    [
      'bad input',
      new InputError('--version', 'is required'),
      EXIT.badInput,
      /^rollgate: --version: is required$/,
    ],
    [
      'a phase',
      new PhaseError('bake: no release of shop yet — deploy first'),
      EXIT.badInput,
      /^rollgate: bake: /,
    ],
    [
      'busy',
      new LockHeldError('group shop', 'alice', 'now'),
      EXIT.busy,
      /^rollgate: group shop is locked by alice/,
    ],
    [
      'a host step',
      new StepError('install on web-01 failed (exit 1): boom'),
      EXIT.failure,
      /^rollgate: install on web-01/,
    ],
    [
      'the LB down',
      new DependencyDownError('load balancer (haproxy) is unavailable'),
      EXIT.failure,
      /^rollgate: load balancer/,
    ],
    [
      'a record write',
      new RecordWriteError('/s/shop/state.json', 'no space left on device'),
      EXIT.failure,
      /^rollgate: could not write the record \/s\/shop\/state\.json: no space left on device — free space, then run rollgate status -g deploy\/web\.yml$/,
    ],
    [
      'a damaged record',
      new RecordDamagedError('/s/x', 'the record /s/x is damaged'),
      EXIT.failure,
      /^rollgate: the record/,
    ],
    [
      'anything else',
      new TypeError("Cannot read properties of undefined (reading 'x')"),
      EXIT.failure,
      /^rollgate: internal error: Cannot read properties of undefined \(reading 'x'\) \(run again with --debug for details\)$/,
    ],
    ['a thrown string', 'boom', EXIT.failure, /^rollgate: internal error: boom /],
  ];
  it.each(cases)('%s', (_name, err, code, first) => {
    const r = describeError(err, { debug: false, groupFile: 'deploy/web.yml' });
    expect(r.exitCode).toBe(code);
    expect(r.lines[0]).toMatch(first);
    expect(r.lines.join('\n')).not.toMatch(FRAME);
  });

  it('--debug adds the stack and its causes', () => {
    const cause = new Error('ENOSPC: no space left on device, write');
    const err = new RecordWriteError('/s/state.json', 'no space left on device', { cause });
    const r = describeError(err, { debug: true });
    expect(r.lines.join('\n')).toMatch(FRAME);
    expect(r.lines.join('\n')).toContain('caused by: Error: ENOSPC');
  });

  it('a record write failure lists what was not saved after its message', () => {
    const err = new RecordWriteError('/s/state.json', 'no space left on device');
    err.unsaved = ['not saved — …', '  web-01  batch 1  MARKUP_SUCCESS'];
    expect(describeError(err, { debug: false }).lines).toEqual([
      expect.stringMatching(/^rollgate: could not write the record/),
      'not saved — …',
      '  web-01  batch 1  MARKUP_SUCCESS',
    ]);
  });

  it("commander's own errors: it printed them; help is success, usage is bad input", () => {
    expect(
      describeError(new CommanderError(0, 'commander.helpDisplayed', ''), { debug: false }),
    ).toEqual({ lines: [], exitCode: 0 });
    expect(
      describeError(new CommanderError(1, 'commander.missingMandatoryOptionValue', 'x'), {
        debug: false,
      }).exitCode,
    ).toBe(2);
  });
});

describe('--debug and ROLLGATE_DEBUG', () => {
  it.each([
    [['deploy', '-g', 'x.yml'], {}, false, ['deploy', '-g', 'x.yml']],
    [['--debug', 'deploy', '-g', 'x.yml'], {}, true, ['deploy', '-g', 'x.yml']],
    [['deploy', '-g', 'x.yml', '--debug'], {}, true, ['deploy', '-g', 'x.yml']],
    [['deploy', '--', '--debug'], {}, false, ['deploy', '--', '--debug']],
    [['status'], { ROLLGATE_DEBUG: '1' }, true, ['status']],
    [['status'], { ROLLGATE_DEBUG: '0' }, false, ['status']],
  ])('%j %j', (argv, env, debug, rest) => {
    expect(takeDebugFlag(argv, env)).toEqual({ argv: rest, debug });
  });

  it('finds the group file for the messages', () => {
    expect(groupFileOf(['status', '-g', 'a.yml'])).toBe('a.yml');
    expect(groupFileOf(['status', '--group=b.yml'])).toBe('b.yml');
    expect(groupFileOf(['status'])).toBeUndefined();
  });
});
