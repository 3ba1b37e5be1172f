/**
 * Issue 13 item 11: output a person can act on. The outcome names the reason (which targets,
 * which step, what it said) and the buttons that exist: never "rollback at any time" when there
 * is nothing to roll back to. With `traffic: none` the pages say "no LB", the log "no load
 * balancer (traffic: none)"; a host never deployed is not "down".
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/engine/engine';
import { nextActions } from '../../../src/engine/phases';
import { SimulatedClock } from '../../../src/engine/clock';
import type { Ports } from '../../../src/engine/ports';
import type { DeploymentConfig } from '../../../src/model/types';
import { NoneTraffic } from '../../../src/traffic/none';
import { collectStatus } from '../../../src/report/collect';
import { renderStatus } from '../../../src/report/status';
import { renderStatusMarkdown } from '../../../src/report/markdown';
import {
  FakeFleet,
  FakeTraffic,
  MemoryStore,
  makeConfig,
  makeGroup,
  makeLogger,
  fakePackage,
  releaseThrough,
} from '../../support/fakes';

function setup(n: number, over: Partial<DeploymentConfig> = {}, none = false) {
  const clock = new SimulatedClock();
  const fleet = new FakeFleet(clock, 100);
  const store = new MemoryStore();
  const ports: Ports = {
    transport: fleet,
    traffic: none ? new NoneTraffic() : new FakeTraffic(),
    store,
    clock,
    logger: makeLogger(),
  };
  const group = makeGroup(n);
  const config = makeConfig({ sizing: { kind: 'ratio', maxUnavailable: 0.5 }, ...over });
  const engine = new Engine(ports, group, config, 'tester', { groupFile: 'web.yml' });
  const pkg = fakePackage;
  const release = (version: string) => releaseThrough(engine, version);
  return { fleet, store, ports, group, engine, pkg, release };
}

describe('the outcome says why and what is possible (issue 13 item 11)', () => {
  it('a failure names each failed target, its step and what it said', async () => {
    const s = setup(6);
    await s.release('1.0.0');
    s.fleet.failures.set('web-03', { op: 'install', times: 1 });
    s.fleet.failures.set('web-05', { op: 'download', times: 9 });
    const r = await s.release('2.0.0');
    expect(r.status).toBe('failure');
    expect(r.message).toMatch(
      /^2 of 6 targets failed: web-03 install: install failed on web-03 \(injected\); web-05 download: download failed on web-05 \(injected\): retry or rollback$/,
    );
    // The release log's last phase line says the same.
    const last = (await s.store.events('shop')).filter((e) => e.type === 'phase').at(-1)!;
    expect(last.message).toBe(r.message);
  });

  it('many failures: the first five, and how many more', async () => {
    const s = setup(12, { sizing: { kind: 'ratio', maxUnavailable: 1 } });
    await s.release('1.0.0');
    for (let i = 2; i <= 9; i++) {
      s.fleet.failures.set(`web-0${i}`, { op: 'install', times: 1 });
    }
    const r = await s.release('2.0.0');
    expect(r.message).toMatch(
      /^8 of 12 targets failed: web-02 install: .*; web-06 install: [^;]*; and 3 more: retry or rollback$/,
    );
  });

  it('a failed bastion says which and why', async () => {
    const s = setup(4);
    s.fleet.failures.set('web-01', { op: 'install', times: 1 });
    const r = await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    expect(r.message).toBe(
      'bastion failed: web-01 install: install failed on web-01 (injected): retry or stop',
    );
  });

  it('after the first release there is nothing to roll back to, and it says so', async () => {
    const s = setup(4);
    const first = await s.release('1.0.0');
    expect(first.status).toBe('success');
    expect(first.message).not.toMatch(/rollback/);
    expect(first.message).toBe(
      'released 1.0.0 on every target: a new release (no earlier version to roll back to)',
    );
    const st = await collectStatus(s.ports, s.group);
    expect(st.release!.next).toBe('a new release (no earlier version to roll back to)');
    expect(renderStatus(st)).toContain(
      'now possible: a new release (no earlier version to roll back to)',
    );
    const second = await s.release('2.0.0');
    expect(second.message).toBe('released 2.0.0 on every target: rollback (to 1.0.0) at any time');
  });

  it('a first release that fails offers retry only; a stopped one a new release', async () => {
    const s = setup(4);
    s.fleet.failures.set('web-03', { op: 'install', times: 1 });
    const r = await s.release('1.0.0');
    expect(r.message).toMatch(/: retry \(no earlier version to roll back to\)$/);
    const t = setup(4);
    await t.engine.deploy({ version: '1.0.0', package: t.pkg('1.0.0') });
    expect((await t.engine.stop())!.message).toMatch(
      /^stopped by tester: a new release \(no earlier version to roll back to\); out of traffic: web-01/,
    );
    expect(nextActions('ABORTED', false, null)).toBe(
      'a new release (no earlier version to roll back to)',
    );
    expect(nextActions('FAILURE')).toBe('retry or rollback');
  });

  it('traffic: none — "no LB" on the pages, "no load balancer (traffic: none)" in the log', async () => {
    const s = setup(3, {}, true);
    await s.release('1.0.0');
    const steps = (await s.store.events('shop')).filter(
      (e) =>
        e.state === 'MARKDOWN_SUCCESS' ||
        e.state === 'MARKUP_SUCCESS' ||
        e.state === 'BAKE_SUCCESS',
    );
    expect(steps.length).toBe(6); // the bastion's markdown and bake; web-02, web-03 markdown and markup
    for (const e of steps) expect(e.message).toBe('no load balancer (traffic: none)');
    const st = await collectStatus(s.ports, s.group);
    expect(st.targets.every((t) => t.traffic === 'none')).toBe(true);
    const text = renderStatus(st);
    const row = text.split('\n').find((l) => l.startsWith('web-02'))!;
    expect(row).toMatch(/ ok +no LB +MARKUP_SUCCESS/);
    const md = renderStatusMarkdown(st, { live: [] });
    expect(md).toMatch(/\| web-02 \| [^|]+ \| 1\.0\.0 \| ok \| no LB \|/);
  });

  it('status --json numbers batches as the text does: the bastion is batch 1, in the log too', async () => {
    const s = setup(3);
    await s.engine.deploy({ version: '1.0.0', package: s.pkg('1.0.0') });
    const st = JSON.parse(JSON.stringify(await collectStatus(s.ports, s.group, 50)));
    const start = st.log.find((e: { message: string }) => e.message.startsWith('batch 1/3'));
    expect(start).toMatchObject({ type: 'batch', batch: 1 });
    const web01 = st.log.filter((e: { target?: string }) => e.target === 'web-01');
    expect(web01.length).toBeGreaterThan(0);
    for (const e of web01) expect(e.batch).toBe(1);
    expect(st.targets[0].batch).toBe(1);
  });

  it('a host never deployed is "-", not down, on the job summary too', async () => {
    const s = setup(3);
    const st = await collectStatus(s.ports, s.group);
    const md = renderStatusMarkdown(st, { live: [] });
    expect(md).not.toContain('**down**');
    expect(md).toMatch(/\| web-01 \| [^|]+ \| - \| - \|/);
  });
});
