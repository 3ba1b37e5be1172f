/**
 * One timed rollgate release for bench/scale.ts, in its own process so that its peak RSS and
 * CPU seconds are the orchestrator's alone:
 *
 *   tsx bench/scale/rollgate-run.ts <group file> <version>
 *
 * Prints one JSON line: wall ms, the phase, SSH connects (count, summed and slowest time, from the
 * executor's debug lines), per-batch wall times and uploads from the release's event log, peak
 * RSS (MB) and CPU seconds (user + system) of this process.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { openRuntime, resolvePackage } from '../../src/app/runtime';
import type { ReleaseEvent } from '../../src/engine/ledger';

const [groupFile, version] = process.argv.slice(2);
if (!groupFile || !version) {
  process.stderr.write('usage: rollgate-run.ts <group file> <version>\n');
  process.exit(2);
}

const connectMs: number[] = [];
const warnings: string[] = [];
const CONNECTED = / in (\d+) ms$/;
const RUNTIME_API =
  /^haproxy \S+: (\d+) commands on (\d+) connection\(s\), (\d+) shared reads, (\d+) joined sets, queue wait (\d+) ms \(worst (\d+)\), answers (\d+) ms \(worst (\d+)\)$/;
const runtimeApi = {
  commands: 0,
  connections: 0,
  sharedReads: 0,
  joinedSets: 0,
  queueMsSum: 0,
  queueMsMax: 0,
  answerMsSum: 0,
  answerMsMax: 0,
};

async function main(groupFile: string, version: string) {
  const rt = await openRuntime({
    groupFile,
    env: process.env,
    who: 'bench-scale',
    logger: {
      info: () => undefined,
      warn: (l) => warnings.push(l),
      error: (l) => warnings.push(l),
      debug: (l: string) => {
        const m = l.startsWith('ssh: connected') ? CONNECTED.exec(l) : null;
        if (m) connectMs.push(Number(m[1]));
        const r = RUNTIME_API.exec(l);
        if (r) {
          const [commands, connections, shared, joined, qSum, qMax, aSum, aMax] = r
            .slice(1)
            .map(Number);
          runtimeApi.joinedSets += joined!;
          runtimeApi.commands += commands!;
          runtimeApi.connections += connections!;
          runtimeApi.sharedReads += shared!;
          runtimeApi.queueMsSum += qSum!;
          runtimeApi.queueMsMax = Math.max(runtimeApi.queueMsMax, qMax!);
          runtimeApi.answerMsSum += aSum!;
          runtimeApi.answerMsMax = Math.max(runtimeApi.answerMsMax, aMax!);
        }
      },
    },
  });
  const t0 = performance.now();
  const group = rt.loaded.group.name;
  let phase: string;
  let id: string;
  try {
    const r = await rt.engine.deploy({
      version,
      package: await resolvePackage(rt.loaded, version),
    });
    phase = r.phase;
    id = r.deployment.id;
    if (r.phase !== 'SUCCESS') {
      const why = Object.values(r.deployment.targets)
        .filter((t) => t.error)
        .slice(0, 5)
        .map((t) => `${t.id}: ${t.error}`);
      warnings.push(`ended ${r.phase}: ${why.join('; ')}`);
    }
  } finally {
    await rt.close();
  }
  const ms = performance.now() - t0;
  const events = (await readFile(join(dirname(groupFile), 'state', group, 'events.ndjson'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ReleaseEvent)
    .filter((e) => e.deployment === id);
  const batchMs = new Map<number, [number, number]>();
  for (const e of events) {
    if (e.type !== 'batch' || e.batch === undefined) continue;
    const t = Date.parse(e.at);
    const [a, b] = batchMs.get(e.batch) ?? [t, t];
    batchMs.set(e.batch, [Math.min(a, t), Math.max(b, t)]);
  }
  const uploads = events.filter(
    (e) => e.type === 'target' && e.state === 'DOWNLOAD_SUCCESS',
  ).length;
  const markdownMs = stepMs(events, 'MARKDOWN');
  const use = process.resourceUsage();
  process.stdout.write(
    `${JSON.stringify({
      ms,
      phase,
      connects: connectMs.length,
      connectMsSum: connectMs.reduce((a, b) => a + b, 0),
      connectMsMax: Math.max(0, ...connectMs),
      batches: [...batchMs.values()].map(([a, b]) => b - a),
      markdownMsMax: markdownMs,
      stepsMsMax: Object.fromEntries(
        ['DOWNLOAD', 'MARKDOWN', 'INSTALL', 'VERIFY', 'MARKUP'].map((s) => [s, stepMs(events, s)]),
      ),
      perBatch: perBatch(events),
      runtimeApi,
      uploads,
      rssMB: use.maxRSS / 1024,
      cpuS: (use.userCPUTime + use.systemCPUTime) / 1e6,
      warnings: warnings.slice(0, 5),
    })}\n`,
  );
}

const STEPS = ['DOWNLOAD', 'MARKDOWN', 'INSTALL', 'VERIFY', 'MARKUP'];

/**
 * Per batch, the slowest target's time in each part: `pre` is the batch's start to the target's
 * first step (host lock + probe), then each step RUNNING → SUCCESS.
 */
function perBatch(events: ReleaseEvent[]): Record<string, number>[] {
  const batchOf = new Map<string, number>();
  const startOf = new Map<number, number>();
  const firstRun = new Map<string, number>();
  const running = new Map<string, number>();
  const out: Record<string, number>[] = [];
  for (const e of events) {
    const t = Date.parse(e.at);
    if (e.type === 'batch' && e.batch !== undefined && !startOf.has(e.batch)) {
      startOf.set(e.batch, t);
      out[e.batch] = { pre: 0, ...Object.fromEntries(STEPS.map((s) => [s.toLowerCase(), 0])) };
      for (const id of e.message.slice(e.message.indexOf(': ') + 2).split(', ')) {
        batchOf.set(id, e.batch);
      }
    }
    if (e.type !== 'target' || !e.target || !e.state) continue;
    const b = batchOf.get(e.target);
    if (b === undefined) continue;
    const row = out[b]!;
    if (e.state.endsWith('_RUNNING')) {
      if (!firstRun.has(e.target)) {
        firstRun.set(e.target, t);
        row.pre = Math.max(row.pre!, t - startOf.get(b)!);
      }
      running.set(e.target, t);
    } else if (e.state.endsWith('_SUCCESS') && running.has(e.target)) {
      const step = e.state.slice(0, -'_SUCCESS'.length).toLowerCase();
      row[step] = Math.max(row[step] ?? 0, t - running.get(e.target)!);
    }
  }
  return out;
}

/** The slowest RUNNING → SUCCESS of one step over all targets. */
function stepMs(events: ReleaseEvent[], step: string): number {
  const started = new Map<string, number>();
  let worst = 0;
  for (const e of events) {
    if (e.type !== 'target' || !e.target) continue;
    if (e.state === `${step}_RUNNING`) started.set(e.target, Date.parse(e.at));
    if (e.state === `${step}_SUCCESS` && started.has(e.target)) {
      worst = Math.max(worst, Date.parse(e.at) - started.get(e.target)!);
    }
  }
  return worst;
}

main(groupFile, version).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
