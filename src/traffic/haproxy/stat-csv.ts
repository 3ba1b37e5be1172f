import type { TrafficStatus } from '../../engine/ports';

/** One row of `show stat`: a frontend, a backend or a server. */
export interface StatRow {
  pxname: string;
  svname: string;
  /** Queued requests; null when the row has none (frontends). */
  qcur: number | null;
  /** Current sessions. */
  scur: number;
  /** As HAProxy prints it: `UP`, `UP 1/2`, `DOWN 1/2`, `DRAIN (agent)`, `MAINT (via be/s1)`, `no check`, … */
  status: string;
  weight: number | null;
  /** Every column by its header name. */
  fields: Record<string, string>;
}

export class ParseError extends Error {}

/** `show stat` CSV: a header line starting with `# `, then one line per proxy or server. */
export function parseShowStat(text: string): StatRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const headerAt = lines.findIndex((l) => l.startsWith('# '));
  if (headerAt < 0) throw new ParseError(`not a 'show stat' answer: ${firstLine(text)}`);
  const header = splitCsv(lines[headerAt]!.slice(2));
  for (const need of ['pxname', 'svname', 'scur', 'status']) {
    if (!header.includes(need)) throw new ParseError(`'show stat' header has no ${need} column`);
  }
  return lines.slice(headerAt + 1).map((line) => {
    const cells = splitCsv(line);
    const fields: Record<string, string> = {};
    header.forEach((name, i) => {
      if (name) fields[name] = cells[i] ?? '';
    });
    return {
      pxname: fields.pxname ?? '',
      svname: fields.svname ?? '',
      qcur: optionalInt(fields.qcur),
      scur: optionalInt(fields.scur) ?? 0,
      status: fields.status ?? '',
      weight: optionalInt(fields.weight),
      fields,
    };
  });
}

/** HAProxy quotes a field only when it holds a comma or a quote (`"a,b"`, `""` for `"`). */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

/** The `status` column as a TrafficStatus. `UP 1/2` is still up (one failed check of two). */
export function statusFromStat(status: string): TrafficStatus {
  const s = status.trim().toUpperCase();
  if (s.startsWith('MAINT')) return 'maint';
  if (s.startsWith('DRAIN') || s.startsWith('NOLB')) return 'drain';
  if (s.startsWith('DOWN')) return 'down';
  if (s.startsWith('UP') || s === 'NO CHECK' || s === 'OPEN') return 'up';
  return 'unknown';
}

/** `srv_admin_state` bits (HAProxy's SRV_ADMF_*). */
export const ADMIN = {
  forcedMaint: 0x01,
  inheritedMaint: 0x02,
  configMaint: 0x04,
  forcedDrain: 0x08,
  inheritedDrain: 0x10,
  resolutionMaint: 0x20,
} as const;

/**
 * HAProxy's own SRV_ADMF_MAINT mask. CMAINT is not in it: it only remembers that the config said
 * `disabled`, and stays set after `set server … state ready` while the server serves (seen on
 * 2.6: admin state 4, op state 2, `show stat` UP). A disabled server starts with FMAINT too (5).
 */
const MAINT_BITS = ADMIN.forcedMaint | ADMIN.inheritedMaint | ADMIN.resolutionMaint;
const DRAIN_BITS = ADMIN.forcedDrain | ADMIN.inheritedDrain;

/** `srv_op_state` (SRV_ST_*). */
export const OP = { stopped: 0, starting: 1, running: 2, stopping: 3 } as const;

/** `srv_agent_state` bit: an agent-check is configured on the server. */
const CHECK_CONFIGURED = 0x02;

/** One row of `show servers state`. */
export interface ServerStateRow {
  beName: string;
  srvName: string;
  addr: string;
  opState: number;
  adminState: number;
  uweight: number;
  iweight: number;
  agentConfigured: boolean;
  fields: Record<string, string>;
}

/** `show servers state [<backend>]`: a format version line, a `# ` header, space-separated rows. */
export function parseServersState(text: string): ServerStateRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const headerAt = lines.findIndex((l) => l.startsWith('# '));
  if (headerAt < 0 || !/^\d+$/.test(lines[0]?.trim() ?? '')) {
    throw new ParseError(`not a 'show servers state' answer: ${firstLine(text)}`);
  }
  const header = lines[headerAt]!.slice(2).trim().split(/\s+/);
  for (const need of ['be_name', 'srv_name', 'srv_op_state', 'srv_admin_state']) {
    if (!header.includes(need)) throw new ParseError(`'show servers state' header has no ${need}`);
  }
  return lines.slice(headerAt + 1).map((line) => {
    const cells = line.trim().split(/\s+/);
    const fields: Record<string, string> = {};
    header.forEach((name, i) => {
      fields[name] = cells[i] ?? '';
    });
    return {
      beName: fields.be_name ?? '',
      srvName: fields.srv_name ?? '',
      addr: fields.srv_addr ?? '',
      opState: int(fields.srv_op_state, 'srv_op_state'),
      adminState: int(fields.srv_admin_state, 'srv_admin_state'),
      uweight: optionalInt(fields.srv_uweight) ?? 0,
      iweight: optionalInt(fields.srv_iweight) ?? 0,
      agentConfigured: ((optionalInt(fields.srv_agent_state) ?? 0) & CHECK_CONFIGURED) !== 0,
      fields,
    };
  });
}

/**
 * Admin state first: a server in maintenance is `maint` whatever its health. A DOWN server
 * stays `down` even when forced to drain (HAProxy keeps admin=8, op=0 and shows DOWN).
 */
export function statusFromServerState(
  row: Pick<ServerStateRow, 'opState' | 'adminState'>,
): TrafficStatus {
  if (row.adminState & MAINT_BITS) return 'maint';
  if (row.opState === OP.stopped) return 'down';
  if (row.adminState & DRAIN_BITS || row.opState === OP.stopping) return 'drain';
  return 'up';
}

/** `get weight be/s1` → `10 (initial 100)`. */
export function parseWeight(text: string): { current: number; initial: number } {
  const m = /^(\d+) \(initial (\d+)\)$/.exec(text.trim());
  if (!m) throw new ParseError(`not a 'get weight' answer: ${firstLine(text)}`);
  return { current: Number(m[1]), initial: Number(m[2]) };
}

const RANK: Record<TrafficStatus, number> = {
  none: 0,
  up: 0,
  unknown: 1,
  drain: 2,
  maint: 3,
  down: 4,
};

/** Several LBs in front of one group: the target is only as good as its worst view. */
export function worstStatus(statuses: TrafficStatus[]): TrafficStatus {
  return statuses.reduce<TrafficStatus>((a, b) => (RANK[b] > RANK[a] ? b : a), 'up');
}

function optionalInt(v: string | undefined): number | null {
  if (v === undefined || v === '' || v === '-') return null;
  const n = Number(v);
  return Number.isInteger(n) ? n : null;
}

function int(v: string | undefined, name: string): number {
  const n = optionalInt(v);
  if (n === null) throw new ParseError(`'show servers state' ${name} is not a number: '${v}'`);
  return n;
}

function firstLine(text: string): string {
  return JSON.stringify(text.trim().split('\n')[0]?.slice(0, 200) ?? '');
}
