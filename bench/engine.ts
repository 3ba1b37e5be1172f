/**
 * Engine benchmark (issue 3): plan and roll N targets on the simulated clock with a transport
 * that answers at once, through the real file store. Each size runs in its own child process
 * so peak memory (VmHWM) is its own. Prints time, peak RSS and the ratio to the 100-target run.
 *
 *   npm run bench            # sizes 100, 1000, 10000
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine';
import { SimulatedClock } from '../src/engine/clock';
import { planBatches } from '../src/plan/batches';
import { FileStore } from '../src/store/file/file-store';
import type { Logger } from '../src/model/logger';
import { FakeFleet, FakeTraffic, makeConfig, makeGroup } from '../test/support/fakes';

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function one(
  n: number,
): Promise<{ n: number; ms: number; planMs: number; peakMb: number; batches: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'rollgate-bench-'));
  try {
    const clock = new SimulatedClock();
    const group = makeGroup(n);
    const config = makeConfig({ waitBetweenBatchesMs: 60_000 });
    const store = new FileStore(dir);
    const ports = {
      transport: new FakeFleet(clock),
      traffic: new FakeTraffic(),
      store,
      clock,
      logger: silent,
    };
    const t0 = performance.now();
    const plan = planBatches(group.targets, config);
    const planMs = performance.now() - t0;
    const engine = new Engine(ports, group, config, 'bench');
    const pkg = { version: '1.0.0', path: '/dev/null' };
    await engine.deploy({ version: '1.0.0', package: pkg });
    await engine.bake();
    const r = await engine.continue();
    await store.close();
    const ms = performance.now() - t0;
    if (r.status !== 'success') throw new Error(`release ended ${r.phase}`);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return {
      n,
      ms,
      planMs,
      peakMb: hwm ? Number(hwm[1]) / 1024 : NaN,
      batches: plan.batches.length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const child = process.argv[2];
  if (child) {
    console.log(JSON.stringify(await one(Number(child))));
    return;
  }
  const sizes = [100, 1_000, 10_000];
  const results = sizes.map((n) => {
    const out = execFileSync(process.execPath, [...process.execArgv, __filename, String(n)], {
      encoding: 'utf8',
    });
    return JSON.parse(out.trim().split('\n').pop()!) as Awaited<ReturnType<typeof one>>;
  });
  const base = results[0]!;
  console.log(
    'targets  batches  plan ms  release ms  peak RSS MB  time ratio vs 100 (linear = n/100)',
  );
  for (const r of results) {
    console.log(
      `${String(r.n).padStart(7)}  ${String(r.batches).padStart(7)}  ${r.planMs.toFixed(2).padStart(7)}  ${r.ms.toFixed(0).padStart(10)}  ${r.peakMb.toFixed(0).padStart(11)}  ${(r.ms / base.ms).toFixed(1)}× (n ratio ${r.n / base.n}×)`,
    );
  }
  const big = results[results.length - 1]!;
  console.log(
    `goal for 10,000 targets: < 2000 ms and < 300 MB → ${big.ms < 2000 && big.peakMb < 300 ? 'met' : 'NOT met'}`,
  );
}

void main();
