import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  inputEnvName,
  parseCommandFile,
  readActionMetadata,
  resolveInputs,
  ROOT,
  workflowCommands,
} from '../../support/actions-runner';
import {
  condition,
  evaluate,
  interpolate,
  loadWorkflow,
  needsOf,
  type ExprContext,
} from '../../support/workflow-driver';
import { ROLLOUT_JOBS, ROLLOUT_WORKFLOW } from '../../support/rollout-jobs';

// The test harness itself: the runner's input/output conventions and the expression subset the
// workflow driver evaluates. The end-to-end tests lean on these rules.

const ctx = (extra: Partial<ExprContext> = {}): ExprContext => ({
  contexts: {
    inputs: { 'group-file': 'deploy/web.yml', version: '1.2.3', flag: true, empty: '' },
    needs: {
      'deploy-bastion': { result: 'success', outputs: { outcome: 'waiting' } },
      bake: { result: 'failure', outputs: {} },
    },
  },
  status: { success: () => true, failure: () => false, cancelled: () => false },
  ...extra,
});

describe('expressions (the subset rollout.yml uses)', () => {
  it('reads contexts with hyphenated names; a missing property is null', () => {
    expect(evaluate('needs.deploy-bastion.outputs.outcome', ctx())).toBe('waiting');
    expect(evaluate('needs.bake.outputs.outcome', ctx())).toBeNull();
    expect(evaluate('inputs.group-file', ctx())).toBe('deploy/web.yml');
  });

  it('compares like GitHub: strings ignore case, null equals empty string, && and || return operands', () => {
    expect(evaluate("needs.deploy-bastion.outputs.outcome == 'WAITING'", ctx())).toBe(true);
    expect(evaluate("needs.bake.outputs.outcome == ''", ctx())).toBe(true);
    expect(evaluate("needs.bake.result != 'failure'", ctx())).toBe(false);
    expect(evaluate("inputs.empty || 'fallback'", ctx())).toBe('fallback');
    expect(evaluate("inputs.flag && 'yes'", ctx())).toBe('yes');
    expect(evaluate("inputs.empty != '' && format('p/{0}', inputs.version) || ''", ctx())).toBe('');
    expect(evaluate("!inputs.empty && format('a-{0}-{{x}}', inputs.version)", ctx())).toBe(
      'a-1.2.3-{x}',
    );
    expect(evaluate('1 == true', ctx())).toBe(true);
    expect(evaluate("'abc' == 0", ctx())).toBe(false);
  });

  it('adds the implicit success() to an if: without a status function', () => {
    const failed = ctx({
      status: { success: () => false, failure: () => true, cancelled: () => false },
    });
    expect(condition("needs.deploy-bastion.outputs.outcome == 'waiting'", ctx())).toBe(true);
    expect(condition("needs.deploy-bastion.outputs.outcome == 'waiting'", failed)).toBe(false);
    expect(condition("always() && needs.bake.result == 'failure'", failed)).toBe(true);
    expect(condition('${{ failure() }}', failed)).toBe(true);
    expect(condition(undefined, failed)).toBe(false);
  });

  it('interpolates text and keeps the type of a whole expression', () => {
    expect(interpolate('${{ inputs.version }}-bake', ctx())).toBe('1.2.3-bake');
    expect(interpolate('${{ inputs.flag }}', ctx())).toBe(true);
    expect(interpolate('plain', ctx())).toBe('plain');
  });

  it('fails loudly on what it does not implement', () => {
    expect(() => evaluate("contains(inputs.version, '1')", ctx())).toThrow(
      /contains\(\) is not supported/,
    );
    expect(() => evaluate('github.token', ctx())).toThrow(/context "github" is not available/);
    expect(() => evaluate('inputs.version < 2', ctx())).toThrow(/not supported/);
    expect(() => evaluate("fromJSON('[1]')[0]", ctx())).toThrow(/not supported/);
    expect(() => evaluate('always()', { contexts: {} })).not.toThrow();
    expect(() => evaluate('success()', { contexts: {} })).toThrow(/not allowed here/);
  });
});

describe('rollout.yml as the driver reads it', () => {
  const wf = loadWorkflow(ROLLOUT_WORKFLOW);

  it('orders the jobs by needs', () => {
    expect(wf.order).toEqual(ROLLOUT_JOBS);
    expect(needsOf(wf.jobs.monitor!)).toEqual(['roll', 'continue']);
    expect(needsOf(wf.jobs['deploy-bastion']!)).toEqual(['build-image', 'clair-scan']);
    expect(needsOf(wf.jobs.stop!)).toEqual(['deploy-bastion', 'bake', 'roll', 'continue']);
    expect(needsOf(wf.jobs['gate-failed']!)).toEqual([
      'deploy-bastion',
      'bake',
      'roll',
      'continue',
    ]);
  });

  it('every expression in the file is one the driver evaluates', () => {
    const contexts = {
      inputs: Object.fromEntries(
        Object.entries(wf.inputs).map(([k, d]) => [k, d.type === 'boolean' ? false : 'x']),
      ),
      secrets: Object.fromEntries(Object.keys(wf.secrets).map((k) => [k, ''])),
      needs: Object.fromEntries(wf.order.map((j) => [j, { result: 'success', outputs: {} }])),
      steps: {
        step: { outputs: { outcome: 'success' }, outcome: 'success', conclusion: 'success' },
      },
      jobs: Object.fromEntries(wf.order.map((j) => [j, { result: 'success', outputs: {} }])),
      github: { token: 'ghs_x', run_id: '1', run_attempt: '1', repository: 'acme/shop' },
    };
    const c: ExprContext = {
      contexts,
      status: { success: () => true, failure: () => false, cancelled: () => false },
    };
    const seen: string[] = [];
    const walk = (v: unknown, key = ''): void => {
      if (typeof v === 'string') {
        if (key === 'if') {
          condition(v, c);
          seen.push(v);
        } else if (v.includes('${{')) {
          interpolate(v, c);
          seen.push(v);
        }
      } else if (Array.isArray(v)) v.forEach((x) => walk(x));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
    };
    walk(wf.jobs);
    walk(wf.outputs);
    walk(wf.concurrency);
    expect(seen.length).toBeGreaterThan(40);
  });
});

describe('the runner conventions actions-runner follows', () => {
  it('names inputs INPUT_<NAME>, upper case, spaces to _, hyphens kept', () => {
    expect(inputEnvName('group-file')).toBe('INPUT_GROUP-FILE');
    expect(inputEnvName('my input')).toBe('INPUT_MY_INPUT');
  });

  it('fills in action.yml defaults, github.token as the given token', () => {
    const meta = readActionMetadata(join(ROOT, 'actions/deploy-bastion'));
    const { values, unexpected } = resolveInputs(meta, { version: '1.0.0', extra: 'x' }, 'tok');
    expect(values).toEqual({
      token: 'tok',
      'degrade-lb': 'false',
      force: 'false',
      version: '1.0.0',
      extra: 'x',
    });
    expect(unexpected).toEqual(['extra']);
  });

  it('parses the GITHUB_OUTPUT file: heredocs and name=value', () => {
    const text = [
      'outcome<<ghadelimiter_1',
      'waiting',
      'ghadelimiter_1',
      'multi<<EOF',
      'a',
      'b=c',
      'EOF',
      'plain=x=y',
      '',
    ].join('\n');
    expect(parseCommandFile(text)).toEqual({ outcome: 'waiting', multi: 'a\nb=c', plain: 'x=y' });
    expect(() => parseCommandFile('x<<EOF\nno end\n')).toThrow(/no closing delimiter/);
  });

  it('reads ::error:: commands, unescaped', () => {
    expect(
      workflowCommands('::debug::x\n::error::input version: is required%0Aline 2\n', 'error'),
    ).toEqual(['input version: is required\nline 2']);
  });
});
