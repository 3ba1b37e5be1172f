import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GroupFileError, parseGroupFile } from '../../../src/config/group-file';
import { planBatches } from '../../../src/plan/batches';
import { buildPlanReport, renderPlan } from '../../../src/report/plan';
import { slotTarget } from '../../../src/model/slots';
import { SHOP_WEB_GROUP } from '../../support/group-yaml';

const FIXTURES = fileURLToPath(new URL('../../fixtures/config/groups/', import.meta.url));
const ENV = { USER: 'tester', HOME: '/home/tester' };

const sideBySide = (extra = '') =>
  SHOP_WEB_GROUP.replace('port: 8080', 'port: 8080\naltPort: 8081') +
  `deployment:\n  strategy: side-by-side\n${extra}`;

async function problems(text: string): Promise<Array<{ field: string; message: string }>> {
  try {
    await parseGroupFile(text, FIXTURES, { env: ENV });
  } catch (error) {
    expect(error).toBeInstanceOf(GroupFileError);
    return (error as GroupFileError).issues.map(({ field, message }) => ({ field, message }));
  }
  throw new Error('expected a GroupFileError');
}

describe('deployment.strategy (S7)', () => {
  it('is in-place by default: no strategy, no keep-warm in the config, no second slot', async () => {
    const { config, group } = await parseGroupFile(SHOP_WEB_GROUP, FIXTURES, { env: ENV });
    expect(config.strategy).toBeUndefined();
    expect(config.keepWarmMs).toBeUndefined();
    expect(group.targets.map((t) => t.altPort)).toEqual([undefined, undefined]);
  });

  it('side-by-side: each target gets the group altPort, keepWarm defaults to 5 minutes', async () => {
    const { config, group } = await parseGroupFile(sideBySide(), FIXTURES, { env: ENV });
    expect(config.strategy).toBe('side-by-side');
    expect(config.keepWarmMs).toBe(300_000);
    expect(group.targets.map((t) => [t.id, t.port, t.altPort])).toEqual([
      ['web-01', 8080, 8081],
      ['web-02', 8080, 8081],
    ]);
  });

  it('keepWarm 0 stops the old slot at once; a per-target altPort and altLbName win', async () => {
    const text = sideBySide('  keepWarm: 0s\n').replace(
      '  - host: web-02\n    address: 127.0.0.12',
      '  - host: web-02\n    address: 127.0.0.12\n    altPort: 9090\n    altLbName: be/web-02-green',
    );
    const { config, group } = await parseGroupFile(text, FIXTURES, { env: ENV });
    expect(config.keepWarmMs).toBe(0);
    const web02 = group.targets[1]!;
    expect(slotTarget(web02, 'b')).toMatchObject({
      port: 9090,
      lbName: 'be/web-02-green',
      slot: 'b',
    });
    expect(slotTarget(group.targets[0]!, 'b')).toMatchObject({ port: 8081, lbName: 'web-01-b' });
    expect(slotTarget(group.targets[0]!, 'a')).toMatchObject({ port: 8080, slot: 'a' });
    expect(slotTarget(group.targets[0]!, 'a').lbName).toBeUndefined();
  });

  type Case = [string, string, string, RegExp];
  const cases: Case[] = [
    [
      'side-by-side without a second port',
      SHOP_WEB_GROUP + 'deployment:\n  strategy: side-by-side\n',
      'targets[0].altPort',
      /side-by-side needs a second port per target: set altPort/,
    ],
    [
      'altPort equal to port',
      sideBySide().replace('altPort: 8081', 'altPort: 8080'),
      'targets[0].altPort',
      /8080 is also the app port: the second slot needs a port of its own/,
    ],
    [
      "a slot port that is another target's app port",
      sideBySide().replace(
        '  - host: web-02\n    address: 127.0.0.12',
        '  - host: web-02\n    address: 127.0.0.11\n    port: 8081\n    altPort: 8082\n    docBase: /srv/b',
      ),
      'targets[1].port',
      /127.0.0.11:8081 is already used by targets\[0\]/,
    ],
    [
      'an unknown strategy',
      SHOP_WEB_GROUP + 'deployment:\n  strategy: blue-green\n',
      'deployment.strategy',
      /in-place|side-by-side/,
    ],
    [
      'keepWarm on in-place',
      SHOP_WEB_GROUP + 'deployment:\n  keepWarm: 5m\n',
      'deployment.keepWarm',
      /only side-by-side keeps an old slot warm: set deployment.strategy: side-by-side, or remove keepWarm/,
    ],
    [
      'altPort on in-place',
      SHOP_WEB_GROUP.replace('port: 8080', 'port: 8080\naltPort: 8081'),
      'altPort',
      /only side-by-side uses a second slot/,
    ],
    ['a bad keepWarm', sideBySide('  keepWarm: soon\n'), 'deployment.keepWarm', /./],
  ];
  it.each(cases)('%s: names the field and the fix', async (_name, text, field, message) => {
    const found = await problems(text);
    const hit = found.find((p) => p.field === field);
    expect(hit, JSON.stringify(found)).toBeDefined();
    expect(hit!.message).toMatch(message);
  });

  it('plan says the strategy, and a side-by-side batch keeps every host serving', async () => {
    const { config, group } = await parseGroupFile(sideBySide(), FIXTURES, { env: ENV });
    const plan = planBatches(group.targets, config);
    const report = buildPlanReport(group.name, '1.2.0', plan, config, 2, null);
    expect(report.strategy).toEqual({ kind: 'side-by-side', keepWarmMs: 300_000 });
    expect(report.batches.map((b) => b.capacityKept)).toEqual([1, 1]);
    expect(renderPlan(report)).toMatch(/strategy: side-by-side .* warm for 5m/);

    const inPlace = await parseGroupFile(SHOP_WEB_GROUP, FIXTURES, { env: ENV });
    const r2 = buildPlanReport(
      'g',
      '1',
      planBatches(inPlace.group.targets, inPlace.config),
      inPlace.config,
      2,
      null,
    );
    expect(r2.strategy).toBeUndefined();
    expect(r2.batches.map((b) => b.capacityKept)).toEqual([0.5, 0.5]);
    expect(renderPlan(r2)).toMatch(/strategy: in-place/);
  });
});
