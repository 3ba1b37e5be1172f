import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  parseServersState,
  parseShowStat,
  parseWeight,
  statusFromServerState,
  ADMIN,
  statusFromStat,
  worstStatus,
} from '../../../src/traffic/haproxy/stat-csv';

const fixture = (name: string) =>
  fs.readFileSync(new URL(`../../fixtures/haproxy/${name}`, import.meta.url), 'utf8');

function stat(name: string) {
  return new Map(parseShowStat(fixture(name)).map((r) => [`${r.pxname}/${r.svname}`, r]));
}

function state(name: string) {
  return new Map(parseServersState(fixture(name)).map((r) => [`${r.beName}/${r.srvName}`, r]));
}

describe('show stat CSV (HAProxy 2.6.12 captures)', () => {
  it('reads every row by header name, frontends and backends included', () => {
    const rows = parseShowStat(fixture('stat-up.csv'));
    expect(rows.map((r) => `${r.pxname}/${r.svname}`)).toEqual([
      'fe/FRONTEND',
      'be/s1',
      'be/s2',
      'be/s3',
      'be/s4',
      'be/s5',
      'be/BACKEND',
    ]);
    const s1 = rows[1]!;
    expect(s1).toMatchObject({ scur: 0, qcur: 0, status: 'UP', weight: 100 });
    expect(s1.fields.addr).toBe('127.0.3.50:18401');
    expect(rows[0]!.qcur).toBeNull();
    expect(Object.keys(s1.fields).length).toBeGreaterThan(80);
  });

  it('maps the status column', () => {
    const up = stat('stat-up.csv');
    expect(up.get('be/s1')!.status).toBe('UP');
    expect(up.get('be/s4')!.status).toBe('DOWN');
    expect(up.get('be/s5')!.status).toBe('no check');
    expect(statusFromStat(up.get('be/s5')!.status)).toBe('up');
    expect(statusFromStat(up.get('fe/FRONTEND')!.status)).toBe('up');

    const mixed = stat('stat-mixed.csv');
    expect(statusFromStat(mixed.get('be/s1')!.status)).toBe('drain');
    expect(statusFromStat(mixed.get('be/s2')!.status)).toBe('maint');
    expect(mixed.get('be/s3')!.weight).toBe(50);
    // drain on a DOWN server: HAProxy keeps showing DOWN
    expect(mixed.get('be/s4')!.status).toBe('DOWN');
    expect(statusFromStat(mixed.get('be/s4')!.status)).toBe('down');
  });

  it('treats transitional forms by the side they are on', () => {
    expect(stat('stat-going-down.csv').get('be/s1')!.status).toBe('UP 1/2');
    expect(statusFromStat('UP 1/2')).toBe('up');
    expect(stat('stat-going-up.csv').get('be/s1')!.status).toBe('DOWN 1/2');
    expect(statusFromStat('DOWN 1/2')).toBe('down');
  });

  it('knows agent and tracked forms', () => {
    const t = stat('stat-track.csv');
    expect(t.get('be/s3')!.status).toBe('DRAIN (agent)');
    expect(statusFromStat('DRAIN (agent)')).toBe('drain');
    expect(t.get('be2/t1')!.status).toBe('MAINT (via be/s2)');
    expect(statusFromStat('MAINT (via be/s2)')).toBe('maint');
    expect(statusFromStat('MAINT (resolution)')).toBe('maint');
    expect(statusFromStat('NOLB')).toBe('drain');
    expect(statusFromStat('whatever')).toBe('unknown');
  });

  it('reads current sessions while requests are in flight', () => {
    const s = stat('stat-sessions.csv');
    expect(s.get('be/s2')!.scur).toBe(1);
    expect(s.get('be/s3')!.scur).toBe(1);
    expect(s.get('be/s1')!.scur).toBe(0);
    expect(s.get('fe/FRONTEND')!.scur).toBe(3);
    const only = parseShowStat(fixture('stat-be-servers.csv'));
    expect(only.map((r) => [r.svname, r.scur])).toEqual([
      ['s1', 0],
      ['s2', 1],
      ['s3', 1],
      ['s4', 0],
      ['s5', 0],
    ]);
  });

  it('unquotes quoted fields', () => {
    const rows = parseShowStat('# pxname,svname,scur,status,check_desc\nbe,s1,2,UP,"a, ""b"""\n');
    expect(rows[0]!.fields.check_desc).toBe('a, "b"');
    expect(rows[0]!.scur).toBe(2);
  });

  it('rejects an error answer', () => {
    expect(() => parseShowStat('No such proxy.\n')).toThrow(/not a 'show stat' answer/);
  });
});

describe('show servers state', () => {
  it('reads op and admin state, weights and the agent', () => {
    const up = state('state-up.txt');
    expect(up.get('be/s1')).toMatchObject({
      opState: 2,
      adminState: 0,
      uweight: 100,
      iweight: 100,
    });
    expect(up.get('be/s1')!.agentConfigured).toBe(false);
    expect(up.get('be/s3')!.agentConfigured).toBe(true);
    expect(up.get('be/s1')!.fields.srv_port).toBe('18401');
    expect(statusFromServerState(up.get('be/s1')!)).toBe('up');
    expect(statusFromServerState(up.get('be/s4')!)).toBe('down');
    expect(statusFromServerState(up.get('be/s5')!)).toBe('up');
  });

  it('maps forced drain, forced maint and drain on a DOWN server', () => {
    const m = state('state-mixed.txt');
    expect(m.get('be/s1')).toMatchObject({ opState: 2, adminState: 8 });
    expect(statusFromServerState(m.get('be/s1')!)).toBe('drain');
    expect(m.get('be/s2')).toMatchObject({ opState: 0, adminState: 1 });
    expect(statusFromServerState(m.get('be/s2')!)).toBe('maint');
    expect(m.get('be/s3')!.uweight).toBe(50);
    expect(m.get('be/s4')).toMatchObject({ opState: 0, adminState: 8 });
    expect(statusFromServerState(m.get('be/s4')!)).toBe('down');
    const d = state('state-down-drain.txt');
    expect(statusFromServerState(d.get('be/s1')!)).toBe('down');
  });

  it('maps inherited, config and resolution maintenance', () => {
    const t = state('state-track.txt');
    expect(t.get('be2/t1')).toMatchObject({ adminState: 2 });
    expect(statusFromServerState(t.get('be2/t1')!)).toBe('maint');
    expect(t.get('be2/t2')).toMatchObject({ adminState: 5 });
    expect(statusFromServerState(t.get('be2/t2')!)).toBe('maint');
    expect(statusFromServerState({ opState: 2, adminState: 0x20 })).toBe('maint');
    expect(statusFromServerState({ opState: 2, adminState: 0x10 })).toBe('drain');
    expect(statusFromServerState({ opState: 3, adminState: 0 })).toBe('drain');
    expect(statusFromServerState({ opState: 1, adminState: 0 })).toBe('up');
  });

  it('a server the config declared `disabled`, once set ready, is in traffic (CMAINT only remembers the config)', () => {
    // HAProxy 2.6 after `set server be/s1-b state ready` on `server s1-b … disabled`: admin 4.
    expect(statusFromServerState({ opState: 2, adminState: ADMIN.configMaint })).toBe('up');
    expect(statusFromServerState({ opState: 0, adminState: ADMIN.configMaint })).toBe('down');
    expect(
      statusFromServerState({ opState: 0, adminState: ADMIN.configMaint | ADMIN.forcedMaint }),
    ).toBe('maint');
  });

  it('reads every backend at once', () => {
    const rows = parseServersState(fixture('state-all.txt'));
    expect(new Set(rows.map((r) => r.beName))).toEqual(new Set(['be', 'be2']));
  });

  it('rejects error answers', () => {
    expect(() => parseServersState("Can't find backend.\n")).toThrow(/not a 'show servers state'/);
  });
});

describe('get weight and worst status', () => {
  it('parses get weight', () => {
    expect(parseWeight('10 (initial 100)')).toEqual({ current: 10, initial: 100 });
    expect(() => parseWeight('No such server.')).toThrow();
  });

  it('takes the worst view across instances', () => {
    expect(worstStatus(['up', 'up'])).toBe('up');
    expect(worstStatus(['up', 'drain'])).toBe('drain');
    expect(worstStatus(['maint', 'drain', 'up'])).toBe('maint');
    expect(worstStatus(['maint', 'down'])).toBe('down');
  });
});
