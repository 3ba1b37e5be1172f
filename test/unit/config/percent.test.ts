import { describe, expect, it } from 'vitest';
import { formatRatio, parseBatchSizing, parseRatio } from '../../../src/config/percent';
import { InputError } from '../../../src/model/errors';

describe('parseRatio', () => {
  it.each([
    ['25%', 0.25],
    ['100%', 1],
    ['12.5%', 0.125],
    ['0.5%', 0.005],
    [' 50 % ', 0.5],
    [0.25, 0.25],
    [1, 1],
    [25, 0.25],
    [100, 1],
    ['25', 0.25],
    ['0.25', 0.25],
  ] as const)('M2: reads %j as %d', (value, ratio) => {
    expect(parseRatio(value, 'deployment.maxUnavailable')).toBeCloseTo(ratio, 10);
  });

  it.each([
    ['0%'],
    [0],
    ['-5%'],
    [-0.5],
    ['150%'],
    [101],
    ['abc'],
    ['%'],
    [''],
    ['25%%'],
    [Number.NaN],
  ] as const)('refuses %j, naming the field', (value) => {
    const call = () => parseRatio(value, 'deployment.maxUnavailable');
    expect(call).toThrow(InputError);
    expect(call).toThrow(/^deployment\.maxUnavailable: /);
  });

  it('formats a ratio as a percentage', () => {
    expect(formatRatio(0.25)).toBe('25%');
    expect(formatRatio(1 / 3)).toBe('33.33%');
  });
});

describe('parseBatchSizing', () => {
  it('M2: max unavailable alone gives ratio sizing', () => {
    expect(parseBatchSizing('25%')).toEqual({ kind: 'ratio', maxUnavailable: 0.25 });
  });

  it('M4: an explicit pattern keeps its parts and the max-unavailable ratio for the brake (F2)', () => {
    const sizing = parseBatchSizing('30%', '10%+20%+70%');
    expect(sizing.kind).toBe('pattern');
    expect(sizing.maxUnavailable).toBe(0.3);
    expect(sizing.kind === 'pattern' && sizing.parts).toEqual([0.1, 0.2, 0.7]);
  });

  it.each([
    ['10% + 20% + 70%', [0.1, 0.2, 0.7]],
    ['100%', [1]],
    ['33.33%+33.33%+33.34%', [0.3333, 0.3333, 0.3334]],
    ['33.33%+33.33%+33.33%', [0.3333, 0.3333, 0.3333]],
  ] as const)('accepts %s', (pattern, parts) => {
    const sizing = parseBatchSizing('25%', pattern);
    expect(sizing.kind === 'pattern' && sizing.parts.map((p) => Number(p.toFixed(6)))).toEqual(
      parts,
    );
  });

  it('accepts a list of shares', () => {
    const sizing = parseBatchSizing(25, ['50%', 0.5]);
    expect(sizing.kind === 'pattern' && sizing.parts).toEqual([0.5, 0.5]);
  });

  it('accepts exactly 100 parts and refuses 101', () => {
    expect(() => parseBatchSizing('25%', Array(100).fill('1%').join('+'))).not.toThrow();
    const many = `${Array(99).fill('1%').join('+')}+0.5%+0.5%`;
    expect(() => parseBatchSizing('25%', many)).toThrow(/at most 100/);
  });

  it.each([
    ['10%+20%', /add up to 30%, not 100%/],
    ['50%+60%', /add up to 110%/],
    ['33%+33%+33%', /add up to 99%/],
    ['0%+100%', /part 1/],
    ['10%+abc+90%', /part 2 "abc"/],
    ['10+90', /part 1 "10" is not a percentage/],
    ['', /is empty/],
    ['10%++90%', /part 2/],
  ] as const)('refuses the pattern %j, naming deployment.batchPattern', (pattern, message) => {
    const call = () => parseBatchSizing('25%', pattern);
    expect(call).toThrow(InputError);
    expect(call).toThrow(/^deployment\.batchPattern: /);
    expect(call).toThrow(message);
  });

  it('names deployment.maxUnavailable when that is wrong', () => {
    expect(() => parseBatchSizing('0%', '100%')).toThrow(/^deployment\.maxUnavailable: /);
  });
});
