import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { InputError } from '../../../src/model/errors';
import { parseChecks, quantity, rulePolls, versionLabelOf } from '../../../src/monitor/checks';
import { formatValue } from '../../../src/monitor/format';
import { parseMonitorSpec, createSources, watchOptions } from '../../../src/monitor/spec';

const EXAMPLE = `
- name: error-ratio
  kind: application
  ratio:
    numerator: sum by (version) (rate(http_requests_total{code=~"5.."}[1m]))
    denominator: sum by (version) (rate(http_requests_total[1m]))
  for: 3
  rules:
    - threshold: { above: 5% }
    - canary: { above: 3x, tolerance: 1% }
    - baseline: { above: 3, tolerance: 0.5%, before: 15m }
    - slope: { above: 0.05%, over: 10m }
    - budget: { above: 1%, limit: 50% }
- name: orders
  kind: business
  query: sum(rate(orders_total[5m])) * 60
  unit: count
  rule:
    baseline:
      below: 0.8
      query: sum(rate(orders_total[5m] offset 1w)) * 60
- name: p99
  kind: user
  query: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))
  unit: seconds
  rule: { threshold: { above: 300ms, for: 1 } }
- name: cpu
  kind: system
  query: avg(rate(process_cpu_seconds_total[1m]))
  every: 1m
  optional: true
  rule: { threshold: { above: 80% } }
`;

describe('parseChecks — the YAML form', () => {
  it('reads the documented example', () => {
    const checks = parseChecks(parseYaml(EXAMPLE));
    expect(checks[0]).toEqual({
      name: 'error-ratio',
      kind: 'application',
      source: 'prometheus',
      ratio: {
        numerator: 'sum by (version) (rate(http_requests_total{code=~"5.."}[1m]))',
        denominator: 'sum by (version) (rate(http_requests_total[1m]))',
      },
      unit: 'ratio',
      forPolls: 3,
      optional: false,
      rules: [
        { type: 'threshold', when: 'above', value: 0.05 },
        { type: 'canary', when: 'above', factor: 3, tolerance: 0.01 },
        {
          type: 'baseline',
          when: 'above',
          factor: 3,
          tolerance: 0.005,
          against: { before: 900_000 },
        },
        {
          type: 'slope',
          when: 'above',
          perMinute: 0.0005,
          overMs: 600_000,
          minPoints: 5,
          minR2: 0.5,
        },
        { type: 'budget', when: 'above', objective: 0.01, limit: 0.5 },
      ],
    });
    expect(checks[1]!.rules[0]).toEqual({
      type: 'baseline',
      when: 'below',
      factor: 0.8,
      tolerance: 0,
      against: { query: 'sum(rate(orders_total[5m] offset 1w)) * 60' },
    });
    expect(checks[2]!.rules[0]).toEqual({
      type: 'threshold',
      when: 'above',
      value: 0.3,
      forPolls: 1,
    });
    expect(checks[3]).toMatchObject({ kind: 'system', everyMs: 60_000, optional: true });
  });

  it('canary checks are read by version; trend rules decide on one poll unless told', () => {
    const [errors, orders] = parseChecks(parseYaml(EXAMPLE));
    expect(versionLabelOf(errors!)).toBe('version');
    expect(versionLabelOf(orders!)).toBeUndefined();
    expect(errors!.rules.map((r) => rulePolls(errors!, r))).toEqual([3, 3, 3, 1, 1]);
  });

  it.each([
    { yaml: '[]', field: 'monitor.checks', msg: /at least one/ },
    {
      yaml: '[{ name: a, kind: user, rule: { threshold: { above: 1 } } }]',
      field: 'monitor.checks[0].query',
      msg: /needs a query/,
    },
    {
      yaml: '[{ name: a, kind: people, query: q, rule: { threshold: { above: 1 } } }]',
      field: 'monitor.checks[0].kind',
      msg: /user, network, business, application, system/,
    },
    {
      yaml: '[{ name: a, kind: user, query: q, rule: { threshold: { above: 1, below: 2 } } }]',
      field: 'monitor.checks[0].rule.threshold',
      msg: /exactly one of above or below/,
    },
    {
      yaml: '[{ name: a, kind: user, query: q, rule: { thresold: { above: 1 } } }]',
      field: 'monitor.checks[0].rule.thresold',
      msg: /unknown key/,
    },
    {
      yaml: '[{ name: a, kind: user, query: q, rule: { threshold: { above: lots } } }]',
      field: 'monitor.checks[0].rule.threshold.above',
      msg: /not a number or a percentage/,
    },
    {
      yaml: '[{ name: a, kind: user, query: q, unit: count, rule: { budget: { above: 1 } } }]',
      field: 'monitor.checks[0].rules[0].budget',
      msg: /needs a ratio/,
    },
    {
      yaml: '[{ name: a, kind: system, query: q, every: 10m, rule: { threshold: { above: 1 } } }]',
      field: 'monitor.checks[0].every',
      msg: /every 5m/,
    },
    {
      yaml: '[{ name: a, kind: user, query: q, for: 0, rule: { threshold: { above: 1 } } }]',
      field: 'monitor.checks[0].for',
      msg: /at least 1/,
    },
    {
      yaml: '[{ name: a, kind: user, query: q, rule: { baseline: { above: 2, before: 5m, value: 1 } } }]',
      field: 'monitor.checks[0].rule.baseline.value',
      msg: /one of before, query or value/,
    },
    {
      yaml: '[{ name: a, kind: user, query: q, rule: { threshold: { above: 1 } } }, { name: a, kind: user, query: q, rule: { threshold: { above: 1 } } }]',
      field: 'monitor.checks[1].name',
      msg: /used by two checks/,
    },
  ])('$field: $msg', ({ yaml, field, msg }) => {
    let err: unknown;
    try {
      parseChecks(parseYaml(yaml));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).field).toBe(field);
    expect((err as InputError).message).toMatch(msg);
  });
});

describe('quantity — numbers in the check’s unit', () => {
  it.each([
    { raw: '5%', unit: 'ratio', want: 0.05 },
    { raw: 0.05, unit: 'ratio', want: 0.05 },
    { raw: '0.05', unit: 'ratio', want: 0.05 },
    { raw: '300ms', unit: 'seconds', want: 0.3 },
    { raw: '2s', unit: 'seconds', want: 2 },
    { raw: '1.5', unit: 'seconds', want: 1.5 },
    { raw: '-0.05%', unit: 'ratio', want: -0.0005, signed: true },
    { raw: '-10ms', unit: 'seconds', want: -0.01, signed: true },
  ] as const)('$raw ($unit) → $want', ({ raw, unit, want, ...rest }) => {
    expect(quantity(raw, 'f', unit, 'signed' in rest)).toBeCloseTo(want, 12);
  });

  it('negative values only where a slope allows them', () => {
    expect(() => quantity('-1%', 'f', 'ratio')).toThrow(/0 or more/);
  });
});

describe('format', () => {
  it.each([
    { v: 0.041, unit: 'ratio', s: '4.1%' },
    { v: 0.008, unit: 'ratio', s: '0.8%' },
    { v: 0.000101, unit: 'ratio', s: '0.0101%' },
    { v: 0.99912, unit: 'ratio', s: '99.9%' },
    { v: 0, unit: 'ratio', s: '0%' },
    { v: 0.2504, unit: 'seconds', s: '250.4ms' },
    { v: 1.5, unit: 'seconds', s: '1.5s' },
    { v: 1_234_567, unit: 'bytes', s: '1.18MiB' },
    { v: 118.27, unit: 'count', s: '118.3' },
    { v: NaN, unit: 'count', s: 'NaN' },
    { v: Infinity, unit: 'seconds', s: '+Inf' },
  ] as const)('$v $unit → $s', ({ v, unit, s }) => {
    expect(formatValue(v, unit)).toBe(s);
  });
});

describe('parseMonitorSpec — the monitor section', () => {
  it('defaults: 30 minutes, polled every minute; the sources it names', () => {
    const spec = parseMonitorSpec(
      parseYaml(`
prometheus: http://127.0.10.1:19090
pushgateway: { url: 'http://127.0.10.2:19091', timeout: 2s }
probe:
  targets:
    - { url: 'http://127.0.10.11:19101/', labels: { version: 1.1.0 } }
  requests: 5
checks:
  - name: p99
    kind: user
    query: q
    rule: { threshold: { above: 1 } }
  - name: probe-success
    kind: user
    source: probe
    query: success_ratio
    rule: { threshold: { below: 99% } }
`),
    );
    expect(watchOptions(spec)).toMatchObject({
      windowMs: 30 * 60_000,
      intervalMs: 60_000,
      retries: 2,
      retryDelayMs: 1000,
      failFast: true,
      minCoverage: 0.8,
    });
    expect(spec.prometheus).toEqual({ url: 'http://127.0.10.1:19090' });
    expect(spec.pushgateway).toEqual({ url: 'http://127.0.10.2:19091', timeoutMs: 2000 });
    expect(spec.probe).toEqual({
      targets: [{ url: 'http://127.0.10.11:19101/', labels: { version: '1.1.0' } }],
      requests: 5,
    });
    const sources = createSources(spec, { timer: performance });
    expect(Object.keys(sources)).toEqual(['prometheus', 'probe']);
    expect(sources.prometheus!.name).toBe('prometheus http://127.0.10.1:19090');
    expect(sources.probe!.range).toBeUndefined();
  });

  it.each([
    { raw: { checks: [] }, field: 'monitor.checks' },
    { raw: { window: '10s', interval: '1m', checks: [] }, field: 'monitor.interval' },
    { raw: { prometheus: 'ftp://x', checks: [] }, field: 'monitor.prometheus' },
    {
      raw: {
        checks: [{ name: 'a', kind: 'user', query: 'q', rule: { threshold: { above: 1 } } }],
      },
      field: 'monitor.prometheus',
    },
    { raw: { minCoverage: '0%', checks: [] }, field: 'monitor.minCoverage' },
    { raw: { wndow: '1m' }, field: 'monitor.wndow' },
  ])('names $field', ({ raw, field }) => {
    let err: unknown;
    try {
      parseMonitorSpec(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).field).toBe(field);
  });
});
